//! A whole network on the simulated device, one engine pass per layer.
//!
//! The engine runs one layer per pass today: for each layer this builds (or
//! loads from the model cache) the Verilated engine for that layer's
//! configuration, loads the layer's image, streams every vector through it,
//! and requantizes the outputs on the host with [`Requantize::apply`], the
//! same integer function the reference uses. An on-device layer program
//! (requantization and ReLU inside the engine, no host round trip) is not
//! built yet.

use lutgen_core::network::Network;
use lutgen_sim::{Backpressure, EngineSim, SimError, SimOptions};

/// What running a network on the simulated device produced.
#[derive(Clone, Debug, Default)]
pub struct DeviceRun {
    /// The last layer's outputs, one row per vector.
    pub outputs: Vec<Vec<i32>>,
    /// Engine cycles of each layer's pass over all vectors.
    pub cycles: Vec<u64>,
    /// Whether each layer's model came from the cache.
    pub cached: Vec<bool>,
}

/// Runs `inputs` (int8, the first layer's width) through every layer on the Verilated engine.
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
        run.cached.push(engine.was_cached());
        match &layer.requantize {
            Some(r) => {
                x = result
                    .outputs
                    .iter()
                    .map(|acc| acc.iter().map(|&a| r.apply(a)).collect())
                    .collect();
            }
            None => run.outputs = result.outputs,
        }
    }
    Ok(run)
}
