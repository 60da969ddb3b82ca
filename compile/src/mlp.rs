//! The compiler's model: a chain of dense layers with an activation between
//! each two ([`Mlp`]), its float forward pass, and the safetensors / .npz
//! frontend (the ONNX one is `crate::onnx`).
//!
//! Layers follow PyTorch's `nn.Linear` convention: `<prefix>.weight` has shape
//! `(outputs, inputs)` and `<prefix>.bias` shape `(outputs)`. A weights file
//! carries no graph, so the activation between layers is the caller's
//! choice ([`Mlp::with_activation`]; ReLU unless told otherwise), and so is
//! folding its BatchNorms (named as PyTorch's `state_dict` names them; see
//! [`Mlp::from_tensors_with`] and [`crate::batch_norm`]).

use crate::batch_norm::{
    fold_into_inputs, fold_into_outputs, ChannelAffine, Fold, FoldedBatchNorm, FoldedInto,
    Placement,
};
use crate::error::CompileError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

pub use crate::linear::Dense;
use lutgen_core::spatial::{MapShape, Pool, Spatial};

/// The float pooling of an activated map (HWC): [`Pool`]'s windows, the
/// max or the exact average.
pub fn pool_f64(pool: Pool, map: MapShape, h: &[f64]) -> Vec<f64> {
    pool.windows(map)
        .iter()
        .map(|window| {
            let values = window.iter().map(|&i| h[i]);
            match pool {
                Pool::Max2 => values.fold(f64::NEG_INFINITY, f64::max),
                Pool::Avg2 | Pool::GlobalAvg => values.sum::<f64>() / window.len() as f64,
            }
        })
        .collect()
}

/// A float function on a batch of values, one result per value.
pub type BatchFn = Arc<dyn Fn(&[f32]) -> Vec<f32> + Send + Sync>;

/// A float function applied to every element alike (an activation that is
/// not ReLU): a name, and the function on a batch of values.
#[derive(Clone)]
pub struct Elementwise {
    pub name: String,
    f: BatchFn,
}

impl Elementwise {
    pub fn new(name: impl Into<String>, f: BatchFn) -> Self {
        Elementwise {
            name: name.into(),
            f,
        }
    }

    /// The function on every value of `x`.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        (self.f)(x)
    }
}

impl std::fmt::Debug for Elementwise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Elementwise({})", self.name)
    }
}

/// Two functions are the same when their names are (the function is not compared).
impl PartialEq for Elementwise {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// What runs between two layers.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    /// Nothing: the next layer takes the previous one's outputs.
    Identity,
    Relu,
    /// Any other elementwise function.
    Function(Elementwise),
}

impl Activation {
    pub fn name(&self) -> &str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Function(f) => &f.name,
        }
    }

    /// The activation on one layer's outputs.
    pub fn apply(&self, y: &[f64]) -> Vec<f64> {
        match self {
            Activation::Identity => y.to_vec(),
            Activation::Relu => y.iter().map(|&v| v.max(0.0)).collect(),
            Activation::Function(f) => {
                let x: Vec<f32> = y.iter().map(|&v| v as f32).collect();
                f.apply(&x).into_iter().map(f64::from).collect()
            }
        }
    }
}

/// What the model does after its last layer. The device returns the last
/// layer's outputs: a softmax does not change which output is largest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Head {
    #[default]
    Logits,
    Softmax,
    LogSoftmax,
}

/// A chain of dense layers with an activation between each two.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub layers: Vec<Dense>,
    /// `activations[i]` runs between layer i and layer i + 1.
    pub activations: Vec<Activation>,
    pub head: Head,
    /// The BatchNorms folded into the layers, in order.
    pub batch_norms: Vec<FoldedBatchNorm>,
    /// Per layer: dense, or a convolution (its [`Dense`] is applied to
    /// every output pixel's channel-major patch, `lutgen_core::conv`) and
    /// the pooling after its activation. Empty, or shorter than `layers`:
    /// the missing layers are dense. The pad value is the compiler's to
    /// set (the layer's input zero point); the float model pads with 0.
    pub spatial: Vec<Spatial>,
}

/// A tensor as read: shape and values widened to f32.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Mlp {
    /// Builds an MLP from named tensors, checking every shape and value;
    /// BatchNorm tensors are an error (see [`Mlp::from_tensors_with`]).
    pub fn from_tensors(
        tensors: &BTreeMap<String, Tensor>,
        layers: &[String],
    ) -> Result<Self, CompileError> {
        Mlp::from_tensors_with(tensors, layers, None)
    }

    /// Builds an MLP from named tensors, checking every shape and value.
    ///
    /// The modules are linear layers (a 2-D `<prefix>.weight` and its
    /// `<prefix>.bias`) and, with `batch_norm` chosen, BatchNorms as PyTorch
    /// names them (`<prefix>.running_mean`, `.running_var`, optional 1-D
    /// `.weight` and `.bias`, and `.num_batches_tracked`, ignored).
    /// `layers` names the module prefixes in order; when empty, every module
    /// is one, in natural order of the prefix (`fc2` before `fc10`,
    /// `layers.2` before `layers.10`). A BatchNorm is folded into the linear
    /// layer before it, or, before the first layer, into that layer's inputs
    /// ([`crate::batch_norm`]). Any tensor no module uses is an error.
    pub fn from_tensors_with(
        tensors: &BTreeMap<String, Tensor>,
        layers: &[String],
        batch_norm: Option<Fold>,
    ) -> Result<Self, CompileError> {
        if let Some((name, t)) = tensors
            .iter()
            .find(|(name, t)| name.ends_with(".weight") && t.shape.len() > 2)
        {
            return Err(CompileError::WeightShape {
                name: name.clone(),
                shape: t.shape.clone(),
            });
        }
        if let Some(fold) = batch_norm {
            if !(fold.eps.is_finite() && fold.eps > 0.0) {
                return Err(CompileError::BatchNormEps { eps: fold.eps });
            }
        }
        let batch_norms: BTreeSet<String> = tensors
            .keys()
            .filter_map(|name| batch_norm_prefix(name))
            .map(str::to_string)
            .collect();
        let modules: Vec<String> = if layers.is_empty() {
            let mut found: Vec<String> = tensors
                .iter()
                .filter(|(name, t)| name.ends_with(".weight") && t.shape.len() == 2)
                .map(|(name, _)| name.trim_end_matches(".weight").to_string())
                .filter(|prefix| !batch_norms.contains(prefix))
                .chain(batch_norms.iter().cloned())
                .collect();
            found.sort_by_key(|a| natural_key(a));
            found
        } else {
            layers.to_vec()
        };
        if modules.iter().all(|m| batch_norms.contains(m)) {
            return Err(CompileError::NoLayers {
                available: tensors.keys().cloned().collect(),
            });
        }
        if !batch_norms.is_empty() {
            if batch_norm.is_none() {
                return Err(CompileError::BatchNormNotChosen {
                    names: tensors
                        .keys()
                        .filter(|name| {
                            BATCH_NORM_TENSORS.iter().any(|suffix| {
                                name.strip_suffix(suffix)
                                    .is_some_and(|p| batch_norms.contains(p))
                            })
                        })
                        .cloned()
                        .collect(),
                });
            }
            if layers.is_empty() {
                // The order is the names' order: it says where a BatchNorm
                // sits only when the names differ by their numbers alone.
                let stem = |m: &str| m.replace(|c: char| c.is_ascii_digit(), "");
                if modules.iter().any(|m| stem(m) != stem(&modules[0])) {
                    return Err(CompileError::BatchNormOrder {
                        batch_norm: modules
                            .iter()
                            .find(|m| batch_norms.contains(*m))
                            .expect("there is one")
                            .clone(),
                        modules,
                    });
                }
            } else if let Some(unplaced) = batch_norms.iter().find(|b| !layers.contains(b)) {
                return Err(CompileError::BatchNormUnplaced {
                    batch_norm: unplaced.clone(),
                    layers: layers.to_vec(),
                });
            }
        }
        let get = |name: String| {
            tensors
                .get(&name)
                .ok_or_else(|| CompileError::MissingTensor {
                    name: name.clone(),
                    available: tensors.keys().cloned().collect(),
                })
                .map(|t| (name, t))
        };
        let mut out: Vec<Dense> = Vec::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        let mut folded: Vec<FoldedBatchNorm> = Vec::new();
        // A BatchNorm before the first layer, for its inputs.
        let mut before_first: Option<(String, ChannelAffine)> = None;
        // The module before this one, when it is a BatchNorm.
        let mut last_batch_norm: Option<String> = None;
        for prefix in modules {
            if batch_norms.contains(&prefix) {
                let fold = batch_norm.expect("checked above");
                let affine = read_batch_norm(tensors, &prefix, fold.eps, &mut used)?;
                if let Some(first) = last_batch_norm.take() {
                    return Err(CompileError::BatchNormSequence {
                        first,
                        second: prefix,
                    });
                }
                match fold.placement {
                    Placement::AfterLinear => match out.last_mut() {
                        None => before_first = Some((prefix.clone(), affine)),
                        Some(layer) => {
                            if affine.channels() != layer.outputs {
                                return Err(CompileError::BatchNormWidth {
                                    batch_norm: prefix,
                                    channels: affine.channels(),
                                    layer: layer.name.clone(),
                                    width: layer.outputs,
                                    side: "outputs",
                                });
                            }
                            if let (Some((stem, n)), Some((bn_stem, bn_n))) =
                                (numbered(&layer.name), numbered(&prefix))
                            {
                                // nn.Sequential numbers every module, the
                                // activation too: a gap is a module with no
                                // tensors between the layer and its BatchNorm.
                                if stem == bn_stem && bn_n != n + 1 {
                                    return Err(CompileError::BatchNormNotAfterLinear {
                                        batch_norm: prefix,
                                        layer: layer.name.clone(),
                                    });
                                }
                            }
                            fold_into_outputs(layer, &affine);
                            folded.push(FoldedBatchNorm {
                                name: prefix.clone(),
                                layer: out.len() - 1,
                                layer_name: out[out.len() - 1].name.clone(),
                                into: FoldedInto::Outputs,
                            });
                        }
                    },
                }
                last_batch_norm = Some(prefix);
                continue;
            }
            last_batch_norm = None;
            let (wname, w) = get(format!("{prefix}.weight"))?;
            let (bname, b) = get(format!("{prefix}.bias"))?;
            let [outputs, inputs] = w.shape[..] else {
                return Err(CompileError::WeightShape {
                    name: wname,
                    shape: w.shape.clone(),
                });
            };
            if b.shape != [outputs] {
                return Err(CompileError::BiasShape {
                    name: bname,
                    expected: outputs,
                    shape: b.shape.clone(),
                    hint: if b.shape == [inputs] { KERAS_HINT } else { "" },
                });
            }
            for (name, values) in [(&wname, &w.values), (&bname, &b.values)] {
                finite(name, values)?;
            }
            if let Some(prev) = out.last() {
                if prev.outputs != inputs {
                    return Err(CompileError::LayerShape {
                        previous: prev.name.clone(),
                        outputs: prev.outputs,
                        layer: prefix,
                        inputs,
                        hint: if prev.outputs == outputs {
                            KERAS_HINT
                        } else {
                            ""
                        },
                    });
                }
            }
            let mut dense = Dense {
                name: prefix,
                inputs,
                outputs,
                weight: w.values.clone(),
                bias: b.values.clone(),
            };
            if let Some((name, affine)) = before_first.take() {
                if affine.channels() != inputs {
                    return Err(CompileError::BatchNormWidth {
                        batch_norm: name,
                        channels: affine.channels(),
                        layer: dense.name,
                        width: inputs,
                        side: "inputs",
                    });
                }
                fold_into_inputs(&mut dense, &affine);
                folded.push(FoldedBatchNorm {
                    name,
                    layer: 0,
                    layer_name: dense.name.clone(),
                    into: FoldedInto::Inputs,
                });
            }
            used.extend([wname, bname]);
            out.push(dense);
        }
        let unused: Vec<String> = tensors
            .keys()
            .filter(|name| !used.contains(*name))
            .cloned()
            .collect();
        if !unused.is_empty() {
            return Err(CompileError::UnusedTensors {
                names: unused,
                hint: "lutgen does not ignore weights: name the layers with --layers, or remove \
                       the tensors the model does not use",
            });
        }
        let activations = vec![Activation::Relu; out.len() - 1];
        let mlp = Mlp {
            layers: out,
            activations,
            head: Head::Logits,
            batch_norms: folded,
            spatial: Vec::new(),
        };
        // A fold can overflow f32 (a huge scale over a tiny variance).
        mlp.check_finite()?;
        Ok(mlp)
    }

    /// The same layers with `activation` between every two.
    pub fn with_activation(self, activation: Activation) -> Self {
        let activations = vec![activation; self.layers.len() - 1];
        Mlp {
            activations,
            ..self
        }
    }

    /// Refuses non-finite weights or biases, naming the tensor.
    pub fn check_finite(&self) -> Result<(), CompileError> {
        for (i, layer) in self.layers.iter().enumerate() {
            let folded: Vec<&str> = self
                .batch_norms
                .iter()
                .filter(|b| b.layer == i)
                .map(|b| b.name.as_str())
                .collect();
            let folded = if folded.is_empty() {
                String::new()
            } else {
                format!(" (BatchNorm {} folded in)", folded.join(", "))
            };
            for (what, values) in [("weight", &layer.weight), ("bias", &layer.bias)] {
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(CompileError::NonFinite {
                        name: format!("{} {what}{folded}", layer.name),
                        index,
                        value: values[index],
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads an MLP from a `.safetensors` or `.npz` file (BatchNorm tensors are an error).
    pub fn read(path: &Path, layers: &[String]) -> Result<Self, CompileError> {
        Mlp::read_with(path, layers, None)
    }

    /// Reads an MLP from a `.safetensors` or `.npz` file, folding its
    /// BatchNorms as `batch_norm` says ([`Mlp::from_tensors_with`]).
    pub fn read_with(
        path: &Path,
        layers: &[String],
        batch_norm: Option<Fold>,
    ) -> Result<Self, CompileError> {
        let tensors = read_tensors(path)?;
        Mlp::from_tensors_with(&tensors, layers, batch_norm)
    }

    /// Input dimension of the network: the first layer's inputs, or its
    /// input map's elements (HWC) if it is a convolution.
    pub fn input_dim(&self) -> usize {
        match self.spatial_of(0).conv {
            Some(conv) => conv.geometry.input_len(),
            None => self.layers[0].inputs,
        }
    }

    /// How layer `l` runs across a feature map (dense if not given).
    pub fn spatial_of(&self, l: usize) -> Spatial {
        self.spatial.get(l).copied().unwrap_or_default()
    }

    /// Whether any layer is a convolution or pools.
    pub fn has_conv(&self) -> bool {
        self.spatial.iter().any(|s| *s != Spatial::DENSE)
    }

    /// Every layer's pre-activation output for one input (a convolution's:
    /// its whole output map, HWC); the pooling runs after the activation.
    pub fn pre_activations(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = Vec::with_capacity(self.layers.len());
        let mut h = x.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let spatial = self.spatial_of(i);
            let y = match spatial.conv {
                Some(conv) => layer.convolve(&conv.geometry, &h),
                None => layer.forward(&h),
            };
            if let Some(activation) = self.activations.get(i) {
                h = activation.apply(&y);
                if let (Some(pool), Some(map)) = (spatial.pool, spatial.output_map(layer.outputs)) {
                    h = pool_f64(pool, map, &h);
                }
            }
            out.push(y);
        }
        out
    }

    /// Whether every activation is ReLU.
    pub fn all_relu(&self) -> bool {
        self.activations.iter().all(|a| *a == Activation::Relu)
    }

    /// The float network's outputs (logits).
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        self.pre_activations(x).pop().expect("at least one layer")
    }

    /// Bytes of the weights stored as int8 (biases not counted).
    /// Outputs of the last layer (per output pixel if it is a convolution).
    pub fn output_dim(&self) -> usize {
        let last = self.layers.len() - 1;
        let n = self.layers[last].outputs;
        self.spatial_of(last).output_map(n).map_or(n, |m| m.len())
    }

    /// The widths from input to output, as `64-64-10 MLP`.
    /// A convolution network names each layer: `64-conv3x3:8-conv3x3/2:16+MaxPool 2x2-10 CNN`.
    pub fn shape_name(&self) -> String {
        let widths: Vec<String> = std::iter::once(self.input_dim().to_string())
            .chain(self.layers.iter().enumerate().map(|(l, layer)| {
                let s = self.spatial_of(l);
                let mut name = match s.conv {
                    Some(c) => {
                        let k = c.geometry.kernel;
                        let stride = match c.geometry.stride {
                            1 => String::new(),
                            s => format!("/{s}"),
                        };
                        format!("conv{k}x{k}{stride}:{}", layer.outputs)
                    }
                    None => layer.outputs.to_string(),
                };
                if let Some(pool) = s.pool {
                    name = format!("{name}+{}", pool.name());
                }
                name
            }))
            .collect();
        let kind = if self.has_conv() { "CNN" } else { "MLP" };
        format!("{} {kind}", widths.join("-"))
    }

    pub fn weight_bytes_int8(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len()).sum()
    }
}

/// Said when a shape would fit transposed.
const KERAS_HINT: &str = "; the weights may be stored (inputs, outputs), Keras' layout: \
                          lutgen reads (outputs, inputs), nn.Linear's; transpose them";

/// The suffixes of a BatchNorm's tensors in PyTorch's `state_dict`.
const BATCH_NORM_TENSORS: [&str; 5] = [
    ".weight",
    ".bias",
    ".running_mean",
    ".running_var",
    ".num_batches_tracked",
];

/// The module prefix of a tensor only a BatchNorm has (`bn1` for `bn1.running_var`).
fn batch_norm_prefix(name: &str) -> Option<&str> {
    [".running_mean", ".running_var", ".num_batches_tracked"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
}

fn finite(name: &str, values: &[f32]) -> Result<(), CompileError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CompileError::NonFinite {
            name: name.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// The BatchNorm `prefix` as an affine map, its tensors added to `used`.
/// The running mean and variance are required, 1-D, of one length; the
/// weight and bias (absent with `affine=False`: 1 and 0) come together.
fn read_batch_norm(
    tensors: &BTreeMap<String, Tensor>,
    prefix: &str,
    eps: f64,
    used: &mut BTreeSet<String>,
) -> Result<ChannelAffine, CompileError> {
    let name = |suffix: &str| format!("{prefix}.{suffix}");
    let required = |suffix: &str| {
        tensors
            .get(&name(suffix))
            .ok_or_else(|| CompileError::MissingTensor {
                name: name(suffix),
                available: tensors.keys().cloned().collect(),
            })
    };
    let mean = required("running_mean")?;
    let var = required("running_var")?;
    let [channels] = mean.shape[..] else {
        return Err(CompileError::BatchNormShape {
            name: name("running_mean"),
            expected: "[channels] (1-D)".into(),
            shape: mean.shape.clone(),
        });
    };
    let (weight, bias) = match (tensors.get(&name("weight")), tensors.get(&name("bias"))) {
        (Some(w), Some(b)) => (Some(w), Some(b)),
        (None, None) => (None, None),
        (Some(_), None) => return Err(required("bias").unwrap_err()),
        (None, Some(_)) => return Err(required("weight").unwrap_err()),
    };
    for (suffix, t) in [
        ("running_var", Some(var)),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(t) = t {
            if t.shape != [channels] {
                return Err(CompileError::BatchNormShape {
                    name: name(suffix),
                    expected: format!("[{channels}] like {}", name("running_mean")),
                    shape: t.shape.clone(),
                });
            }
        }
    }
    for (suffix, t) in [
        ("running_mean", Some(mean)),
        ("weight", weight),
        ("bias", bias),
    ] {
        if let Some(t) = t {
            finite(&name(suffix), &t.values)?;
        }
    }
    let ones = vec![1f32; channels];
    let zeros = vec![0f32; channels];
    let gamma = weight.map_or(&ones[..], |t| &t.values[..]);
    let beta = bias.map_or(&zeros[..], |t| &t.values[..]);
    let affine =
        ChannelAffine::batch_norm(gamma, beta, &mean.values, &var.values, eps).map_err(|bad| {
            CompileError::BatchNormVariance {
                name: name("running_var"),
                index: bad.index,
                value: bad.value,
            }
        })?;
    used.extend(
        BATCH_NORM_TENSORS
            .iter()
            .map(|suffix| format!("{prefix}{suffix}"))
            .filter(|n| tensors.contains_key(n)),
    );
    Ok(affine)
}

/// A name with one number in it as (the name without it, the number):
/// `net.3` is `("net.", 3)`; None for no number or more than one.
fn numbered(name: &str) -> Option<(String, u64)> {
    let runs: Vec<&str> = name
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .collect();
    let [run] = runs[..] else {
        return None;
    };
    Some((name.replace(run, ""), run.parse().ok()?))
}

/// `layers.10` sorts after `layers.2`: digit runs compare as numbers.
fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut num = c.to_digit(10).unwrap() as u64;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                num = num.saturating_mul(10).saturating_add(d as u64);
                chars.next();
            }
            key.push((std::mem::take(&mut text), num));
        } else {
            text.push(c);
        }
    }
    key.push((text, 0));
    key
}

fn read_file(path: &Path) -> Result<Vec<u8>, CompileError> {
    std::fs::read(path).map_err(|source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every tensor of a `.safetensors` or `.npz` file, as f32.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>, CompileError> {
    let bytes = read_file(path)?;
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    let bad = |message: String| CompileError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut out = BTreeMap::new();
    if is_zip {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..]))
            .map_err(|e| bad(format!("not a readable .npz archive: {e}")))?;
        for i in 0..archive.len() {
            let mut file = archive
                .by_index(i)
                .map_err(|e| bad(format!("cannot read archive member {i}: {e}")))?;
            let name = file.name().trim_end_matches(".npy").to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data)
                .map_err(|e| bad(format!("cannot read archive member {name}: {e}")))?;
            let (shape, values) =
                read_npy_f32(&data).map_err(|m| bad(format!("array {name}: {m}")))?;
            out.insert(name, Tensor { shape, values });
        }
    } else {
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
            bad(format!(
                "not a safetensors file ({e}); weights must be .safetensors or .npz"
            ))
        })?;
        for (name, view) in st.tensors() {
            use safetensors::Dtype;
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                // Integer tensors (a BatchNorm's num_batches_tracked, say) are
                // read so that from_tensors can say what they are.
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                Dtype::I32 => data
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                Dtype::I8 => data.iter().map(|&b| f32::from(b as i8)).collect(),
                Dtype::U8 => data.iter().map(|&b| f32::from(b)).collect(),
                other => {
                    return Err(CompileError::Dtype {
                        name,
                        dtype: format!("{other:?}"),
                    })
                }
            };
            out.insert(
                name,
                Tensor {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
    }
    Ok(out)
}

/// A `.npy` buffer as (shape, f32 values); any float or integer dtype
/// [`crate::npy::read`] reads, C order.
pub fn read_npy_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    let array = crate::npy::read(bytes)?;
    Ok((array.shape, array.values.into_f32()))
}

/// Reads a 2-D `.npy` of shape `(rows, width)` as f32 rows.
pub fn read_matrix(
    path: &Path,
    width: usize,
    what: &'static str,
) -> Result<Vec<Vec<f32>>, CompileError> {
    let bytes = read_file(path)?;
    let (shape, values) = read_npy_f32(&bytes).map_err(|message| CompileError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    let cols = match shape[..] {
        [_, cols] => cols,
        _ => {
            return Err(CompileError::Format {
                path: path.to_path_buf(),
                message: format!("{what} must be a 2-D array (rows, {width}), got shape {shape:?}"),
            })
        }
    };
    if cols != width {
        return Err(CompileError::CalibrationWidth {
            what,
            expected: width,
            got: cols,
        });
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(CompileError::NonFinite {
            name: format!("{what} ({})", path.display()),
            index,
            value: values[index],
        });
    }
    Ok(values
        .chunks_exact(width.max(1))
        .map(|r| r.to_vec())
        .collect())
}

/// Reads a 1-D integer `.npy` of class labels.
pub fn read_labels(path: &Path) -> Result<Vec<usize>, CompileError> {
    let bytes = read_file(path)?;
    let (shape, values) = read_npy_f32(&bytes).map_err(|message| CompileError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    if shape.len() != 1 || values.iter().any(|&v| v < 0.0 || v.fract() != 0.0) {
        return Err(CompileError::Format {
            path: path.to_path_buf(),
            message: format!(
                "labels must be a 1-D array of non-negative integers, got shape {shape:?}"
            ),
        });
    }
    Ok(values.into_iter().map(|v| v as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: f32) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            values: vec![v; shape.iter().product()],
        }
    }

    fn two_layers() -> BTreeMap<String, Tensor> {
        BTreeMap::from([
            ("fc1.weight".into(), t(&[8, 4], 0.5)),
            ("fc1.bias".into(), t(&[8], 0.1)),
            ("fc10.weight".into(), t(&[3, 8], 0.25)),
            ("fc10.bias".into(), t(&[3], 0.0)),
        ])
    }

    #[test]
    fn finds_layers_in_natural_order() {
        let mlp = Mlp::from_tensors(&two_layers(), &[]).unwrap();
        assert_eq!(mlp.layers.len(), 2);
        assert_eq!(mlp.layers[1].name, "fc10");
        let y = mlp.forward(&[1.0; 4]);
        // h = 4 * 0.5 + 0.1 = 2.1 per unit; y = 8 * 0.25 * 2.1 = 4.2.
        assert!((y[0] - 4.2).abs() < 1e-6);
        assert_eq!(mlp.weight_bytes_int8(), 56);
    }

    #[test]
    fn bad_models_are_refused() {
        let mut m = two_layers();
        m.remove("fc10.bias");
        assert!(matches!(
            Mlp::from_tensors(&m, &[]),
            Err(CompileError::MissingTensor { name, .. }) if name == "fc10.bias"
        ));
        let mut m = two_layers();
        m.insert("fc10.weight".into(), t(&[3, 7], 0.1));
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(
            matches!(
                err,
                CompileError::LayerShape {
                    outputs: 8,
                    inputs: 7,
                    ..
                }
            ),
            "{err}"
        );
        let mut m = two_layers();
        m.get_mut("fc1.weight").unwrap().values[5] = f32::NAN;
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(
            matches!(err, CompileError::NonFinite { index: 5, .. }),
            "{err}"
        );
        let mut m = two_layers();
        m.insert("fc1.bias".into(), t(&[7], 0.1));
        assert!(matches!(
            Mlp::from_tensors(&m, &[]),
            Err(CompileError::BiasShape { .. })
        ));
        assert!(matches!(
            Mlp::from_tensors(&BTreeMap::new(), &[]),
            Err(CompileError::NoLayers { .. })
        ));
        let err = Mlp::from_tensors(&two_layers(), &["fc2".into()]).unwrap_err();
        assert!(err.to_string().contains("fc2.weight"), "{err}");
    }

    /// Nothing in a weights file is ignored: tensors no layer uses, weights
    /// that are not matrices and a transposed layout are errors that say so.
    #[test]
    fn unused_tensors_and_odd_layouts_are_refused() {
        let mut m = two_layers();
        for (name, shape) in [
            ("bn1.weight", &[8][..]),
            ("bn1.bias", &[8]),
            ("bn1.running_mean", &[8]),
            ("bn1.running_var", &[8]),
            ("bn1.num_batches_tracked", &[]),
        ] {
            m.insert(name.into(), t(shape, 1.0));
        }
        // Without the choice of where they sit, BatchNorm tensors are an
        // error that says what to pass, or to export to ONNX.
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(
            matches!(&err, CompileError::BatchNormNotChosen { names } if names.len() == 5),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("bn1.running_var")
                && text.contains("--batch-norm after-linear")
                && text.contains("ONNX"),
            "{text}"
        );
        let mut m = two_layers();
        m.insert("scale".into(), t(&[4], 1.0));
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(
            err.to_string().contains("scale") && err.to_string().contains("--layers"),
            "{err}"
        );
        let err = Mlp::from_tensors(&two_layers(), &["fc1".into()]).unwrap_err();
        assert!(err.to_string().contains("fc10.bias, fc10.weight"), "{err}");
        let mut m = two_layers();
        m.insert("conv.weight".into(), t(&[2, 1, 3], 1.0));
        assert!(matches!(
            Mlp::from_tensors(&m, &[]),
            Err(CompileError::WeightShape { name, .. }) if name == "conv.weight"
        ));
        let mut m = two_layers();
        m.insert("fc10.weight".into(), t(&[8, 3], 0.25));
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(err.to_string().contains("Keras"), "{err}");
    }

    use crate::batch_norm::DEFAULT_EPS;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut impl Rng, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            values: (0..shape.iter().product())
                .map(|_| rng.gen_range(lo..hi))
                .collect(),
        }
    }

    /// A BatchNorm's tensors as PyTorch's `state_dict` names them.
    fn batch_norm(rng: &mut impl Rng, prefix: &str, n: usize) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}.weight"), random(rng, &[n], 0.5, 2.0)),
            (format!("{prefix}.bias"), random(rng, &[n], -1.0, 1.0)),
            (
                format!("{prefix}.running_mean"),
                random(rng, &[n], -2.0, 2.0),
            ),
            (
                format!("{prefix}.running_var"),
                random(rng, &[n], 0.01, 4.0),
            ),
            (format!("{prefix}.num_batches_tracked"), t(&[], 100.0)),
        ]
    }

    fn linear(
        rng: &mut impl Rng,
        prefix: &str,
        outputs: usize,
        inputs: usize,
    ) -> Vec<(String, Tensor)> {
        vec![
            (
                format!("{prefix}.weight"),
                random(rng, &[outputs, inputs], -1.0, 1.0),
            ),
            (format!("{prefix}.bias"), random(rng, &[outputs], -1.0, 1.0)),
        ]
    }

    /// `gamma (y - mean) / sqrt(var + eps) + beta` with the tensors of `prefix`.
    fn apply_batch_norm(m: &BTreeMap<String, Tensor>, prefix: &str, y: &[f64]) -> Vec<f64> {
        let p = |s: &str| &m[&format!("{prefix}.{s}")].values;
        let (g, b, mean, var) = (p("weight"), p("bias"), p("running_mean"), p("running_var"));
        (0..y.len())
            .map(|c| {
                f64::from(g[c]) * (y[c] - f64::from(mean[c]))
                    / (f64::from(var[c]) + DEFAULT_EPS).sqrt()
                    + f64::from(b[c])
            })
            .collect()
    }

    fn apply_linear(m: &BTreeMap<String, Tensor>, prefix: &str, x: &[f64]) -> Vec<f64> {
        let (w, b) = (
            &m[&format!("{prefix}.weight")],
            &m[&format!("{prefix}.bias")],
        );
        let inputs = w.shape[1];
        (0..w.shape[0])
            .map(|o| {
                (0..inputs)
                    .map(|i| f64::from(w.values[o * inputs + i]) * x[i])
                    .sum::<f64>()
                    + f64::from(b.values[o])
            })
            .collect()
    }

    fn relu(x: Vec<f64>) -> Vec<f64> {
        x.into_iter().map(|v| v.max(0.0)).collect()
    }

    fn assert_close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1.0),
                "{a:?} vs {b:?}"
            );
        }
    }

    fn fold() -> Option<Fold> {
        Some(Fold::default())
    }

    /// `nn.Sequential(Linear(6, 5), BatchNorm1d(5), ReLU(), Linear(5, 3))`'s
    /// state_dict, with random parameters.
    fn sequential(seed: u64) -> BTreeMap<String, Tensor> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        [
            linear(&mut rng, "0", 5, 6),
            batch_norm(&mut rng, "1", 5),
            linear(&mut rng, "3", 3, 5),
        ]
        .concat()
        .into_iter()
        .collect()
    }

    fn inputs(seed: u64, width: usize) -> Vec<Vec<f64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..20)
            .map(|_| (0..width).map(|_| rng.gen_range(-3.0..3.0)).collect())
            .collect()
    }

    /// Linear -> BatchNorm -> ReLU -> Linear: the BatchNorm is folded into
    /// the first layer, and the model computes what PyTorch's does.
    #[test]
    fn a_batch_norm_after_a_linear_layer_is_folded_into_it() {
        for seed in 0..5 {
            let m = sequential(seed);
            let mlp = Mlp::from_tensors_with(&m, &[], fold()).unwrap();
            assert_eq!(mlp.layers.len(), 2);
            assert_eq!(
                mlp.batch_norms,
                [FoldedBatchNorm {
                    name: "1".into(),
                    layer: 0,
                    layer_name: "0".into(),
                    into: FoldedInto::Outputs,
                }]
            );
            for x in inputs(seed, 6) {
                let direct = apply_linear(
                    &m,
                    "3",
                    &relu(apply_batch_norm(&m, "1", &apply_linear(&m, "0", &x))),
                );
                assert_close(&mlp.forward(&x), &direct);
            }
        }
    }

    /// A BatchNorm before the first layer normalizes the inputs: it is
    /// folded into the first layer's input columns.
    #[test]
    fn a_batch_norm_before_the_first_layer_is_folded_into_its_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // nn.Sequential(BatchNorm1d(6), Linear(6, 5), ReLU(), Linear(5, 3)).
        let m: BTreeMap<String, Tensor> = [
            batch_norm(&mut rng, "net.0", 6),
            linear(&mut rng, "net.1", 5, 6),
            linear(&mut rng, "net.3", 3, 5),
        ]
        .concat()
        .into_iter()
        .collect();
        let mlp = Mlp::from_tensors_with(&m, &[], fold()).unwrap();
        assert_eq!(mlp.batch_norms[0].into, FoldedInto::Inputs);
        assert_eq!(mlp.batch_norms[0].layer_name, "net.1");
        for x in inputs(7, 6) {
            let h = relu(apply_linear(
                &m,
                "net.1",
                &apply_batch_norm(&m, "net.0", &x),
            ));
            assert_close(&mlp.forward(&x), &apply_linear(&m, "net.3", &h));
        }
    }

    /// A BatchNorm after the last layer is still Linear -> BatchNorm: it is
    /// folded into the last layer, whose outputs are the model's.
    #[test]
    fn a_batch_norm_after_the_last_layer_is_folded_into_it() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let m: BTreeMap<String, Tensor> = [
            linear(&mut rng, "0", 5, 6),
            linear(&mut rng, "2", 3, 5),
            batch_norm(&mut rng, "3", 3),
        ]
        .concat()
        .into_iter()
        .collect();
        let mlp = Mlp::from_tensors_with(&m, &[], fold()).unwrap();
        assert_eq!(
            (mlp.batch_norms[0].layer, mlp.batch_norms[0].into),
            (1, FoldedInto::Outputs)
        );
        for x in inputs(8, 6) {
            let h = relu(apply_linear(&m, "0", &x));
            assert_close(
                &mlp.forward(&x),
                &apply_batch_norm(&m, "3", &apply_linear(&m, "2", &h)),
            );
        }
    }

    /// `BatchNorm1d(affine=False)` has no weight or bias: gamma 1, beta 0.
    /// `--layers` gives the order when names do not (fc1, bn1, fc2).
    #[test]
    fn named_modules_fold_in_the_order_layers_gives() {
        let mut m = sequential(3);
        for (from, to) in [("0", "fc1"), ("1", "bn1"), ("3", "fc2")] {
            let names: Vec<String> = m
                .keys()
                .filter(|k| k.starts_with(&format!("{from}.")))
                .cloned()
                .collect();
            for name in names {
                let t = m.remove(&name).unwrap();
                m.insert(name.replacen(from, to, 1), t);
            }
        }
        let order: Vec<String> = ["fc1", "bn1", "fc2"].map(String::from).to_vec();
        let named = Mlp::from_tensors_with(&m, &order, fold()).unwrap();
        let numbered = Mlp::from_tensors_with(&sequential(3), &[], fold()).unwrap();
        for (a, b) in named.layers.iter().zip(&numbered.layers) {
            assert_eq!((&a.weight, &a.bias), (&b.weight, &b.bias));
        }
        assert_eq!(named.batch_norms[0].name, "bn1");
        // By name alone, bn1 sorts before fc1: refused, not folded into the inputs.
        let err = Mlp::from_tensors_with(&m, &[], fold()).unwrap_err();
        assert!(
            matches!(&err, CompileError::BatchNormOrder { batch_norm, .. } if batch_norm == "bn1"),
            "{err}"
        );
        assert!(err.to_string().contains("--layers fc1,bn1,fc2"), "{err}");
        // With --layers, a BatchNorm left out has no place.
        let err = Mlp::from_tensors_with(&m, &["fc1".into(), "fc2".into()], fold()).unwrap_err();
        assert!(
            matches!(&err, CompileError::BatchNormUnplaced { batch_norm, .. } if batch_norm == "bn1"),
            "{err}"
        );
        // affine=False.
        m.remove("bn1.weight");
        m.remove("bn1.bias");
        let plain = Mlp::from_tensors_with(&m, &order, fold()).unwrap();
        let (mean, var) = (&m["bn1.running_mean"].values, &m["bn1.running_var"].values);
        for x in inputs(3, 6) {
            let y = apply_linear(&m, "fc1", &x);
            let h: Vec<f64> = (0..y.len())
                .map(|c| (y[c] - f64::from(mean[c])) / (f64::from(var[c]) + DEFAULT_EPS).sqrt())
                .collect();
            assert_close(&plain.forward(&x), &apply_linear(&m, "fc2", &relu(h)));
        }
        // A weight without its bias is not affine=False.
        m.insert("bn1.weight".into(), t(&[5], 1.0));
        assert!(matches!(
            Mlp::from_tensors_with(&m, &order, fold()),
            Err(CompileError::MissingTensor { name, .. }) if name == "bn1.bias"
        ));
    }

    /// Every BatchNorm that cannot be folded is an error naming it.
    #[test]
    fn batch_norms_that_cannot_be_folded_are_refused() {
        let read = |m: &BTreeMap<String, Tensor>| {
            let err = Mlp::from_tensors_with(m, &[], fold()).unwrap_err();
            // The same message every time.
            assert_eq!(
                err.to_string(),
                Mlp::from_tensors_with(m, &[], fold())
                    .unwrap_err()
                    .to_string()
            );
            err
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        // Wider than the layer it folds into: both named.
        let mut m = sequential(0);
        m.extend(batch_norm(&mut rng, "1", 4));
        let err = read(&m);
        assert!(
            matches!(
                &err,
                CompileError::BatchNormWidth { batch_norm, channels: 4, layer, width: 5, side: "outputs" }
                    if batch_norm == "1" && layer == "0"
            ),
            "{err}"
        );
        // Before the first layer, against its inputs.
        let mut m: BTreeMap<String, Tensor> = sequential(0);
        m.extend(batch_norm(&mut rng, "00", 4));
        let err = Mlp::from_tensors_with(
            &m,
            &["00".into(), "0".into(), "1".into(), "3".into()],
            fold(),
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                CompileError::BatchNormWidth {
                    side: "inputs",
                    width: 6,
                    ..
                }
            ),
            "{err}"
        );
        // A running variance missing.
        let mut m = sequential(0);
        m.remove("1.running_var");
        let err = read(&m);
        assert!(
            matches!(&err, CompileError::MissingTensor { name, .. } if name == "1.running_var"),
            "{err}"
        );
        // nn.Sequential(Linear, ReLU, BatchNorm1d, Linear): module 1, the
        // ReLU, has no tensors, and the BatchNorm does not follow its layer.
        let mut m = sequential(0);
        for suffix in BATCH_NORM_TENSORS {
            let t = m.remove(&format!("1{suffix}")).unwrap();
            m.insert(format!("2{suffix}"), t);
        }
        let err = read(&m);
        assert!(
            matches!(&err, CompileError::BatchNormNotAfterLinear { batch_norm, layer } if batch_norm == "2" && layer == "0"),
            "{err}"
        );
        assert!(
            err.to_string().contains("export the model to ONNX"),
            "{err}"
        );
        // Two in a row.
        let mut m = sequential(0);
        m.extend(batch_norm(&mut rng, "2", 5));
        let err = read(&m);
        assert!(
            matches!(&err, CompileError::BatchNormSequence { first, second } if first == "1" && second == "2"),
            "{err}"
        );
        // Variances no BatchNorm has.
        for (value, shown) in [(-0.5, "-0.5"), (f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
            let mut m = sequential(0);
            m.get_mut("1.running_var").unwrap().values[2] = value;
            let err = read(&m);
            assert!(
                matches!(&err, CompileError::BatchNormVariance { name, index: 2, .. } if name == "1.running_var"),
                "{err}"
            );
            assert!(
                err.to_string().contains(&format!("has {shown} at index 2")),
                "{err}"
            );
        }
        // A non-finite mean, and a shape that is not the channels'.
        let mut m = sequential(0);
        m.get_mut("1.running_mean").unwrap().values[1] = f32::NAN;
        assert!(matches!(
            read(&m),
            CompileError::NonFinite { name, index: 1, .. } if name == "1.running_mean"
        ));
        let mut m = sequential(0);
        m.insert("1.bias".into(), t(&[5, 1], 0.0));
        assert!(matches!(
            read(&m),
            CompileError::BatchNormShape { name, .. } if name == "1.bias"
        ));
        // An eps that is not positive.
        let err = Mlp::from_tensors_with(
            &sequential(0),
            &[],
            Some(Fold {
                eps: 0.0,
                ..Fold::default()
            }),
        )
        .unwrap_err();
        assert!(matches!(err, CompileError::BatchNormEps { .. }), "{err}");
        // A tensor neither used nor known is still an error, BatchNorms folded or not.
        let mut m = sequential(0);
        m.insert("1.momentum".into(), t(&[], 0.1));
        assert!(matches!(
            read(&m),
            CompileError::UnusedTensors { names, .. } if names == ["1.momentum"]
        ));
        // A fold that overflows f32 is named with the BatchNorm.
        let mut m = sequential(0);
        m.get_mut("1.weight").unwrap().values[0] = 3e38;
        m.get_mut("1.running_var").unwrap().values[0] = 0.0;
        let err = read(&m);
        assert!(
            matches!(&err, CompileError::NonFinite { name, .. } if name.contains("BatchNorm 1 folded in")),
            "{err}"
        );
    }

    /// A safetensors file as PyTorch's `save_file(model.state_dict())`
    /// writes it (num_batches_tracked an I64 scalar) is read and folded.
    #[test]
    fn a_pytorch_state_dict_file_is_folded() {
        use safetensors::tensor::TensorView;
        use safetensors::Dtype;
        let m = sequential(11);
        let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = m
            .iter()
            .map(|(name, t)| {
                if name.ends_with("num_batches_tracked") {
                    (
                        name.clone(),
                        Dtype::I64,
                        vec![],
                        100i64.to_le_bytes().to_vec(),
                    )
                } else {
                    let data = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    (name.clone(), Dtype::F32, t.shape.clone(), data)
                }
            })
            .collect();
        let views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(name, dtype, shape, data)| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = views.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "0.bias",
                "0.weight",
                "1.bias",
                "1.num_batches_tracked",
                "1.running_mean",
                "1.running_var",
                "1.weight",
                "3.bias",
                "3.weight"
            ]
        );
        let path =
            std::env::temp_dir().join(format!("lutgen-bn-{}.safetensors", std::process::id()));
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        let err = Mlp::read(&path, &[]).unwrap_err();
        assert!(
            matches!(err, CompileError::BatchNormNotChosen { .. }),
            "{err}"
        );
        let mlp = Mlp::read_with(&path, &[], fold()).unwrap();
        std::fs::remove_file(&path).ok();
        for x in inputs(11, 6) {
            let direct = apply_linear(
                &m,
                "3",
                &relu(apply_batch_norm(&m, "1", &apply_linear(&m, "0", &x))),
            );
            assert_close(&mlp.forward(&x), &direct);
        }
    }
}
