//! A whole network of lookup-table layers, and its bit-exact integer reference.
//!
//! A [`Network`] is a chain of layers. Each layer is one engine pass: an
//! [`Image`] for its own [`crate::EngineConfig`]. Between two layers the
//! 32-bit accumulator is turned into the next layer's int8 input by
//! [`Requantize`]: an integer multiply, a rounding right shift, a zero point,
//! saturation and an optional ReLU, then, if the layer has one, an
//! [`ActivationTable`]: any elementwise activation (Tanh, Sigmoid, GELU, ...)
//! as 256 int8 entries indexed by the requantized value. The last layer has
//! no requantization and no table: its 32-bit outputs are the network's
//! outputs (logits).
//!
//! On the device, the network top (`lutgen_hdl::network`) runs every layer
//! on its own engine with the requantization in hardware; the host can also
//! run one engine pass per layer and requantize with [`Requantize::apply`].
//! Either way this module is the definition the results are checked against.
//!
//! A layer may also be a convolution, run once per output pixel, and pool
//! its requantized output map ([`crate::spatial`] defines both exactly);
//! [`Network::infer`] runs them, and so do both network tops in simulation
//! and as Verilog (`lutgen_hdl::network`, `lutgen_hdl::sequential`) and the
//! dataflow UART network device. The sequential device does not:
//! [`Network::require_dense`] is the check every path to it makes.
//!
//! The network file format (`LUTNET` v3) is a small container of per-layer
//! images, described in `docs/compiler.md` and on [`Network::to_bytes`].

use crate::config::EngineConfig;
use crate::conv::{ConvError, ConvGeometry, Padding};
use crate::image::{Image, ImageError};
use crate::reference::{InputError, Reference};
use crate::spatial::{Conv, MapShape, Pool, Spatial};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// First bytes of every network file.
pub const NETWORK_MAGIC: [u8; 8] = *b"\x89LUTNET\n";
/// The network format version this build reads and writes.
pub const NETWORK_FORMAT_VERSION: u16 = 3;
/// Entries of an [`ActivationTable`]: one per int8 value.
pub const ACTIVATION_TABLE_LEN: usize = 256;
/// Bytes of a convolution layer's geometry block in a network file.
pub const CONV_BLOCK_LEN: usize = 16;

/// Integer requantization of an accumulator to the next layer's input.
///
/// `apply(acc)` computes, with exact integer arithmetic:
///
/// ```text
/// p = acc * multiplier                      (64-bit, exact: |p| < 2^62)
/// r = round(p / 2^shift)                    (ties away from zero:
///                                            sign(p) * ((|p| + 2^(shift-1)) >> shift))
/// q = clamp(r + zero_point, lo, hi)         (lo, hi: the next layer's activation range)
/// q = max(q, zero_point)   if relu          (ReLU in the quantized domain)
/// ```
///
/// `multiplier` is positive and below 2^31, `shift` is 1 to 62. Together they
/// represent the real scale `multiplier / 2^shift`, the ratio of the
/// accumulator's scale to the next layer's input scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requantize {
    pub multiplier: i32,
    pub shift: u8,
    pub zero_point: i8,
    pub relu: bool,
    /// Signed width of the result (the next layer's `activation_bits`, 2 to 8).
    pub bits: u32,
}

/// Requantization parameters that cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RequantizeError {
    #[error("requantization scale {0} must be finite and positive")]
    Scale(f64),
    #[error("requantization scale {0} is too small or too large for a 31-bit multiplier and a shift of at most 62")]
    OutOfRange(f64),
    #[error("requantization multiplier {0} must be from 1 to 2^31-1")]
    Multiplier(i32),
    #[error("requantization shift {0} must be from 1 to 62")]
    Shift(u8),
    #[error("requantization width {0} must be from 2 to 8 bits")]
    Bits(u32),
    #[error("zero point {zero_point} does not fit in {bits} signed bits")]
    ZeroPoint { zero_point: i8, bits: u32 },
}

impl Requantize {
    /// The integer multiplier and shift closest to `scale`, normalized so the
    /// multiplier has 31 significant bits (from 2^30 to 2^31 - 1) when the
    /// shift allows.
    pub fn from_scale(
        scale: f64,
        zero_point: i8,
        relu: bool,
        bits: u32,
    ) -> Result<Self, RequantizeError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(RequantizeError::Scale(scale));
        }
        // scale = m * 2^e with m in [0.5, 1): multiplier = m * 2^31, shift = 31 - e.
        let e = scale.log2().floor() as i32 + 1;
        let mut shift = 31 - e;
        if shift > 62 {
            return Err(RequantizeError::OutOfRange(scale));
        }
        if shift < 1 {
            return Err(RequantizeError::OutOfRange(scale));
        }
        let mut multiplier = (scale * 2f64.powi(shift)).round();
        if multiplier >= 2f64.powi(31) {
            // Rounding carried into bit 31: halve once.
            multiplier = (multiplier / 2.0).round();
            shift -= 1;
            if shift < 1 {
                return Err(RequantizeError::OutOfRange(scale));
            }
        }
        let r = Requantize {
            multiplier: multiplier as i32,
            shift: shift as u8,
            zero_point,
            relu,
            bits,
        };
        r.validate()?;
        Ok(r)
    }

    /// Checks the parameter ranges [`Requantize::apply`] relies on.
    pub fn validate(&self) -> Result<(), RequantizeError> {
        if self.multiplier < 1 {
            return Err(RequantizeError::Multiplier(self.multiplier));
        }
        if !(1..=62).contains(&self.shift) {
            return Err(RequantizeError::Shift(self.shift));
        }
        if !(2..=8).contains(&self.bits) {
            return Err(RequantizeError::Bits(self.bits));
        }
        let (lo, hi) = EngineConfig::signed_range(self.bits);
        if !(lo..=hi).contains(&i64::from(self.zero_point)) {
            return Err(RequantizeError::ZeroPoint {
                zero_point: self.zero_point,
                bits: self.bits,
            });
        }
        Ok(())
    }

    /// The real scale this multiplier and shift represent.
    pub fn scale(&self) -> f64 {
        f64::from(self.multiplier) / 2f64.powi(i32::from(self.shift))
    }

    /// Requantizes one accumulator; see the type's documentation for the exact rule.
    pub fn apply(&self, acc: i32) -> i8 {
        let p = i64::from(acc) * i64::from(self.multiplier);
        let half = 1i64 << (self.shift - 1);
        let magnitude = (p.unsigned_abs() as i64 + half) >> self.shift;
        let r = if p < 0 { -magnitude } else { magnitude };
        let (lo, hi) = EngineConfig::signed_range(self.bits);
        let mut q = (r + i64::from(self.zero_point)).clamp(lo, hi);
        if self.relu {
            q = q.max(i64::from(self.zero_point));
        }
        q as i8
    }
}

/// An elementwise activation after requantization, as a table: the
/// requantized value `q` (the next layer's activation range, `bits` signed
/// bits) indexes 256 int8 entries, and the entry is the next layer's input.
///
/// ```text
/// q  = Requantize::apply(acc)               (clamp to [lo, hi], ReLU if relu)
/// q' = table[q as u8]                       (index q + 256 mod 256: 0..=127 for
///                                            q >= 0, 128..=255 for q < 0)
/// ```
///
/// Every entry a `bits`-wide requantization can index (`q` in `lo..=hi`,
/// `lo = -2^(bits-1)`, `hi = 2^(bits-1) - 1`) must fit the same `bits`
/// (it is the next layer's activation); every other entry is 0, so a table
/// has one representation (the network file is canonical). With ReLU,
/// entries below the zero point are never read but may hold any value in
/// range. Built by [`ActivationTable::new`] or [`ActivationTable::from_fn`];
/// [`Network::new`] checks it again against its layer's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActivationTable([i8; ACTIVATION_TABLE_LEN]);

/// An activation table that does not fit its layer.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ActivationError {
    #[error("activation width {0} must be from 2 to 8 bits")]
    Bits(u32),
    #[error(
        "activation table entry {index} (requantized value {q}) is {value}, which does not \
         fit the next layer's {bits}-bit activations"
    )]
    Entry {
        index: usize,
        q: i8,
        value: i8,
        bits: u32,
    },
    #[error(
        "activation table entry {index} (requantized value {q}) is {value}, but a {bits}-bit \
         requantization never produces {q}: entries outside its range must be 0"
    )]
    Unreachable {
        index: usize,
        q: i8,
        value: i8,
        bits: u32,
    },
}

impl ActivationTable {
    /// A table of `entries` (entry `i` for the requantized value `i as i8`)
    /// for a `bits`-wide requantization, checked (see the type).
    pub fn new(entries: [i8; ACTIVATION_TABLE_LEN], bits: u32) -> Result<Self, ActivationError> {
        let table = ActivationTable(entries);
        table.validate(bits)?;
        Ok(table)
    }

    /// The table of `f` over every value a `bits`-wide requantization
    /// produces (`f(q)` at index `q as u8`), 0 elsewhere; `f(q)` must fit `bits`.
    pub fn from_fn(bits: u32, mut f: impl FnMut(i8) -> i8) -> Result<Self, ActivationError> {
        if !(2..=8).contains(&bits) {
            return Err(ActivationError::Bits(bits));
        }
        let (lo, hi) = EngineConfig::signed_range(bits);
        let mut entries = [0i8; ACTIVATION_TABLE_LEN];
        for q in lo..=hi {
            let q = q as i8;
            entries[Self::index(q)] = f(q);
        }
        Self::new(entries, bits)
    }

    /// The identity on a `bits`-wide range (the same results as no table).
    pub fn identity(bits: u32) -> Result<Self, ActivationError> {
        Self::from_fn(bits, |q| q)
    }

    /// The index of requantized value `q`: `q as u8` (`q + 256 mod 256`).
    pub fn index(q: i8) -> usize {
        usize::from(q as u8)
    }

    /// The entry for requantized value `q`: the next layer's input.
    pub fn apply(&self, q: i8) -> i8 {
        self.0[Self::index(q)]
    }

    /// All 256 entries, by index.
    pub fn entries(&self) -> &[i8; ACTIVATION_TABLE_LEN] {
        &self.0
    }

    /// Checks the table against a `bits`-wide requantization (see the type).
    pub fn validate(&self, bits: u32) -> Result<(), ActivationError> {
        if !(2..=8).contains(&bits) {
            return Err(ActivationError::Bits(bits));
        }
        let (lo, hi) = EngineConfig::signed_range(bits);
        for (index, &value) in self.0.iter().enumerate() {
            let q = index as u8 as i8;
            let v = i64::from(value);
            if (lo..=hi).contains(&i64::from(q)) {
                if !(lo..=hi).contains(&v) {
                    return Err(ActivationError::Entry {
                        index,
                        q,
                        value,
                        bits,
                    });
                }
            } else if value != 0 {
                return Err(ActivationError::Unreachable {
                    index,
                    q,
                    value,
                    bits,
                });
            }
        }
        Ok(())
    }
}

/// How real-valued network inputs become the first layer's int8 activations.
///
/// `q = clamp(round(x / scale) + zero_point, -128, 127)`, rounding ties away
/// from zero, computed in f64. This is the only floating-point step, and it
/// happens once, on the host, before the first layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputQuantization {
    pub scale: f32,
    pub zero_point: i8,
}

impl InputQuantization {
    /// Quantizes one real-valued input vector.
    pub fn quantize(&self, x: &[f32]) -> Vec<i8> {
        x.iter()
            .map(|&v| {
                let q = (f64::from(v) / f64::from(self.scale)).round() + f64::from(self.zero_point);
                q.clamp(-128.0, 127.0) as i8
            })
            .collect()
    }

    /// How many of `x`'s values lie outside the range the quantization
    /// covers (more than half a step beyond code -128 or 127), and so are
    /// clipped by [`InputQuantization::quantize`]. The compiler derives the
    /// range from its calibration set, which it covers exactly: clipped values
    /// at inference mean inputs unlike the calibration data (raw pixels where
    /// the model was trained on scaled ones, say).
    pub fn clipped(&self, x: &[f32]) -> usize {
        x.iter()
            .filter(|&&v| {
                let q = f64::from(v) / f64::from(self.scale) + f64::from(self.zero_point);
                !(-128.5..=127.5).contains(&q)
            })
            .count()
    }
}

/// One layer: an engine image, the real value of one accumulator unit, and
/// (except on the last layer) the requantization to the next layer's input,
/// optionally followed by an activation table.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub image: Image,
    /// Real value of one accumulator unit (informational: the integer path never uses it).
    pub accumulator_scale: f32,
    /// `None` on the last layer only.
    pub requantize: Option<Requantize>,
    /// The activation after the requantization, as a table (`None`: the
    /// requantized value, after its clamp and optional ReLU, is the next
    /// layer's input). Always `None` on the last layer.
    pub activation: Option<ActivationTable>,
}

impl Layer {
    /// The next layer's input for one of this layer's accumulators:
    /// [`Requantize::apply`], then the activation table if there is one.
    /// `None` on the last layer (no requantization).
    pub fn next_activation(&self, acc: i32) -> Option<i8> {
        let q = self.requantize.as_ref()?.apply(acc);
        Some(match &self.activation {
            Some(table) => table.apply(q),
            None => q,
        })
    }
}

/// A network that cannot be built or read, naming the problem.
#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("a network needs at least one layer")]
    Empty,
    #[error("layer {layer} has {outputs} outputs but layer {next} takes {inputs} inputs")]
    Shape {
        layer: usize,
        next: usize,
        outputs: usize,
        inputs: usize,
    },
    #[error("layer {layer} is not the last layer but has no requantization")]
    MissingRequantize { layer: usize },
    #[error("layer {layer} is the last layer but has a requantization")]
    TrailingRequantize { layer: usize },
    #[error("layer {layer}: requantizes to {bits} bits but layer {next} takes {activation_bits}-bit activations")]
    Width {
        layer: usize,
        next: usize,
        bits: u32,
        activation_bits: u32,
    },
    #[error("layer {layer}: {source}")]
    Requantize {
        layer: usize,
        source: RequantizeError,
    },
    #[error(
        "layer {layer} is the last layer but has an activation table: its outputs are the \
         network's 32-bit outputs, not the next layer's activations"
    )]
    TrailingActivation { layer: usize },
    #[error("layer {layer}: {source}")]
    Activation {
        layer: usize,
        source: ActivationError,
    },
    #[error("input scale {0} must be finite and positive")]
    InputScale(f32),
    #[error("layer {layer}: accumulator scale {scale} must be finite and positive")]
    AccumulatorScale { layer: usize, scale: f32 },
    #[error(
        "layer {layer} has no requantization (has_requant is 0), so its {field} must be 0, \
         got {value}"
    )]
    UnusedRequantizeField {
        layer: usize,
        field: &'static str,
        value: i64,
    },
    #[error("layer {layer} image: {source}")]
    Image { layer: usize, source: ImageError },
    #[error(
        "not a lutgen network file: it does not start with the LUTNET magic; \
         check that the path names a file written by `lutgen compile`"
    )]
    BadMagic,
    #[error(
        "network format version {0} is not supported: this build reads version \
         {NETWORK_FORMAT_VERSION} only{hint}",
        hint = if *.0 < NETWORK_FORMAT_VERSION {
            "; recompile the network with this build's `lutgen compile`"
        } else {
            "; read it with the newer lutgen that wrote it"
        }
    )]
    UnsupportedVersion(u16),
    #[error("network file is truncated or has trailing bytes (the {0} does not fit); copy or compile it again")]
    Length(&'static str),
    #[error("network file is corrupted: stored CRC-32 {expected:#010x}, computed {actual:#010x}")]
    Crc { expected: u32, actual: u32 },
    #[error("network file field {field} has invalid value {value}")]
    Field { field: &'static str, value: u32 },
    #[error("the network has {layers} layers but {spatial} layer kinds (dense or convolution)")]
    SpatialCount { layers: usize, spatial: usize },
    #[error("layer {layer}: {source}")]
    Conv { layer: usize, source: ConvError },
    #[error(
        "layer {layer} is a convolution whose patches have {patch_len} elements (C x k x k), \
         but its image takes {input_dim} inputs"
    )]
    ConvPatch {
        layer: usize,
        patch_len: usize,
        input_dim: usize,
    },
    #[error(
        "layer {layer}: pad value {pad_value} does not fit the layer's {bits}-bit activations"
    )]
    PadValue {
        layer: usize,
        pad_value: i8,
        bits: u32,
    },
    #[error(
        "layer {layer} is the last layer but has a {pool}: its outputs are 32-bit \
         accumulators, pooling runs on requantized activations; pool before the last layer"
    )]
    TrailingPool { layer: usize, pool: &'static str },
    #[error("layer {layer} is dense but has a {pool}: pooling needs a feature map (a convolution layer)")]
    PoolWithoutMap { layer: usize, pool: &'static str },
    #[error("layer {layer}: a {pool} needs a map of at least 2x2 pixels, the layer's output map is {height}x{width}")]
    PoolTooSmall {
        layer: usize,
        pool: &'static str,
        height: usize,
        width: usize,
    },
    #[error(
        "layer {layer}'s output map is {}x{}x{} but convolution layer {next} reads a {}x{}x{} map",
        got.height, got.width, got.channels, expected.height, expected.width, expected.channels
    )]
    MapShape {
        layer: usize,
        next: usize,
        got: MapShape,
        expected: MapShape,
    },
    #[error(
        "layer {layer} is {what}: the sequential network device does not run convolutions \
         or pooling yet (issue 20); use `--schedule dataflow` (the default: one engine per \
         layer, which runs them in simulation, as Verilog and on the network device), or \
         the sequential top in simulation (`lutgen sim --network FILE --schedule sequential`)"
    )]
    HardwareConvolution { layer: usize, what: String },
    #[error(
        "layer {layer} is {what}: `lutgen build` does not place and route the network \
         device of a convolution network yet (its fit check does not count the window \
         generators' line buffers and pool stages); run it on the simulated board (`lutgen \
         board --sim --network`) or write its device Verilog (`lutgen generate --network \
         FILE --device`)"
    )]
    BoardConvolution { layer: usize, what: String },
    #[error("cannot {action} network file {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A chain of lookup-table layers with integer requantization between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    input: InputQuantization,
    layers: Vec<Layer>,
    /// Per layer: dense, or a convolution, and its pooling.
    spatial: Vec<Spatial>,
}

/// One inference through the whole network, with every layer's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInference {
    /// The int8 input of each layer (the first is the network's input).
    pub activations: Vec<Vec<i8>>,
    /// The last layer's 32-bit outputs.
    pub outputs: Vec<i32>,
}

impl Network {
    /// Builds a network of dense layers, checking that the layers chain.
    pub fn new(input: InputQuantization, layers: Vec<Layer>) -> Result<Self, NetworkError> {
        let spatial = vec![Spatial::DENSE; layers.len()];
        Self::with_spatial(input, layers, spatial)
    }

    /// Builds a network whose layer `i` runs as `spatial[i]` (dense, or a
    /// convolution, and its pooling), checking that the layers chain: each
    /// layer's output (its map, pooled, in HWC order) is exactly the next
    /// layer's input (a convolution's input map, or a dense layer's vector).
    pub fn with_spatial(
        input: InputQuantization,
        layers: Vec<Layer>,
        spatial: Vec<Spatial>,
    ) -> Result<Self, NetworkError> {
        if spatial.len() != layers.len() {
            return Err(NetworkError::SpatialCount {
                layers: layers.len(),
                spatial: spatial.len(),
            });
        }
        if layers.is_empty() {
            return Err(NetworkError::Empty);
        }
        if !(input.scale.is_finite() && input.scale > 0.0) {
            return Err(NetworkError::InputScale(input.scale));
        }
        let last = layers.len() - 1;
        for (i, layer) in layers.iter().enumerate() {
            let scale = layer.accumulator_scale;
            if !(scale.is_finite() && scale > 0.0) {
                return Err(NetworkError::AccumulatorScale { layer: i, scale });
            }
            match (&layer.requantize, i == last) {
                (None, false) => return Err(NetworkError::MissingRequantize { layer: i }),
                (Some(_), true) => return Err(NetworkError::TrailingRequantize { layer: i }),
                (Some(r), false) => {
                    r.validate()
                        .map_err(|source| NetworkError::Requantize { layer: i, source })?;
                    if let Some(table) = &layer.activation {
                        table
                            .validate(r.bits)
                            .map_err(|source| NetworkError::Activation { layer: i, source })?;
                    }
                    let next = layers[i + 1].image.config();
                    let map = layer_output(i, layer.image.config(), &spatial[i])?;
                    check_link(i, layer.image.config(), map, next, &spatial[i + 1])?;
                    if r.bits != next.activation_bits {
                        return Err(NetworkError::Width {
                            layer: i,
                            next: i + 1,
                            bits: r.bits,
                            activation_bits: next.activation_bits,
                        });
                    }
                }
                (None, true) => {
                    if layer.activation.is_some() {
                        return Err(NetworkError::TrailingActivation { layer: i });
                    }
                    if let Some(pool) = spatial[i].pool {
                        return Err(NetworkError::TrailingPool {
                            layer: i,
                            pool: pool.name(),
                        });
                    }
                    layer_output(i, layer.image.config(), &spatial[i])?;
                }
            }
        }
        Ok(Network {
            input,
            layers,
            spatial,
        })
    }

    /// Elements of a (validated) layer's output, after its pooling.
    fn layer_output_len(&self, i: usize) -> usize {
        let outputs = self.layers[i].image.config().outputs;
        let spatial = &self.spatial[i];
        match spatial.output_map(outputs) {
            None => outputs,
            Some(map) => spatial
                .pool
                .and_then(|p| p.output(map))
                .unwrap_or(map)
                .len(),
        }
    }

    /// How each layer runs across a feature map (dense, or a convolution, and its pooling).
    pub fn spatial(&self) -> &[Spatial] {
        &self.spatial
    }

    /// Refuses a network with a convolution or pooling, naming the first
    /// such layer: the sequential network device runs dense layers only, so
    /// every path to it (generation, loading, the board) checks this. Both
    /// network tops (`lutgen_hdl::network`, `lutgen_hdl::sequential`) run
    /// convolutions in simulation and as generated Verilog, and so does the
    /// dataflow UART network device.
    pub fn require_dense(&self) -> Result<(), NetworkError> {
        for (layer, s) in self.spatial.iter().enumerate() {
            let what = match (s.conv, s.pool) {
                (Some(c), _) => format!(
                    "a {k}x{k} convolution (stride {s})",
                    k = c.geometry.kernel,
                    s = c.geometry.stride
                ),
                (None, Some(p)) => format!("pooled ({})", p.name()),
                (None, None) => continue,
            };
            return Err(NetworkError::HardwareConvolution { layer, what });
        }
        Ok(())
    }

    /// How real inputs are quantized for the first layer.
    pub fn input_quantization(&self) -> InputQuantization {
        self.input
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Every layer's engine configuration, in order: what a network device must be built for.
    pub fn configs(&self) -> Vec<EngineConfig> {
        self.layers
            .iter()
            .map(|l| l.image.config().clone())
            .collect()
    }

    /// Elements of the network's input: the first layer's input vector, or
    /// its input map (HWC) if it is a convolution.
    pub fn input_dim(&self) -> usize {
        self.spatial[0].input_len(self.layers[0].image.config())
    }

    /// Elements of the network's output: the last layer's outputs, per
    /// output pixel (HWC) if it is a convolution.
    pub fn outputs(&self) -> usize {
        self.layer_output_len(self.layers.len() - 1)
    }

    /// Real value of one unit of the last layer's outputs (its accumulator
    /// scale): `output * output_scale()` is the float model's output (its
    /// logits, before any softmax head), up to the quantization error.
    pub fn output_scale(&self) -> f32 {
        self.layers[self.layers.len() - 1].accumulator_scale
    }

    /// The last layer's outputs as real values: each times [`Network::output_scale`], in f64.
    pub fn dequantize(&self, outputs: &[i32]) -> Vec<f32> {
        let scale = f64::from(self.output_scale());
        outputs
            .iter()
            .map(|&o| (f64::from(o) * scale) as f32)
            .collect()
    }

    /// Bytes of all table entries (one byte each, as stored).
    pub fn table_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.image.tables().len()).sum()
    }

    /// Bytes of all centroid coordinates (one byte each, as stored).
    pub fn centroid_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.image.centroids().len()).sum()
    }

    /// The whole integer pipeline for one int8 input vector (an HWC map if
    /// the first layer is a convolution): per layer, the engine on the
    /// input vector or on every output pixel's patch, the requantization and
    /// activation table, then the pooling ([`crate::spatial`]).
    pub fn infer(&self, input: &[i8]) -> Result<NetworkInference, InputError> {
        let mut activations = vec![input.to_vec()];
        for (layer, spatial) in self.layers.iter().zip(&self.spatial) {
            let x = activations.last().expect("at least the input");
            let reference = Reference::new(&layer.image);
            let acc = spatial.accumulate(x, |patch| reference.outputs(patch))?;
            let Some(r) = layer.requantize else {
                return Ok(NetworkInference {
                    activations,
                    outputs: acc,
                });
            };
            let next: Vec<i8> = acc
                .iter()
                .map(|&a| layer.next_activation(a).expect("a requantization"))
                .collect();
            let n = layer.image.config().outputs;
            activations.push(spatial.pool(next, n, r.zero_point));
        }
        unreachable!("the last layer has no requantization")
    }

    /// The class: index of the largest output, the lowest index on a tie.
    pub fn argmax(outputs: &[i32]) -> usize {
        let mut best = 0;
        for (i, &v) in outputs.iter().enumerate() {
            if v > outputs[best] {
                best = i;
            }
        }
        best
    }

    /// Serializes the network (`LUTNET` v3, little-endian). The format is
    /// canonical: [`Network::from_bytes`] accepts only what this writes, so
    /// reading a file and writing it back gives the same bytes.
    ///
    /// ```text
    /// magic      8 bytes  "\x89LUTNET\n"
    /// version    u16      3
    /// layers     u16      L >= 1
    /// in_scale   f32      input quantization scale
    /// in_zero    i8       input zero point
    /// reserved   3 bytes  0
    /// L times:
    ///   acc_scale  f32    real value of one accumulator unit
    ///   has_requant u8    1 except on the last layer
    ///   relu       u8     0 or 1         (these five are 0 on the last layer)
    ///   zero_point i8
    ///   shift      u8
    ///   multiplier i32
    ///   bits       u8     requantized width
    ///   has_table  u8     0 or 1: an activation table follows the image (0 on the last layer)
    ///   kind       u8     0 dense, 1 convolution: a conv block follows the table
    ///   pool       u8     0 none, 1 MaxPool 2x2, 2 AveragePool 2x2, 3 GlobalAveragePool
    ///   image_len  u32
    ///   image      image_len bytes: a table image (docs/image-format.md)
    ///   table      256 bytes if has_table: entry i (i8) for the requantized value i as i8
    ///   conv       16 bytes if kind is 1:
    ///     in_height, in_width, in_channels  u16 each   the input map (HWC)
    ///     kernel, stride                    u8 each    k (1 to 5), s (1 or 2)
    ///     pad_top, pad_left, pad_bottom, pad_right  u8 each
    ///     pad_value                         i8         the input's zero point
    ///     reserved                          3 bytes 0
    /// crc32      u32      CRC-32 (IEEE) of every byte before it
    /// ```
    ///
    /// Versions 1 (no activation tables) and 2 (no convolutions: `kind` and
    /// `pool` were reserved zeros, so a dense network's v3 file differs from
    /// its v2 file in the version only) are refused: a reader accepts only
    /// the version it knows.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(|_, layer| layer.image.to_bytes())
    }

    /// [`to_bytes`](Self::to_bytes) with each layer's image bytes given by
    /// `image(index, layer)` (the sequential schedule's padded images).
    pub(crate) fn to_bytes_with(&self, image: impl Fn(usize, &Layer) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&NETWORK_MAGIC);
        out.extend_from_slice(&NETWORK_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.layers.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.input.scale.to_le_bytes());
        out.push(self.input.zero_point as u8);
        out.extend_from_slice(&[0; 3]);
        for (index, layer) in self.layers.iter().enumerate() {
            out.extend_from_slice(&layer.accumulator_scale.to_le_bytes());
            let r = layer.requantize;
            out.push(r.is_some() as u8);
            let r = r.unwrap_or(Requantize {
                multiplier: 0,
                shift: 0,
                zero_point: 0,
                relu: false,
                bits: 0,
            });
            out.push(r.relu as u8);
            out.push(r.zero_point as u8);
            out.push(r.shift);
            out.extend_from_slice(&r.multiplier.to_le_bytes());
            out.push(r.bits as u8);
            out.push(layer.activation.is_some() as u8);
            let spatial = self.spatial[index];
            out.push(spatial.conv.is_some() as u8);
            out.push(spatial.pool.map_or(0, |p| p.code()));
            let image = image(index, layer);
            out.extend_from_slice(&(image.len() as u32).to_le_bytes());
            out.extend_from_slice(&image);
            if let Some(table) = &layer.activation {
                out.extend(table.entries().iter().map(|&e| e as u8));
            }
            if let Some(conv) = spatial.conv {
                let g = conv.geometry;
                for side in [g.in_height, g.in_width, g.in_channels] {
                    out.extend_from_slice(&(side as u16).to_le_bytes());
                }
                let p = g.padding;
                for b in [g.kernel, g.stride, p.top, p.left, p.bottom, p.right] {
                    out.push(b as u8);
                }
                out.push(conv.pad_value as u8);
                out.extend_from_slice(&[0; 3]);
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a network written by [`Network::to_bytes`], checking everything.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, NetworkError> {
        if bytes.len() < 8 || bytes[..8] != NETWORK_MAGIC {
            return Err(NetworkError::BadMagic);
        }
        if bytes.len() < 24 {
            return Err(NetworkError::Length("header"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let expected = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        let version = u16::from_le_bytes([body[8], body[9]]);
        if version != NETWORK_FORMAT_VERSION {
            return Err(NetworkError::UnsupportedVersion(version));
        }
        let actual = crc32fast::hash(body);
        if actual != expected {
            return Err(NetworkError::Crc { expected, actual });
        }
        let mut r = ByteReader {
            bytes: body,
            at: 10,
        };
        let count = r.u16("header")?;
        let input = InputQuantization {
            scale: f32::from_le_bytes(r.take::<4>("header")?),
            zero_point: r.take::<1>("header")?[0] as i8,
        };
        r.reserved::<3>()?;
        // No capacity from the untrusted count: the vector grows with the
        // layers actually present, each at least a layer header long.
        let mut layers = Vec::new();
        let mut spatial = Vec::new();
        for layer in 0..usize::from(count) {
            let accumulator_scale = f32::from_le_bytes(r.take::<4>("layer header")?);
            let [has, relu, zero_point, shift] = r.take::<4>("layer header")?;
            let multiplier = i32::from_le_bytes(r.take::<4>("layer header")?);
            let [bits, has_table, kind, pool] = r.take::<4>("layer header")?;
            let bits = u32::from(bits);
            let pool = match pool {
                0 => None,
                code => Some(Pool::from_code(code).ok_or(NetworkError::Field {
                    field: "pool",
                    value: u32::from(code),
                })?),
            };
            for (field, value) in [
                ("has_requant", has),
                ("relu", relu),
                ("has_table", has_table),
                ("kind", kind),
            ] {
                if value > 1 {
                    return Err(NetworkError::Field {
                        field,
                        value: u32::from(value),
                    });
                }
            }
            let len = r.u32("layer header")? as usize;
            let image_bytes = r.slice(len, "layer image")?;
            let image = Image::from_bytes(image_bytes)
                .map_err(|source| NetworkError::Image { layer, source })?;
            // Checked with the layers' widths by `Network::new` below.
            let activation = if has_table == 1 {
                let bytes = r.take::<ACTIVATION_TABLE_LEN>("activation table")?;
                Some(ActivationTable(bytes.map(|b| b as i8)))
            } else {
                None
            };
            let conv = if kind == 1 {
                // Checked (geometry, patch length, pad value) by `Network::with_spatial` below.
                let side =
                    |r: &mut ByteReader| Ok::<_, NetworkError>(usize::from(r.u16("conv block")?));
                let (in_height, in_width, in_channels) =
                    (side(&mut r)?, side(&mut r)?, side(&mut r)?);
                let [kernel, stride, top, left, bottom, right, pad_value] =
                    r.take::<7>("conv block")?;
                r.reserved::<3>()?;
                Some(Conv {
                    geometry: ConvGeometry {
                        in_height,
                        in_width,
                        in_channels,
                        kernel: usize::from(kernel),
                        stride: usize::from(stride),
                        padding: Padding {
                            top: usize::from(top),
                            left: usize::from(left),
                            bottom: usize::from(bottom),
                            right: usize::from(right),
                        },
                    },
                    pad_value: pad_value as i8,
                })
            } else {
                None
            };
            spatial.push(Spatial { conv, pool });
            if has == 0 {
                // The writer writes zeros here: anything else is not canonical.
                for (field, value) in [
                    ("relu", i64::from(relu)),
                    ("zero_point", i64::from(zero_point as i8)),
                    ("shift", i64::from(shift)),
                    ("multiplier", i64::from(multiplier)),
                    ("bits", i64::from(bits)),
                ] {
                    if value != 0 {
                        return Err(NetworkError::UnusedRequantizeField {
                            layer,
                            field,
                            value,
                        });
                    }
                }
            }
            let requantize = (has == 1).then_some(Requantize {
                multiplier,
                shift,
                zero_point: zero_point as i8,
                relu: relu == 1,
                bits,
            });
            layers.push(Layer {
                image,
                accumulator_scale,
                requantize,
                activation,
            });
        }
        if r.at != body.len() {
            return Err(NetworkError::Length("end of the last layer"));
        }
        Network::with_spatial(input, layers, spatial)
    }

    /// Writes the network file.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), NetworkError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| NetworkError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a network file for `lutgen build`'s network device:
    /// [`Network::read_from`], then a refusal of convolutions and pooling
    /// ([`NetworkError::BoardConvolution`]): its fit check does not count
    /// the window generators and pool stages yet (the simulated board and
    /// `lutgen generate --device` run them).
    pub fn read_for_device(path: impl AsRef<Path>) -> Result<Self, NetworkError> {
        let network = Self::read_from(path)?;
        match network.require_dense() {
            Err(NetworkError::HardwareConvolution { layer, what }) => {
                Err(NetworkError::BoardConvolution { layer, what })
            }
            other => other.map(|()| network),
        }
    }

    /// Reads and checks a network file.
    pub fn read_from(path: impl AsRef<Path>) -> Result<Self, NetworkError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| NetworkError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Network::from_bytes(&bytes)
    }
}

/// Checks layer `i`'s convolution and pooling; its output map after
/// pooling, `None` for a dense layer.
pub(crate) fn layer_output(
    i: usize,
    config: &EngineConfig,
    spatial: &Spatial,
) -> Result<Option<MapShape>, NetworkError> {
    if let Some(conv) = spatial.conv {
        let g = conv.geometry;
        g.validate()
            .map_err(|source| NetworkError::Conv { layer: i, source })?;
        if g.patch_len() != config.input_dim {
            return Err(NetworkError::ConvPatch {
                layer: i,
                patch_len: g.patch_len(),
                input_dim: config.input_dim,
            });
        }
        let (lo, hi) = EngineConfig::signed_range(config.activation_bits);
        if !(lo..=hi).contains(&i64::from(conv.pad_value)) {
            return Err(NetworkError::PadValue {
                layer: i,
                pad_value: conv.pad_value,
                bits: config.activation_bits,
            });
        }
    }
    let map = spatial.output_map(config.outputs);
    match (spatial.pool, map) {
        (None, map) => Ok(map),
        (Some(pool), None) => Err(NetworkError::PoolWithoutMap {
            layer: i,
            pool: pool.name(),
        }),
        (Some(pool), Some(map)) => match pool.output(map) {
            Some(pooled) => Ok(Some(pooled)),
            None => Err(NetworkError::PoolTooSmall {
                layer: i,
                pool: pool.name(),
                height: map.height,
                width: map.width,
            }),
        },
    }
}

/// Checks that layer `i`'s output (`map` after its pooling, or its N
/// outputs when `None`) is what layer `i + 1` (`next`, running as
/// `next_spatial`) reads: as many elements, and the map its convolution
/// takes.
pub(crate) fn check_link(
    i: usize,
    config: &EngineConfig,
    map: Option<MapShape>,
    next: &EngineConfig,
    next_spatial: &Spatial,
) -> Result<(), NetworkError> {
    let outputs = map.map_or(config.outputs, |m| m.len());
    let inputs = next_spatial.input_len(next);
    if outputs != inputs {
        return Err(NetworkError::Shape {
            layer: i,
            next: i + 1,
            outputs,
            inputs,
        });
    }
    if let (Some(got), Some(conv)) = (map, next_spatial.conv) {
        let g = conv.geometry;
        let expected = MapShape {
            height: g.in_height,
            width: g.in_width,
            channels: g.in_channels,
        };
        if got != expected {
            return Err(NetworkError::MapShape {
                layer: i,
                next: i + 1,
                got,
                expected,
            });
        }
    }
    Ok(())
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ByteReader<'a> {
    fn slice(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], NetworkError> {
        let end = self.at.checked_add(len).ok_or(NetworkError::Length(what))?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(NetworkError::Length(what))?;
        self.at = end;
        Ok(s)
    }

    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], NetworkError> {
        Ok(self.slice(N, what)?.try_into().expect("N bytes"))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, NetworkError> {
        Ok(u16::from_le_bytes(self.take::<2>(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, NetworkError> {
        Ok(u32::from_le_bytes(self.take::<4>(what)?))
    }

    fn reserved<const N: usize>(&mut self) -> Result<(), NetworkError> {
        let bytes = self.take::<N>("reserved bytes")?;
        match bytes.iter().find(|&&b| b != 0) {
            Some(&b) => Err(NetworkError::Field {
                field: "reserved",
                value: u32::from(b),
            }),
            None => Ok(()),
        }
    }
}

/// A random network of the given layer configurations, for co-simulation tests.
///
/// Requantization scales are chosen so activations use the int8 range.
/// Activation tables vary with `seed + i` for layer `i` (not the last): a
/// random permutation of the layer's activation range (every entry
/// distinct, so a wrong index always shows), random entries in that range,
/// or no table.
pub fn random_network(configs: &[EngineConfig], seed: u64) -> Result<Network, NetworkError> {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let mut layers = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let image = Image::random(config.clone(), seed.wrapping_add(i as u64))
            .map_err(|source| NetworkError::Image { layer: i, source })?;
        let requantize = match configs.get(i + 1) {
            Some(next) => {
                // Random bias and tables span about +-(2^(bias_bits-1) + 64 * C):
                // map that onto the activation range, so most values do not saturate.
                let span = 2f64.powi(config.bias_bits as i32 - 1) + 64.0 * config.codebooks as f64;
                let scale = 255.0 / (2.0 * span);
                Some(
                    Requantize::from_scale(
                        scale,
                        -((i % 3) as i8) * 7,
                        i % 2 == 0,
                        next.activation_bits,
                    )
                    .map_err(|source| NetworkError::Requantize { layer: i, source })?,
                )
            }
            None => None,
        };
        let activation = match requantize {
            Some(r) => {
                let kind = seed.wrapping_add(i as u64) % 3;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64 + 1),
                );
                let (lo, hi) = EngineConfig::signed_range(r.bits);
                let mut values: Vec<i8> = (lo..=hi).map(|v| v as i8).collect();
                values.shuffle(&mut rng);
                let table = match kind {
                    0 => Some(ActivationTable::from_fn(r.bits, |q| {
                        values[(i64::from(q) - lo) as usize]
                    })),
                    1 => Some(ActivationTable::from_fn(r.bits, |_| {
                        rng.gen_range(lo..=hi) as i8
                    })),
                    _ => None,
                };
                table
                    .transpose()
                    .map_err(|source| NetworkError::Activation { layer: i, source })?
            }
            None => None,
        };
        layers.push(Layer {
            image,
            accumulator_scale: 1.0,
            requantize,
            activation,
        });
    }
    Network::new(
        InputQuantization {
            scale: 1.0,
            zero_point: 0,
        },
        layers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(multiplier: i32, shift: u8, zero_point: i8, relu: bool) -> Requantize {
        Requantize {
            multiplier,
            shift,
            zero_point,
            relu,
            bits: 8,
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        // multiplier / 2^shift = 1/2: exact halves.
        let h = r(1 << 30, 31, 0, false);
        assert_eq!(h.apply(1), 1); // 0.5 -> 1
        assert_eq!(h.apply(-1), -1); // -0.5 -> -1
        assert_eq!(h.apply(3), 2); // 1.5 -> 2
        assert_eq!(h.apply(-3), -2);
        assert_eq!(h.apply(2), 1);
        // 1/4: 0.25 -> 0, 0.75 -> 1.
        let q = r(1 << 29, 31, 0, false);
        assert_eq!(q.apply(1), 0);
        assert_eq!(q.apply(3), 1);
        assert_eq!(q.apply(-3), -1);
    }

    #[test]
    fn saturates_and_relus_around_the_zero_point() {
        let x = r(1 << 30, 30, -128, false); // scale 1
        assert_eq!(x.apply(0), -128);
        assert_eq!(x.apply(300), 127);
        assert_eq!(x.apply(-5), -128);
        let relu = r(1 << 30, 30, -20, true);
        assert_eq!(relu.apply(-5), -20);
        assert_eq!(relu.apply(5), -15);
        assert_eq!(relu.apply(i32::MAX), 127);
        assert_eq!(relu.apply(i32::MIN), -20);
        let four = Requantize {
            bits: 4,
            ..r(1 << 30, 30, 0, false)
        };
        assert_eq!(four.apply(100), 7);
        assert_eq!(four.apply(-100), -8);
    }

    #[test]
    fn clipped_counts_the_values_quantize_clamps() {
        // Scale 1/255 over [0, 1]: codes -128..=127 cover 0.0..=1.0.
        let q = InputQuantization {
            scale: 1.0 / 255.0,
            zero_point: -128,
        };
        let x = [0.0, 1.0, 1.0 + 0.4 / 255.0, -0.4 / 255.0, 1.01, -0.01, 16.0];
        assert_eq!(q.clipped(&x), 3);
        assert_eq!(q.quantize(&x), [-128, 127, 127, -128, 127, -128, 127]);
    }

    #[test]
    fn extreme_products_do_not_overflow() {
        let big = r(i32::MAX, 62, 0, false);
        assert_eq!(big.apply(i32::MIN), -1);
        assert_eq!(big.apply(i32::MAX), 1);
    }

    #[test]
    fn from_scale_is_close() {
        for scale in [1e-6, 0.0037, 0.5, 0.75, 1.0, 3.9, 1000.0] {
            let q = Requantize::from_scale(scale, 0, false, 8).unwrap();
            assert!((q.scale() / scale - 1.0).abs() < 1e-8, "{scale}: {q:?}");
            assert!(q.multiplier >= 1 << 29, "{scale}: {q:?}");
        }
        assert!(Requantize::from_scale(0.0, 0, false, 8).is_err());
        assert!(Requantize::from_scale(f64::NAN, 0, false, 8).is_err());
        assert!(Requantize::from_scale(1e-30, 0, false, 8).is_err());
    }

    fn small() -> Vec<EngineConfig> {
        vec![
            EngineConfig {
                input_dim: 16,
                codebooks: 4,
                centroids: 8,
                outputs: 12,
                ..EngineConfig::default()
            },
            EngineConfig {
                input_dim: 12,
                codebooks: 6,
                centroids: 4,
                outputs: 5,
                ..EngineConfig::default()
            },
        ]
    }

    #[test]
    fn bytes_round_trip_and_corruption_is_caught() {
        let net = random_network(&small(), 3).unwrap();
        let bytes = net.to_bytes();
        assert_eq!(Network::from_bytes(&bytes).unwrap(), net);
        let mut bad = bytes.clone();
        bad[40] ^= 1;
        assert!(matches!(
            Network::from_bytes(&bad),
            Err(NetworkError::Crc { .. })
        ));
        assert!(matches!(
            Network::from_bytes(&bytes[..bytes.len() - 1]),
            Err(NetworkError::Crc { .. })
        ));
        assert!(matches!(
            Network::from_bytes(b"\x89LUTGEN\nxxxxxxxxxxxxxxxxxxxxx"),
            Err(NetworkError::BadMagic)
        ));
    }

    /// Offset of layer `i`'s header in `bytes` (the layers before it, with
    /// their images and tables, are skipped).
    fn layer_header(bytes: &[u8], i: usize) -> usize {
        let mut at = 20;
        for _ in 0..i {
            let len = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap());
            at += 20 + len as usize + usize::from(bytes[at + 13]) * ACTIVATION_TABLE_LEN;
        }
        at
    }

    /// Recomputes the trailing CRC after an edit.
    fn fix_crc(bytes: &mut Vec<u8>) {
        bytes.truncate(bytes.len() - 4);
        let crc = crc32fast::hash(bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }

    /// The file format is canonical: the writer writes zeros in the last
    /// layer's requantization fields, so a file with anything else there is
    /// refused rather than read and written back differently.
    #[test]
    fn the_last_layers_requantization_fields_must_be_zero() {
        let net = random_network(&small(), 3).unwrap();
        let good = net.to_bytes();
        let last = layer_header(&good, 1);
        assert_eq!(&good[last + 5..last + 16], &[0; 11]);
        // relu, zero point, shift, multiplier (4 bytes), bits.
        for (at, field) in [
            (5, "relu"),
            (6, "zero_point"),
            (7, "shift"),
            (8, "multiplier"),
            (11, "multiplier"),
            (12, "bits"),
        ] {
            let mut bytes = good.clone();
            bytes[last + at] = 1;
            fix_crc(&mut bytes);
            let e = Network::from_bytes(&bytes).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "layer 1 has no requantization (has_requant is 0), so its {field} must be 0"
                )),
                "byte {at}: {e}"
            );
        }
    }

    /// Whatever is accepted writes back to exactly the bytes it was read
    /// from: every byte of a valid file, changed to every value, with the
    /// CRC fixed.
    #[test]
    fn accepted_files_are_canonical() {
        let net = random_network(&small(), 4).unwrap();
        let good = net.to_bytes();
        assert_eq!(Network::from_bytes(&good).unwrap().to_bytes(), good);
        let image0 = layer_header(&good, 0) + 20;
        let mut accepted = 0;
        for at in (8..image0).chain(layer_header(&good, 1)..layer_header(&good, 1) + 20) {
            for value in 0..=255u8 {
                let mut bytes = good.clone();
                bytes[at] = value;
                fix_crc(&mut bytes);
                if let Ok(read) = Network::from_bytes(&bytes) {
                    assert_eq!(read.to_bytes(), bytes, "byte {at} = {value}");
                    accepted += 1;
                }
            }
        }
        assert!(accepted > 0);
    }

    /// The accumulator scale is a real scale: finite and positive.
    #[test]
    fn accumulator_scales_must_be_finite_and_positive() {
        let net = random_network(&small(), 3).unwrap();
        let good = net.to_bytes();
        for layer in 0..2 {
            let at = layer_header(&good, layer);
            for scale in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, -1.0] {
                let mut bytes = good.clone();
                bytes[at..at + 4].copy_from_slice(&scale.to_le_bytes());
                fix_crc(&mut bytes);
                let e = Network::from_bytes(&bytes).unwrap_err().to_string();
                let needle =
                    format!("layer {layer}: accumulator scale {scale} must be finite and positive");
                assert!(e.contains(&needle), "layer {layer}, scale {scale}: {e}");
            }
        }
        let mut layers = net.layers().to_vec();
        layers[0].accumulator_scale = f32::NAN;
        let e = Network::new(net.input_quantization(), layers).unwrap_err();
        assert!(e.to_string().contains("accumulator scale NaN"), "{e}");
    }

    #[test]
    fn chaining_is_checked() {
        let mut configs = small();
        configs[1].input_dim = 16;
        configs[1].codebooks = 4;
        let err = random_network(&configs, 1).unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::Shape {
                    outputs: 12,
                    inputs: 16,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn infer_chains_reference_and_requantize() {
        // Seed 5: no activation table on layer 0 (seed + 0 = 2 mod 3).
        let net = random_network(&small(), 5).unwrap();
        assert_eq!(net.layers()[0].activation, None);
        let x: Vec<i8> = (0..16).map(|i| (i * 13 - 100) as i8).collect();
        let inf = net.infer(&x).unwrap();
        assert_eq!(inf.activations.len(), 2);
        let acc0 = Reference::new(&net.layers()[0].image).outputs(&x).unwrap();
        let r = net.layers()[0].requantize.unwrap();
        let h: Vec<i8> = acc0.iter().map(|&a| r.apply(a)).collect();
        assert_eq!(inf.activations[1], h);
        assert_eq!(
            inf.outputs,
            Reference::new(&net.layers()[1].image).outputs(&h).unwrap()
        );
        assert_eq!(Network::argmax(&[3, 7, 7, 1]), 1);
    }

    /// With a table, the next layer's input is the table's entry at the
    /// requantized value: `table[q as u8]`, after the clamp and the ReLU.
    #[test]
    fn infer_applies_the_activation_table_after_requantization() {
        let net = random_network(&small(), 5).unwrap();
        let x: Vec<i8> = (0..16).map(|i| (i * 13 - 100) as i8).collect();
        let r = net.layers()[0].requantize.unwrap();
        // A table that is not monotonic: q -> 3 - q, wrapped into the range.
        let table = ActivationTable::from_fn(8, |q| 3i8.wrapping_sub(q)).unwrap();
        assert_eq!(table.apply(0), 3);
        assert_eq!(table.apply(-1), 4);
        assert_eq!(table.entries()[255], 4);
        assert_eq!(table.apply(-128), -125);
        let mut layers = net.layers().to_vec();
        layers[0].activation = Some(table);
        let with = Network::new(net.input_quantization(), layers).unwrap();
        let inf = with.infer(&x).unwrap();
        let acc0 = Reference::new(&net.layers()[0].image).outputs(&x).unwrap();
        let h: Vec<i8> = acc0.iter().map(|&a| table.apply(r.apply(a))).collect();
        assert_eq!(inf.activations[1], h);
        assert_eq!(
            inf.outputs,
            Reference::new(&net.layers()[1].image).outputs(&h).unwrap()
        );
        // The ReLU happens before the table: a ReLU'd value indexes the zero point's entry.
        let relu = Requantize {
            relu: true,
            zero_point: -20,
            ..r
        };
        let layer = Layer {
            requantize: Some(relu),
            activation: Some(table),
            ..net.layers()[0].clone()
        };
        assert_eq!(layer.next_activation(i32::MIN), Some(table.apply(-20)));
        assert_eq!(layer.next_activation(i32::MAX), Some(table.apply(127)));
        // The identity table changes nothing.
        let mut layers = net.layers().to_vec();
        layers[0].activation = Some(ActivationTable::identity(8).unwrap());
        let identity = Network::new(net.input_quantization(), layers).unwrap();
        assert_eq!(identity.infer(&x).unwrap(), net.infer(&x).unwrap());
        assert_eq!(net.layers()[1].next_activation(5), None);
    }

    #[test]
    fn activation_tables_are_checked_against_their_width() {
        // Entries in range: fine; one that does not fit names its index and value.
        let mut entries = [0i8; 256];
        entries[3] = 7;
        entries[(-8i8) as u8 as usize] = -8;
        ActivationTable::new(entries, 4).unwrap();
        entries[(-2i8) as u8 as usize] = 8;
        let e = ActivationTable::new(entries, 4).unwrap_err();
        assert_eq!(
            e,
            ActivationError::Entry {
                index: 254,
                q: -2,
                value: 8,
                bits: 4
            }
        );
        assert!(
            e.to_string()
                .contains("entry 254 (requantized value -2) is 8, which does not fit"),
            "{e}"
        );
        // An entry no 4-bit requantization reads must be 0 (one representation per table).
        entries[(-2i8) as u8 as usize] = 0;
        entries[8] = 1;
        let e = ActivationTable::new(entries, 4).unwrap_err();
        assert_eq!(
            e,
            ActivationError::Unreachable {
                index: 8,
                q: 8,
                value: 1,
                bits: 4
            }
        );
        assert!(e.to_string().contains("must be 0"), "{e}");
        // from_fn fills only the range; the bits must be a width.
        let t = ActivationTable::from_fn(2, |q| -q.max(-1)).unwrap();
        assert_eq!(
            [t.apply(-2), t.apply(-1), t.apply(0), t.apply(1)],
            [1, 1, 0, -1]
        );
        let used = [0, 1, 254, 255];
        assert!((0..256).all(|i| used.contains(&i) || t.entries()[i] == 0));
        assert_eq!(
            ActivationTable::from_fn(4, |q| q * 2).unwrap_err(),
            ActivationError::Entry {
                index: 4,
                q: 4,
                value: 8,
                bits: 4
            }
        );
        assert_eq!(
            ActivationTable::from_fn(9, |q| q).unwrap_err(),
            ActivationError::Bits(9)
        );
        // Network::new checks a table against its layer's width: an 8-bit
        // table on a 4-bit requantization, and a table on the last layer.
        let mut configs = small();
        configs[1].activation_bits = 4;
        let net = random_network(&configs, 2).unwrap();
        let mut layers = net.layers().to_vec();
        layers[0].activation = Some(ActivationTable::from_fn(8, |q| q / 2).unwrap());
        let e = Network::new(net.input_quantization(), layers).unwrap_err();
        assert!(
            matches!(
                e,
                NetworkError::Activation {
                    layer: 0,
                    source: ActivationError::Unreachable { index: 8, .. }
                }
            ),
            "{e}"
        );
        let mut layers = net.layers().to_vec();
        layers[1].activation = Some(ActivationTable::identity(4).unwrap());
        let e = Network::new(net.input_quantization(), layers).unwrap_err();
        assert!(
            matches!(e, NetworkError::TrailingActivation { layer: 1 }),
            "{e}"
        );
        assert!(e.to_string().contains("layer 1 is the last layer"), "{e}");
    }

    /// A table is stored after its layer's image, flagged in the layer
    /// header; the reader checks the flag and every entry.
    #[test]
    fn activation_tables_are_stored_and_checked_in_the_file() {
        // Seed 3: layer 0 has a permutation table (3 mod 3 = 0).
        let net = random_network(&small(), 3).unwrap();
        let table = net.layers()[0].activation.expect("a table");
        let bytes = net.to_bytes();
        let header = layer_header(&bytes, 0);
        assert_eq!(bytes[header + 13], 1);
        let len = u32::from_le_bytes(bytes[header + 16..header + 20].try_into().unwrap());
        let at = header + 20 + len as usize;
        let stored: Vec<i8> = bytes[at..at + 256].iter().map(|&b| b as i8).collect();
        assert_eq!(stored, table.entries().to_vec());
        assert_eq!(layer_header(&bytes, 1), at + 256);
        assert_eq!(Network::from_bytes(&bytes).unwrap(), net);
        // Without the table: 256 bytes shorter, flag 0.
        let mut layers = net.layers().to_vec();
        layers[0].activation = None;
        let plain = Network::new(net.input_quantization(), layers)
            .unwrap()
            .to_bytes();
        assert_eq!(plain.len() + 256, bytes.len());
        assert_eq!(plain[header + 13], 0);
        // An entry out of range (a 4-bit layer): the error names the layer,
        // the index and the value.
        let mut configs = small();
        configs[1].activation_bits = 4;
        let narrow = random_network(&configs, 3).unwrap();
        let mut bytes = narrow.to_bytes();
        let header = layer_header(&bytes, 0);
        let len = u32::from_le_bytes(bytes[header + 16..header + 20].try_into().unwrap());
        let at = header + 20 + len as usize;
        bytes[at + 5] = 9;
        fix_crc(&mut bytes);
        let e = Network::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            e.contains("layer 0: activation table entry 5 (requantized value 5) is 9"),
            "{e}"
        );
        // A flag other than 0 and 1, and a table on the last layer.
        let mut bytes = net.to_bytes();
        bytes[header + 13] = 2;
        fix_crc(&mut bytes);
        let e = Network::from_bytes(&bytes).unwrap_err().to_string();
        assert!(e.contains("has_table has invalid value 2"), "{e}");
        let mut bytes = net.to_bytes();
        let last = layer_header(&bytes, 1);
        bytes[last + 13] = 1;
        let end = bytes.len() - 4;
        bytes.splice(end..end, [0u8; 256]);
        fix_crc(&mut bytes);
        let e = Network::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            e.contains("layer 1 is the last layer but has an activation table"),
            "{e}"
        );
    }

    /// Version 1 files (before activation tables) and version 2 files
    /// (before convolutions) are refused, saying to recompile.
    #[test]
    fn older_versions_are_refused_with_a_hint() {
        let mut bytes = random_network(&small(), 5).unwrap().to_bytes();
        for version in [1u16, 2] {
            bytes[8..10].copy_from_slice(&version.to_le_bytes());
            fix_crc(&mut bytes);
            let e = Network::from_bytes(&bytes).unwrap_err();
            assert!(
                matches!(e, NetworkError::UnsupportedVersion(v) if v == version),
                "{e}"
            );
            let e = e.to_string();
            assert!(
                e.contains(&format!("version {version} is not supported")),
                "{e}"
            );
            assert!(e.contains("reads version 3 only"), "{e}");
            assert!(e.contains("recompile the network"), "{e}");
        }
        bytes[8..10].copy_from_slice(&4u16.to_le_bytes());
        fix_crc(&mut bytes);
        let e = Network::from_bytes(&bytes).unwrap_err().to_string();
        assert!(e.contains("newer lutgen"), "{e}");
    }

    /// `random_network` gives some layers a table and some none, over seeds.
    #[test]
    fn random_networks_mix_tables() {
        let configs = small();
        let kinds: Vec<bool> = (0..6)
            .map(|seed| {
                random_network(&configs, seed).unwrap().layers()[0]
                    .activation
                    .is_some()
            })
            .collect();
        assert_eq!(kinds, [true, true, false, true, true, false]);
        // Seed 0: a permutation of the range (every entry distinct).
        let table = random_network(&configs, 0).unwrap().layers()[0]
            .activation
            .unwrap();
        let mut entries = table.entries().to_vec();
        entries.sort_unstable();
        entries.dedup();
        assert_eq!(entries.len(), 256);
        assert_ne!(table, ActivationTable::identity(8).unwrap());
    }
}
