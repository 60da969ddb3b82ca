//! The lutgen engine in Verilator: build it for a configuration, load an
//! image through its load port, stream vectors and collect every output and
//! every encoder decision, cycle by cycle.

use crate::stream::{self, StreamPorts, VectorCollector, Watchdog};
use crate::{Model, ModelBuilder, PortId, PortSpec, SimError};
use lutgen_core::{EngineConfig, Image};
use lutgen_hdl::dp16kd::ecp5_simulation_verilog;
use lutgen_hdl::engine::RESET_CYCLES;
use lutgen_hdl::verilog::{engine_verilog, Port, ENGINE_PORTS, TOP_MODULE};
use lutgen_hdl::MemoryMap;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

/// How to build the simulated engine.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Write a VCD waveform of everything after the build to this file.
    pub trace: Option<PathBuf>,
    /// Where built models are cached (default: [`crate::default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Simulate the Verilog as it is synthesized for ECP5: the pipelined
    /// memories as DP16KD instances (with lutgen's behavioural model of the
    /// block), the index FIFO in LUT RAM and the two-cycle argmin nodes (for
    /// the dense baseline: its DP16KD weights and registered MULT18X18D),
    /// instead of the portable Verilog.
    pub ecp5_primitives: bool,
}

/// When the testbench holds back: output stalls and input gaps, at random.
#[derive(Clone, Debug)]
pub struct Backpressure {
    /// Probability that `out_ready` is low in a cycle.
    pub output_stall: f64,
    /// Probability that `in_valid` is low in a cycle while input is pending.
    pub input_gap: f64,
    rng: rand_chacha::ChaCha8Rng,
}

impl Backpressure {
    /// Always ready, never a gap: the setting that measures throughput.
    pub fn none() -> Self {
        Self::new(0.0, 0.0, 0)
    }

    /// Output stalls with probability `output_stall`, no input gaps.
    pub fn random(output_stall: f64, seed: u64) -> Self {
        Self::new(output_stall, 0.0, seed)
    }

    /// Output stalls and input gaps with the given probabilities.
    pub fn new(output_stall: f64, input_gap: f64, seed: u64) -> Self {
        Backpressure {
            output_stall,
            input_gap,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p)
    }
}

/// One encoder decision seen on the engine's `encode_*` trace ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub index: usize,
    pub distance: u64,
}

/// Everything a run produced.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// N outputs per vector, in order.
    pub outputs: Vec<Vec<i32>>,
    /// C encoder decisions per vector, in order.
    pub encodings: Vec<Vec<Encoded>>,
    /// Cycles from the first input offered to the last output taken.
    pub cycles: u64,
    /// Steady-state cycles between consecutive vectors' last outputs
    /// (the whole run's cycles for a single vector).
    pub cycles_per_inference: f64,
}

struct Ports {
    stream: StreamPorts,
    reset: PortId,
    out_data: PortId,
    out_valid: PortId,
    out_last: PortId,
    encode_valid: PortId,
    encode_index: PortId,
    encode_distance: PortId,
    fault: PortId,
}

/// A Verilated engine for one configuration.
pub struct EngineSim {
    config: EngineConfig,
    model: Model,
    ports: Ports,
    loaded: bool,
}

/// Builds (or loads from the cache) the Verilated model of a generated top
/// with its port list, tracing to `options.trace` when set; with
/// `options.ecp5_primitives`, of the Verilog as synthesized for ECP5
/// ([`ecp5_simulation_verilog`]).
pub fn build_top(
    verilog: &str,
    top: &str,
    ports: &[Port],
    options: &SimOptions,
) -> Result<Model, SimError> {
    let specs = ports
        .iter()
        .map(|p| {
            if p.input {
                PortSpec::input(p.name, p.width)
            } else {
                PortSpec::output(p.name, p.width)
            }
        })
        .collect();
    let ecp5;
    let verilog = if options.ecp5_primitives {
        ecp5 = ecp5_simulation_verilog(verilog);
        &ecp5
    } else {
        verilog
    };
    let mut builder = ModelBuilder::new(verilog, top, specs).trace(options.trace.is_some());
    if let Some(dir) = &options.cache_dir {
        builder = builder.cache_dir(dir);
    }
    let mut model = builder.build()?;
    if let Some(path) = &options.trace {
        model.open_trace(path)?;
    }
    Ok(model)
}

impl EngineSim {
    /// Generates, builds (or loads from the cache) and resets the engine for `config`.
    pub fn new(config: &EngineConfig, options: &SimOptions) -> Result<Self, SimError> {
        let verilog = engine_verilog(config).map_err(SimError::Config)?;
        let model = build_top(&verilog, TOP_MODULE, &ENGINE_PORTS, options)?;
        let ports = Ports {
            stream: StreamPorts::of(&model)?,
            reset: model.port("reset")?,
            out_data: model.port("out_data")?,
            out_valid: model.port("out_valid")?,
            out_last: model.port("out_last")?,
            encode_valid: model.port("encode_valid")?,
            encode_index: model.port("encode_index")?,
            encode_distance: model.port("encode_distance")?,
            fault: model.port("fault")?,
        };
        let mut engine = EngineSim {
            config: config.clone(),
            model,
            ports,
            loaded: false,
        };
        engine.reset();
        Ok(engine)
    }

    /// True when the model came from the cache rather than a fresh Verilator build.
    pub fn was_cached(&self) -> bool {
        self.model.was_cached()
    }

    /// The configuration the engine was built for.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Holds `reset` for [`RESET_CYCLES`] cycles: empties every stage.
    pub fn reset(&mut self) {
        let p = &self.ports;
        let (reset, clock) = (p.reset, p.stream.clock);
        for port in [p.stream.in_valid, p.stream.out_ready, p.stream.load_enable] {
            self.model.set(port, 0);
        }
        self.model.set(reset, 1);
        for _ in 0..RESET_CYCLES {
            self.model.tick(clock);
        }
        self.model.set(reset, 0);
        self.model.tick(clock);
    }

    /// Writes `image` through the load port; refuses an image for another
    /// configuration, naming the encoder when that is what differs.
    pub fn load(&mut self, image: &Image) -> Result<(), SimError> {
        if image.config().encoder != self.config.encoder {
            return Err(SimError::EncoderMismatch {
                engine: self.config.encoder,
                image: image.config().encoder,
            });
        }
        if image.config() != &self.config {
            return Err(SimError::ImageMismatch {
                engine: format!("{:?}", self.config),
                image: format!("{:?}", image.config()),
            });
        }
        stream::load(
            &mut self.model,
            self.ports.stream,
            MemoryMap::load_words(image),
        );
        self.loaded = true;
        Ok(())
    }

    /// Offers `vectors` for `cycles` cycles, taking any output, then stops
    /// mid-stream: leaves work in flight (for testing [`EngineSim::reset`]).
    pub fn push_partial(&mut self, vectors: &[Vec<i8>], cycles: u64) {
        stream::push_partial(&mut self.model, self.ports.stream, vectors, cycles);
    }

    /// Streams `vectors` through the engine and collects all results.
    ///
    /// Fails, rather than hangs, if the engine makes no progress for many
    /// cycles, and fails if it ever signals a protocol error or a fault.
    pub fn run(&mut self, vectors: &[Vec<i8>], mut bp: Backpressure) -> Result<Run, SimError> {
        if !self.loaded {
            return Err(SimError::NotLoaded);
        }
        let (d, n, c) = (
            self.config.input_dim,
            self.config.outputs,
            self.config.codebooks,
        );
        if let Some(i) = vectors.iter().position(|v| v.len() != d) {
            return Err(SimError::InputLength {
                index: i,
                expected: d,
                got: vectors[i].len(),
            });
        }
        let elements: Vec<u8> = vectors.iter().flatten().map(|&x| x as u8).collect();
        // Generous: a stalled output can hold the engine, but only while we stall it.
        let patience = 64 * (self.config.bound_cycles_per_inference() + d + n) as u64 + 1024;
        let mut run = Run::default();
        let mut collected = VectorCollector::new(n, vectors.len());
        let mut codes = Vec::with_capacity(c);
        let mut watchdog = Watchdog::new(patience);
        let (mut next, mut cycle) = (0usize, 0u64);
        let p = &self.ports;
        while collected.outputs.len() < vectors.len() {
            let offer = next < elements.len() && !bp.chance(bp.input_gap);
            let ready = !bp.chance(bp.output_stall);
            self.model.set(p.stream.in_valid, offer as u64);
            self.model.set(
                p.stream.in_data,
                elements.get(next).copied().unwrap_or(0) as u64,
            );
            self.model.set(p.stream.out_ready, ready as u64);
            self.model.eval();
            let mut progress = false;
            if offer && self.model.get(p.stream.in_ready) == 1 {
                next += 1;
                progress = true;
            }
            if self.model.get(p.encode_valid) == 1 {
                codes.push(Encoded {
                    index: self.model.get(p.encode_index) as usize,
                    distance: self.model.get(p.encode_distance),
                });
                if codes.len() == c {
                    run.encodings.push(std::mem::take(&mut codes));
                }
                progress = true;
            }
            if ready && self.model.get(p.out_valid) == 1 {
                collected.push(
                    self.model.get(p.out_data) as u32 as i32,
                    self.model.get(p.out_last) == 1,
                    cycle,
                )?;
                progress = true;
            }
            if self.model.get(p.fault) == 1 {
                return Err(SimError::Fault { cycle });
            }
            self.model.tick(p.stream.clock);
            cycle += 1;
            if watchdog.hung(progress, ready) {
                return Err(SimError::Hung {
                    cycle,
                    accepted: next / d.max(1),
                    completed: collected.outputs.len(),
                    expected: vectors.len(),
                });
            }
        }
        self.model.set(p.stream.in_valid, 0);
        self.model.flush_trace();
        if run.encodings.len() != vectors.len() {
            return Err(SimError::Protocol(format!(
                "{} vectors finished but the encoder reported {} complete vectors",
                vectors.len(),
                run.encodings.len()
            )));
        }
        run.cycles = cycle;
        run.cycles_per_inference = collected.cycles_per_inference();
        run.outputs = collected.outputs;
        Ok(run)
    }
}
