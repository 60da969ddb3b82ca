//! Every way a compile fails, naming the input at fault and what to do.

use lutgen_core::network::{NetworkError, RequantizeError};
use lutgen_core::{ConfigError, EncoderKind, ImageError};
use std::path::PathBuf;
use thiserror::Error;

/// Why a compile failed, naming the input at fault.
#[derive(Debug, Error)]
pub enum CompileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{}: cannot read the ONNX model: {message}", path.display())]
    OnnxRead { path: PathBuf, message: String },
    #[error(
        "{}: an ONNX graph names its own layers, activations and BatchNorms; --layers, \
         --activation and --batch-norm apply to .safetensors and .npz weights only",
        path.display()
    )]
    OnnxOptions { path: PathBuf },
    #[error("{}: {node}: {reason}", path.display())]
    Onnx {
        path: PathBuf,
        node: String,
        reason: String,
    },
    #[error(
        "layer {layer}: the activation {activation} is {y} at {x}, which no table can hold; \
         check the model's activation"
    )]
    ActivationValue {
        layer: usize,
        activation: String,
        x: f64,
        y: f64,
    },
    #[error("layer {layer}: {source}")]
    Table {
        layer: usize,
        source: lutgen_core::network::ActivationError,
    },
    #[error("tensor {name} has dtype {dtype}; only F32 and F64 weights are supported")]
    Dtype { name: String, dtype: String },
    #[error("tensor {name} is missing; the weights file has {}", list(available))]
    MissingTensor {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "no layers found: no 2-D `<prefix>.weight` tensor among {}",
        list(available)
    )]
    NoLayers { available: Vec<String> },
    #[error("weight {name} must be 2-D (outputs, inputs), got shape {shape:?}")]
    WeightShape { name: String, shape: Vec<usize> },
    #[error("bias {name} must have shape [{expected}] to match its weight, got {shape:?}{hint}")]
    BiasShape {
        name: String,
        expected: usize,
        shape: Vec<usize>,
        hint: &'static str,
    },
    #[error(
        "layer {layer} takes {inputs} inputs but the layer before it ({previous}) has {outputs} outputs{hint}"
    )]
    LayerShape {
        previous: String,
        outputs: usize,
        layer: String,
        inputs: usize,
        hint: &'static str,
    },
    #[error("the weights file has tensors no layer uses: {}; {hint}", list(names))]
    UnusedTensors {
        names: Vec<String>,
        hint: &'static str,
    },
    #[error(
        "the weights file has BatchNorm tensors ({}), and a weights file does not say whether a \
         BatchNorm sits before or after the activation: if the model is Linear -> BatchNorm -> \
         activation, pass --batch-norm after-linear and lutgen folds each BatchNorm into the \
         linear layer before it; otherwise export the model to ONNX (torch.onnx.export), whose \
         graph says where it sits",
        list(names)
    )]
    BatchNormNotChosen { names: Vec<String> },
    #[error(
        "the names of the modules {} do not say where the BatchNorm {batch_norm} sits: names that \
         differ by more than their numbers (fc1, bn1) sort by name, not in the model's order; \
         give the order with --layers, naming every linear layer and BatchNorm where it sits \
         (for Linear fc1, BatchNorm bn1, Linear fc2: --layers fc1,bn1,fc2)",
        list(modules)
    )]
    BatchNormOrder {
        batch_norm: String,
        modules: Vec<String>,
    },
    #[error(
        "the BatchNorm {batch_norm} is not in --layers ({}): with --layers the modules are in \
         the order given, so name the BatchNorm where it sits (e.g. --layers fc1,bn1,fc2)",
        list(layers)
    )]
    BatchNormUnplaced {
        batch_norm: String,
        layers: Vec<String>,
    },
    #[error(
        "the BatchNorm {batch_norm} has {channels} channels but the layer it folds into, {layer}, \
         has {width} {side}; check the order of the modules (--layers)"
    )]
    BatchNormWidth {
        batch_norm: String,
        channels: usize,
        layer: String,
        width: usize,
        /// `outputs` (it follows the layer) or `inputs` (it precedes the first layer).
        side: &'static str,
    },
    #[error(
        "the BatchNorm {batch_norm} does not follow the linear layer {layer} directly: the \
         modules numbered between them have no tensors (an activation, say), so the model is \
         not Linear -> BatchNorm -> activation as --batch-norm after-linear says; export the \
         model to ONNX (torch.onnx.export), whose graph says where the BatchNorm sits"
    )]
    BatchNormNotAfterLinear { batch_norm: String, layer: String },
    #[error(
        "two BatchNorms in a row, {first} then {second}, with no linear layer between them: \
         lutgen folds a BatchNorm into the linear layer before it (or, before the first layer, \
         into that layer's inputs); check the order of the modules (--layers) or fold one \
         BatchNorm into the other before saving"
    )]
    BatchNormSequence { first: String, second: String },
    #[error("BatchNorm tensor {name} must have shape {expected}, got {shape:?}")]
    BatchNormShape {
        name: String,
        expected: String,
        shape: Vec<usize>,
    },
    #[error(
        "{name} has {value} at index {index}: a BatchNorm's running variance must be finite and \
         non-negative (with eps > 0); the file is damaged, or the tensor is not a running variance"
    )]
    BatchNormVariance {
        name: String,
        index: usize,
        value: f32,
    },
    #[error("--batch-norm-eps must be finite and positive, got {eps}")]
    BatchNormEps { eps: f64 },
    #[error("{name} has a non-finite value {value} at flat index {index}")]
    NonFinite {
        name: String,
        index: usize,
        value: f32,
    },
    #[error("{what} rows have {got} values but the network's first layer takes {expected}")]
    CalibrationWidth {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the calibration set is empty")]
    CalibrationEmpty,
    #[error(
        "{rows} calibration rows for {centroids} centroids per codebook: k-means needs at least \
         as many rows as centroids (more, to learn them well); give more calibration data or a \
         smaller -k"
    )]
    CalibrationRows { rows: usize, centroids: usize },
    #[error(
        "layer {layer} has {inputs} inputs, which sub-vectors of length {sub_vector_len} do not divide; \
         choose a V that divides every layer's input width"
    )]
    Split {
        layer: usize,
        inputs: usize,
        sub_vector_len: usize,
    },
    #[error("{given} layer shapes given for a network of {layers} layers: give one KxV per layer")]
    ShapeCount { given: usize, layers: usize },
    #[error("tables of {bits} bits: the engine takes table entries of 2 to 8 bits")]
    TableBits { bits: u32 },
    #[error(
        "grouping correlated inputs permutes the units of a hidden layer; this network has \
         none (one layer), and the input order of the first layer is the network's own \
         (a host that sends vectors does not know any permutation): leave --group-inputs off"
    )]
    GroupNoHidden,
    #[error("layer {layer}: the engine cannot take this shape: {source}")]
    Config { layer: usize, source: ConfigError },
    #[error("layer {layer}: {source}")]
    Image { layer: usize, source: ImageError },
    #[error("layer {layer}: {source}")]
    Requantize {
        layer: usize,
        source: RequantizeError,
    },
    #[error("layer {layer}: the bias at table scale needs {bits} bits, more than the accumulator allows")]
    BiasRange { layer: usize, bits: u32 },
    #[error("layer {layer}: the table refit's normal equations are not positive definite; use a larger --ridge")]
    Solve { layer: usize },
    #[error("{0}")]
    Network(#[from] NetworkError),
    #[error("the learned method trains on labels; give the training labels (--labels)")]
    LearnedNeedsLabels,
    #[error(
        "layer {layer} is a convolution or pools: --group-inputs permutes dense layers' units \
         only; leave --group-inputs off for this network"
    )]
    GroupConv { layer: usize },
    #[error("training failed: {0}")]
    Learn(String),
    #[error(
        "{given} encoders given for {layers} layers; give one for every layer, or one for all"
    )]
    EncoderCount { given: usize, layers: usize },
    #[error(
        "layer {layer}: the learned method trains l2 centroids only, not the {encoder} encoder; \
         use --method refit for {encoder} layers"
    )]
    LearnedEncoder { layer: usize, encoder: EncoderKind },
    #[error("{inputs} test inputs but {labels} labels; give one label per input")]
    LabelCount { inputs: usize, labels: usize },
    #[error("cannot draw {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

pub(crate) fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "no tensors".into();
    }
    let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
    let more = names.len().saturating_sub(12);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
