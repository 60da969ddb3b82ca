//! `lutgen report`: builds a sweep of configurations on several boards, the
//! LUT engine beside the dense baseline, and renders a table and a plot.
//! The sweep's builds are independent points: `--jobs N` runs N at a time
//! here; `--write-jobs FILE` writes one command per point (each builds it
//! with `--point` and writes its report with `--point-out`) for GNU parallel
//! or a Slurm job array, and `--collect DIR` merges their reports into the
//! same table, JSON and plot. `--network FILE` sweeps the layers of a
//! compiled network instead of presets: each layer with every encoder and
//! table entries per read R, beside the dense baseline at each R
//! (`lutgen_board::layers`), into `layers-report.*`.

use clap::Args;
use lutgen_board::jobs::{build_all, collect, job_lines, points, Point};
use lutgen_board::layers::{layer_rows, layer_sweep, layer_table, write_layer_report, ENCODERS};
use lutgen_board::sweep::{rows, table, write_report};
use lutgen_board::BoardError;
use lutgen_core::{EncoderKind, Network};
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
    /// Instead of presets: the layers of this compiled network (`lutgen
    /// compile`), each with every --encoders and --entries-per-read
    /// candidate that fits, beside the dense baseline at each R; writes
    /// layers-report.md, .json and .svg.
    #[arg(long, value_name = "FILE.lutnet", conflicts_with = "presets")]
    pub network: Option<PathBuf>,
    /// With --network: the encoders to try on each layer.
    #[arg(long, value_delimiter = ',', default_values_t = ENCODERS.map(|e| e.to_string()), requires = "network")]
    pub encoders: Vec<String>,
    /// With --network: table entries (and dense weights) per read to try, R.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4], requires = "network")]
    pub entries_per_read: Vec<usize>,
    /// Where the table (boards-report.md), data (.json) and plot (.svg) go.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Build directories go under this.
    #[arg(long, default_value = "build/report")]
    pub build_dir: PathBuf,
    /// Builds to run at once on this machine (each runs yosys and nextpnr).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
    /// Instead of building: write one command per point of the sweep to
    /// FILE (each writes its report into --results), for GNU parallel or a
    /// Slurm job array; then `--collect` the results.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["collect", "point"])]
    pub write_jobs: Option<PathBuf>,
    /// How the jobs of --write-jobs call lutgen (on the machines that run them).
    #[arg(
        long,
        value_name = "PROGRAM",
        default_value = "lutgen",
        requires = "write_jobs"
    )]
    pub job_program: String,
    /// Where the jobs of --write-jobs write their reports.
    #[arg(long, value_name = "DIR", default_value = "build/report-results")]
    pub results: PathBuf,
    /// Build one point, BOARD,PRESET,lut|dense (what a job runs), writing its report to --point-out.
    #[arg(
        long,
        value_name = "BOARD,PRESET,ENGINE",
        requires = "point_out",
        conflicts_with = "collect"
    )]
    pub point: Option<String>,
    /// The point's report (JSON).
    #[arg(long, value_name = "FILE.json", requires = "point")]
    pub point_out: Option<PathBuf>,
    /// Instead of building: merge the reports the jobs wrote into DIR (for
    /// the same --boards and --presets) into the table, JSON and plot.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> Result<(), BoardError> {
    if let (Some(spec), Some(out)) = (&args.point, &args.point_out) {
        let report = Point::parse(spec)?.build(&args.build_dir)?;
        let text = serde_json::to_string_pretty(&report).expect("serializes");
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BoardError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        return std::fs::write(out, text).map_err(|source| BoardError::Write {
            path: out.clone(),
            source,
        });
    }
    let layers = match &args.network {
        Some(path) => {
            // Convolutions are compared layer by layer (window generator and
            // engine); the pooling between layers is not part of any layer.
            let network = Network::read_from(path).map_err(|e| {
                BoardError::Usage(format!(
                    "--network {}: {e} (give a network file written by `lutgen compile`)",
                    path.display()
                ))
            })?;
            let encoders = args
                .encoders
                .iter()
                .map(|e| e.parse::<EncoderKind>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BoardError::Usage(format!("--encoders: {e}")))?;
            let convs: Vec<_> = network
                .spatial()
                .iter()
                .map(|s| s.conv.map(|c| c.geometry))
                .collect();
            let sweep = layer_sweep(
                &network.configs(),
                &convs,
                &args.boards,
                &encoders,
                &args.entries_per_read,
            )
            .map_err(|e| BoardError::Usage(format!("--network {}: {e}", path.display())))?;
            Some(sweep)
        }
        None => None,
    };
    let points = match &layers {
        Some(sweep) => sweep.points.clone(),
        None => points(&args.boards, &args.presets)?,
    };
    let what = match &args.network {
        Some(path) => format!(
            "--network {} --encoders {} --entries-per-read {}",
            path.display(),
            args.encoders.join(","),
            args.entries_per_read
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => format!("--presets {}", args.presets.join(",")),
    };
    if let Some(file) = &args.write_jobs {
        let mut text =
            job_lines(&points, &args.job_program, &args.build_dir, &args.results).join("\n");
        text.push('\n');
        std::fs::write(file, text).map_err(|source| BoardError::Write {
            path: file.clone(),
            source,
        })?;
        eprintln!(
            "wrote {} jobs to {}; run them (e.g. `parallel < {}`), then `lutgen report --boards {} \
             {what} --collect {}`",
            points.len(),
            file.display(),
            file.display(),
            args.boards.join(","),
            args.results.display()
        );
        return Ok(());
    }
    let reports = match &args.collect {
        Some(dir) => collect(&points, dir)?,
        None => build_all(&points, &args.build_dir, args.jobs as usize)?,
    };
    if let Some(sweep) = &layers {
        let rows = layer_rows(sweep, reports)?;
        let command = format!("lutgen report --boards {} {what}", args.boards.join(","));
        write_layer_report(&args.out, &rows, &command)?;
        print!("{}", layer_table(&rows, &command));
        return Ok(());
    }
    let rows = rows(&points, reports)?;
    write_report(&args.out, &rows, &args.boards, &args.presets)?;
    print!("{}", table(&rows, &args.boards, &args.presets));
    Ok(())
}
