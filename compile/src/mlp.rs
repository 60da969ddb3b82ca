//! The compiler's model: a chain of dense layers with an activation between
//! each two ([`Mlp`]), its float forward pass, and the safetensors / .npz
//! frontend (the ONNX one is `crate::onnx`).
//!
//! Layers follow PyTorch's `nn.Linear` convention: `<prefix>.weight` has shape
//! `(outputs, inputs)` and `<prefix>.bias` shape `(outputs)`. A weights file
//! carries no graph, so the activation between layers is the caller's
//! choice ([`Mlp::with_activation`]; ReLU unless told otherwise).

use crate::batch_norm::FoldedBatchNorm;
use crate::error::CompileError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One fully connected layer: `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// The tensor-name prefix (`fc1` for `fc1.weight`).
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// Row-major `(outputs, inputs)`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    /// Row `n` of the weight matrix.
    pub fn row(&self, n: usize) -> &[f32] {
        &self.weight[n * self.inputs..(n + 1) * self.inputs]
    }

    /// `W x + b` in f64.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        (0..self.outputs)
            .map(|n| {
                let dot: f64 = self
                    .row(n)
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(w) * v)
                    .sum();
                dot + f64::from(self.bias[n])
            })
            .collect()
    }
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
}

/// A tensor as read: shape and values widened to f32.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Mlp {
    /// Builds an MLP from named tensors, checking every shape and value.
    ///
    /// `layers` names the tensor prefixes in order; when empty, every 2-D
    /// `*.weight` tensor is a layer, in natural order of the prefix
    /// (`fc2` before `fc10`, `layers.2` before `layers.10`).
    pub fn from_tensors(
        tensors: &BTreeMap<String, Tensor>,
        layers: &[String],
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
        let prefixes: Vec<String> = if layers.is_empty() {
            let mut found: Vec<String> = tensors
                .iter()
                .filter(|(name, t)| name.ends_with(".weight") && t.shape.len() == 2)
                .map(|(name, _)| name.trim_end_matches(".weight").to_string())
                .collect();
            found.sort_by_key(|a| natural_key(a));
            found
        } else {
            layers.to_vec()
        };
        if prefixes.is_empty() {
            return Err(CompileError::NoLayers {
                available: tensors.keys().cloned().collect(),
            });
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
        for prefix in prefixes {
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
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(CompileError::NonFinite {
                        name: name.clone(),
                        index,
                        value: values[index],
                    });
                }
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
            out.push(Dense {
                name: prefix,
                inputs,
                outputs,
                weight: w.values.clone(),
                bias: b.values.clone(),
            });
        }
        let used: std::collections::BTreeSet<String> = out
            .iter()
            .flat_map(|l| [format!("{}.weight", l.name), format!("{}.bias", l.name)])
            .collect();
        let unused: Vec<String> = tensors
            .keys()
            .filter(|name| !used.contains(*name))
            .cloned()
            .collect();
        if !unused.is_empty() {
            let batch_norm = unused.iter().any(|n| {
                n.ends_with(".running_mean")
                    || n.ends_with(".running_var")
                    || n.ends_with(".num_batches_tracked")
            });
            return Err(CompileError::UnusedTensors {
                names: unused,
                hint: if batch_norm {
                    "these are BatchNorm parameters, and a weights file does not say where a \
                     BatchNorm sits: export the model to ONNX (torch.onnx.export), whose graph \
                     does, and lutgen folds it into its layer"
                } else {
                    "lutgen does not ignore weights: name the layers with --layers, or remove \
                     the tensors the model does not use"
                },
            });
        }
        let activations = vec![Activation::Relu; out.len() - 1];
        Ok(Mlp {
            layers: out,
            activations,
            head: Head::Logits,
            batch_norms: Vec::new(),
        })
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
        for layer in &self.layers {
            for (what, values) in [("weight", &layer.weight), ("bias", &layer.bias)] {
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(CompileError::NonFinite {
                        name: format!("{} {what}", layer.name),
                        index,
                        value: values[index],
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads an MLP from a `.safetensors` or `.npz` file.
    pub fn read(path: &Path, layers: &[String]) -> Result<Self, CompileError> {
        let tensors = read_tensors(path)?;
        Mlp::from_tensors(&tensors, layers)
    }

    /// Input dimension of the first layer.
    pub fn input_dim(&self) -> usize {
        self.layers[0].inputs
    }

    /// Every layer's pre-activation output for one input.
    pub fn pre_activations(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = Vec::with_capacity(self.layers.len());
        let mut h = x.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let y = layer.forward(&h);
            if let Some(activation) = self.activations.get(i) {
                h = activation.apply(&y);
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
    pub fn weight_bytes_int8(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len()).sum()
    }
}

/// Said when a shape would fit transposed.
const KERAS_HINT: &str = "; the weights may be stored (inputs, outputs), Keras' layout: \
                          lutgen reads (outputs, inputs), nn.Linear's; transpose them";

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
        let err = Mlp::from_tensors(&m, &[]).unwrap_err();
        assert!(
            matches!(&err, CompileError::UnusedTensors { names, .. } if names.len() == 5),
            "{err}"
        );
        assert!(
            err.to_string().contains("BatchNorm") && err.to_string().contains("ONNX"),
            "{err}"
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
}
