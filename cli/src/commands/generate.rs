//! `lutgen generate`: the engine's Verilog for a configuration, or the
//! network top's for the layers of a network file.

use crate::engine_args::EngineArgs;
use crate::error::Error;
use clap::Args;
use lutgen_core::sequential::{Schedule, SequentialPlan};
use lutgen_hdl::device::{device_verilog, DeviceConfig, DEVICE_MODULE};
use lutgen_hdl::verilog;
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
    /// Write the network top (module `lutgen_network`, one engine per layer)
    /// for the layers of this network file instead of one engine.
    #[arg(long, value_name = "FILE.lutnet")]
    pub network: Option<PathBuf>,
    /// With --network: `dataflow` (module `lutgen_network`, one engine per
    /// layer) or `sequential` (module `lutgen_sequential`, one engine sized
    /// for the largest layer runs the layers in turn).
    #[arg(long, default_value_t = Schedule::Dataflow, requires = "network")]
    pub schedule: Schedule,
    /// With --network: write the whole device instead (module `lutgen_device`:
    /// UART, framed protocol, network loader and the layers in --schedule),
    /// the Verilog `lutgen build` and `lutgen board --sim` use.
    #[arg(long, requires = "network")]
    pub device: bool,
    /// With --device: the clock the UART divides, Hz.
    #[arg(long, default_value_t = 12_000_000, requires = "device")]
    pub clock_hz: u32,
    /// With --device: the baud rate.
    #[arg(long, default_value_t = 115_200, requires = "device")]
    pub baud: u32,
}

/// The network top's Verilog for the layers of a network file.
fn run_network(args: &GenerateArgs, path: &std::path::Path) -> Result<(), Error> {
    if !args.engine.is_empty() {
        return Err(Error::Usage(
            "--network takes its layers from the network file: drop the engine flags".into(),
        ));
    }
    // Both network tops run convolutions and pooling, and so does the
    // dataflow device; the sequential device does not yet.
    let network = lutgen_core::Network::read_from(path).map_err(|e| Error::Compile(e.into()))?;
    if args.device && args.schedule == Schedule::Sequential {
        network
            .require_dense()
            .map_err(|e| Error::Compile(e.into()))?;
    }
    let layers = network.configs();
    let (verilog, module) = match args.schedule {
        _ if args.device => (
            device_verilog(&DeviceConfig::for_network(
                &network,
                args.schedule,
                args.clock_hz,
                args.baud,
            ))
            .map_err(|e| Error::Usage(format!("cannot build the device: {e}")))?,
            DEVICE_MODULE,
        ),
        Schedule::Dataflow => (
            verilog::spatial_network_verilog(&layers, network.spatial())
                .map_err(|e| Error::Usage(format!("cannot build a network top: {e}")))?,
            verilog::NETWORK_TOP_MODULE,
        ),
        Schedule::Sequential => {
            let plan = SequentialPlan::with_spatial(&layers, network.spatial())
                .map_err(|e| Error::Usage(format!("cannot build a sequential top: {e}")))?;
            (
                verilog::sequential_verilog(&plan),
                verilog::SEQUENTIAL_TOP_MODULE,
            )
        }
    };
    match &args.output {
        Some(out) => {
            std::fs::write(out, &verilog).map_err(|source| Error::Write {
                path: out.clone(),
                source,
            })?;
            if args.json {
                println!(
                    "{}",
                    json!({
                        "verilog": out,
                        "top_module": module,
                        "schedule": args.schedule,
                        "layers": layers
                    })
                );
            } else {
                eprintln!(
                    "wrote {} (module {module}, {} layers)",
                    out.display(),
                    layers.len()
                );
            }
        }
        None => print!("{verilog}"),
    }
    Ok(())
}

pub fn run(args: &GenerateArgs) -> Result<(), Error> {
    if let Some(path) = &args.network {
        return run_network(args, path);
    }
    let config = args.engine.resolve()?;
    let verilog = verilog::engine_verilog(&config)?;
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
                        "top_module": verilog::TOP_MODULE,
                        "config": config,
                        "accumulator_bits": config.accumulator_bits(),
                        "bound_cycles_per_inference": config.bound_cycles_per_inference(),
                    })
                );
            } else {
                eprintln!(
                    "wrote {} (module {}, table-read bound {} cycles per inference)",
                    path.display(),
                    verilog::TOP_MODULE,
                    config.bound_cycles_per_inference()
                );
            }
        }
        None => print!("{verilog}"),
    }
    Ok(())
}
