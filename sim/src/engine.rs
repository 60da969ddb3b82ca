//! The lutgen engine in Verilator: build it for a configuration, load an
//! image through its load port, stream vectors and collect every output and
//! every encoder decision, cycle by cycle.

use crate::stream::{self, StreamPorts};
use crate::{Model, ModelBuilder, PortId, PortSpec, SimError};
use lutgen_core::memory_map::{LoadWord, MemoryMap};
use lutgen_core::{EngineConfig, Image};
use lutgen_hdl::dp16kd::ecp5_simulation_verilog;
use lutgen_hdl::spram::spram_simulation_verilog;
use lutgen_hdl::verilog::{engine_verilog, Port, ENGINE_PORTS, TOP_MODULE};
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
    /// Simulate the Verilog as it is synthesized for the iCE40UP5K with the
    /// lanes' tables in UltraPlus SPRAM: `SB_SPRAM256KA` instances (with
    /// lutgen's behavioural model of the block) instead of the portable
    /// template. See `lutgen_hdl::spram`.
    pub spram: bool,
    /// How a network top shares engines between layers (network tops only:
    /// [`crate::NetworkSim`]; one engine has one schedule).
    pub schedule: lutgen_core::sequential::Schedule,
}

pub use crate::stream::Backpressure;

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
    encode_valid: PortId,
    encode_index: PortId,
    encode_distance: PortId,
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
/// ([`ecp5_simulation_verilog`]); with `options.spram`, with the tables in
/// SPRAM ([`spram_simulation_verilog`]).
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
    let spram;
    let verilog = if options.spram {
        spram = spram_simulation_verilog(verilog);
        &spram
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
            encode_valid: model.port("encode_valid")?,
            encode_index: model.port("encode_index")?,
            encode_distance: model.port("encode_distance")?,
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

    /// Holds `reset` for `RESET_CYCLES` cycles: empties every stage.
    pub fn reset(&mut self) {
        stream::reset(&mut self.model, self.ports.stream, self.ports.reset);
    }

    /// Writes `image` through the load port; refuses an image for another
    /// configuration, naming the encoder when that is what differs. The
    /// image's configuration holds no `entries_per_read`: the engine's is
    /// used to pack the table words.
    pub fn load(&mut self, image: &Image) -> Result<(), SimError> {
        if image.config().encoder != self.config.encoder {
            return Err(SimError::EncoderMismatch {
                engine: self.config.encoder,
                image: image.config().encoder,
            });
        }
        if image.config() != &self.config.as_image_config() {
            return Err(SimError::ImageMismatch {
                engine: format!("{:?}", self.config),
                image: format!("{:?}", image.config()),
            });
        }
        stream::load(
            &mut self.model,
            self.ports.stream,
            MemoryMap::load_words_for(&self.config, image),
        );
        self.loaded = true;
        Ok(())
    }

    /// Writes `words` through the load port as they are, one per clock, with
    /// no check against the configuration: for tests of the load port's
    /// rules ([`EngineSim::load`] is how an image goes in). Counts as a load.
    pub fn write(&mut self, words: impl IntoIterator<Item = LoadWord>) {
        stream::load(&mut self.model, self.ports.stream, words);
        self.loaded = true;
    }

    /// Holds `reset` high while writing `words` through the load port, one
    /// per clock, then resets as [`EngineSim::reset`] does: for testing that
    /// a write during reset takes effect. Counts as a load.
    pub fn write_during_reset(&mut self, words: impl IntoIterator<Item = LoadWord>) {
        self.model.set(self.ports.stream.in_valid, 0);
        self.model.set(self.ports.reset, 1);
        self.write(words);
        self.reset();
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
        // Generous: a stalled output can hold the engine, but only while we stall it.
        let patience = 64 * (self.config.bound_cycles_per_inference() + d + n) as u64 + 1024;
        let p = &self.ports;
        let mut encodings = Vec::with_capacity(vectors.len());
        let mut codes = Vec::with_capacity(c);
        let streamed = stream::stream(
            &mut self.model,
            p.stream,
            vectors,
            d,
            n,
            1,
            patience,
            &mut bp,
            |model| {
                if model.get(p.encode_valid) != 1 {
                    return false;
                }
                codes.push(Encoded {
                    index: model.get(p.encode_index) as usize,
                    distance: model.get(p.encode_distance),
                });
                if codes.len() == c {
                    encodings.push(std::mem::take(&mut codes));
                }
                true
            },
        )?;
        self.model.flush_trace();
        if encodings.len() != vectors.len() {
            return Err(SimError::Protocol(format!(
                "{} vectors finished but the encoder reported {} complete vectors",
                vectors.len(),
                encodings.len()
            )));
        }
        Ok(Run {
            outputs: streamed.outputs,
            encodings,
            cycles: streamed.cycles,
            cycles_per_inference: streamed.cycles_per_inference,
        })
    }
}
