//! `lutgen sim`: run vectors through the Verilated engine and check every
//! output, and every encoder decision, against the software reference.

use crate::engine_args::EngineArgs;
use crate::error::Error;
use crate::vectors;
use clap::Args;
use lutgen_core::sequential::Schedule;
use lutgen_core::{EngineConfig, Image, Reference};
use lutgen_sim::{Backpressure, EngineSim, SimOptions};
use serde::Serialize;
use std::path::PathBuf;

/// Simulate the engine in Verilator and compare it bit for bit with the reference.
#[derive(Args, Debug)]
pub struct SimArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Table image to load (default: a random image for the configuration).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Push COUNT random vectors.
    #[arg(long, value_name = "COUNT", conflicts_with = "input")]
    pub random: Option<usize>,
    /// Seed for the random image and vectors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Push the rows of an integer .npy file of shape (vectors, D).
    #[arg(long, value_name = "X.npy")]
    pub input: Option<PathBuf>,
    /// Write the engine's results as an int32 .npy file.
    #[arg(long, value_name = "Y.npy")]
    pub output: Option<PathBuf>,
    /// Stall the output stream at random with this probability (0 to 0.99).
    #[arg(long, default_value_t = 0.0)]
    pub stall: f64,
    /// Write a VCD waveform of the whole run (open it in GTKWave).
    #[arg(long, value_name = "FILE.vcd")]
    pub trace: Option<PathBuf>,
    /// Simulate the Verilog as `lutgen build` synthesizes it for ECP5: DP16KD
    /// block RAMs with output registers (lutgen's behavioural model of the
    /// block), the index FIFO in LUT RAM, two-cycle argmin nodes.
    #[arg(long, conflicts_with = "network")]
    pub ecp5: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run a whole network (a `lutgen compile` file) on the network top:
    /// every layer on the device, requantization in hardware.
    #[arg(long, value_name = "FILE.lutnet", conflicts_with = "image")]
    pub network: Option<PathBuf>,
    /// With --network: how the layers share engines, `dataflow` (one engine
    /// per layer, at the slowest layer's rate) or `sequential` (one engine
    /// sized for the largest layer runs the layers in turn).
    #[arg(long, default_value_t = Schedule::Dataflow, requires = "network")]
    pub schedule: Schedule,
    /// With --network: also run it as one engine pass per layer (host
    /// requantization) and report that cycle count for comparison.
    #[arg(long, requires = "network")]
    pub compare_passes: bool,
    /// With --network and --output: write the last layer's outputs as real
    /// values (float32: each output times the file's output scale; the
    /// logits, before any softmax head) instead of int32.
    #[arg(long, requires_all = ["network", "output"])]
    pub dequantize: bool,
}

/// What `lutgen sim` reports.
#[derive(Debug, Serialize)]
pub struct SimReport {
    /// The encoder's name (`l2`, `l1`, `two-level`, `tree`, `sign`).
    pub encoder: String,
    /// Distance computations per codebook (K for `l2`/`l1`, G + K/G for
    /// `two-level`, 0 for `tree` and `sign`).
    pub distances_per_codebook: usize,
    /// What a full nearest-centroid search of the same K would compute: K.
    pub full_search_distances_per_codebook: usize,
    pub vectors: usize,
    pub mismatches: usize,
    pub encoder_mismatches: usize,
    pub first_mismatch: Option<String>,
    pub cycles: u64,
    pub cycles_per_inference: f64,
    pub bound_cycles_per_inference: usize,
    /// Entries per read R of the engine simulated.
    pub entries_per_read: usize,
    /// The table read's share of the bound: C * ceil(N / (L * R)).
    pub table_read_cycles: usize,
    /// What sets the bound: `table-read`, `search` (D elements, one per
    /// cycle) or `output` (N + 1).
    pub limit: &'static str,
    pub model_cached: bool,
}

/// Loads or makes the image the command runs, and the engine it runs on
/// (the image's shape; `--entries-per-read` is the engine's own).
fn image_for(args: &SimArgs) -> Result<(Image, EngineConfig), Error> {
    match &args.image {
        Some(path) => {
            let image = Image::read_from(path)?;
            if args.engine.only_entries_per_read() {
                let engine = EngineConfig {
                    entries_per_read: args.engine.entries_per_read.unwrap_or(1),
                    ..image.config().clone()
                };
                engine.validate()?;
                return Ok((image, engine));
            }
            let requested = args.engine.resolve()?;
            if &requested.as_image_config() != image.config() {
                return Err(Error::ImageMismatch {
                    image: format!("{:?}", image.config()),
                    requested: format!("{requested:?}"),
                });
            }
            Ok((image, requested))
        }
        None => {
            let engine = args.engine.resolve()?;
            Ok((Image::random(engine.clone(), args.seed)?, engine))
        }
    }
}

/// Runs an engine (`lutgen sim` without `--network`; see [`super::sim_network`]).
pub fn run(args: &SimArgs) -> Result<bool, Error> {
    if !(0.0..1.0).contains(&args.stall) {
        return Err(Error::Usage("--stall must be from 0 to 0.99".into()));
    }
    let (image, config) = image_for(args)?;
    let inputs = match (&args.input, args.random) {
        (Some(path), _) => vectors::read_npy(path, config.input_dim)?,
        (None, Some(count)) => vectors::random(&config, count, args.seed.wrapping_add(1)),
        (None, None) => vectors::random(&config, 1000, args.seed.wrapping_add(1)),
    };
    let reference = Reference::new(&image);
    let expected = inputs
        .iter()
        .enumerate()
        .map(|(index, x)| {
            reference
                .infer(x)
                .map_err(|source| Error::Input { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !args.json {
        eprintln!("building the Verilated engine (cached after the first build)...");
    }
    let options = SimOptions {
        trace: args.trace.clone(),
        ecp5_primitives: args.ecp5,
        ..SimOptions::default()
    };
    let mut engine = EngineSim::new(&config, &options)?;
    engine.load(&image)?;
    let backpressure = Backpressure::random(args.stall, args.seed);
    let run = engine.run(&inputs, backpressure)?;

    let mut mismatches = 0;
    let mut encoder_mismatches = 0;
    let mut first_mismatch = None;
    for (i, (want, got)) in expected.iter().zip(&run.outputs).enumerate() {
        for (n, (w, g)) in want.outputs.iter().zip(got).enumerate() {
            if w != g {
                mismatches += 1;
                first_mismatch.get_or_insert_with(|| {
                    format!("vector {i}, output {n}: reference {w}, engine {g}")
                });
            }
        }
        for (c, (w, g)) in want.encodings.iter().zip(&run.encodings[i]).enumerate() {
            if w.index != g.index || w.score != g.distance {
                encoder_mismatches += 1;
                first_mismatch.get_or_insert_with(|| {
                    format!(
                        "vector {i}, codebook {c}: reference picks row {} (score {}), engine {} (score {})",
                        w.index, w.score, g.index, g.distance
                    )
                });
            }
        }
    }
    if let Some(path) = &args.output {
        vectors::write_npy(path, &run.outputs, config.outputs)?;
    }
    let report = SimReport {
        encoder: config.encoder.name().to_string(),
        distances_per_codebook: config.distances_per_codebook(),
        full_search_distances_per_codebook: config.centroids,
        vectors: inputs.len(),
        mismatches,
        encoder_mismatches,
        first_mismatch,
        cycles: run.cycles,
        cycles_per_inference: run.cycles_per_inference,
        bound_cycles_per_inference: config.bound_cycles_per_inference(),
        entries_per_read: config.entries_per_read,
        table_read_cycles: config.table_read_cycles(),
        limit: config.limit(),
        model_cached: engine.was_cached(),
    };
    if args.json {
        crate::output::print_json(&report);
    } else {
        println!(
            "{} vectors, {} output mismatches, {} encoder mismatches",
            report.vectors, report.mismatches, report.encoder_mismatches
        );
        if config.encoder == lutgen_core::EncoderKind::TwoLevel {
            println!(
                "two-level search: {} distances per codebook instead of {} ({} centres + {} keys)",
                report.distances_per_codebook,
                report.full_search_distances_per_codebook,
                config.clusters(),
                config.keys_per_cluster()
            );
        }
        if let Some(m) = &report.first_mismatch {
            println!("first mismatch: {m}");
        }
        println!(
            "{:.2} cycles per inference ({} bound {}, {:+.2}%), {} cycles in all",
            report.cycles_per_inference,
            report.limit,
            report.bound_cycles_per_inference,
            100.0 * (report.cycles_per_inference / report.bound_cycles_per_inference as f64 - 1.0),
            report.cycles
        );
        if let Some(t) = &args.trace {
            println!("waveform: {} (gtkwave {})", t.display(), t.display());
        }
    }
    Ok(report.mismatches == 0 && report.encoder_mismatches == 0)
}
