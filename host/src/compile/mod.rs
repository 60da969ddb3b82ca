//! The compiler: from a trained MLP and calibration data to a [`Network`] of table images.
//!
//! Per layer, in order (the details and the integer semantics are in
//! `docs/compiler.md`):
//!
//! 1. The layer's int8 inputs are the ones the compiled layers before it
//!    really produce on the calibration set (the first layer's are the
//!    quantized calibration inputs), so errors do not compound unseen.
//! 2. The input is cut into `C = D / V` sub-vectors; k-means (k-means++
//!    seeding, fixed seed) learns K centroids per codebook on the int8
//!    sub-vectors; centroids are rounded to int8 in the same domain.
//! 3. Tables: `kmeans` takes `T[c][k][n] = dot(dequantized centroid, W_n^c)`;
//!    `refit` solves for the tables that best reproduce the float network's
//!    pre-activation outputs of this layer given the encodings (ridge least
//!    squares, ITLUMM). Tables are quantized to int8 with one scale per layer
//!    (the largest magnitude maps to 127), the bias to the same scale.
//! 4. Between layers: integer requantization to the next layer's int8 input
//!    with ReLU, its scale calibrated on the layer's real outputs.

pub mod dense;
pub mod device;
pub mod encoders;
pub mod kmeans;
pub mod learn;
pub mod mlp;
pub mod soft;

use indicatif::ProgressBar;
use lutgen_core::encoder::nearest_l2;
use lutgen_core::network::{
    InputQuantization, Layer, Network, NetworkError, Requantize, RequantizeError,
};
use lutgen_core::{ConfigError, EncoderKind, EngineConfig, Image, ImageError, Reference};
pub use mlp::Mlp;
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
    #[error("bias {name} must have shape [{expected}] to match its weight, got {shape:?}")]
    BiasShape {
        name: String,
        expected: usize,
        shape: Vec<usize>,
    },
    #[error(
        "layer {layer} takes {inputs} inputs but the layer before it ({previous}) has {outputs} outputs"
    )]
    LayerShape {
        previous: String,
        outputs: usize,
        layer: String,
        inputs: usize,
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
}

fn list(names: &[String]) -> String {
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

/// How tables are computed from the centroids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Tables are the dot products of the k-means centroids with the weights.
    Kmeans,
    /// Tables are refit by ridge least squares to the float layer's outputs.
    Refit,
    /// Centroids, tables and biases learned end to end (LUT-NN), starting from `refit`.
    Learned,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Kmeans => "kmeans",
            Method::Refit => "refit",
            Method::Learned => "learned",
        }
    }
}

/// Everything a compile depends on.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Centroids per codebook K.
    pub centroids: usize,
    /// Sub-vector length V (codebooks C = D / V for each layer).
    pub sub_vector_len: usize,
    pub method: Method,
    /// Seed of k-means++ seeding.
    pub seed: u64,
    /// Most Lloyd iterations of k-means.
    pub iterations: usize,
    /// Ridge term of the refit, relative to the average count of one centroid (n / K).
    pub ridge: f64,
    /// Engine lanes of every layer (capped at the layer's outputs).
    pub lanes: usize,
    /// The encoder of every layer (one entry), or of each layer in order.
    /// `tree` layers have K = 16 and `sign` layers K = 2^V, whatever `centroids` says.
    pub encoders: Vec<EncoderKind>,
    /// Training of `Method::Learned` (ignored by the other methods).
    pub learn: learn::LearnOptions,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            centroids: 16,
            sub_vector_len: 4,
            method: Method::Refit,
            seed: 0,
            iterations: 50,
            ridge: 1.0,
            lanes: 1,
            encoders: vec![EncoderKind::L2],
            learn: learn::LearnOptions::default(),
        }
    }
}

impl CompileOptions {
    /// The encoder of each of `layers` layers.
    pub fn layer_encoders(&self, layers: usize) -> Result<Vec<EncoderKind>, CompileError> {
        match self.encoders.as_slice() {
            [one] => Ok(vec![*one; layers]),
            many if many.len() == layers => Ok(many.to_vec()),
            many => Err(CompileError::EncoderCount {
                given: many.len(),
                layers,
            }),
        }
    }
}

/// Input quantization from the calibration range: asymmetric, 0 always representable.
pub fn input_quantization(calibration: &[Vec<f32>]) -> InputQuantization {
    let (mut lo, mut hi) = (0f64, 0f64);
    for &v in calibration.iter().flatten() {
        lo = lo.min(f64::from(v));
        hi = hi.max(f64::from(v));
    }
    let scale = ((hi - lo) / 255.0).max(1e-12);
    let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i8;
    InputQuantization {
        scale: scale as f32,
        zero_point,
    }
}

/// Requantization after a ReLU layer whose real outputs reach `max` on the calibration set.
///
/// The next layer's input covers `[0, max]` with zero point -128, so all 256 codes are used.
pub fn relu_requantize(
    accumulator_scale: f64,
    max: f64,
    layer: usize,
) -> Result<(Requantize, f64), CompileError> {
    let out_scale = max.max(1e-9) / 255.0;
    let r = Requantize::from_scale(accumulator_scale / out_scale, -128, true, 8)
        .map_err(|source| CompileError::Requantize { layer, source })?;
    Ok((r, out_scale))
}

/// Checks the calibration rows against the network's input width.
pub fn check_calibration(mlp: &Mlp, calibration: &[Vec<f32>]) -> Result<(), CompileError> {
    if calibration.is_empty() {
        return Err(CompileError::CalibrationEmpty);
    }
    if let Some(row) = calibration.iter().find(|r| r.len() != mlp.input_dim()) {
        return Err(CompileError::CalibrationWidth {
            what: "calibration",
            expected: mlp.input_dim(),
            got: row.len(),
        });
    }
    if let Some((index, value)) = calibration
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(CompileError::NonFinite {
            name: "calibration data".into(),
            index,
            value: *value,
        });
    }
    Ok(())
}

/// Compiles `mlp` into a network of table images, calibrated on `calibration`.
pub fn compile(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    options: &CompileOptions,
    progress: &ProgressBar,
) -> Result<Network, CompileError> {
    if options.method == Method::Learned {
        let encoders = options.layer_encoders(mlp.layers.len())?;
        if let Some(layer) = encoders.iter().position(|&e| e != EncoderKind::L2) {
            return Err(CompileError::LearnedEncoder {
                layer,
                encoder: encoders[layer],
            });
        }
        let labels = options
            .learn
            .labels
            .as_deref()
            .ok_or(CompileError::LearnedNeedsLabels)?;
        return learn::learn(mlp, calibration, labels, options, progress).map(|(n, _)| n);
    }
    compile_with(mlp, calibration, options, None, progress)
}

/// Centroids, tables and bias of one layer chosen elsewhere (the learned method), in real units.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerParams {
    /// `[c][k][v]`, in the units of the layer's real (dequantized) input.
    pub centroids: Vec<f64>,
    /// `[c][k][n]`, in the units of the layer's real output.
    pub tables: Vec<f64>,
    pub bias: Vec<f64>,
}

/// The compile pipeline; with `given`, each layer's centroids, tables and bias
/// come from it instead of k-means and the refit, and go through exactly the
/// same int8 rounding, table and bias quantization, and requantization
/// calibration as the other methods.
pub fn compile_with(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    options: &CompileOptions,
    given: Option<&[LayerParams]>,
    progress: &ProgressBar,
) -> Result<Network, CompileError> {
    check_calibration(mlp, calibration)?;
    let v = options.sub_vector_len;
    let layer_encoders = options.layer_encoders(mlp.layers.len())?;
    if given.is_some() {
        if let Some(layer) = layer_encoders.iter().position(|&e| e != EncoderKind::L2) {
            return Err(CompileError::LearnedEncoder {
                layer,
                encoder: layer_encoders[layer],
            });
        }
    }
    for (layer, dense) in mlp.layers.iter().enumerate() {
        if v == 0 || !dense.inputs.is_multiple_of(v) {
            return Err(CompileError::Split {
                layer,
                inputs: dense.inputs,
                sub_vector_len: v,
            });
        }
    }
    let n = calibration.len();
    let input = input_quantization(calibration);
    // The float network's pre-activations: the refit's targets.
    let float_x: Vec<Vec<f64>> = calibration
        .iter()
        .map(|r| r.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let targets: Vec<Vec<Vec<f64>>> = if options.method == Method::Refit && given.is_none() {
        float_x.iter().map(|x| mlp.pre_activations(x)).collect()
    } else {
        Vec::new()
    };
    let codebooks_total: usize = mlp.layers.iter().map(|l| l.inputs / v).sum();
    progress.set_length(codebooks_total as u64);
    progress.set_position(0);

    let mut q: Vec<Vec<i8>> = calibration.iter().map(|x| input.quantize(x)).collect();
    let (mut in_scale, mut in_zero) = (f64::from(input.scale), input.zero_point);
    let mut layers = Vec::with_capacity(mlp.layers.len());
    for (l, dense) in mlp.layers.iter().enumerate() {
        let (d, outputs) = (dense.inputs, dense.outputs);
        let c = d / v;
        let encoder = layer_encoders[l];
        let k = encoders::centroids_for(encoder, options.centroids, v);
        let config = EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: k,
            outputs,
            lanes: options.lanes.clamp(1, outputs),
            encoder,
            activation_bits: 8,
            centroid_bits: 8,
            table_bits: 8,
            bias_bits: 16,
        };
        config
            .validate()
            .map_err(|source| CompileError::Config { layer: l, source })?;
        if let Some(given) = given {
            let p = &given[l];
            assert_eq!(p.centroids.len(), c * k * v, "layer {l}: centroid count");
            assert_eq!(p.tables.len(), c * k * outputs, "layer {l}: table size");
            assert_eq!(p.bias.len(), outputs, "layer {l}: bias size");
        }
        progress.set_message(format!(
            "layer {l}: learning the {encoder} encoder, {c} codebooks of {k} rows"
        ));

        // The encoder: centroids and parameters learned on this layer's real
        // int8 inputs, and the encodings exactly as the engine computes them.
        let learned = encoders::learn_encoder(
            &config,
            &q,
            options.iterations,
            |cb| options.seed ^ ((l as u64) << 32 | cb as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            in_zero,
        )
        .map_err(|source| CompileError::Image { layer: l, source })?;
        let mut centroids = learned.centroids;
        let mut prototypes = learned.prototypes;
        let params = learned.params;
        let mut codes = learned.codes;
        if let Some(given) = given {
            // Given centroids (l2 only): quantized with this layer's input quantization.
            for (dst, &x) in centroids.iter_mut().zip(&given[l].centroids) {
                *dst = (x / in_scale + f64::from(in_zero))
                    .round()
                    .clamp(-128.0, 127.0) as i8;
            }
            prototypes = centroids.iter().map(|&x| f64::from(x)).collect();
            codes = q
                .iter()
                .map(|row| {
                    (0..c)
                        .map(|cb| {
                            let cents = (0..k)
                                .map(|kk| &centroids[(cb * k + kk) * v..(cb * k + kk + 1) * v]);
                            nearest_l2(cents, &row[cb * v..(cb + 1) * v]).index
                        })
                        .collect()
                })
                .collect();
        }
        progress.inc(c as u64);

        // Float tables [c][k][n]: the centroids' dot products with the weights.
        let mut tables = vec![0.0; c * k * outputs];
        for cb in 0..c {
            for kk in 0..k {
                let p = &prototypes[(cb * k + kk) * v..(cb * k + kk + 1) * v];
                for o in 0..outputs {
                    let w = &dense.row(o)[cb * v..(cb + 1) * v];
                    tables[(cb * k + kk) * outputs + o] = p
                        .iter()
                        .zip(w)
                        .map(|(&x, &w)| (x - f64::from(in_zero)) * in_scale * f64::from(w))
                        .sum();
                }
            }
        }
        let mut bias: Vec<f64> = dense.bias.iter().map(|&b| f64::from(b)).collect();
        if let Some(given) = given {
            tables.clone_from(&given[l].tables);
            bias.clone_from(&given[l].bias);
        } else if options.method == Method::Refit {
            progress.set_message(format!("layer {l}: refitting {} table rows", c * k));
            let y: Vec<Vec<f64>> = targets
                .iter()
                .map(|t| {
                    t[l].iter()
                        .zip(&dense.bias)
                        .map(|(&y, &b)| y - f64::from(b))
                        .collect()
                })
                .collect();
            tables = refit(
                &codes,
                &y,
                &tables,
                c,
                k,
                options.ridge * n as f64 / k as f64,
            )
            .ok_or(CompileError::Solve { layer: l })?;
        }

        // int8 tables and bias at the same scale.
        let tmax = tables.iter().fold(0f64, |m, &t| m.max(t.abs()));
        let acc_scale = if tmax > 0.0 { tmax / 127.0 } else { 1.0 };
        let tables_q: Vec<i8> = tables
            .iter()
            .map(|&t| (t / acc_scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let bias_q: Vec<i64> = bias
            .iter()
            .map(|&b| (b / acc_scale).round() as i64)
            .collect();
        let needed = bias_q
            .iter()
            .map(|&b| 65 - if b < 0 { !b } else { b }.leading_zeros())
            .max()
            .unwrap_or(2);
        let config = EngineConfig {
            bias_bits: needed.max(16),
            ..config
        };
        if needed > 32 || config.validate().is_err() {
            return Err(CompileError::BiasRange {
                layer: l,
                bits: needed,
            });
        }
        let image = Image::with_params(
            config,
            centroids,
            tables_q,
            bias_q.iter().map(|&b| b as i32).collect(),
            params,
        )
        .map_err(|source| CompileError::Image { layer: l, source })?;

        let requantize = if l + 1 < mlp.layers.len() {
            let reference = Reference::new(&image);
            let accs: Vec<Vec<i32>> = q
                .iter()
                .map(|row| {
                    reference
                        .outputs(row)
                        .expect("calibration rows are int8 of width D")
                })
                .collect();
            let max = accs
                .iter()
                .flatten()
                .fold(0f64, |m, &a| m.max(f64::from(a) * acc_scale));
            let (r, out_scale) = relu_requantize(acc_scale, max, l)?;
            q = accs
                .iter()
                .map(|acc| acc.iter().map(|&a| r.apply(a)).collect())
                .collect();
            in_scale = out_scale;
            in_zero = r.zero_point;
            Some(r)
        } else {
            None
        };
        layers.push(Layer {
            image,
            accumulator_scale: acc_scale as f32,
            requantize,
        });
    }
    Ok(Network::new(input, layers)?)
}

/// Ridge least squares for the tables given the encodings (ITLUMM's table refit).
///
/// Minimizes `sum_i || sum_c T[c][codes[i][c]] - y_i ||^2 + lambda * ||T - T0||^2`
/// through the normal equations `(A^T A + lambda I) T = A^T Y + lambda T0`,
/// with `A` the one-hot encoding matrix (n x C*K), solved by Cholesky
/// (nalgebra). The ridge pulls toward the prior tables `T0` (the k-means
/// tables), not toward zero, so it regularizes rarely used rows without
/// shrinking the outputs.
pub fn refit(
    codes: &[Vec<usize>],
    y: &[Vec<f64>],
    prior: &[f64],
    c: usize,
    k: usize,
    lambda: f64,
) -> Option<Vec<f64>> {
    refit_weighted(codes, None, y, prior, c, k, lambda)
}

/// [`refit`] where input `i`'s row of codebook `c` counts `weights[i][c]`
/// instead of 1 (`A` holds the weights instead of ones): the tables of a
/// layer whose output is `sum_c weights[i][c] * T[c][codes[i][c]]`.
pub fn refit_weighted(
    codes: &[Vec<usize>],
    weights: Option<&[Vec<f64>]>,
    y: &[Vec<f64>],
    prior: &[f64],
    c: usize,
    k: usize,
    lambda: f64,
) -> Option<Vec<f64>> {
    let m = c * k;
    let outputs = y.first().map_or(0, Vec::len);
    let mut gram = nalgebra::DMatrix::<f64>::zeros(m, m);
    let mut rhs = nalgebra::DMatrix::<f64>::zeros(m, outputs);
    for (i, (row, target)) in codes.iter().zip(y).enumerate() {
        let cols: Vec<(usize, f64)> = row
            .iter()
            .enumerate()
            .map(|(cb, &kk)| (cb * k + kk, weights.map_or(1.0, |w| w[i][cb])))
            .collect();
        for &(a, wa) in &cols {
            for &(b, wb) in &cols {
                gram[(a, b)] += wa * wb;
            }
            for (o, &t) in target.iter().enumerate() {
                rhs[(a, o)] += wa * t;
            }
        }
    }
    let lambda = lambda.max(1e-9);
    for i in 0..m {
        gram[(i, i)] += lambda;
        for o in 0..outputs {
            rhs[(i, o)] += lambda * prior[i * outputs + o];
        }
    }
    let solution = gram.cholesky()?.solve(&rhs);
    // [c][k][n] row-major: row a of the solution is table row (c, k).
    let mut tables = vec![0.0; m * outputs];
    for a in 0..m {
        for o in 0..outputs {
            tables[a * outputs + o] = solution[(a, o)];
        }
    }
    Some(tables)
}

/// Fraction of rows whose argmax (lowest index on a tie) is the label.
pub fn accuracy<T: PartialOrd + Copy>(outputs: &[Vec<T>], labels: &[usize]) -> f64 {
    let correct = outputs
        .iter()
        .zip(labels)
        .filter(|(o, &label)| {
            let mut best = 0;
            for (i, &x) in o.iter().enumerate() {
                if x > o[best] {
                    best = i;
                }
            }
            best == label
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refit_recovers_an_exact_table() {
        // Two codebooks of two centroids; y = T0[k0] + T1[k1] exactly.
        let truth = [[1.0, -2.0], [3.0, 0.5]];
        let mut codes = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let (a, b) = (i % 2, (i / 2) % 2);
            codes.push(vec![a, b]);
            y.push(vec![truth[0][a] + truth[1][b]]);
        }
        let t = refit(&codes, &y, &[0.0; 4], 2, 2, 1e-9).unwrap();
        for (i, row) in codes
            .iter()
            .zip(&y)
            .map(|(r, y)| (r, y[0]))
            .enumerate()
            .take(4)
        {
            let (r, want) = row;
            let got = t[r[0]] + t[2 + r[1]];
            assert!((got - want).abs() < 1e-6, "{i}: {got} vs {want}");
        }
    }

    #[test]
    fn accuracy_uses_the_lowest_index_on_ties() {
        assert_eq!(accuracy(&[vec![1, 3, 3], vec![5, 0, 0]], &[1, 0]), 1.0);
        assert_eq!(accuracy(&[vec![1, 3, 3]], &[2]), 0.0);
    }

    #[test]
    fn input_quantization_covers_the_range() {
        let q = input_quantization(&[vec![0.0, 16.0], vec![8.0, 4.0]]);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.quantize(&[0.0, 16.0]), vec![-128, 127]);
    }
}
