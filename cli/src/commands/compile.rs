//! `lutgen compile`: a trained MLP and calibration data in, a network image out.

use crate::describe::{LayerSummary, NetworkSummary};
use crate::engine_args::parse_encoder;
use crate::error::Error;
use crate::learn_args::LearnArgs;
use crate::output::task_bar;
use clap::Args;
use lutgen_compile::frontend::{self, WeightsOptions};
use lutgen_compile::{
    self as compile, batch_norm, mlp, Activation, CompileOptions, FoldedBatchNorm, Head, Method,
};
use lutgen_compile::{LayerShape, LearnOptions};
use lutgen_core::EncoderKind;
use serde::Serialize;
use std::path::PathBuf;

/// Compile a trained MLP into a network of lookup-table layers (see docs/compiler.md).
#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The model: an ONNX graph (.onnx, weights inline or in external data), or weights
    /// and biases (.safetensors or .npz with `<layer>.weight` (outputs, inputs) and `<layer>.bias`).
    #[arg(
        value_name = "MODEL",
        required_unless_present = "weights",
        conflicts_with = "weights"
    )]
    pub model: Option<PathBuf>,
    /// The same as MODEL (kept for scripts).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Activation between layers of a weights file, which has no graph to say (relu or
    /// identity; default relu). An ONNX graph has its own.
    #[arg(long, value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// Fold the BatchNorms of a weights file (PyTorch's `<bn>.running_mean`, `.running_var`,
    /// `.weight`, `.bias`), which has no graph to say where they sit: `after-linear` is
    /// Linear -> BatchNorm -> activation (each folded into the linear layer before it; one
    /// before the first layer, into its inputs). An ONNX graph says where its own sit.
    #[arg(long, value_enum, value_name = "PLACEMENT")]
    pub batch_norm: Option<batch_norm::Placement>,
    /// The eps a folded BatchNorm adds to its running variance (PyTorch's default 1e-5).
    #[arg(long, default_value_t = batch_norm::DEFAULT_EPS, requires = "batch_norm", value_name = "EPS")]
    pub batch_norm_eps: f64,
    /// Calibration inputs: a 2-D .npy (rows, input width), any float or integer dtype.
    #[arg(long, value_name = "X.npy")]
    pub calibration: PathBuf,
    /// Module prefixes in order, linear layers and BatchNorms (default: every 2-D `*.weight`
    /// and every BatchNorm, in natural order).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub layers: Vec<String>,
    /// Centroids per codebook K (a power of two, 2 to 256).
    #[arg(short = 'k', long, default_value_t = 16)]
    pub centroids: usize,
    /// Sub-vector length V; each layer gets C = inputs / V codebooks.
    #[arg(short = 'v', long = "sub-vector", default_value_t = 4)]
    pub sub_vector_len: usize,
    /// Each layer's K and V in order, overriding -k and -v (e.g. `8x4,64x4`).
    #[arg(long, value_delimiter = ',', value_name = "KxV,...")]
    pub layer_shapes: Vec<LayerShape>,
    /// Width of the table entries, 2 to 8 bits.
    #[arg(long, default_value_t = 8)]
    pub table_bits: u32,
    /// Permute every hidden layer's units so that each codebook of the next
    /// layer holds correlated inputs (ITLUMM; the network's input and output
    /// order are unchanged).
    #[arg(long)]
    pub group_inputs: bool,
    #[command(flatten)]
    pub learn: LearnArgs,
    /// How tables are made: from the k-means centroids, refit by least squares, or learned end to end.
    #[arg(long, value_enum, default_value_t = Method::Refit)]
    pub method: Method,
    /// Learn centroids and tables for EPOCHS passes (the same as --method learned --epochs EPOCHS).
    #[arg(long, value_name = "EPOCHS")]
    pub finetune: Option<usize>,
    /// Training labels for the learned method: a 1-D integer .npy, one per calibration row.
    #[arg(long, value_name = "Y.npy")]
    pub labels: Option<PathBuf>,
    /// Seed of the k-means++ seeding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Ridge term of the refit, relative to the average count of a centroid.
    #[arg(long, default_value_t = 1.0)]
    pub ridge: f64,
    /// Engine lanes for every layer.
    #[arg(long, default_value_t = 1)]
    pub lanes: usize,
    /// Encoder of every layer, or one per layer in order (e.g. `tree,l2`):
    /// l2, l1, two-level, tree (K = 16), sign (K = 2^V).
    #[arg(long, value_delimiter = ',', value_name = "NAMES", default_value = "l2", value_parser = parse_encoder)]
    pub encoder: Vec<EncoderKind>,
    /// Output network file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print one JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct CompileSummary {
    output: PathBuf,
    method: Method,
    /// The activation after each layer but the last.
    activations: Vec<String>,
    /// What the model does after its last layer (the device returns the last layer's outputs).
    head: String,
    /// The BatchNorms folded into the layers.
    batch_norm: Vec<FoldedBatchNorm>,
    /// Where the float reference comes from.
    float_reference: &'static str,
    layers: Vec<LayerSummary>,
    table_bytes: usize,
    centroid_bytes: usize,
    weight_bytes_int8: usize,
}

fn parse_activation(s: &str) -> Result<Activation, String> {
    match s {
        "relu" => Ok(Activation::Relu),
        "identity" | "none" => Ok(Activation::Identity),
        _ => Err(format!(
            "unknown activation {s:?}: a weights file takes relu or identity; other activations \
             need an ONNX graph (lutgen reads the function from it)"
        )),
    }
}

pub fn run(args: &CompileArgs) -> Result<(), Error> {
    let path = args
        .model
        .as_ref()
        .or(args.weights.as_ref())
        .expect("clap requires MODEL or --weights");
    let source = frontend::read(
        path,
        &WeightsOptions {
            layers: args.layers.clone(),
            activation: args.activation.clone(),
            batch_norm: args.batch_norm.map(|placement| batch_norm::Fold {
                placement,
                eps: args.batch_norm_eps,
            }),
        },
    )?;
    let model = &source.mlp;
    let calibration = mlp::read_matrix(&args.calibration, model.input_dim(), "calibration")?;
    let method = if args.finetune.is_some() {
        Method::Learned
    } else {
        args.method
    };
    let labels = match &args.labels {
        Some(path) => Some(mlp::read_labels(path)?),
        None => None,
    };
    let options = CompileOptions {
        centroids: args.centroids,
        sub_vector_len: args.sub_vector_len,
        method,
        learn: LearnOptions {
            epochs: args.finetune.unwrap_or(args.learn.epochs),
            verbose: !args.json,
            ..args.learn.options(labels)
        },
        layer_shapes: args.layer_shapes.clone(),
        table_bits: args.table_bits,
        group_inputs: args.group_inputs,
        seed: args.seed,
        ridge: args.ridge,
        lanes: args.lanes,
        encoders: args.encoder.clone(),
        ..CompileOptions::default()
    };
    let bar = task_bar(args.json);
    let network = compile::compile(model, &calibration, &options, &bar)?;
    bar.finish_and_clear();
    network
        .write_to(&args.output)
        .map_err(compile::CompileError::Network)?;
    let summary = CompileSummary {
        output: args.output.clone(),
        method,
        activations: model
            .activations
            .iter()
            .map(|a| a.name().to_string())
            .collect(),
        head: match model.head {
            Head::Logits => "logits".into(),
            Head::Softmax => "softmax (not run: the device returns the logits, same argmax)".into(),
            Head::LogSoftmax => {
                "log-softmax (not run: the device returns the logits, same argmax)".into()
            }
        },
        batch_norm: model.batch_norms.clone(),
        float_reference: source.source(),
        layers: NetworkSummary::of(&network).layers,
        table_bytes: network.table_bytes(),
        centroid_bytes: network.centroid_bytes(),
        weight_bytes_int8: model.weight_bytes_int8(),
    };
    if args.json {
        crate::output::print_json(&summary);
    } else {
        for (i, l) in summary.layers.iter().enumerate() {
            let after = summary.activations.get(i).map_or("int32 outputs", |a| a);
            println!("{}", l.line(i, after));
        }
        for folded in &summary.batch_norm {
            println!("{}", folded.describe());
        }
        println!("output: {}", summary.head);
        println!(
            "wrote {}: {} table bytes ({:.2}x the {} int8 weight bytes), {} centroid bytes",
            args.output.display(),
            summary.table_bytes,
            summary.table_bytes as f64 / summary.weight_bytes_int8 as f64,
            summary.weight_bytes_int8,
            summary.centroid_bytes
        );
    }
    Ok(())
}
