//! `lutgen build --board B`: Verilog, constraints, synthesis, place and
//! route, bitstream, and a hardware report.

use crate::engine_args::EngineArgs;
use clap::Args;
use lutgen_board::pll::Pll;
use lutgen_board::report::{build, markdown, to_json, BuildOptions, SIM_VECTORS};
use lutgen_board::top::{EngineKind, Top};
use lutgen_board::{Board, BoardError};
use lutgen_core::sequential::Schedule;
use lutgen_core::Network;
use std::path::PathBuf;

/// Build an engine (or a compiled network's device) for a board with the
/// open-source flow and report on it.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Board name (see `lutgen boards`).
    #[arg(long)]
    pub board: String,
    /// Build the network device for this compiled network's layers (`lutgen
    /// compile` output): one engine per layer with the requantization
    /// between them, behind the UART; it loads network files. Its shape
    /// comes from the file, so it takes no engine flags.
    #[arg(
        long,
        value_name = "NET.lutnet",
        conflicts_with_all = [
            "config", "input_dim", "codebooks", "centroids", "outputs", "lanes", "encoder",
            "activation_bits", "centroid_bits", "table_bits", "bias_bits", "macs",
            "out_of_context",
        ]
    )]
    pub network: Option<PathBuf>,
    /// With --network: `dataflow` (one engine per layer) or `sequential`
    /// (one engine sized for the largest layer runs the layers in turn).
    #[arg(long, default_value_t = Schedule::Dataflow, requires = "network")]
    pub schedule: Schedule,
    /// Which engine: the lookup-table engine or the dense int8 MAC baseline.
    #[arg(long, value_enum, default_value = "lut")]
    pub engine: EngineKind,
    #[command(flatten)]
    pub config: EngineArgs,
    /// Dense engine: multiply-accumulate lanes (default: the LUT engine's lanes).
    #[arg(long)]
    pub macs: Option<usize>,
    /// Build the LUT engine alone (no UART, no pins, no bitstream): the
    /// like-for-like comparison with the dense baseline, which is always built alone.
    #[arg(long)]
    pub out_of_context: bool,
    /// Serial baud rate of the device top.
    #[arg(long, default_value_t = lutgen_board::top::DEFAULT_BAUD)]
    pub baud: u32,
    /// Run the device at this core clock, made from the board's oscillator
    /// by its PLL (one clock domain; the UART divides it to the baud rate).
    /// Refused, naming the nearest, when the PLL cannot make it exactly.
    /// Default: the oscillator, no PLL.
    #[arg(long, value_name = "MHZ")]
    pub clock_mhz: Option<f64>,
    /// Build directory (default: build/<board>-<engine>, or
    /// build/<board>-network with --network).
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run the tools even when the fit check says it does not fit.
    #[arg(long)]
    pub force: bool,
    /// Only run the fit check.
    #[arg(long)]
    pub check: bool,
    /// nextpnr's placement seed: Fmax moves by several percent between
    /// seeds, so try a few before trusting a margin.
    #[arg(long, default_value_t = lutgen_board::flow::DEFAULT_SEED)]
    pub seed: u64,
    /// Place and route at this many seeds (`--seed` and the ones after it)
    /// and report each one's Fmax (`fmax_by_seed`); the first is the build kept.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub seeds: u64,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BuildArgs) -> Result<(), BoardError> {
    let board = Board::find(&args.board)?;
    let clock_hz = (board.clock_mhz * 1e6).round() as u32;
    let mut top = match &args.network {
        Some(path) => {
            if args.engine == EngineKind::Dense {
                return Err(BoardError::Usage(
                    "--network builds the network device, made of LUT engines: drop --engine dense"
                        .into(),
                ));
            }
            let network = Network::read_for_device(path).map_err(|e| {
                BoardError::Usage(format!(
                    "--network {}: {e} (give a network file written by `lutgen compile`)",
                    path.display()
                ))
            })?;
            Top::scheduled_device(network.configs(), args.schedule, clock_hz, args.baud)
        }
        None => {
            let config = args
                .config
                .resolve()
                .map_err(|e| BoardError::Usage(e.to_string()))?;
            Top::for_board(
                args.engine,
                &config,
                args.macs,
                args.out_of_context,
                clock_hz,
                args.baud,
            )
        }
    };
    if let Some(mhz) = args.clock_mhz {
        if !top.pinned() {
            return Err(BoardError::Usage(
                "--clock-mhz sets the device's core clock; an out-of-context or dense build \
                 has no clock pin (its Fmax is the figure)"
                    .into(),
            ));
        }
        top = top.with_pll(Pll::for_board(&board, mhz)?);
    }
    if args.check {
        let fit = lutgen_board::fit::check(&top, &board);
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&fit).expect("serializes")
            );
        } else if fit.fits {
            println!("{fit}");
        }
        return if fit.fits {
            Ok(())
        } else {
            Err(BoardError::DoesNotFit(Box::new(fit)))
        };
    }
    let engine_name = match args.engine {
        _ if args.network.is_some() && args.schedule == Schedule::Sequential => "sequential",
        _ if args.network.is_some() => "network",
        EngineKind::Lut => "lut",
        EngineKind::Dense => "dense",
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("build/{}-{engine_name}", board.name)));
    let options = BuildOptions {
        out_dir: out_dir.clone(),
        force: args.force,
        sim_vectors: SIM_VECTORS,
        seed: args.seed,
        more_seeds: args.seeds - 1,
    };
    let report = build(&board, args.engine, &top, &options)?;
    if let (Some(pll), Some(fmax)) = (&report.pll, report.fmax_mhz) {
        if fmax < pll.output_mhz {
            eprintln!(
                "warning: timing not met: Fmax {fmax:.2} MHz is below the {} MHz core clock",
                lutgen_board::pll::mhz(pll.output_mhz)
            );
        }
    }
    if args.json {
        println!("{}", to_json(&report));
    } else {
        print!("{}", markdown(&report));
        eprintln!("report: {}", out_dir.join("report.md").display());
    }
    Ok(())
}
