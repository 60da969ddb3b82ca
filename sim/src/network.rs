//! The network top in Verilator: build it for a list of layer
//! configurations, load a whole [`Network`] (every layer's memories and
//! requantization registers) through its load port, stream int8 vectors in
//! and collect the last layer's outputs, cycle by cycle.

use crate::engine::{build_top, SimOptions};
use crate::stream::{self, Backpressure, StreamPorts};
use crate::{Model, PortId, SimError};
use lutgen_core::memory_map::{network_load_words, LoadWord};
use lutgen_core::sequential::{Schedule, SequentialError, SequentialPlan};
use lutgen_core::spatial::Spatial;
use lutgen_core::{EngineConfig, Network};
use lutgen_hdl::network::stream_lengths;
use lutgen_hdl::verilog::{
    sequential_verilog, spatial_network_verilog, NETWORK_PORTS, NETWORK_TOP_MODULE,
    SEQUENTIAL_TOP_MODULE,
};

/// Everything a network run produced.
#[derive(Clone, Debug, Default)]
pub struct NetworkRun {
    /// The last layer's N outputs per vector, in order.
    pub outputs: Vec<Vec<i32>>,
    /// Cycles from the first input offered to the last output taken.
    pub cycles: u64,
    /// Steady-state cycles between consecutive vectors' last outputs
    /// (the whole run's cycles for a single vector).
    pub cycles_per_inference: f64,
}

struct Ports {
    stream: StreamPorts,
    reset: PortId,
    trace_select: PortId,
    trace_data: PortId,
    trace_valid: PortId,
}

pub use lutgen_core::divergence::Divergence;

/// A Verilated network top for one list of layer configurations, in either
/// schedule (the two tops have the same ports and protocol).
pub struct NetworkSim {
    layers: Vec<EngineConfig>,
    /// How each layer runs across a map (all dense but in a dataflow top).
    spatial: Vec<Spatial>,
    /// Elements of each layer's input, then of the last layer's output.
    lengths: Vec<usize>,
    /// The sequential schedule's plan (`None`: dataflow).
    plan: Option<SequentialPlan>,
    model: Model,
    ports: Ports,
    loaded: bool,
}

impl NetworkSim {
    /// Generates, builds (or loads from the cache) and resets the network top
    /// for `layers`, in `options.schedule`.
    pub fn new(layers: &[EngineConfig], options: &SimOptions) -> Result<Self, SimError> {
        Self::with_spatial(layers, &vec![Spatial::DENSE; layers.len()], options)
    }

    /// Generates, builds (or loads from the cache) and resets the network top
    /// for `layers` running as `spatial` says (convolutions and pooling run
    /// in the dataflow schedule only; the sequential one refuses them).
    pub fn with_spatial(
        layers: &[EngineConfig],
        spatial: &[Spatial],
        options: &SimOptions,
    ) -> Result<Self, SimError> {
        let (model, plan) = match options.schedule {
            Schedule::Dataflow => {
                let verilog = spatial_network_verilog(layers, spatial)?;
                let model = build_top(&verilog, NETWORK_TOP_MODULE, &NETWORK_PORTS, options)?;
                (model, None)
            }
            Schedule::Sequential => {
                if let Some(layer) = spatial.iter().position(|s| *s != Spatial::DENSE) {
                    return Err(SequentialError::Convolution { layer }.into());
                }
                let plan = SequentialPlan::new(layers)?;
                let verilog = sequential_verilog(&plan);
                let model = build_top(&verilog, SEQUENTIAL_TOP_MODULE, &NETWORK_PORTS, options)?;
                (model, Some(plan))
            }
        };
        let ports = Ports {
            stream: StreamPorts::of(&model)?,
            reset: model.port("reset")?,
            trace_select: model.port("trace_select")?,
            trace_data: model.port("trace_data")?,
            trace_valid: model.port("trace_valid")?,
        };
        let lengths = stream_lengths(layers, spatial);
        let mut sim = NetworkSim {
            layers: layers.to_vec(),
            spatial: spatial.to_vec(),
            lengths,
            plan,
            model,
            ports,
            loaded: false,
        };
        sim.reset();
        Ok(sim)
    }

    /// The hardware for `network`: its layers' configurations and how they
    /// run across maps.
    pub fn for_network(network: &Network, options: &SimOptions) -> Result<Self, SimError> {
        NetworkSim::with_spatial(&network.configs(), network.spatial(), options)
    }

    /// The schedule the top was generated for.
    pub fn schedule(&self) -> Schedule {
        match self.plan {
            Some(_) => Schedule::Sequential,
            None => Schedule::Dataflow,
        }
    }

    /// True when the model came from the cache rather than a fresh Verilator build.
    pub fn was_cached(&self) -> bool {
        self.model.was_cached()
    }

    /// The layer configurations the top was built for.
    pub fn layers(&self) -> &[EngineConfig] {
        &self.layers
    }

    /// Holds `reset` for `RESET_CYCLES` cycles: empties every engine and stage.
    pub fn reset(&mut self) {
        stream::reset(&mut self.model, self.ports.stream, self.ports.reset);
    }

    /// Writes every layer and requantization of `network` through the load
    /// port; refuses a network whose layers are not the ones the top was
    /// generated for, naming the first difference.
    pub fn load(&mut self, network: &Network) -> Result<(), SimError> {
        let got = network.layers();
        if got.len() != self.layers.len() {
            return Err(SimError::NetworkMismatch(format!(
                "the network has {} layers but the hardware was generated for {}",
                got.len(),
                self.layers.len()
            )));
        }
        // The hardware is generated for each layer's geometry and pooling;
        // a pad value is a load-port register.
        let shape = |s: &Spatial| (s.conv.map(|c| c.geometry), s.pool);
        if let Some(i) =
            (0..got.len()).find(|&i| shape(&network.spatial()[i]) != shape(&self.spatial[i]))
        {
            return Err(SimError::NetworkMismatch(format!(
                "layer {i} runs as {:?} but the hardware's layer {i} was generated for {:?}",
                shape(&network.spatial()[i]),
                shape(&self.spatial[i])
            )));
        }
        for (i, (layer, hw)) in got.iter().zip(&self.layers).enumerate() {
            if layer.image.config() != hw {
                return Err(SimError::NetworkMismatch(format!(
                    "layer {i} is {:?} but the hardware's layer {i} is {hw:?}",
                    layer.image.config()
                )));
            }
            if let Some(r) = &layer.requantize {
                r.validate().map_err(|e| {
                    SimError::NetworkMismatch(format!("layer {i} requantization: {e}"))
                })?;
            }
        }
        let words = match &self.plan {
            Some(plan) => plan.load_words(network)?,
            None => network_load_words(network),
        };
        stream::load(&mut self.model, self.ports.stream, words);
        self.loaded = true;
        Ok(())
    }

    /// Offers `vectors` for `cycles` cycles, taking any output, then stops
    /// mid-stream: leaves work in flight (for testing [`NetworkSim::reset`]).
    pub fn push_partial(&mut self, vectors: &[Vec<i8>], cycles: u64) {
        stream::push_partial(&mut self.model, self.ports.stream, vectors, cycles);
    }

    /// Streams `vectors` (the first layer's width) through every layer and
    /// collects the last layer's outputs.
    ///
    /// Fails, rather than hangs, if the network makes no progress for many
    /// cycles, and fails if it ever breaks its stream protocol or raises `fault`.
    pub fn run(&mut self, vectors: &[Vec<i8>], bp: Backpressure) -> Result<NetworkRun, SimError> {
        self.run_watching(vectors, bp, |_| {})
    }

    /// Writes raw load-port words after a load: for fault injection and
    /// debugging (a wrong word makes the device disagree with the network it
    /// was loaded with).
    pub fn write_words(&mut self, words: impl IntoIterator<Item = LoadWord>) {
        stream::load(&mut self.model, self.ports.stream, words);
    }

    /// Streams `vectors` with the trace port on `layer` (not the last) and
    /// returns, per vector, the int8 activations that layer handed to the next.
    pub fn trace(&mut self, vectors: &[Vec<i8>], layer: usize) -> Result<Vec<Vec<i8>>, SimError> {
        assert!(layer + 1 < self.layers.len(), "the last layer has no trace");
        let (select, data, valid) = (
            self.ports.trace_select,
            self.ports.trace_data,
            self.ports.trace_valid,
        );
        self.model.set(select, layer as u64);
        let mut seen = Vec::new();
        let run = self.run_watching(vectors, Backpressure::none(), |m| {
            if m.get(valid) == 1 {
                seen.push(m.get(data) as u8 as i8);
            }
        });
        self.model.set(select, 0xF);
        run?;
        let width = self.lengths[layer + 1];
        Ok(seen.chunks(width).map(<[i8]>::to_vec).collect())
    }

    /// Where the device first disagrees with `network`'s integer reference
    /// for `input`: layer by layer through the trace port, then the last
    /// layer's outputs. `None` when the device agrees everywhere.
    pub fn first_divergence(
        &mut self,
        network: &Network,
        input: &[i8],
    ) -> Result<Option<Divergence>, SimError> {
        let reference = network
            .infer(input)
            .map_err(|e| SimError::NetworkMismatch(format!("the input: {e}")))?;
        let vectors = [input.to_vec()];
        let traced = Divergence::in_layers(&reference, |layer| {
            Ok::<_, SimError>(
                self.trace(&vectors, layer)?
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
            )
        })?;
        if traced.is_some() {
            return Ok(traced);
        }
        let run = self.run(&vectors, Backpressure::none())?;
        let outputs = run.outputs.into_iter().next().unwrap_or_default();
        Ok(Divergence::in_outputs(&reference, &outputs))
    }

    fn run_watching(
        &mut self,
        vectors: &[Vec<i8>],
        mut bp: Backpressure,
        mut watch: impl FnMut(&Model),
    ) -> Result<NetworkRun, SimError> {
        if !self.loaded {
            return Err(SimError::NotLoaded);
        }
        let d = self.lengths[0];
        let n = self.lengths[self.layers.len()];
        // Generous: the whole pipeline's latency many times over.
        let work: usize = match &self.plan {
            Some(plan) => {
                let e = plan.engine();
                plan.banks() * (e.bound_cycles_per_inference() + e.input_dim + e.outputs + 32)
            }
            None => self
                .layers
                .iter()
                .zip(&self.spatial)
                .map(|(c, s)| {
                    let pixels = s
                        .conv
                        .map_or(1, |c| c.geometry.out_height() * c.geometry.out_width());
                    let map = s.conv.map_or(0, |c| c.geometry.input_len());
                    pixels * (c.bound_cycles_per_inference() + c.input_dim + c.outputs + 16) + map
                })
                .sum(),
        };
        let patience = 64 * work as u64 + 1024;
        let streamed = stream::stream(
            &mut self.model,
            self.ports.stream,
            vectors,
            d,
            n,
            1,
            patience,
            &mut bp,
            |m| {
                watch(m);
                false
            },
        )?;
        let p = &self.ports;
        // Nothing may come out after the last expected vector. The watch
        // goes on: a convolution's bottom rows that no output pixel reads
        // pass the layer before it after the network's last output.
        for _ in 0..(work as u64) {
            self.model.set(p.stream.out_ready, 1);
            self.model.eval();
            if self.model.get(p.stream.out_valid) == 1 {
                return Err(SimError::Protocol(format!(
                    "an output appeared after all {} vectors had finished",
                    vectors.len()
                )));
            }
            watch(&self.model);
            self.model.tick(p.stream.clock);
        }
        self.model.flush_trace();
        Ok(NetworkRun {
            outputs: streamed.outputs,
            cycles: streamed.cycles,
            cycles_per_inference: streamed.cycles_per_inference,
        })
    }
}
