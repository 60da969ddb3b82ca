//! `lutgen sim --network FILE.lutnet`: the whole network on the simulated
//! network top (every layer on the device, requantization in hardware),
//! checked vector by vector against the integer reference `Network::infer`.

use crate::commands::sim::SimArgs;
use crate::error::Error;
use crate::vectors;
use lutgen_core::sequential::{Schedule, SequentialPlan};
use lutgen_core::{EngineConfig, Network};
use lutgen_sim::whole_network::{run_network, run_network_top};
use lutgen_sim::{Backpressure, NetworkSim, SimOptions};
use serde::Serialize;
use std::path::Path;

/// What `lutgen sim --network` reports.
#[derive(Debug, Serialize)]
pub struct NetworkSimReport {
    pub layers: usize,
    /// `dataflow` (one engine per layer) or `sequential` (one engine in turn).
    pub schedule: Schedule,
    pub vectors: usize,
    /// How the inputs were read: random int8, int8 from an integer array, or
    /// a float array quantized with the file's input scale and zero point.
    pub input: &'static str,
    pub input_scale: f32,
    pub input_zero_point: i8,
    /// Real input values outside the range the file's input quantization
    /// covers, clipped (a warning is printed above 1%).
    pub clipped_inputs: usize,
    /// Real value of one unit of the outputs (`--dequantize` multiplies by it).
    pub output_scale: f32,
    /// Vectors whose outputs differ from the reference in any element.
    pub mismatches: usize,
    pub first_mismatch: Option<String>,
    /// For the first mismatching vector: the first layer and element where
    /// the device disagrees with the reference, found through the network
    /// top's trace port (run on that vector alone).
    pub first_divergence: Option<String>,
    pub cycles: u64,
    /// Steady state of the network top, between consecutive vectors' last outputs.
    pub cycles_per_inference: f64,
    /// Dataflow: the slowest layer's table-read bound (or its input length,
    /// when larger); sequential: the sum over layers of the engine passes
    /// (output pixels) times the padded engine's table reads per pass.
    pub bound_cycles_per_inference: usize,
    /// With `--compare-passes`: the sum over layers of one engine pass's
    /// steady state (the host-requantized way, layer after layer).
    pub passes_cycles_per_inference: Option<f64>,
    pub model_cached: bool,
}

pub fn run(args: &SimArgs, path: &Path) -> Result<bool, Error> {
    if args.image.is_some() || !args.engine.is_empty() {
        return Err(Error::Usage(
            "--network takes its layers from the network file: drop --image and the engine flags"
                .into(),
        ));
    }
    if !(0.0..1.0).contains(&args.stall) {
        return Err(Error::Usage("--stall must be from 0 to 0.99".into()));
    }
    // Both network tops run convolutions and pooling; the engine passes of
    // --compare-passes do not.
    let network = Network::read_from(path).map_err(|e| Error::Compile(e.into()))?;
    if args.compare_passes {
        if let Err(lutgen_core::network::NetworkError::HardwareConvolution { layer, what }) =
            network.require_dense()
        {
            return Err(Error::Usage(format!(
                "{}: layer {layer} is {what}: --compare-passes runs each layer as one engine \
                 pass on one input vector, which does not run convolutions or pooling; drop \
                 --compare-passes",
                path.display()
            )));
        }
    }
    let first = network.layers()[0].image.config().activation_bits;
    // Random inputs of the network's input length (a map for a convolution).
    let input_config = EngineConfig {
        input_dim: network.input_dim(),
        ..network.layers()[0].image.config().clone()
    };
    let quantization = network.input_quantization();
    let mut input_kind = "random int8";
    let mut clipped_inputs = 0;
    let inputs = match (&args.input, args.random) {
        (Some(path), _) => {
            let read = vectors::read_network_npy(path, network.input_dim(), first, &quantization)?;
            input_kind = read.kind.describe();
            clipped_inputs = read.clipped;
            if let Some(warning) = read.warning(&quantization) {
                eprintln!("{warning}");
            }
            read.rows
        }
        (None, Some(count)) => input_config.random_inputs(count, args.seed.wrapping_add(1)),
        (None, None) => input_config.random_inputs(1000, args.seed.wrapping_add(1)),
    };
    let expected = inputs
        .iter()
        .enumerate()
        .map(|(index, x)| {
            network
                .infer(x)
                .map(|i| i.outputs)
                .map_err(|source| Error::Input { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !args.json {
        eprintln!("building the Verilated network top (cached after the first build)...");
    }
    let options = SimOptions {
        trace: args.trace.clone(),
        schedule: args.schedule,
        ..SimOptions::default()
    };
    let run = run_network_top(
        &network,
        &inputs,
        &options,
        Backpressure::random(args.stall, args.seed),
    )?;
    let passes = if args.compare_passes {
        let passes = run_network(&network, &inputs, &SimOptions::default())?;
        Some(passes.cycles_per_inference.iter().sum())
    } else {
        None
    };
    let mut mismatches = 0;
    let mut first_mismatch = None;
    let mut first_vector = None;
    for (i, (want, got)) in expected.iter().zip(&run.outputs).enumerate() {
        if want != got {
            mismatches += 1;
            first_vector.get_or_insert(i);
            let n = want.iter().zip(got).position(|(w, g)| w != g).unwrap_or(0);
            first_mismatch.get_or_insert_with(|| {
                format!(
                    "vector {i}, output {n}: reference {}, network top {}",
                    want[n], got[n]
                )
            });
        }
    }
    let first_divergence = match first_vector {
        Some(i) => {
            let options = SimOptions {
                schedule: args.schedule,
                ..SimOptions::default()
            };
            let mut top = NetworkSim::for_network(&network, &options)?;
            top.load(&network)?;
            Some(match top.first_divergence(&network, &inputs[i])? {
                Some(d) => format!("vector {i}: {d}"),
                None => format!(
                    "vector {i} alone matches the reference: the mismatch needs the \
                     vectors around it (back-pressure or a state left by an earlier vector)"
                ),
            })
        }
        None => None,
    };
    match &args.output {
        Some(path) if args.dequantize => {
            let real: Vec<Vec<f32>> = run.outputs.iter().map(|o| network.dequantize(o)).collect();
            vectors::write_npy_f32(path, &real, network.outputs())?;
        }
        Some(path) => vectors::write_npy(path, &run.outputs, network.outputs())?,
        None => {}
    }
    let bound = match args.schedule {
        // A convolution's engine runs once per output pixel.
        Schedule::Dataflow => network
            .layers()
            .iter()
            .zip(network.spatial())
            .map(|(l, s)| {
                let c = l.image.config();
                match s.conv {
                    None => c.bound_cycles_per_inference().max(c.input_dim),
                    Some(conv) => {
                        let g = conv.geometry;
                        (g.out_height() * g.out_width() * c.bound_cycles_per_inference())
                            .max(g.input_len())
                    }
                }
            })
            .max()
            .unwrap_or(0),
        // Built above, so the plan exists.
        Schedule::Sequential => SequentialPlan::with_spatial(&network.configs(), network.spatial())
            .map(|p| p.bound_cycles_per_inference())
            .unwrap_or(0),
    };
    let report = NetworkSimReport {
        layers: network.layers().len(),
        schedule: args.schedule,
        vectors: inputs.len(),
        input: input_kind,
        input_scale: quantization.scale,
        input_zero_point: quantization.zero_point,
        clipped_inputs,
        output_scale: network.output_scale(),
        mismatches,
        first_mismatch,
        first_divergence,
        cycles: run.cycles[0],
        cycles_per_inference: run.cycles_per_inference[0],
        bound_cycles_per_inference: bound,
        passes_cycles_per_inference: passes,
        model_cached: run.cached[0],
    };
    if args.json {
        crate::output::print_json(&report);
    } else {
        println!(
            "{} layers on the {} network top: {} vectors, {} mismatching vectors",
            report.layers, report.schedule, report.vectors, report.mismatches
        );
        println!(
            "input: {} (scale {}, zero point {})",
            report.input, report.input_scale, report.input_zero_point
        );
        if let Some(m) = &report.first_mismatch {
            println!("first mismatch: {m}");
        }
        if let Some(d) = &report.first_divergence {
            println!("first divergence (trace port): {d}");
        }
        println!(
            "{:.2} cycles per inference ({} bound {}), {} cycles in all",
            report.cycles_per_inference,
            match report.schedule {
                Schedule::Dataflow => "slowest layer's",
                Schedule::Sequential => "the padded layers' table-read",
            },
            report.bound_cycles_per_inference,
            report.cycles
        );
        if let Some(p) = report.passes_cycles_per_inference {
            println!("{p:.2} cycles per inference as one engine pass per layer");
        }
    }
    Ok(report.mismatches == 0 && run.outputs.len() == inputs.len())
}
