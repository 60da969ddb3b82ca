//! `lutgen generate`: the engine's Verilog for a configuration.

use crate::engine_args::EngineArgs;
use crate::error::Error;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// Write the engine's Verilog (lint-clean in Verilator, synthesizable by yosys).
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output file (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary on stdout (requires --output).
    #[arg(long, requires = "output")]
    pub json: bool,
}

pub fn run(args: &GenerateArgs) -> Result<(), Error> {
    let config = args.engine.resolve()?;
    let verilog = lutgen_hdl::verilog::engine_verilog(&config)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &verilog).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            if args.json {
                println!(
                    "{}",
                    json!({
                        "verilog": path,
                        "top_module": lutgen_hdl::verilog::TOP_MODULE,
                        "config": config,
                        "accumulator_bits": config.accumulator_bits(),
                        "bound_cycles_per_inference": config.bound_cycles_per_inference(),
                    })
                );
            } else {
                eprintln!(
                    "wrote {} (module {}, table-read bound {} cycles per inference)",
                    path.display(),
                    lutgen_hdl::verilog::TOP_MODULE,
                    config.bound_cycles_per_inference()
                );
            }
        }
        None => print!("{verilog}"),
    }
    Ok(())
}
