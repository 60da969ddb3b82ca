//! The sequential schedule: one engine, sized for a network's largest layer,
//! runs the layers in turn (FINN's folding, hls4ml's reuse factor), trading
//! throughput (the sum of the layers' cycles) for area (one search and one
//! set of lanes).
//!
//! Every memory of the engine holds one *bank* per layer. A layer's image is
//! padded to the engine's shape ([`SequentialPlan::pad`]) so the engine's
//! integer results for it equal the layer's own on its N outputs:
//!
//! - codebooks past the layer's C get all-zero tables: whatever the search
//!   picks there adds 0 (the sequencer feeds zeros for inputs past D);
//! - centroids past the layer's K repeat centroid 0 of their codebook: their
//!   distance ties centroid 0's and the lowest index wins, so they are never
//!   picked;
//! - outputs past the layer's N get zero tables and bias, and are dropped;
//! - `l1` weights past D are 0.
//!
//! Every layer must share the sub-vector length V and the encoder (`l2` or
//! `l1`); widths are the largest of the layers' (a wider accumulator or
//! table memory gives the same exact sums).
//!
//! Load port: as the network top's (`layer << 28 | memory << 16 | word`,
//! memory [`REQUANTIZE_MEMORY`] the requantization after the layer), with the
//! memory and word in the padded engine's map. The engine takes the layer
//! field as the bank of the write; its read bank is the register at
//! [`BANK_MEMORY`] (word 0), which the sequencer sets before each layer.

use crate::config::{EncoderKind, MAX_MEMORY_WORDS};
use crate::image::EncoderParams;
use crate::memory_map::{requantize_load_words, LoadWord, MemoryMap, LAYER_SHIFT, MAX_LAYERS};
use crate::{ConfigError, EngineConfig, Image, ImageError, Network};
use thiserror::Error;

pub use crate::memory_map::BANK_MEMORY;

/// How a network's layers share the device's engines, chosen when the
/// hardware is generated.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// One engine per layer, the layers overlapped: the throughput of the
    /// slowest layer (`lutgen_hdl::network`).
    #[default]
    Dataflow,
    /// One engine for the largest layer runs the layers in turn: the sum of
    /// the layers' cycles, one layer's area ([`SequentialPlan`]).
    Sequential,
}

impl Schedule {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Dataflow => "dataflow",
            Schedule::Sequential => "sequential",
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "dataflow" => Ok(Schedule::Dataflow),
            "sequential" => Ok(Schedule::Sequential),
            _ => Err(format!(
                "unknown schedule `{name}`: use `dataflow` (one engine per layer) or \
                 `sequential` (one engine, the layers in turn)"
            )),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Layers that one engine cannot run in turn, naming the rule they break.
#[derive(Debug, Error)]
pub enum SequentialError {
    #[error("a sequential device needs at least one layer")]
    Empty,
    #[error(
        "layer {layer} is a convolution or pools: the sequential schedule runs dense layers \
         only; use the dataflow schedule (`--schedule dataflow`)"
    )]
    Convolution { layer: usize },
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(
        "a sequential device runs at most {MAX_LAYERS} layers (the load port's layer field is \
         4 bits), not {0}"
    )]
    TooManyLayers(usize),
    #[error(
        "layer {layer} uses the {encoder} encoder; the sequential schedule runs `l2` and `l1` \
         layers only: compile with --encoder l2, or use the dataflow schedule"
    )]
    Encoder { layer: usize, encoder: EncoderKind },
    #[error(
        "layer {layer} uses the {encoder} encoder but layer 0 uses {first}: one engine runs \
         every layer, so compile them with one encoder"
    )]
    MixedEncoders {
        layer: usize,
        encoder: EncoderKind,
        first: EncoderKind,
    },
    #[error(
        "layer {layer} has sub-vectors of {len} elements but layer 0 has {first}: one engine \
         runs every layer, so compile them with one sub-vector length (--sub-vector-len)"
    )]
    SubVector {
        layer: usize,
        len: usize,
        first: usize,
    },
    #[error(
        "layer {layer} has {lanes} lanes but layer 0 has {first}: compile every layer with the \
         same --lanes"
    )]
    Lanes {
        layer: usize,
        lanes: usize,
        first: usize,
    },
    #[error(
        "layer {layer} reads {entries} table entries per word; the sequential schedule reads \
         one (entries_per_read 1)"
    )]
    EntriesPerRead { layer: usize, entries: usize },
    #[error("the engine for the largest layer: {0}")]
    Engine(ConfigError),
    #[error(
        "{memory} needs {words} words for {layers} layers ({stride} per layer) but an engine \
         memory holds at most {MAX_MEMORY_WORDS}: use fewer layers, or the dataflow schedule"
    )]
    Banks {
        memory: &'static str,
        words: usize,
        layers: usize,
        stride: usize,
    },
    #[error("layer {layer} is {got:?}, but this device runs {expected:?}")]
    Layer {
        layer: usize,
        expected: Box<EngineConfig>,
        got: Box<EngineConfig>,
    },
    #[error(
        "the network has {got} layers, this device runs {expected} (a sequential device holds \
         one bank per layer, fixed when it is generated)"
    )]
    LayerCount { expected: usize, got: usize },
    #[error("layer {layer} does not fit the device: {what}")]
    Fit { layer: usize, what: String },
    #[error("layer {layer} padded: {source}")]
    Image { layer: usize, source: ImageError },
}

/// How one engine runs a list of layers: its shape, and each memory's bank stride.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequentialPlan {
    engine: EngineConfig,
    layers: Vec<EngineConfig>,
}

/// Words one layer's bank takes in a memory of `words` words: the next power
/// of two, so the bank is the high address bits.
pub fn bank_stride(words: usize) -> usize {
    words.max(1).next_power_of_two()
}

/// Words of a memory holding `words` per bank in `banks` banks: `words`
/// itself for one bank, else [`bank_stride`] per bank.
pub fn banked_words(words: usize, banks: usize) -> usize {
    if banks == 1 {
        words
    } else {
        banks * bank_stride(words)
    }
}

impl SequentialPlan {
    /// The plan for `layers`, or what stops one engine running them.
    pub fn new(layers: &[EngineConfig]) -> Result<Self, SequentialError> {
        let first = layers.first().ok_or(SequentialError::Empty)?;
        if layers.len() > MAX_LAYERS {
            return Err(SequentialError::TooManyLayers(layers.len()));
        }
        for (layer, config) in layers.iter().enumerate() {
            if !matches!(config.encoder, EncoderKind::L2 | EncoderKind::L1) {
                return Err(SequentialError::Encoder {
                    layer,
                    encoder: config.encoder,
                });
            }
            if config.encoder != first.encoder {
                return Err(SequentialError::MixedEncoders {
                    layer,
                    encoder: config.encoder,
                    first: first.encoder,
                });
            }
            if config.sub_vector_len() != first.sub_vector_len() {
                return Err(SequentialError::SubVector {
                    layer,
                    len: config.sub_vector_len(),
                    first: first.sub_vector_len(),
                });
            }
            if config.entries_per_read != 1 {
                return Err(SequentialError::EntriesPerRead {
                    layer,
                    entries: config.entries_per_read,
                });
            }
            if config.lanes != first.lanes {
                return Err(SequentialError::Lanes {
                    layer,
                    lanes: config.lanes,
                    first: first.lanes,
                });
            }
        }
        let max = |f: fn(&EngineConfig) -> usize| layers.iter().map(f).max().unwrap_or(0);
        let max_bits = |f: fn(&EngineConfig) -> u32| layers.iter().map(f).max().unwrap_or(0);
        let codebooks = max(|c| c.codebooks);
        let engine = EngineConfig {
            input_dim: codebooks * first.sub_vector_len(),
            codebooks,
            centroids: max(|c| c.centroids),
            outputs: max(|c| c.outputs),
            lanes: first.lanes,
            entries_per_read: 1,
            encoder: first.encoder,
            activation_bits: max_bits(|c| c.activation_bits),
            centroid_bits: max_bits(|c| c.centroid_bits),
            table_bits: max_bits(|c| c.table_bits),
            bias_bits: max_bits(|c| c.bias_bits),
        };
        engine.validate().map_err(SequentialError::Engine)?;
        let plan = SequentialPlan {
            engine,
            layers: layers.to_vec(),
        };
        for (memory, words) in plan.memory_words() {
            let stride = bank_stride(words);
            let total = stride.saturating_mul(layers.len());
            if total > MAX_MEMORY_WORDS {
                return Err(SequentialError::Banks {
                    memory,
                    words: total,
                    layers: layers.len(),
                    stride,
                });
            }
        }
        Ok(plan)
    }

    /// The engine's shape: the largest layer's in every dimension.
    pub fn engine(&self) -> &EngineConfig {
        &self.engine
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[EngineConfig] {
        &self.layers
    }

    /// Banks of every memory: one per layer.
    pub fn banks(&self) -> usize {
        self.layers.len()
    }

    /// Each kind of engine memory and the words one layer takes in it.
    fn memory_words(&self) -> Vec<(&'static str, usize)> {
        let e = &self.engine;
        let mut words = vec![
            ("a centroid memory", e.input_dim * e.centroids_per_unit()),
            ("a lane's table memory", e.table_words_per_lane()),
            ("a lane's bias memory", e.rows_per_lane()),
        ];
        if e.encoder.has_weights() {
            words.push(("the weight memory", e.input_dim));
        }
        words
    }

    /// Cycles of the table read per inference: the sum over layers of the
    /// padded engine's `C * ceil(N / L)`.
    pub fn bound_cycles_per_inference(&self) -> usize {
        self.banks() * self.engine.bound_cycles_per_inference()
    }

    /// `image` (for layer `layer`) padded to the engine's shape; see the module doc.
    pub fn pad(&self, layer: usize, image: &Image) -> Result<Image, SequentialError> {
        let expected = &self.layers[layer.min(self.layers.len() - 1)];
        if layer >= self.layers.len() || image.config() != expected {
            return Err(SequentialError::Layer {
                layer,
                expected: Box::new(expected.clone()),
                got: Box::new(image.config().clone()),
            });
        }
        let (e, l) = (&self.engine, image.config());
        let v = e.sub_vector_len();
        let mut centroids = vec![0i8; e.codebooks * e.centroids * v];
        let mut tables = vec![0i8; e.codebooks * e.centroids * e.outputs];
        for c in 0..l.codebooks {
            for k in 0..e.centroids {
                // Centroids past the layer's K repeat centroid 0: never picked.
                let source = if k < l.centroids { k } else { 0 };
                let at = (c * e.centroids + k) * v;
                centroids[at..at + v].copy_from_slice(image.centroid(c, source));
                if k < l.centroids {
                    let at = (c * e.centroids + k) * e.outputs;
                    tables[at..at + l.outputs].copy_from_slice(image.table_row(c, k));
                }
            }
        }
        let mut bias = image.bias().to_vec();
        bias.resize(e.outputs, 0);
        let mut params = EncoderParams::default_for(e);
        if e.encoder.has_weights() {
            params.weights[..l.input_dim].copy_from_slice(&image.params().weights);
            params.weights[l.input_dim..].fill(0);
        }
        Image::with_params(e.clone(), centroids, tables, bias, params)
            .map_err(|source| SequentialError::Image { layer, source })
    }

    /// Whether a network of `layers` fits the device built for this plan,
    /// naming the first thing that does not: the layer count, a layer that
    /// differs in encoder, sub-vector length or lanes, a layer larger than
    /// the engine in some dimension or width, and last a layer of another
    /// shape than the device's at that position (the sequencer's D and N
    /// and the requantization's range are fixed per layer when the device
    /// is generated).
    pub fn fit(&self, layers: &[EngineConfig]) -> Result<(), SequentialError> {
        if layers.len() != self.layers.len() {
            return Err(SequentialError::LayerCount {
                expected: self.layers.len(),
                got: layers.len(),
            });
        }
        let e = &self.engine;
        for (layer, (got, want)) in layers.iter().zip(&self.layers).enumerate() {
            let fit = |what: String| Err(SequentialError::Fit { layer, what });
            if got.encoder != e.encoder {
                return fit(format!(
                    "it uses the {} encoder, the device's engine {}",
                    got.encoder, e.encoder
                ));
            }
            if got.sub_vector_len() != e.sub_vector_len() {
                return fit(format!(
                    "its sub-vectors have {} elements, the device's engine {}",
                    got.sub_vector_len(),
                    e.sub_vector_len()
                ));
            }
            if got.lanes != e.lanes || got.entries_per_read != 1 {
                return fit(format!(
                    "it has {} lanes reading {} entries a word, the device's engine {} lanes \
                     reading 1",
                    got.lanes, got.entries_per_read, e.lanes
                ));
            }
            let larger: Vec<String> = [
                ("D", got.input_dim, e.input_dim),
                ("C", got.codebooks, e.codebooks),
                ("K", got.centroids, e.centroids),
                ("N", got.outputs, e.outputs),
                (
                    "activation bits",
                    got.activation_bits as usize,
                    e.activation_bits as usize,
                ),
                (
                    "centroid bits",
                    got.centroid_bits as usize,
                    e.centroid_bits as usize,
                ),
                ("table bits", got.table_bits as usize, e.table_bits as usize),
                ("bias bits", got.bias_bits as usize, e.bias_bits as usize),
            ]
            .iter()
            .filter(|(_, g, w)| g > w)
            .map(|(name, g, w)| format!("{name} {g} > {w}"))
            .collect();
            if !larger.is_empty() {
                return fit(format!(
                    "it is larger than the device's engine ({}): {}",
                    shape(e),
                    larger.join(", ")
                ));
            }
            if got != want {
                return fit(format!(
                    "it is {} but the device runs {} as layer {layer} (a sequential device \
                     fixes each layer's D, N and widths when it is generated)",
                    shape(got),
                    shape(want)
                ));
            }
        }
        Ok(())
    }

    /// The network file a sequential device built for this plan loads for
    /// `network`: the network's own file ([`Network::to_bytes`]) with every
    /// layer's image padded to the engine ([`pad`](Self::pad)); everything
    /// else (scales, requantization, activation tables) as it is. Its walk
    /// writes exactly [`load_words`](Self::load_words).
    pub fn load_file(&self, network: &Network) -> Result<Vec<u8>, SequentialError> {
        network.require_dense()?;
        self.fit(&network.configs())?;
        let padded = network
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| self.pad(i, &l.image))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(network.to_bytes_with(|i, _| padded[i].to_bytes()))
    }

    /// Every load-port write that puts `network` into the sequential device
    /// built for this plan: each layer's padded image under its layer field,
    /// then its requantization (as [`crate::memory_map::network_load_words`]).
    pub fn load_words(&self, network: &Network) -> Result<Vec<LoadWord>, SequentialError> {
        network.require_dense()?;
        self.fit(&network.configs())?;
        let mut words = Vec::new();
        for (index, layer) in network.layers().iter().enumerate() {
            let padded = self.pad(index, &layer.image)?;
            let base = (index as u32) << LAYER_SHIFT;
            words.extend(
                MemoryMap::load_words(&padded)
                    .into_iter()
                    .map(|w| LoadWord {
                        address: base | w.address,
                        data: w.data,
                    }),
            );
            words.extend(requantize_load_words(index, layer));
        }
        Ok(words)
    }
}

/// One line naming a layer's shape.
fn shape(c: &EngineConfig) -> String {
    format!(
        "{}->{} (C={} K={} V={} lanes={} {} bits {}/{}/{}/{})",
        c.input_dim,
        c.outputs,
        c.codebooks,
        c.centroids,
        c.sub_vector_len(),
        c.lanes,
        c.encoder,
        c.activation_bits,
        c.centroid_bits,
        c.table_bits,
        c.bias_bits
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random_network;
    use crate::Reference;

    fn layer(d: usize, c: usize, k: usize, n: usize) -> EngineConfig {
        EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: k,
            outputs: n,
            ..EngineConfig::default()
        }
    }

    #[test]
    fn schedules_parse_by_name_only() {
        for s in [Schedule::Dataflow, Schedule::Sequential] {
            assert_eq!(s.name().parse::<Schedule>(), Ok(s));
        }
        let e = "folded".parse::<Schedule>().unwrap_err();
        assert!(e.contains("`dataflow`"), "{e}");
    }

    #[test]
    fn the_engine_is_the_largest_layer() {
        let plan = SequentialPlan::new(&[layer(32, 8, 16, 24), layer(24, 6, 8, 10)]).unwrap();
        let e = plan.engine();
        assert_eq!(
            (e.input_dim, e.codebooks, e.centroids, e.outputs),
            (32, 8, 16, 24)
        );
        assert_eq!(plan.banks(), 2);
    }

    #[test]
    fn a_padded_image_computes_the_layers_outputs() {
        let configs = [layer(32, 8, 16, 24), layer(24, 6, 8, 10)];
        let plan = SequentialPlan::new(&configs).unwrap();
        let network = random_network(&configs, 7).unwrap();
        for (i, l) in network.layers().iter().enumerate() {
            let padded = plan.pad(i, &l.image).unwrap();
            let (small, big) = (Reference::new(&l.image), Reference::new(&padded));
            for (j, x) in configs[i].random_inputs(200, 3).iter().enumerate() {
                let mut wide = x.clone();
                wide.resize(plan.engine().input_dim, 0);
                let got = big.infer(&wide).unwrap().outputs;
                let want = small.infer(x).unwrap().outputs;
                assert_eq!(&got[..want.len()], &want[..], "layer {i} vector {j}");
                assert!(got[want.len()..].iter().all(|&y| y == 0));
            }
        }
    }

    #[test]
    fn layers_one_engine_cannot_run_are_refused() {
        let tree = EngineConfig {
            encoder: EncoderKind::Tree,
            ..layer(16, 4, 16, 8)
        };
        let cases = [
            (vec![], "at least one layer"),
            (vec![layer(16, 4, 16, 8); 17], "at most 16 layers"),
            (vec![tree], "l2` and `l1` layers only"),
            (
                vec![layer(16, 4, 16, 8), layer(8, 1, 16, 4)],
                "one sub-vector length",
            ),
            (
                vec![
                    layer(16, 4, 16, 8),
                    EngineConfig {
                        lanes: 2,
                        ..layer(8, 2, 16, 4)
                    },
                ],
                "same --lanes",
            ),
            (
                vec![
                    layer(16, 4, 16, 8),
                    EngineConfig {
                        encoder: EncoderKind::L1,
                        ..layer(8, 2, 16, 4)
                    },
                ],
                "one encoder",
            ),
            (vec![layer(256, 64, 256, 256); 2], "holds at most"),
            (
                vec![EngineConfig {
                    entries_per_read: 2,
                    ..layer(16, 4, 16, 8)
                }],
                "reads one (entries_per_read 1)",
            ),
        ];
        for (layers, needle) in cases {
            let e = SequentialPlan::new(&layers).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn a_network_of_other_layers_is_refused() {
        let plan = SequentialPlan::new(&[layer(32, 8, 16, 24), layer(24, 6, 8, 10)]).unwrap();
        let other = random_network(&[layer(32, 8, 16, 24)], 1).unwrap();
        let e = plan.load_words(&other).unwrap_err().to_string();
        assert!(e.contains("this device runs 2"), "{e}");
        let other = random_network(&[layer(32, 8, 16, 20), layer(20, 5, 8, 10)], 1).unwrap();
        let e = plan.load_words(&other).unwrap_err().to_string();
        assert!(e.contains("layer 0"), "{e}");
    }

    /// The fit check names what does not fit: the count, the encoder, V,
    /// the lanes, a dimension larger than the engine, another shape.
    #[test]
    fn the_fit_check_names_what_does_not_fit() {
        let plan = SequentialPlan::new(&[layer(32, 8, 16, 24), layer(24, 6, 8, 10)]).unwrap();
        assert!(plan.fit(plan.layers()).is_ok());
        let second = |c: EngineConfig| vec![layer(32, 8, 16, 24), c];
        let cases = [
            (
                vec![layer(32, 8, 16, 24)],
                "the network has 1 layers, this device runs 2",
            ),
            (
                second(EngineConfig {
                    encoder: EncoderKind::L1,
                    ..layer(24, 6, 8, 10)
                }),
                "layer 1 does not fit the device: it uses the l1 encoder, the device's engine l2",
            ),
            (second(layer(24, 12, 8, 10)), "sub-vectors have 2 elements"),
            (
                second(EngineConfig {
                    lanes: 2,
                    ..layer(24, 6, 8, 10)
                }),
                "2 lanes",
            ),
            (
                second(layer(24, 6, 32, 10)),
                "larger than the device's engine",
            ),
            (second(layer(24, 6, 32, 40)), "K 32 > 16, N 40 > 24"),
            (
                second(EngineConfig {
                    table_bits: 8,
                    bias_bits: 32,
                    ..layer(24, 6, 8, 10)
                }),
                "bias bits 32 > 16",
            ),
            (
                second(layer(24, 6, 8, 12)),
                "it is 24->12 (C=6 K=8 V=4 lanes=1 l2 bits 8/8/8/16) but the device runs 24->10",
            ),
        ];
        for (layers, needle) in cases {
            let e = plan.fit(&layers).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
