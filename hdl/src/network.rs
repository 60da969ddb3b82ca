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
//! activation table; memory [`SPATIAL_MEMORY`] the layer's pad value and
//! pooling zero point), `[15:0]` the word. See `docs/architecture.md` for
//! the full map.
//!
//! **Convolutions.** Layer i is a [`LayerInput`] (a wire for a dense layer,
//! the layer's window generator for a convolution) then its [`Engine`];
//! between layers a [`RequantStage`] then a [`PoolStage`] (a wire when the
//! layer does not pool). A convolution layer's engine runs once per output
//! pixel, so its outputs are the output map in HWC order; the next layer
//! reads it as it comes: a dense layer as one vector (flatten is implicit),
//! a convolution through its window generator. [`validate_network`] checks
//! that the shapes chain. The last layer is dense.

use crate::engine::Engine;
use crate::layer_input::LayerInput;
use crate::pool::{PoolError, PoolStage};
use crate::requantize::RequantStage;
use crate::window::WindowError;
use lutgen_core::memory_map::{
    MemoryMap, LAYER_SHIFT, MAX_LAYERS, REQUANTIZE_MEMORY, SPATIAL_MEMORY,
};
use lutgen_core::spatial::{MapShape, Spatial};
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
    #[error("layer {layer} has {memories} memories; the network load port addresses at most {SPATIAL_MEMORY} per layer (memories 0xFFD to 0xFFF are its spatial and requantization registers)")]
    Memories { layer: usize, memories: usize },
    #[error("{layers} layers but {spatial} spatial descriptions: give one per layer")]
    SpatialCount { layers: usize, spatial: usize },
    #[error("layer {layer}: {source}")]
    Window { layer: usize, source: WindowError },
    #[error(
        "layer {layer}: its engine takes {input_dim} inputs but its convolution's patches have \
         {patch_len} (C * k * k)"
    )]
    ConvPatch {
        layer: usize,
        input_dim: usize,
        patch_len: usize,
    },
    #[error(
        "layer {layer} is a convolution and the last layer: a network top's last layer must be \
         dense (add a dense layer after the map)"
    )]
    LastConv { layer: usize },
    #[error(
        "layer {layer} pools ({pool}) but {why}: pool a convolution's map, not the last layer"
    )]
    Pool {
        layer: usize,
        pool: &'static str,
        why: &'static str,
    },
    #[error("layer {layer}: {source}")]
    PoolShape { layer: usize, source: PoolError },
    #[error(
        "layer {layer}'s output map is {height}x{width}x{channels} but layer {next}'s \
         convolution reads a {in_height}x{in_width}x{in_channels} map"
    )]
    MapShape {
        layer: usize,
        next: usize,
        height: usize,
        width: usize,
        channels: usize,
        in_height: usize,
        in_width: usize,
        in_channels: usize,
    },
}

/// Checks that dense `layers` can be generated as one network top.
pub fn validate_layers(layers: &[EngineConfig]) -> Result<(), NetworkShapeError> {
    validate_network(layers, &vec![Spatial::DENSE; layers.len()])
}

/// The map a layer hands on (after its pooling), or `None` for a vector.
fn output_map(
    layer: usize,
    config: &EngineConfig,
    spatial: &Spatial,
) -> Result<Option<MapShape>, NetworkShapeError> {
    let Some(map) = spatial.output_map(config.outputs) else {
        return Ok(None);
    };
    let Some(pool) = spatial.pool else {
        return Ok(Some(map));
    };
    crate::pool::check(pool, map)
        .map_err(|source| NetworkShapeError::PoolShape { layer, source })?;
    Ok(pool.output(map))
}

/// Checks that `layers`, each running as `spatial` says (dense, or a
/// convolution, maybe pooled), can be generated as one network top: each
/// layer's output (a vector, or a map in HWC order) is the next layer's
/// input (a vector of the same length, or the map its convolution reads),
/// and the last layer is dense.
pub fn validate_network(
    layers: &[EngineConfig],
    spatial: &[Spatial],
) -> Result<(), NetworkShapeError> {
    if layers.is_empty() {
        return Err(NetworkShapeError::Empty);
    }
    if layers.len() > MAX_LAYERS {
        return Err(NetworkShapeError::TooManyLayers(layers.len()));
    }
    if spatial.len() != layers.len() {
        return Err(NetworkShapeError::SpatialCount {
            layers: layers.len(),
            spatial: spatial.len(),
        });
    }
    let last = layers.len() - 1;
    for (layer, (config, s)) in layers.iter().zip(spatial).enumerate() {
        config
            .validate()
            .map_err(|source| NetworkShapeError::Config { layer, source })?;
        let memories = MemoryMap::new(config).memories();
        if memories > SPATIAL_MEMORY {
            return Err(NetworkShapeError::Memories { layer, memories });
        }
        if let Some(conv) = s.conv {
            if layer == last {
                return Err(NetworkShapeError::LastConv { layer });
            }
            LayerInput::conv(&conv.geometry)
                .map_err(|source| NetworkShapeError::Window { layer, source })?;
            let patch_len = conv.geometry.patch_len();
            if config.input_dim != patch_len {
                return Err(NetworkShapeError::ConvPatch {
                    layer,
                    input_dim: config.input_dim,
                    patch_len,
                });
            }
        }
        if let Some(pool) = s.pool {
            let why = if s.conv.is_none() {
                Some("it is dense (its output is a vector, not a map)")
            } else if layer == last {
                Some("it is the last layer (its outputs are 32-bit accumulators)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(NetworkShapeError::Pool {
                    layer,
                    pool: pool.name(),
                    why,
                });
            }
        }
        let map = output_map(layer, config, s)?;
        if let (Some(next_config), Some(next_s)) = (layers.get(layer + 1), spatial.get(layer + 1)) {
            let outputs = map.map_or(config.outputs, |m| m.len());
            let inputs = next_s
                .conv
                .map_or(next_config.input_dim, |c| c.geometry.input_len());
            if outputs != inputs {
                return Err(NetworkShapeError::Shape {
                    layer,
                    next: layer + 1,
                    outputs,
                    inputs,
                });
            }
            if let (Some(m), Some(c)) = (map, next_s.conv) {
                let g = c.geometry;
                if (m.height, m.width, m.channels) != (g.in_height, g.in_width, g.in_channels) {
                    return Err(NetworkShapeError::MapShape {
                        layer,
                        next: layer + 1,
                        height: m.height,
                        width: m.width,
                        channels: m.channels,
                        in_height: g.in_height,
                        in_width: g.in_width,
                        in_channels: g.in_channels,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Elements of each layer's input (a vector, or a map), then of the last
/// layer's output, for layers that pass [`validate_network`].
pub fn stream_lengths(layers: &[EngineConfig], spatial: &[Spatial]) -> Vec<usize> {
    let mut lengths: Vec<usize> = layers
        .iter()
        .zip(spatial)
        .map(|(c, s)| s.conv.map_or(c.input_dim, |c| c.geometry.input_len()))
        .collect();
    lengths.push(layers.last().map_or(0, |c| c.outputs));
    lengths
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

    inputs: Vec<LayerInput>,
    engines: Vec<Engine>,
    stages: Vec<RequantStage>,
    pools: Vec<PoolStage>,
    load_layer: Signal<Local, Bits<4>>,
    load_memory: Signal<Local, Bits<16>>,
    load_inner: Signal<Local, Bits<32>>,
    inner_mask: Constant<Bits<32>>,
    requantize_id: Constant<Bits<16>>,
    spatial_id: Constant<Bits<16>>,
    layer_ids: Vec<Constant<Bits<4>>>,
    _layers: usize,
    _stages: usize,
    _last: usize,
}

impl NetworkTop {
    /// The network top for dense `layers`; they must pass [`validate_layers`].
    pub fn new(layers: &[EngineConfig]) -> Self {
        Self::with_spatial(layers, &vec![Spatial::DENSE; layers.len()])
    }

    /// The network top for `layers` running as `spatial` says; they must
    /// pass [`validate_network`].
    pub fn with_spatial(layers: &[EngineConfig], spatial: &[Spatial]) -> Self {
        let count = layers.len();
        let inputs = spatial
            .iter()
            .map(|s| match s.conv {
                None => LayerInput::wire(),
                Some(c) => LayerInput::conv(&c.geometry).expect("a validated geometry"),
            })
            .collect();
        let pools = layers[..count - 1]
            .iter()
            .zip(spatial)
            .map(|(config, s)| match (s.pool, s.output_map(config.outputs)) {
                (Some(pool), Some(map)) => PoolStage::new(pool, map).expect("a validated pool"),
                _ => PoolStage::wire(),
            })
            .collect();
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
            inputs,
            engines: layers.iter().map(Engine::new).collect(),
            stages: layers[1..]
                .iter()
                .map(|next| RequantStage::new(next.activation_bits))
                .collect(),
            pools,
            load_layer: Default::default(),
            load_memory: Default::default(),
            load_inner: Default::default(),
            inner_mask: Constant::new(((1u64 << LAYER_SHIFT) - 1).into()),
            requantize_id: Constant::new((REQUANTIZE_MEMORY as u64).into()),
            spatial_id: Constant::new((SPATIAL_MEMORY as u64).into()),
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
            self.inputs[i].clock.next = self.clock.val();
            self.inputs[i].reset.next = self.reset.val();
            self.inputs[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.spatial_id.val());
            self.inputs[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.inputs[i].load_data.next = self.load_data.val();
            self.engines[i].in_data.next = self.inputs[i].out_data.val();
            self.engines[i].in_valid.next = self.inputs[i].out_valid.val();
            self.inputs[i].out_ready.next = self.engines[i].in_ready.val();
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
        self.inputs[0].in_data.next = self.in_data.val();
        self.inputs[0].in_valid.next = self.in_valid.val();
        self.in_ready.next = self.inputs[0].in_ready.val();
        for i in 0..self._stages {
            self.stages[i].clock.next = self.clock.val();
            self.stages[i].reset.next = self.reset.val();
            self.stages[i].in_data.next = self.engines[i].out_data.val();
            self.stages[i].in_valid.next = self.engines[i].out_valid.val();
            self.engines[i].out_ready.next = self.stages[i].in_ready.val();
            self.pools[i].clock.next = self.clock.val();
            self.pools[i].reset.next = self.reset.val();
            self.pools[i].in_data.next = self.stages[i].out_data.val();
            self.pools[i].in_valid.next = self.stages[i].out_valid.val();
            self.stages[i].out_ready.next = self.pools[i].in_ready.val();
            self.inputs[i + 1].in_data.next = self.pools[i].out_data.val();
            self.inputs[i + 1].in_valid.next = self.pools[i].out_valid.val();
            self.pools[i].out_ready.next = self.inputs[i + 1].in_ready.val();
            self.stages[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.requantize_id.val());
            self.stages[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.stages[i].load_data.next = self.load_data.val();
            self.pools[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.spatial_id.val());
            self.pools[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.pools[i].load_data.next = self.load_data.val();
            if self.trace_select.val() == self.layer_ids[i].val() {
                self.trace_data.next = self.pools[i].out_data.val();
                self.trace_valid.next =
                    self.pools[i].out_valid.val() & self.inputs[i + 1].in_ready.val();
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
