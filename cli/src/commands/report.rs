//! `lutgen report`: builds a sweep of configurations on several boards, the
//! LUT engine beside the dense baseline, and renders a table and a plot.

use clap::Args;
use lutgen_board::sweep::{sweep, table, write_report};
use lutgen_board::BoardError;
use std::path::PathBuf;

/// Sweep configurations over boards: LUT engine and dense baseline.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Boards to build for (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "hx8k-breakout,ulx3s-85f")]
    pub boards: Vec<String>,
    /// Configurations (comma-separated presets: small, default, lanes4, k8, wide; l1, two-level, tree, sign).
    #[arg(long, value_delimiter = ',', default_value = "small,default")]
    pub presets: Vec<String>,
    /// Where the table (boards-report.md), data (.json) and plot (.svg) go.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Build directories go under this.
    #[arg(long, default_value = "build/report")]
    pub build_dir: PathBuf,
}

pub fn run(args: &ReportArgs) -> Result<(), BoardError> {
    let rows = sweep(&args.boards, &args.presets, &args.build_dir)?;
    write_report(&args.out, &rows, &args.boards, &args.presets)?;
    print!("{}", table(&rows, &args.boards, &args.presets));
    Ok(())
}
