//! A whole network on the simulated device, two ways.
//!
//! [`run_network_top`] is the device as built: the network top (one engine
//! per layer, requantization and ReLU between them in hardware), one input
//! vector in and the last layer's outputs out, no host round trip.
//! [`run_network`] is the earlier way, kept as a baseline for measurements:
//! one engine pass per layer, with the host requantizing (and applying any
//! activation table) between passes with [`lutgen_core::network::Layer::next_activation`],
//! the same integer function the reference uses.

use crate::{Backpressure, EngineSim, NetworkSim, SimError, SimOptions};
use lutgen_core::network::Network;

/// What running a network on the simulated device produced.
#[derive(Clone, Debug, Default)]
pub struct DeviceRun {
    /// The last layer's outputs, one row per vector.
    pub outputs: Vec<Vec<i32>>,
    /// Cycles of each pass over all vectors (one entry: the network top's run).
    pub cycles: Vec<u64>,
    /// Steady-state cycles per inference of each pass (one entry for the network top).
    pub cycles_per_inference: Vec<f64>,
    /// Whether each model came from the cache.
    pub cached: Vec<bool>,
}

/// Runs `inputs` (int8, the first layer's width) through the network top built for `network`.
pub fn run_network_top(
    network: &Network,
    inputs: &[Vec<i8>],
    options: &SimOptions,
    backpressure: Backpressure,
) -> Result<DeviceRun, SimError> {
    let mut top = NetworkSim::for_network(network, options)?;
    top.load(network)?;
    let run = top.run(inputs, backpressure)?;
    Ok(DeviceRun {
        outputs: run.outputs,
        cycles: vec![run.cycles],
        cycles_per_inference: vec![run.cycles_per_inference],
        cached: vec![top.was_cached()],
    })
}

/// Runs `inputs` through every layer on the Verilated engine, one pass per
/// layer, requantizing (and applying any activation table) on the host
/// between passes.
pub fn run_network(
    network: &Network,
    inputs: &[Vec<i8>],
    options: &SimOptions,
) -> Result<DeviceRun, SimError> {
    let mut run = DeviceRun::default();
    let mut x: Vec<Vec<i8>> = inputs.to_vec();
    for layer in network.layers() {
        let mut engine = EngineSim::new(layer.image.config(), options)?;
        engine.load(&layer.image)?;
        let result = engine.run(&x, Backpressure::none())?;
        run.cycles.push(result.cycles);
        run.cycles_per_inference.push(result.cycles_per_inference);
        run.cached.push(engine.was_cached());
        if layer.requantize.is_some() {
            x = result
                .outputs
                .iter()
                .map(|acc| {
                    acc.iter()
                        .map(|&a| layer.next_activation(a).expect("a requantization"))
                        .collect()
                })
                .collect();
        } else {
            run.outputs = result.outputs;
        }
    }
    Ok(run)
}
