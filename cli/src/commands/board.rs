//! `lutgen board --sim`: the simulated board behind a pseudo-terminal.
//!
//! Builds the device in Verilator, opens a pseudo-terminal, prints the path
//! of its serial end (first line of stdout, or `{"port": ...}` with `--json`)
//! and serves the protocol there until killed. Any program that opens that
//! path as a serial port talks to the simulated device, byte for byte as to
//! a board on /dev/ttyUSB0.

use crate::device_file::DeviceFile;
use crate::engine_args::EngineArgs;
use crate::error::CommandError;
use crate::output::print_json;
use clap::Args;
use lutgen_core::sequential::Schedule;
use lutgen_core::Image;
use lutgen_hdl::device::DeviceConfig;
use lutgen_sim::device::{DeviceSim, DeviceSimOptions, Link};
use lutgen_sim::pty::{Pace, PtyBoard};
use std::io::Write;
use std::path::PathBuf;

/// Serve a simulated board on a pseudo-terminal until killed.
#[derive(Args, Debug)]
pub struct BoardArgs {
    /// Simulate the board in Verilator (the only kind of board this command serves).
    #[arg(long, required = true)]
    pub sim: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Build the device for this image's engine (instead of the engine flags). It is not loaded.
    #[arg(long, value_name = "IMAGE", conflicts_with = "network")]
    pub image: Option<PathBuf>,
    /// Build a network device for this compiled network's layers (`lutgen
    /// compile` output): it loads network files and runs every layer. It is not loaded.
    #[arg(long, value_name = "NET.lutnet")]
    pub network: Option<PathBuf>,
    /// With --network: `dataflow` (one engine per layer) or `sequential`
    /// (one engine sized for the largest layer runs the layers in turn).
    #[arg(long, default_value_t = Schedule::Dataflow, requires = "network")]
    pub schedule: Schedule,
    /// Baud rate of the modeled wire.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Clock of the simulated device, Hz.
    #[arg(long, default_value_t = 12_000_000)]
    pub clock_hz: u32,
    /// Wall-clock pacing, or simulated cycles only.
    #[arg(long, value_enum, default_value_t = Pace::Wall)]
    pub pace: Pace,
    /// Simulate the UART bit by bit instead of the byte-level shortcut.
    #[arg(long)]
    pub bit_level: bool,
    /// Print `{"port": PATH, ...}` instead of the bare path.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BoardArgs) -> Result<bool, CommandError> {
    let device = match (&args.image, &args.network) {
        (Some(path), _) => DeviceConfig::engine(
            Image::read_from(path)?.config().clone(),
            args.clock_hz,
            args.baud,
        ),
        (None, Some(path)) => {
            if !args.engine.is_empty() {
                return Err(crate::Error::Usage(
                    "--network takes its layers from the network file: drop the engine flags"
                        .into(),
                )
                .into());
            }
            let file = DeviceFile::read_expecting(path, true)?;
            file.device(args.schedule, args.clock_hz, args.baud)?
        }
        (None, None) => DeviceConfig::engine(args.engine.resolve()?, args.clock_hz, args.baud),
    };
    device
        .validate()
        .map_err(|e| CommandError::Board(e.to_string()))?;
    let link = if args.bit_level {
        Link::Bit
    } else {
        Link::Byte
    };
    let sim = DeviceSim::new(
        &device,
        &DeviceSimOptions {
            link,
            ..Default::default()
        },
    )
    .map_err(|e| CommandError::Board(e.to_string()))?;
    let mut board = PtyBoard::open(sim).map_err(|e| CommandError::Board(e.to_string()))?;
    let path = board.path().to_path_buf();
    if args.json {
        print_json(&serde_json::json!({
            "port": path,
            "baud": args.baud,
            "clock_hz": args.clock_hz,
            "pace": format!("{:?}", args.pace).to_lowercase(),
            "link": if args.bit_level { "bit" } else { "byte" },
            "config_hash": format!("{:#010x}", device.ident().config_hash),
            "layers": device.layers().len(),
            "schedule": device.schedule(),
        }));
    } else {
        println!("{}", path.display());
    }
    std::io::stdout().flush().ok();
    board
        .serve(args.pace)
        .map_err(|e| CommandError::Board(e.to_string()))?;
    Ok(true)
}
