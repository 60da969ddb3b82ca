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
        "{}: an ONNX graph names its own layers and activations; --layers and --activation \
         apply to .safetensors and .npz weights only",
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
    #[error(
        "the learned method trains with ReLU between layers, but this model has {activation} \
         after layer {layer}; use --method kmeans or refit"
    )]
    LearnedActivation { layer: usize, activation: String },
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
