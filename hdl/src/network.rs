//! The whole network on the device: one [`Engine`] per layer, chained
//! through [`RequantStage`]s, so one int8 vector goes in and the last
//! layer's 32-bit outputs come out with no host round trip between layers.
//!
//! Dataflow (as in FINN): every layer has its own engine and memories, and
//! the layers work on consecutive vectors at the same time, so the network's
//! throughput is that of its slowest layer. A single engine reused layer by
//! layer (time-multiplexed) would need the largest layer's memories anyway,
//! a sequencer, a buffer for the activations between passes and would run
//! at the *sum* of the layers' cycles; the dataflow chain needs no control
//! beyond the engines' own ready/valid streams. Its cost is area: one search
//! and one set of lanes per layer.
//!
//! Load port: `load_address[31:28]` is the layer, `[27:16]` the memory in
//! that layer (the engine's own numbering, [`crate::memory_map`]; memory
//! [`REQUANTIZE_MEMORY`] is the requantization after the layer, with its
//! activation table), `[15:0]` the word. See `docs/architecture.md` for the
//! full map.

use crate::engine::Engine;
use crate::requantize::RequantStage;
use lutgen_core::memory_map::{MemoryMap, LAYER_SHIFT, MAX_LAYERS, REQUANTIZE_MEMORY};
use lutgen_core::{ConfigError, EngineConfig};
use rust_hdl::prelude::*;
use thiserror::Error;

/// Layer configurations that cannot be chained into one network top.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NetworkShapeError {
    #[error("a network top needs at least one layer")]
    Empty,
    #[error("a network top holds at most {MAX_LAYERS} layers (the load port's layer field is 4 bits), not {0}")]
    TooManyLayers(usize),
    #[error("layer {layer}: {source}")]
    Config { layer: usize, source: ConfigError },
    #[error("layer {layer} has {outputs} outputs but layer {next} takes {inputs} inputs")]
    Shape {
        layer: usize,
        next: usize,
        outputs: usize,
        inputs: usize,
    },
    #[error("layer {layer} has {memories} memories; the network load port addresses at most {REQUANTIZE_MEMORY} per layer")]
    Memories { layer: usize, memories: usize },
}

/// Checks that `layers` can be generated as one network top.
pub fn validate_layers(layers: &[EngineConfig]) -> Result<(), NetworkShapeError> {
    if layers.is_empty() {
        return Err(NetworkShapeError::Empty);
    }
    if layers.len() > MAX_LAYERS {
        return Err(NetworkShapeError::TooManyLayers(layers.len()));
    }
    for (layer, config) in layers.iter().enumerate() {
        config
            .validate()
            .map_err(|source| NetworkShapeError::Config { layer, source })?;
        let memories = MemoryMap::new(config).memories();
        if memories >= REQUANTIZE_MEMORY {
            return Err(NetworkShapeError::Memories { layer, memories });
        }
        if let Some(next) = layers.get(layer + 1) {
            if config.outputs != next.input_dim {
                return Err(NetworkShapeError::Shape {
                    layer,
                    next: layer + 1,
                    outputs: config.outputs,
                    inputs: next.input_dim,
                });
            }
        }
    }
    Ok(())
}

#[derive(LogicBlock)]
pub struct NetworkTop {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset of every engine and stage; hold for
    /// [`crate::engine::RESET_CYCLES`]. Memories and parameters are kept.
    pub reset: Signal<In, Bit>,
    /// The first layer's activations, element 0 first.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// The last layer's outputs, output 0 first.
    pub out_data: Signal<Out, Bits<32>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// High with the last output of each vector.
    pub out_last: Signal<Out, Bit>,
    /// Load port: layer, memory and word in `load_address` (see the module doc).
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    /// Sticky: some engine raised its fault.
    pub fault: Signal<Out, Bit>,
    /// Trace port, to find the first layer where a device and the reference
    /// disagree: selects the activations layer `trace_select` hands to layer
    /// `trace_select + 1` (its requantized, activated outputs, output 0
    /// first). A value of L - 1 or more (the last layer's outputs are
    /// `out_data`) selects nothing.
    pub trace_select: Signal<In, Bits<4>>,
    /// The selected activation, valid in each cycle the next layer takes one.
    pub trace_data: Signal<Out, Bits<8>>,
    pub trace_valid: Signal<Out, Bit>,

    engines: Vec<Engine>,
    stages: Vec<RequantStage>,
    load_layer: Signal<Local, Bits<4>>,
    load_memory: Signal<Local, Bits<16>>,
    load_inner: Signal<Local, Bits<32>>,
    inner_mask: Constant<Bits<32>>,
    requantize_id: Constant<Bits<16>>,
    layer_ids: Vec<Constant<Bits<4>>>,
    _layers: usize,
    _stages: usize,
    _last: usize,
}

impl NetworkTop {
    /// The network top for `layers`; they must pass [`validate_layers`].
    pub fn new(layers: &[EngineConfig]) -> Self {
        let count = layers.len();
        NetworkTop {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            fault: Default::default(),
            trace_select: Default::default(),
            trace_data: Default::default(),
            trace_valid: Default::default(),
            engines: layers.iter().map(Engine::new).collect(),
            stages: layers[1..]
                .iter()
                .map(|next| RequantStage::new(next.activation_bits))
                .collect(),
            load_layer: Default::default(),
            load_memory: Default::default(),
            load_inner: Default::default(),
            inner_mask: Constant::new(((1u64 << LAYER_SHIFT) - 1).into()),
            requantize_id: Constant::new((REQUANTIZE_MEMORY as u64).into()),
            layer_ids: (0..count)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            _layers: count,
            _stages: count - 1,
            _last: count - 1,
        }
    }
}

impl Logic for NetworkTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.load_layer.next = self.load_address.val().get_bits::<4>(28);
        self.load_inner.next = self.load_address.val() & self.inner_mask.val();
        self.load_memory.next = self.load_inner.val().get_bits::<16>(16);
        self.fault.next = false;
        for i in 0..self._layers {
            self.engines[i].clock.next = self.clock.val();
            self.engines[i].reset.next = self.reset.val();
            self.engines[i].load_enable.next =
                self.load_enable.val() & (self.load_layer.val() == self.layer_ids[i].val());
            self.engines[i].load_address.next = self.load_inner.val();
            self.engines[i].load_data.next = self.load_data.val();
            self.fault.next = self.fault.val() | self.engines[i].fault.val();
        }
        self.trace_data.next = 0.into();
        self.trace_valid.next = false;
        self.engines[0].in_data.next = self.in_data.val();
        self.engines[0].in_valid.next = self.in_valid.val();
        self.in_ready.next = self.engines[0].in_ready.val();
        for i in 0..self._stages {
            self.stages[i].clock.next = self.clock.val();
            self.stages[i].reset.next = self.reset.val();
            self.stages[i].in_data.next = self.engines[i].out_data.val();
            self.stages[i].in_valid.next = self.engines[i].out_valid.val();
            self.engines[i].out_ready.next = self.stages[i].in_ready.val();
            self.engines[i + 1].in_data.next = self.stages[i].out_data.val();
            self.engines[i + 1].in_valid.next = self.stages[i].out_valid.val();
            self.stages[i].out_ready.next = self.engines[i + 1].in_ready.val();
            self.stages[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.requantize_id.val());
            self.stages[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.stages[i].load_data.next = self.load_data.val();
            if self.trace_select.val() == self.layer_ids[i].val() {
                self.trace_data.next = self.stages[i].out_data.val();
                self.trace_valid.next =
                    self.stages[i].out_valid.val() & self.engines[i + 1].in_ready.val();
            }
        }
        // A one-iteration loop names the last engine (index L - 1).
        for i in self._last..self._layers {
            self.out_data.next = self.engines[i].out_data.val();
            self.out_valid.next = self.engines[i].out_valid.val();
            self.out_last.next = self.engines[i].out_last.val();
            self.engines[i].out_ready.next = self.out_ready.val();
        }
    }
}
