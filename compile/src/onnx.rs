//! The ONNX frontend: an MLP graph as PyTorch (`torch.onnx.export`) or Keras
//! (tf2onnx) writes it, read with `tract-onnx` into an [`Mlp`], and the
//! graph itself run by tract as the float reference.
//!
//! The graph must be one chain from one input to one output:
//!
//! - `Flatten` (axis 1) or a `Reshape` to `(batch, D)` before the first layer;
//! - a dense layer is `Gemm`, or `MatMul` by a constant optionally followed by
//!   `Add` of a constant bias;
//! - `BatchNormalization` (inference mode) right after a layer is folded into
//!   it; anywhere else before a layer, into that layer's inputs;
//! - between two layers, any chain of elementwise ops on the one varying
//!   value with scalar constants (`Relu`, `Tanh`, `Sigmoid`, `Erf`, `Div`,
//!   `Mul`, `Add`, ...) is the activation: `Relu` alone stays ReLU, nothing is
//!   the identity, anything else becomes one function, evaluated by tract on
//!   the sub-graph itself (so GELU written as Div, Erf, Add, Mul, Mul is one
//!   activation, with no list of activations to keep);
//! - `Dropout` and `Identity` are removed; a trailing `Softmax` or
//!   `LogSoftmax` (axis 1) is recorded and not run (the device returns the
//!   last layer's outputs, whose argmax is the same).
//!
//! A `Conv` with `group = G > 1` (C_in and C_out divisible by G; depthwise is
//! G = C_in) is read as the group-1 Conv it equals: its weights
//! `(C_out, C_in / G, k, k)` are expanded to `(C_out, C_in, k, k)` with zeros
//! where an output channel reads an input channel outside its group (a
//! block-diagonal weight tensor), the bias unchanged, so everything after
//! the frontend (k-means, refit, learned centroids, the integer reference,
//! the network file, the hardware) runs it as any Conv, bit-exactly. A
//! known cost, not hidden: the tables hold C_in x K x C_out entries where a
//! native grouped engine would hold C_in x K x (C_out / G), and the zero
//! blocks are stored and read (a depthwise 8 -> 8 Conv's tables are 8 times
//! what it needs). k-means tables are exactly zero outside the groups; the
//! refit fits every entry to the float layer's outputs and may put nonzero
//! entries there (they reduce the error on those outputs; the network file
//! holds them and the integer reference reads the file).
//!
//! Every other node, attribute value or extra input or output is refused
//! with [`CompileError::Onnx`] naming the node and its op, and the ops this
//! frontend runs.

use crate::batch_norm::{
    fold_into_inputs, fold_into_outputs, ChannelAffine, FoldedBatchNorm, FoldedInto,
};
use crate::error::CompileError;
use crate::mlp::{Activation, Dense, Elementwise, Head, Mlp};
use lutgen_core::conv::{ConvGeometry, Padding};
use lutgen_core::spatial::{Conv, MapShape, Pool, Spatial};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Elementwise ops an activation may be made of (one varying input, the rest
/// scalar constants). The list is of ONNX's elementwise ops, not of
/// activations: any composition of them is one activation function.
pub const ELEMENTWISE_OPS: &[&str] = &[
    "Abs",
    "Add",
    "Celu",
    "Clip",
    "Cos",
    "Div",
    "Elu",
    "Erf",
    "Exp",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Log",
    "Max",
    "Min",
    "Mish",
    "Mul",
    "Neg",
    "Pow",
    "Reciprocal",
    "Relu",
    "Selu",
    "Sigmoid",
    "Sign",
    "Sin",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Sub",
    "Tanh",
    "ThresholdedRelu",
];

/// The other ops the frontend reads.
pub const STRUCTURE_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Dropout",
    "Identity",
    "Constant",
    "Softmax",
    "LogSoftmax",
];

/// The whole ONNX graph as tract runs it: the float reference of the
/// [`Mlp`] [`read`] returns beside it.
pub struct OnnxModel {
    /// The graph's input shape without the batch dimension.
    pub input_shape: Vec<usize>,
    path: PathBuf,
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("input_shape", &self.input_shape)
            .finish()
    }
}

fn refuse(path: &Path, node: &pb::NodeProto, reason: impl Into<String>) -> CompileError {
    CompileError::Onnx {
        path: path.to_path_buf(),
        node: format!("{} ({})", node_name(node), node.op_type),
        reason: reason.into(),
    }
}

fn graph_error(path: &Path, reason: impl Into<String>) -> CompileError {
    CompileError::Onnx {
        path: path.to_path_buf(),
        node: "graph".into(),
        reason: reason.into(),
    }
}

fn node_name(node: &pb::NodeProto) -> String {
    if node.name.is_empty() {
        format!(
            "node writing {:?}",
            node.output.first().cloned().unwrap_or_default()
        )
    } else {
        node.name.clone()
    }
}

fn supported() -> String {
    format!(
        "lutgen runs {} and, between layers, chains of {}",
        STRUCTURE_OPS.join(", "),
        ELEMENTWISE_OPS.join(", ")
    )
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

/// A constant: shape and values as f32 (integers converted).
#[derive(Clone, Debug)]
struct Constant {
    shape: Vec<usize>,
    values: Vec<f32>,
    /// The values as integers, for shapes (Reshape).
    ints: Vec<i64>,
}

fn constant(tensor: &Tensor) -> Option<Constant> {
    let shape = tensor.shape().to_vec();
    let values: Vec<f32> = tensor
        .cast_to::<f32>()
        .ok()?
        .to_plain_array_view::<f32>()
        .ok()?
        .iter()
        .copied()
        .collect();
    let ints = tensor
        .cast_to::<i64>()
        .ok()
        .and_then(|t| {
            t.to_plain_array_view::<i64>()
                .ok()
                .map(|a| a.iter().copied().collect())
        })
        .unwrap_or_default();
    Some(Constant {
        shape,
        values,
        ints,
    })
}

fn is_scalar(c: &Constant) -> bool {
    c.values.len() == 1
}

/// Where the chain stands while the nodes are read.
#[derive(Default)]
struct Chain {
    layers: Vec<Dense>,
    activations: Vec<Activation>,
    /// Elementwise nodes since the last layer, and the values they produce.
    pending: Vec<pb::NodeProto>,
    pending_values: HashSet<String>,
    /// The output of the last layer's MatMul, awaiting its bias Add.
    matmul_output: Option<String>,
    /// A per-input affine (BatchNorm not right after a layer) for the next
    /// layer, and the BatchNorm's name.
    input_affine: Option<(String, ChannelAffine)>,
    /// The BatchNorms folded so far.
    batch_norms: Vec<FoldedBatchNorm>,
    head: Head,
    /// The varying value: the chain's current end.
    current: String,
    /// The last layer's output: what the activation after it reads.
    layer_output: String,
    /// The input width once flat.
    width: Option<usize>,
    /// Per layer: dense, or a convolution and its pooling.
    spatial: Vec<Spatial>,
    /// The feature map flowing (NCHW in the graph, HWC in lutgen), until a Flatten.
    map: Option<MapShape>,
    /// The map a Flatten flattened: the next Gemm's columns are permuted
    /// from ONNX's (C, H, W) order to lutgen's HWC order.
    flattened: Option<MapShape>,
    /// A pooling ended the activation after the last layer: it is pushed.
    activation_done: bool,
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

/// Refuses an attribute that is present with a value other than `allowed`.
fn check_ints(
    path: &Path,
    node: &pb::NodeProto,
    name: &str,
    allowed: &[i64],
    what: &str,
) -> Result<(), CompileError> {
    match attr_ints(node, name) {
        Some(v) if v != allowed => Err(refuse(
            path,
            node,
            format!("{name} = {v:?} is not supported: {what}"),
        )),
        _ => Ok(()),
    }
}

/// Refuses `auto_pad` other than NOTSET: lutgen reads explicit pads only.
fn check_auto_pad(path: &Path, node: &pb::NodeProto) -> Result<(), CompileError> {
    match attr(node, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()) {
        Some(v) if v != "NOTSET" => Err(refuse(
            path,
            node,
            format!("auto_pad = {v} is not supported: export with explicit pads (auto_pad NOTSET)"),
        )),
        _ => Ok(()),
    }
}

/// The convolution a Conv node is, checked: square kernel up to 5x5,
/// stride 1 or 2, explicit pads, no dilation; weights `(N, C / G, k, k)`
/// on the `map` flowing in, of `C` channels, `G` the groups (1 unless
/// `group` says). A grouped Conv (depthwise: `G = C`) is returned as the
/// group-1 Conv it equals, its weights expanded by [`expand_groups`].
fn conv_layer(
    path: &Path,
    node: &pb::NodeProto,
    map: MapShape,
    w: &Constant,
    b: Option<&Constant>,
) -> Result<(Dense, ConvGeometry), CompileError> {
    let [n, c, kh, kw] = w.shape[..] else {
        return Err(refuse(
            path,
            node,
            format!(
                "weights of shape {:?}; a 2-D Conv has (N, C, k, k)",
                w.shape
            ),
        ));
    };
    let group = grouping(path, node, map.channels, n)?;
    check_ints(path, node, "dilations", &[1, 1], "lutgen runs dilation 1")?;
    check_auto_pad(path, node)?;
    if kh != kw || attr_ints(node, "kernel_shape").is_some_and(|k| k != [kh as i64, kw as i64]) {
        return Err(refuse(
            path,
            node,
            format!("a {kh}x{kw} kernel: lutgen runs square kernels"),
        ));
    }
    let strides = attr_ints(node, "strides").unwrap_or(vec![1, 1]);
    let [sy, sx] = strides[..] else {
        return Err(refuse(
            path,
            node,
            format!("strides {strides:?}: a 2-D Conv has two"),
        ));
    };
    if sy != sx {
        return Err(refuse(
            path,
            node,
            format!("strides {strides:?}: lutgen runs the same stride on both axes"),
        ));
    }
    let pads = attr_ints(node, "pads").unwrap_or(vec![0; 4]);
    let ([top, left, bottom, right], true) = (
        <[i64; 4]>::try_from(pads.clone()).unwrap_or([-1; 4]),
        pads.iter().all(|&p| p >= 0),
    ) else {
        return Err(refuse(
            path,
            node,
            format!("pads {pads:?}: expected four non-negative pads"),
        ));
    };
    if c * group != map.channels {
        return Err(refuse(
            path,
            node,
            if group == 1 {
                format!(
                    "takes {c} channels but the map reaching it has {}",
                    map.channels
                )
            } else {
                format!(
                    "weights of shape {:?}: with group = {group} on a map of {} channels each \
                     output channel reads {} input channels, so the weights are ({n}, {}, {kh}, {kw}); \
                     re-export the Conv with weights of that shape",
                    w.shape,
                    map.channels,
                    map.channels / group,
                    map.channels / group
                )
            },
        ));
    }
    let geometry = ConvGeometry {
        in_height: map.height,
        in_width: map.width,
        in_channels: map.channels,
        kernel: kh,
        stride: sy as usize,
        padding: Padding {
            top: top as usize,
            left: left as usize,
            bottom: bottom as usize,
            right: right as usize,
        },
    };
    geometry
        .validate()
        .map_err(|e| refuse(path, node, e.to_string()))?;
    let bias = match b {
        None => vec![0.0; n],
        Some(b) if b.values.len() == n => b.values.clone(),
        Some(b) => return Err(refuse(path, node, format!("bias of shape {:?}", b.shape))),
    };
    let dense = Dense {
        name: node_name(node),
        inputs: map.channels * kh * kw,
        outputs: n,
        // ONNX's (N, C, k, k) row-major is the channel-major patch order.
        weight: expand_groups(&w.values, n, map.channels, group, kh * kw),
        bias,
    };
    Ok((dense, geometry))
}

/// A Conv's `group` attribute, checked against the `inputs` channels of the
/// map reaching it and its `outputs` channels: at least 1 and dividing both.
fn grouping(
    path: &Path,
    node: &pb::NodeProto,
    inputs: usize,
    outputs: usize,
) -> Result<usize, CompileError> {
    let group = attr_i(node, "group", 1);
    if group < 1 {
        return Err(refuse(
            path,
            node,
            format!("group = {group}: a Conv has at least one group; export with group >= 1"),
        ));
    }
    let g = group as usize;
    if !inputs.is_multiple_of(g) || !outputs.is_multiple_of(g) {
        return Err(refuse(
            path,
            node,
            format!(
                "group = {group} does not divide the {inputs} input channels and the {outputs} \
                 output channels: a grouped Conv splits both into {group} equal groups; export \
                 with a group that divides both (group = {inputs} on {inputs} channels is depthwise)"
            ),
        ));
    }
    Ok(g)
}

/// A grouped Conv's weights `(N, C / G, k, k)` as the group-1 weights
/// `(N, C, k, k)` it equals: output channel `o` is in group `o / (N / G)`
/// and reads only that group's `C / G` input channels; its weights for
/// every other input channel are zero (a block-diagonal weight tensor).
/// `window` is `k * k`. With one group the weights are returned as they are.
fn expand_groups(
    weight: &[f32],
    outputs: usize,
    channels: usize,
    group: usize,
    window: usize,
) -> Vec<f32> {
    if group == 1 {
        return weight.to_vec();
    }
    let per_group_in = channels / group;
    let per_group_out = outputs / group;
    let row = per_group_in * window;
    let mut dense = vec![0f32; outputs * channels * window];
    for o in 0..outputs {
        let first = (o / per_group_out) * per_group_in * window;
        dense[o * channels * window + first..][..row].copy_from_slice(&weight[o * row..][..row]);
    }
    dense
}

/// The pooling a MaxPool, AveragePool or GlobalAveragePool node is, checked:
/// 2x2 windows, stride 2, no padding, floor rounding.
fn pool_of(path: &Path, node: &pb::NodeProto) -> Result<Pool, CompileError> {
    if node.op_type == "GlobalAveragePool" {
        return Ok(Pool::GlobalAvg);
    }
    if node.output.len() > 1 && !node.output[1].is_empty() {
        return Err(refuse(path, node, "a MaxPool whose Indices output is used"));
    }
    if attr_ints(node, "kernel_shape").as_deref() != Some(&[2, 2]) {
        return Err(refuse(
            path,
            node,
            format!(
                "kernel_shape = {:?} is not supported: lutgen pools 2x2 windows (or globally)",
                attr_ints(node, "kernel_shape").unwrap_or_default()
            ),
        ));
    }
    if attr_ints(node, "strides").as_deref() != Some(&[2, 2]) {
        return Err(refuse(
            path,
            node,
            format!(
                "strides = {:?} is not supported: lutgen pools with stride 2",
                attr_ints(node, "strides").unwrap_or(vec![1, 1])
            ),
        ));
    }
    check_ints(path, node, "pads", &[0; 4], "lutgen pools without padding")?;
    check_ints(
        path,
        node,
        "dilations",
        &[1, 1],
        "lutgen pools without dilation",
    )?;
    check_auto_pad(path, node)?;
    if attr_i(node, "ceil_mode", 0) != 0 {
        return Err(refuse(
            path,
            node,
            "ceil_mode = 1 is not supported: lutgen follows the floor rule (ceil_mode 0)",
        ));
    }
    if attr_i(node, "storage_order", 0) != 0 {
        return Err(refuse(path, node, "storage_order = 1 is not supported"));
    }
    Ok(if node.op_type == "MaxPool" {
        Pool::Max2
    } else {
        Pool::Avg2
    })
}

/// Reads `path` (weights stored inline or as external data beside it): the
/// model lutgen compiles, and the graph that is its float reference.
pub fn read(path: &Path) -> Result<(Mlp, OnnxModel), CompileError> {
    let framework = tract_onnx::onnx();
    let tract_error = |e: tract_onnx::prelude::TractError| CompileError::OnnxRead {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    };
    let proto = framework.proto_model_for_path(path).map_err(tract_error)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| graph_error(path, "the file holds no graph"))?;
    let dir = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".".into());
    let load = |t: &pb::TensorProto| -> Result<Constant, CompileError> {
        let tensor = tract_onnx::tensor::load_tensor(&*framework.provider, t, Some(&dir))
            .map_err(tract_error)?;
        constant(&tensor).ok_or_else(|| {
            graph_error(
                path,
                format!("tensor {:?} is not numeric (type {})", t.name, t.data_type),
            )
        })
    };
    let mut constants: HashMap<String, Constant> = HashMap::new();
    for t in &graph.initializer {
        constants.insert(t.name.clone(), load(t)?);
    }
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !constants.contains_key(&i.name))
        .collect();
    let [input] = inputs[..] else {
        return Err(graph_error(
            path,
            format!(
                "the graph has {} inputs ({}); lutgen compiles graphs with one input, the activations",
                inputs.len(),
                inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    if graph.output.len() != 1 {
        return Err(graph_error(
            path,
            format!(
                "the graph has {} outputs; lutgen compiles graphs with one output",
                graph.output.len()
            ),
        ));
    }
    let input_shape = value_shape(input)
        .ok_or_else(|| graph_error(path, format!("input {:?} has no tensor shape", input.name)))?;
    let (_batch, input_shape) = input_shape
        .split_first()
        .ok_or_else(|| graph_error(path, "the input is a scalar; expected (batch, features)"))?;
    let input_shape: Vec<usize> = input_shape
        .iter()
        .map(|d| d.ok_or_else(|| graph_error(path, "only the batch dimension may be symbolic")))
        .collect::<Result<_, _>>()?;
    let mut chain = Chain {
        current: input.name.clone(),
        width: (input_shape.len() == 1).then(|| input_shape[0]),
        // An image input (C, H, W): a feature map.
        map: match input_shape[..] {
            [channels, height, width] => Some(MapShape {
                height,
                width,
                channels,
            }),
            _ => None,
        },
        ..Chain::default()
    };
    let nodes = &graph.node;
    let unsupported: Vec<&pb::NodeProto> = nodes
        .iter()
        .filter(|n| {
            !STRUCTURE_OPS.contains(&n.op_type.as_str())
                && !ELEMENTWISE_OPS.contains(&n.op_type.as_str())
        })
        .collect();
    if let Some(first) = unsupported.first() {
        let mut ops: Vec<&str> = unsupported.iter().map(|n| n.op_type.as_str()).collect();
        let mut seen = HashSet::new();
        ops.retain(|o| seen.insert(*o));
        return Err(refuse(
            path,
            first,
            format!(
                "unsupported op{} in this graph: {}; {}",
                if ops.len() > 1 { "s" } else { "" },
                ops.join(", "),
                supported()
            ),
        ));
    }
    for (i, node) in nodes.iter().enumerate() {
        let op = node.op_type.as_str();
        if op == "Constant" {
            let value = attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| refuse(path, node, "a Constant without a tensor `value`"))?;
            let out = node.output.first().cloned().unwrap_or_default();
            constants.insert(out, load(value)?);
            continue;
        }
        let varying: Vec<&String> = node
            .input
            .iter()
            .filter(|v| !v.is_empty() && !constants.contains_key(*v))
            .collect();
        let on_chain = |v: &String| {
            *v == chain.current
                || chain.pending_values.contains(v)
                || (*v == chain.layer_output && !chain.pending.is_empty())
        };
        if varying.is_empty() || !varying.iter().all(|v| on_chain(v)) {
            return Err(refuse(
                path,
                node,
                format!(
                    "it reads {} besides the one value flowing through the network; {}",
                    varying
                        .iter()
                        .filter(|v| !on_chain(v))
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    supported()
                ),
            ));
        }
        let output = node.output.first().cloned().unwrap_or_default();
        let input_const = |k: usize| node.input.get(k).and_then(|n| constants.get(n));
        match op {
            "Flatten" | "Reshape" if chain.map.is_some() && !chain.layers.is_empty() => {
                let map = chain.map.expect("a map");
                let target: Vec<i64> = if op == "Flatten" {
                    vec![if attr_i(node, "axis", 1) == 1 { 0 } else { 9 }, -1]
                } else {
                    input_const(1).map(|c| c.ints.clone()).unwrap_or_default()
                };
                let two_d = target.len() == 2
                    && matches!(target[0], -1 | 0)
                    && (target[1] == -1 || target[1] as usize == map.len());
                if !(two_d && varying.len() == 1) {
                    return Err(refuse(
                        path,
                        node,
                        format!(
                            "only a flatten of the feature map to (batch, features) is supported \
                             (this one targets {target:?})"
                        ),
                    ));
                }
                if chain.pending_values.contains(varying[0]) {
                    // Inside the activation: a layout change, not part of the function.
                    chain.pending.push(pb::NodeProto {
                        op_type: "Identity".into(),
                        input: vec![varying[0].clone()],
                        output: vec![output.clone()],
                        ..Default::default()
                    });
                    chain.pending_values.insert(output.clone());
                }
                chain.flattened = Some(map);
                chain.map = None;
                chain.current = output;
            }
            "Conv" => {
                if *varying[0] != node.input[0] || varying.len() != 1 {
                    return Err(refuse(
                        path,
                        node,
                        "the weights must be a constant second input",
                    ));
                }
                let map = chain.map.ok_or_else(|| {
                    refuse(
                        path,
                        node,
                        "a Conv on a flat value (after a Flatten or a Gemm): a Conv reads a feature map",
                    )
                })?;
                if chain.input_affine.is_some() {
                    return Err(refuse(
                        path,
                        node,
                        "a BatchNormalization before a Conv is not supported (only right after one)",
                    ));
                }
                let w = input_const(1).ok_or_else(|| refuse(path, node, "no constant weights"))?;
                let (dense, geometry) = conv_layer(path, node, map, w, input_const(2))?;
                if chain.layers.is_empty() && map.channels > 1 {
                    return Err(refuse(
                        path,
                        node,
                        format!(
                            "an input of {} channels: lutgen's input map is HWC and the graph's \
                             NCHW; only one-channel image inputs are supported yet",
                            map.channels
                        ),
                    ));
                }
                push_layer(path, &mut chain, node, &constants, nodes)?;
                chain.map = Some(MapShape {
                    height: geometry.out_height(),
                    width: geometry.out_width(),
                    channels: dense.outputs,
                });
                chain.layers.push(dense);
                chain.spatial.push(Spatial {
                    conv: Some(Conv {
                        geometry,
                        pad_value: 0,
                    }),
                    pool: None,
                });
                chain.matmul_output = None;
                chain.layer_output = output.clone();
                chain.current = output;
            }
            "MaxPool" | "AveragePool" | "GlobalAveragePool" => {
                let pool = pool_of(path, node)?;
                let after_conv = chain
                    .spatial
                    .last()
                    .is_some_and(|s| s.conv.is_some() && s.pool.is_none());
                let map = chain
                    .map
                    .filter(|_| after_conv && !chain.activation_done)
                    .ok_or_else(|| {
                        refuse(
                        path,
                        node,
                        "a pooling is supported only after a Conv layer (and its activation), once",
                    )
                    })?;
                let pooled = pool.output(map).ok_or_else(|| {
                    refuse(
                        path,
                        node,
                        format!(
                            "a {}x{} map is smaller than the 2x2 window",
                            map.height, map.width
                        ),
                    )
                })?;
                // The activation ends here: the pooling runs on its outputs.
                chain.activations.push(activation(
                    path,
                    &chain.pending,
                    &chain.current,
                    &constants,
                    nodes,
                )?);
                chain.pending.clear();
                chain.pending_values.clear();
                chain.activation_done = true;
                chain.spatial.last_mut().expect("a conv layer").pool = Some(pool);
                chain.map = Some(pooled);
                chain.current = output;
            }
            "Flatten" | "Reshape" => {
                let target: Vec<i64> = if op == "Flatten" {
                    if attr_i(node, "axis", 1) != 1 {
                        return Err(refuse(
                            path,
                            node,
                            "only Flatten with axis 1 (to (batch, features))",
                        ));
                    }
                    vec![0, -1]
                } else {
                    input_const(1).map(|c| c.ints.clone()).unwrap_or_default()
                };
                let flat: usize = input_shape.iter().product();
                let two_d = target.len() == 2
                    && matches!(target[0], -1 | 0)
                    && (target[1] == -1 || target[1] as usize == chain.width.unwrap_or(flat));
                if !(two_d && chain.pending.is_empty() && varying.len() == 1) {
                    return Err(refuse(
                        path,
                        node,
                        format!(
                            "only a flatten to (batch, features) is supported (this one targets {target:?}); \
                             a reshape or transpose inside the network is not"
                        ),
                    ));
                }
                if chain.layers.is_empty() {
                    chain.width = Some(flat);
                }
                chain.map = None;
                chain.current = output;
            }
            "Dropout" | "Identity" => {
                if node.output.len() > 1 && !node.output[1].is_empty() {
                    return Err(refuse(path, node, "a Dropout whose mask is used"));
                }
                if chain.pending_values.contains(varying[0]) {
                    chain.pending.push(node.clone());
                    chain.pending_values.insert(output.clone());
                }
                chain.current = output;
            }
            "Gemm" | "MatMul" => {
                if *varying[0] != node.input[0] || varying.len() != 1 {
                    return Err(refuse(
                        path,
                        node,
                        "the weights must be a constant second input",
                    ));
                }
                let w = input_const(1).ok_or_else(|| refuse(path, node, "no constant weights"))?;
                let [rows, cols] = w.shape[..] else {
                    return Err(refuse(
                        path,
                        node,
                        format!("weights of shape {:?}; expected 2-D", w.shape),
                    ));
                };
                let (alpha, beta, trans_b) = if op == "Gemm" {
                    if attr_i(node, "transA", 0) != 0 {
                        return Err(refuse(
                            path,
                            node,
                            "transA = 1 (a transposed input) is not supported",
                        ));
                    }
                    (
                        attr_f(node, "alpha", 1.0),
                        attr_f(node, "beta", 1.0),
                        attr_i(node, "transB", 0) != 0,
                    )
                } else {
                    (1.0, 1.0, false)
                };
                let (outputs, inputs) = if trans_b { (rows, cols) } else { (cols, rows) };
                let mut weight = vec![0f32; outputs * inputs];
                for o in 0..outputs {
                    for k in 0..inputs {
                        let v = if trans_b {
                            w.values[o * cols + k]
                        } else {
                            w.values[k * cols + o]
                        };
                        weight[o * inputs + k] = alpha * v;
                    }
                }
                let mut bias = vec![0f32; outputs];
                if op == "Gemm" {
                    if let Some(c) = input_const(2) {
                        if c.values.len() != outputs && c.values.len() != 1 {
                            return Err(refuse(path, node, format!("bias of shape {:?}", c.shape)));
                        }
                        for (o, b) in bias.iter_mut().enumerate() {
                            *b = beta * c.values[if c.values.len() == 1 { 0 } else { o }];
                        }
                    }
                }
                let name = node_name(node);
                let mut dense = Dense {
                    name,
                    inputs,
                    outputs,
                    weight,
                    bias,
                };
                if chain.map.is_some() && !chain.layers.is_empty() {
                    return Err(refuse(
                        path,
                        node,
                        "a Gemm or MatMul on a feature map: Flatten it first",
                    ));
                }
                if let Some(map) = chain.flattened.take() {
                    // ONNX flattens (C, H, W); lutgen's maps are HWC: permute the columns.
                    if map.len() == inputs {
                        let hw = map.height * map.width;
                        let onnx_weight = dense.weight.clone();
                        for o in 0..outputs {
                            for p in 0..hw {
                                for ch in 0..map.channels {
                                    dense.weight[o * inputs + p * map.channels + ch] =
                                        onnx_weight[o * inputs + ch * hw + p];
                                }
                            }
                        }
                    }
                    chain.width = Some(map.len());
                }
                let expected = match chain.spatial.last() {
                    Some(s) if s.conv.is_some() => chain.width,
                    _ => chain.layers.last().map(|l| l.outputs).or(chain.width),
                };
                if let Some(expected) = expected {
                    if expected != inputs {
                        return Err(refuse(
                            path,
                            node,
                            format!(
                                "takes {inputs} inputs but the value reaching it has {expected}"
                            ),
                        ));
                    }
                }
                if let Some((batch_norm, affine)) = chain.input_affine.take() {
                    if affine.channels() != inputs {
                        return Err(refuse(
                            path,
                            node,
                            format!(
                                "takes {inputs} inputs but the BatchNormalization before it has {} channels",
                                affine.channels()
                            ),
                        ));
                    }
                    fold_into_inputs(&mut dense, &affine);
                    chain.batch_norms.push(FoldedBatchNorm {
                        name: batch_norm,
                        layer: chain.layers.len(),
                        layer_name: dense.name.clone(),
                        into: FoldedInto::Inputs,
                    });
                }
                push_layer(path, &mut chain, node, &constants, nodes)?;
                chain.layers.push(dense);
                chain.spatial.push(Spatial::DENSE);
                chain.map = None;
                chain.matmul_output = (op == "MatMul").then(|| output.clone());
                chain.layer_output = output.clone();
                chain.current = output;
            }
            "Add" if chain.matmul_output.as_deref() == Some(varying[0].as_str()) => {
                let outputs = chain.layers.last().map_or(0, |l| l.outputs);
                let bias = node
                    .input
                    .iter()
                    .filter_map(|n| constants.get(n))
                    .next()
                    .filter(|c| c.values.len() == outputs && varying.len() == 1)
                    .ok_or_else(|| {
                        refuse(
                            path,
                            node,
                            "an Add after a MatMul must add a constant bias of the layer's width",
                        )
                    })?;
                let layer = chain.layers.last_mut().expect("a MatMul came first");
                for (b, &v) in layer.bias.iter_mut().zip(&bias.values) {
                    *b += v;
                }
                chain.matmul_output = None;
                chain.layer_output = output.clone();
                chain.current = output;
            }
            "BatchNormalization" => {
                if attr_i(node, "training_mode", 0) != 0 {
                    return Err(refuse(
                        path,
                        node,
                        "training_mode = 1: export the model in eval mode",
                    ));
                }
                let params: Vec<&Constant> = (1..5)
                    .map(input_const)
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        refuse(
                            path,
                            node,
                            "scale, bias, mean and variance must be constants",
                        )
                    })?;
                let eps = attr_f(node, "epsilon", 1e-5);
                let n = params[0].values.len();
                if params.iter().any(|p| p.values.len() != n) {
                    return Err(refuse(path, node, "parameters of different lengths"));
                }
                let affine = ChannelAffine::batch_norm(
                    &params[0].values,
                    &params[1].values,
                    &params[2].values,
                    &params[3].values,
                    f64::from(eps),
                )
                .map_err(|bad| {
                    refuse(
                        path,
                        node,
                        format!(
                            "variance {} at channel {}: a variance must be finite and non-negative \
                             (with epsilon > 0)",
                            bad.value, bad.index
                        ),
                    )
                })?;
                let right_after = chain.pending.is_empty()
                    && chain.layers.last().is_some_and(|l| l.outputs == n)
                    && chain.input_affine.is_none();
                if right_after {
                    let index = chain.layers.len() - 1;
                    let layer = &mut chain.layers[index];
                    fold_into_outputs(layer, &affine);
                    chain.batch_norms.push(FoldedBatchNorm {
                        name: node_name(node),
                        layer: index,
                        layer_name: layer.name.clone(),
                        into: FoldedInto::Outputs,
                    });
                    chain.layer_output = output.clone();
                    chain.current = output;
                } else if chain.input_affine.is_none() {
                    // Before the next layer (after an activation, or on the input).
                    chain.input_affine = Some((node_name(node), affine));
                    if !chain.pending.is_empty() {
                        // The activation ends here: what follows is the affine.
                        chain.pending_values.clear();
                        chain.pending_values.insert(output.clone());
                        chain.pending.push(pb::NodeProto {
                            op_type: "Identity".into(),
                            input: vec![varying[0].clone()],
                            output: vec![output.clone()],
                            ..Default::default()
                        });
                    }
                    chain.current = output;
                } else {
                    return Err(refuse(path, node, "two BatchNormalizations in a row"));
                }
            }
            "Softmax" | "LogSoftmax" => {
                let last = i + 1 == nodes.len();
                let axis = attr_i(node, "axis", -1);
                if !(last
                    && chain.pending.is_empty()
                    && !chain.layers.is_empty()
                    && matches!(axis, 1 | -1))
                {
                    return Err(refuse(
                        path,
                        node,
                        "a Softmax or LogSoftmax is supported only as the graph's last node, over axis 1, right after a layer",
                    ));
                }
                chain.head = if op == "Softmax" {
                    Head::Softmax
                } else {
                    Head::LogSoftmax
                };
                chain.current = output;
            }
            op if ELEMENTWISE_OPS.contains(&op) => {
                if chain.layers.is_empty() {
                    return Err(refuse(
                        path,
                        node,
                        "elementwise ops before the first layer are not supported: apply them to the input data",
                    ));
                }
                if let Some(c) = node
                    .input
                    .iter()
                    .filter_map(|n| constants.get(n))
                    .find(|c| !is_scalar(c))
                {
                    return Err(refuse(
                        path,
                        node,
                        format!(
                            "a constant of shape {:?}: an activation must be the same function on every \
                             element (scalar constants only)",
                            c.shape
                        ),
                    ));
                }
                chain.pending.push(node.clone());
                chain.pending_values.insert(output.clone());
                chain.current = output;
            }
            _ => {
                return Err(refuse(
                    path,
                    node,
                    format!("unsupported op; {}", supported()),
                ));
            }
        }
    }
    if chain.layers.is_empty() {
        return Err(graph_error(path, "no Gemm or MatMul layer found"));
    }
    if chain.activation_done {
        return Err(graph_error(
            path,
            "a pooling after the last layer: the last layer's outputs are the network's; end with a Gemm",
        ));
    }
    if !chain.pending.is_empty() {
        let ops: Vec<&str> = chain.pending.iter().map(|n| n.op_type.as_str()).collect();
        return Err(graph_error(
            path,
            format!(
                "elementwise ops after the last layer ({}) are not supported: the device returns \
                 the last layer's outputs; remove them or end with Softmax",
                ops.join(", ")
            ),
        ));
    }
    if chain.input_affine.is_some() {
        return Err(graph_error(
            path,
            "a BatchNormalization after the last layer's activation",
        ));
    }
    if graph.output[0].name != chain.current {
        return Err(graph_error(
            path,
            format!(
                "the graph's output {:?} is not the end of the layer chain {:?}",
                graph.output[0].name, chain.current
            ),
        ));
    }
    let mlp = Mlp {
        layers: chain.layers,
        activations: chain.activations,
        head: chain.head,
        batch_norms: chain.batch_norms,
        spatial: chain.spatial,
    };
    mlp.check_finite()?;
    // The whole graph, for the float reference, from the proto already read.
    let mut shape = vec![1usize];
    shape.extend(&input_shape);
    let plan = framework
        .parse(&proto, Some(&dir))
        .map(|parsed| parsed.model)
        .and_then(|m| m.with_input_fact(0, InferenceFact::dt_shape(DatumType::F32, shape)))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(tract_error)?;
    Ok((
        mlp,
        OnnxModel {
            input_shape,
            path: path.to_path_buf(),
            plan,
        },
    ))
}

/// Ends the activation before a new layer (`node`): pushes it, unless a
/// pooling did, and clears the pending elementwise nodes.
fn push_layer(
    path: &Path,
    chain: &mut Chain,
    node: &pb::NodeProto,
    constants: &HashMap<String, Constant>,
    nodes: &[pb::NodeProto],
) -> Result<(), CompileError> {
    if chain.layers.is_empty() {
        if !chain.pending.is_empty() {
            return Err(refuse(
                path,
                node,
                "elementwise ops before the first layer are not supported: apply them to the input data",
            ));
        }
    } else if chain.activation_done {
        if !chain.pending.is_empty() {
            return Err(refuse(
                path,
                node,
                "elementwise ops after a pooling are not supported: put the activation before the pooling",
            ));
        }
    } else {
        chain.activations.push(activation(
            path,
            &chain.pending,
            &chain.current,
            constants,
            nodes,
        )?);
    }
    chain.activation_done = false;
    chain.pending.clear();
    chain.pending_values.clear();
    Ok(())
}

/// Dimensions of a graph value: None for a symbolic one.
fn value_shape(value: &pb::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    let Some(pb::type_proto::Value::TensorType(t)) = value.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    Some(
        t.shape
            .as_ref()?
            .dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => {
                    Some(v as usize)
                }
                _ => None,
            })
            .collect(),
    )
}

/// The activation the elementwise nodes `pending` make, ending in `output`.
fn activation(
    path: &Path,
    pending: &[pb::NodeProto],
    output: &str,
    constants: &HashMap<String, Constant>,
    all: &[pb::NodeProto],
) -> Result<Activation, CompileError> {
    let ops: Vec<&str> = pending
        .iter()
        .map(|n| n.op_type.as_str())
        .filter(|&o| o != "Identity" && o != "Dropout")
        .collect();
    match ops[..] {
        [] => return Ok(Activation::Identity),
        ["Relu"] => return Ok(Activation::Relu),
        _ => {}
    }
    // The sub-graph on its own: input = the value the first node reads off the chain.
    let produced: HashSet<&String> = pending.iter().flat_map(|n| &n.output).collect();
    let input = pending
        .iter()
        .flat_map(|n| &n.input)
        .find(|v| !v.is_empty() && !produced.contains(v) && !constants.contains_key(*v))
        .cloned()
        .unwrap_or_default();
    let used: HashSet<&String> = pending.iter().flat_map(|n| &n.input).collect();
    let mut nodes: Vec<pb::NodeProto> = all
        .iter()
        .filter(|n| n.op_type == "Constant" && n.output.iter().any(|o| used.contains(o)))
        .cloned()
        .collect();
    nodes.extend(pending.iter().cloned());
    let value = |name: &str| pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![pb::tensor_shape_proto::Dimension {
                        value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(
                            SAMPLES as i64,
                        )),
                        ..Default::default()
                    }],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let initializer: Vec<pb::TensorProto> = used
        .iter()
        .filter(|v| constants.contains_key(**v) && !nodes.iter().any(|n| n.output.contains(v)))
        .map(|v| {
            let c = &constants[*v];
            pb::TensorProto {
                name: (*v).clone(),
                dims: c.shape.iter().map(|&d| d as i64).collect(),
                data_type: 1,
                float_data: c.values.clone(),
                ..Default::default()
            }
        })
        .collect();
    let proto = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: "activation".into(),
            node: nodes,
            input: vec![value(&input)],
            output: vec![value(output)],
            initializer,
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = ops.join(", ");
    let plan = tract_onnx::onnx()
        .model_for_proto_model(&proto)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| {
            graph_error(
                path,
                format!("the activation {name} (before {output:?}) cannot be evaluated: {e:#}"),
            )
        })?;
    // Run once here, so a sub-graph tract cannot evaluate is an error now
    // and not a failure later.
    let probe = Tensor::from_shape(&[SAMPLES], &[0f32; SAMPLES]).expect("shape matches");
    plan.run(tvec!(probe.into())).map_err(|e| {
        graph_error(
            path,
            format!("the activation {name} (before {output:?}) cannot be evaluated: {e:#}"),
        )
    })?;
    Ok(Activation::Function(Elementwise::new(
        name,
        Arc::new(move |x: &[f32]| evaluate(&plan, x)),
    )))
}

/// Values an activation's sub-graph is evaluated on at a time.
const SAMPLES: usize = 256;

fn evaluate(plan: &Arc<TypedRunnableModel>, x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for chunk in x.chunks(SAMPLES) {
        let mut padded = chunk.to_vec();
        padded.resize(SAMPLES, 0.0);
        let input = Tensor::from_shape(&[SAMPLES], &padded).expect("shape matches");
        let result = plan
            .run(tvec!(input.into()))
            .expect("an elementwise sub-graph runs on any f32 vector");
        let values: Vec<f32> = result[0]
            .cast_to::<f32>()
            .expect("numeric")
            .to_plain_array_view::<f32>()
            .expect("f32")
            .iter()
            .copied()
            .collect();
        out.extend_from_slice(&values[..chunk.len()]);
    }
    out
}

impl OnnxModel {
    /// The graph's own outputs for `rows` (float), run by tract.
    pub fn float_outputs(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, CompileError> {
        let mut out = Vec::with_capacity(rows.len());
        let mut shape = vec![1usize];
        shape.extend(&self.input_shape);
        for row in rows {
            let input = Tensor::from_shape(&shape, row).map_err(|e| CompileError::OnnxRead {
                path: self.path.clone(),
                message: format!("input row of {} values: {e:#}", row.len()),
            })?;
            let result =
                self.plan
                    .run(tvec!(input.into()))
                    .map_err(|e| CompileError::OnnxRead {
                        path: self.path.clone(),
                        message: format!("{e:#}"),
                    })?;
            out.push(
                result[0]
                    .cast_to::<f32>()
                    .map_err(|e| CompileError::OnnxRead {
                        path: self.path.clone(),
                        message: format!("{e:#}"),
                    })?
                    .to_plain_array_view::<f32>()
                    .map(|a| a.iter().copied().collect())
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }
}
