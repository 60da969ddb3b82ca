//! The dense baseline in Verilator: load weights, stream vectors, collect
//! outputs and count cycles, like [`lutgen_sim::EngineSim`] for the LUT engine.

use super::BoardError;
use lutgen_hdl::dense::{
    dense_verilog, DenseConfig, DenseWeights, DENSE_MODULE, DENSE_PORTS, DENSE_RESET_CYCLES,
};
use lutgen_sim::engine::build_top;
use lutgen_sim::{Backpressure, Model, PortId, SimError, SimOptions};
use rand::{Rng, SeedableRng};

/// A Verilated dense engine.
pub struct DenseSim {
    config: DenseConfig,
    model: Model,
    p: [PortId; 12],
}

/// Outputs of a run and its cycle counts.
#[derive(Clone, Debug, Default)]
pub struct DenseRun {
    pub outputs: Vec<Vec<i32>>,
    pub cycles: u64,
    /// Steady-state cycles between consecutive vectors' last outputs.
    pub cycles_per_inference: f64,
}

const CLOCK: usize = 0;
const RESET: usize = 1;
const IN_DATA: usize = 2;
const IN_VALID: usize = 3;
const IN_READY: usize = 4;
const OUT_DATA: usize = 5;
const OUT_VALID: usize = 6;
const OUT_READY: usize = 7;
const OUT_LAST: usize = 8;
const LOAD_ENABLE: usize = 9;
const LOAD_ADDRESS: usize = 10;
const LOAD_DATA: usize = 11;

impl DenseSim {
    /// Builds (or loads from the cache) the dense engine for `config` and
    /// resets it; `options.ecp5_primitives` simulates the Verilog as built
    /// for ECP5 (the weight memory as DP16KD blocks, the registered
    /// MULT18X18D).
    pub fn new(config: &DenseConfig, options: &SimOptions) -> Result<Self, BoardError> {
        let verilog = dense_verilog(config)?;
        let model = build_top(&verilog, DENSE_MODULE, &DENSE_PORTS, options)?;
        let names = [
            "clock",
            "reset",
            "in_data",
            "in_valid",
            "in_ready",
            "out_data",
            "out_valid",
            "out_ready",
            "out_last",
            "load_enable",
            "load_address",
            "load_data",
        ];
        let mut p = [PortId(0); 12];
        for (slot, name) in p.iter_mut().zip(names) {
            *slot = model.port(name)?;
        }
        let mut sim = DenseSim {
            config: *config,
            model,
            p,
        };
        sim.reset();
        Ok(sim)
    }

    /// Holds reset, then releases it.
    pub fn reset(&mut self) {
        let p = self.p;
        for port in [IN_VALID, OUT_READY, LOAD_ENABLE] {
            self.model.set(p[port], 0);
        }
        self.model.set(p[RESET], 1);
        for _ in 0..DENSE_RESET_CYCLES {
            self.model.tick(p[CLOCK]);
        }
        self.model.set(p[RESET], 0);
        self.model.tick(p[CLOCK]);
    }

    /// Writes `weights` through the load port.
    pub fn load(&mut self, weights: &DenseWeights) -> Result<(), BoardError> {
        if weights.config() != &self.config {
            return Err(BoardError::Usage(format!(
                "weights for {:?} loaded into an engine for {:?}",
                weights.config(),
                self.config
            )));
        }
        let p = self.p;
        self.model.set(p[LOAD_ENABLE], 1);
        for w in weights.load_words() {
            self.model.set(p[LOAD_ADDRESS], u64::from(w.address));
            self.model.set(p[LOAD_DATA], u64::from(w.data));
            self.model.tick(p[CLOCK]);
        }
        self.model.set(p[LOAD_ENABLE], 0);
        Ok(())
    }

    /// Streams `vectors`, stalling the output with probability `stall`.
    pub fn run(
        &mut self,
        vectors: &[Vec<i8>],
        mut bp: Backpressure,
    ) -> Result<DenseRun, BoardError> {
        let (d, n) = (self.config.input_dim, self.config.outputs);
        let elements: Vec<u8> = vectors.iter().flatten().map(|&x| x as u8).collect();
        let patience = 64 * (self.config.bound_cycles_per_inference() + d + n) as u64 + 1024;
        let p = self.p;
        let mut run = DenseRun::default();
        let mut current = Vec::new();
        let mut last_cycles = Vec::new();
        let (mut next, mut cycle, mut idle) = (0usize, 0u64, 0u64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        while run.outputs.len() < vectors.len() {
            let offer = next < elements.len();
            let ready = !(bp.output_stall > 0.0 && rng.gen_bool(bp.output_stall));
            self.model.set(p[IN_VALID], offer as u64);
            self.model.set(
                p[IN_DATA],
                u64::from(elements.get(next).copied().unwrap_or(0)),
            );
            self.model.set(p[OUT_READY], ready as u64);
            self.model.eval();
            let mut progress = false;
            if offer && self.model.get(p[IN_READY]) == 1 {
                next += 1;
                progress = true;
            }
            if ready && self.model.get(p[OUT_VALID]) == 1 {
                current.push(self.model.get(p[OUT_DATA]) as u32 as i32);
                let last = self.model.get(p[OUT_LAST]) == 1;
                if last != (current.len() == n) {
                    return Err(SimError::Protocol(format!(
                        "out_last was {} on output {} of vector {}",
                        last as u8,
                        current.len() - 1,
                        run.outputs.len()
                    ))
                    .into());
                }
                if last {
                    run.outputs.push(std::mem::take(&mut current));
                    last_cycles.push(cycle);
                }
                progress = true;
            }
            self.model.tick(p[CLOCK]);
            cycle += 1;
            idle = if progress || !ready { 0 } else { idle + 1 };
            if idle > patience {
                return Err(SimError::Hung {
                    cycle,
                    accepted: next / d,
                    completed: run.outputs.len(),
                    expected: vectors.len(),
                }
                .into());
            }
        }
        let _ = &mut bp;
        self.model.set(p[IN_VALID], 0);
        run.cycles = cycle;
        run.cycles_per_inference = match last_cycles[..] {
            [] => 0.0,
            [only] => only as f64 + 1.0,
            [first, .., last] => (last - first) as f64 / (last_cycles.len() - 1) as f64,
        };
        Ok(run)
    }
}

/// Random int8 vectors, reproducible from `seed`.
pub fn random_vectors(count: usize, dim: usize, seed: u64) -> Vec<Vec<i8>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| (0..dim).map(|_| rng.gen::<i8>()).collect())
        .collect()
}

/// Runs `count` random vectors through the dense engine and checks every
/// output against [`DenseWeights::reference`], then the accumulator's
/// extremes (every weight -128, the bias at either end of its range, inputs
/// all -128 or all 127); returns the measured random run.
pub fn check_dense(
    config: &DenseConfig,
    count: usize,
    stall: f64,
    seed: u64,
    options: &SimOptions,
) -> Result<DenseRun, BoardError> {
    let mut sim = DenseSim::new(config, options)?;
    let random = DenseWeights::random(*config, seed)?;
    let vectors = random_vectors(count, config.input_dim, seed ^ 0x5eed);
    let run = check_dense_weights(&mut sim, &random, &vectors, stall, seed)?;
    let (d, n) = (config.input_dim, config.outputs);
    let (low, high) = (
        -(1i64 << (config.bias_bits - 1)),
        (1i64 << (config.bias_bits - 1)) - 1,
    );
    let extremes = vec![vec![-128i8; d], vec![127; d], vec![0; d]];
    for bias in [high, low] {
        let weights = DenseWeights::new(*config, vec![-128; n * d], vec![bias as i32; n])?;
        check_dense_weights(&mut sim, &weights, &extremes, stall, seed)?;
    }
    Ok(run)
}

fn check_dense_weights(
    sim: &mut DenseSim,
    weights: &DenseWeights,
    vectors: &[Vec<i8>],
    stall: f64,
    seed: u64,
) -> Result<DenseRun, BoardError> {
    sim.load(weights)?;
    let run = sim.run(vectors, Backpressure::random(stall, seed))?;
    for (i, (x, got)) in vectors.iter().zip(&run.outputs).enumerate() {
        let want = weights.reference(x)?;
        if &want != got {
            let n = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
            return Err(BoardError::Mismatch {
                what: "dense engine",
                vector: i,
                detail: format!("output {n}: engine {} reference {}", got[n], want[n]),
            });
        }
    }
    Ok(run)
}
