//! BatchNorm folding, shared by both frontends: a BatchNorm in inference mode
//! is a per-channel affine map, folded into the dense layer beside it.
//!
//! - `s = gamma / sqrt(var + eps)`, `t = beta - mean * s`, so
//!   `BN(y) = s * y + t`;
//! - after a layer (Linear -> BatchNorm): `W' = diag(s) W`, `b' = s b + t`
//!   (`w'[o][i] = w[o][i] s[o]`, `b'[o] = (b[o] - mean[o]) s[o] + beta[o]`);
//! - before a layer (BatchNorm -> Linear): `W' = W diag(s)`, `b' = b + W t`
//!   (`w'[o][i] = w[o][i] s[i]`, `b'[o] = b[o] + sum_i w[o][i] t[i]`).
//!
//! The arithmetic is in f64, rounded to f32 once per weight and bias.

use crate::linear::Dense;

/// PyTorch's default `eps` of `nn.BatchNorm1d` (and ONNX's of `BatchNormalization`).
pub const DEFAULT_EPS: f64 = 1e-5;

/// Where the BatchNorms of a weights file sit, which the file does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Linear -> BatchNorm -> activation: each BatchNorm is folded into the
    /// linear layer before it (one before the first layer, into its inputs).
    AfterLinear,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::AfterLinear => "after-linear",
        }
    }
}

/// The choice to fold a weights file's BatchNorms, and their `eps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fold {
    pub placement: Placement,
    /// Added to the running variance (PyTorch's `eps`; default [`DEFAULT_EPS`]).
    pub eps: f64,
}

impl Default for Fold {
    fn default() -> Self {
        Fold {
            placement: Placement::AfterLinear,
            eps: DEFAULT_EPS,
        }
    }
}

/// Which side of a layer a BatchNorm was folded into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FoldedInto {
    /// The layer's weight rows and bias: the BatchNorm follows the layer.
    Outputs,
    /// The layer's input columns and bias: the BatchNorm precedes the layer.
    Inputs,
}

/// A BatchNorm folded into a layer, as the summary reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FoldedBatchNorm {
    /// The BatchNorm: its tensor prefix in a weights file, its node in an ONNX graph.
    pub name: String,
    /// The index of the layer it was folded into.
    pub layer: usize,
    /// That layer's name.
    pub layer_name: String,
    pub into: FoldedInto,
}

impl FoldedBatchNorm {
    /// One line for the text summary.
    pub fn describe(&self) -> String {
        let side = match self.into {
            FoldedInto::Outputs => "weight rows and bias (it follows the layer)",
            FoldedInto::Inputs => "input columns and bias (it precedes the layer)",
        };
        format!(
            "batch norm {} folded into layer {} ({})'s {side}",
            self.name, self.layer, self.layer_name
        )
    }
}

/// A running variance no BatchNorm can have: not finite, negative, or zero
/// with `eps` zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadVariance {
    pub index: usize,
    pub value: f32,
}

/// A per-channel affine map `y[c] = scale[c] x[c] + shift[c]`: a BatchNorm
/// in inference mode.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelAffine {
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
}

impl ChannelAffine {
    /// The BatchNorm `gamma (x - mean) / sqrt(var + eps) + beta`, its four
    /// parameters of one length (the callers check it). Refuses the first
    /// variance that is not finite and non-negative (or whose `var + eps`
    /// is not positive).
    pub fn batch_norm(
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
        eps: f64,
    ) -> Result<Self, BadVariance> {
        let n = gamma.len();
        assert!(
            beta.len() == n && mean.len() == n && var.len() == n,
            "BatchNorm parameters of different lengths"
        );
        if let Some(index) = var
            .iter()
            .position(|&v| !v.is_finite() || v < 0.0 || f64::from(v) + eps <= 0.0)
        {
            return Err(BadVariance {
                index,
                value: var[index],
            });
        }
        let scale: Vec<f64> = (0..n)
            .map(|c| f64::from(gamma[c]) / (f64::from(var[c]) + eps).sqrt())
            .collect();
        let shift = (0..n)
            .map(|c| f64::from(beta[c]) - f64::from(mean[c]) * scale[c])
            .collect();
        Ok(ChannelAffine { scale, shift })
    }

    pub fn channels(&self) -> usize {
        self.scale.len()
    }

    /// The map on one vector.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.scale.iter().zip(&self.shift))
            .map(|(&v, (&s, &t))| s * v + t)
            .collect()
    }
}

/// `affine(W x + b) = (diag(s) W) x + (s b + t)`: the map folded into the
/// layer it follows. The caller checks `affine.channels() == dense.outputs`.
pub fn fold_into_outputs(dense: &mut Dense, affine: &ChannelAffine) {
    assert_eq!(affine.channels(), dense.outputs, "checked by the caller");
    let inputs = dense.inputs;
    for (o, (&s, &t)) in affine.scale.iter().zip(&affine.shift).enumerate() {
        for w in &mut dense.weight[o * inputs..(o + 1) * inputs] {
            *w = (f64::from(*w) * s) as f32;
        }
        dense.bias[o] = (f64::from(dense.bias[o]) * s + t) as f32;
    }
}

/// `W (s x + t) + b = (W diag(s)) x + (b + W t)`: the map folded into the
/// layer it precedes. The caller checks `affine.channels() == dense.inputs`.
pub fn fold_into_inputs(dense: &mut Dense, affine: &ChannelAffine) {
    assert_eq!(affine.channels(), dense.inputs, "checked by the caller");
    let inputs = dense.inputs;
    for o in 0..dense.outputs {
        let row = &mut dense.weight[o * inputs..(o + 1) * inputs];
        let mut extra = 0f64;
        for (w, (&s, &t)) in row.iter_mut().zip(affine.scale.iter().zip(&affine.shift)) {
            extra += f64::from(*w) * t;
            *w = (f64::from(*w) * s) as f32;
        }
        dense.bias[o] = (f64::from(dense.bias[o]) + extra) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_dense(rng: &mut impl Rng, outputs: usize, inputs: usize) -> Dense {
        Dense {
            name: "fc".into(),
            inputs,
            outputs,
            weight: (0..outputs * inputs)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect(),
            bias: (0..outputs).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        }
    }

    /// gamma, beta, mean, var of `n` channels; variances from 1e-3 to 10.
    fn random_bn(rng: &mut impl Rng, n: usize) -> [Vec<f32>; 4] {
        [
            (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect(),
            (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect(),
            (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect(),
            (0..n)
                .map(|_| 10f32.powf(rng.gen_range(-3.0..1.0)))
                .collect(),
        ]
    }

    /// `gamma (y - mean) / sqrt(var + eps) + beta`, written out as PyTorch does.
    fn batch_norm_direct(y: &[f64], [g, b, m, v]: &[Vec<f32>; 4], eps: f64) -> Vec<f64> {
        (0..y.len())
            .map(|c| {
                f64::from(g[c]) * (y[c] - f64::from(m[c])) / (f64::from(v[c]) + eps).sqrt()
                    + f64::from(b[c])
            })
            .collect()
    }

    fn assert_close(a: &[f64], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            let tolerance = 1e-5 * x.abs().max(y.abs()).max(1.0);
            assert!((x - y).abs() <= tolerance, "{what}: {x} vs {y}");
        }
    }

    /// A layer with a BatchNorm folded after it computes Linear then
    /// BatchNorm, on random layers, statistics and inputs.
    #[test]
    fn folded_outputs_equal_linear_then_batch_norm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            let (outputs, inputs) = (rng.gen_range(1..24), rng.gen_range(1..24));
            let dense = random_dense(&mut rng, outputs, inputs);
            let bn = random_bn(&mut rng, outputs);
            let affine =
                ChannelAffine::batch_norm(&bn[0], &bn[1], &bn[2], &bn[3], DEFAULT_EPS).unwrap();
            let mut folded = dense.clone();
            fold_into_outputs(&mut folded, &affine);
            for _ in 0..10 {
                let x: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-4.0..4.0)).collect();
                let direct = batch_norm_direct(&dense.forward(&x), &bn, DEFAULT_EPS);
                assert_close(&folded.forward(&x), &direct, "after");
                assert_close(&affine.apply(&dense.forward(&x)), &direct, "apply");
            }
        }
    }

    /// A layer with a BatchNorm folded into its inputs computes BatchNorm then Linear.
    #[test]
    fn folded_inputs_equal_batch_norm_then_linear() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for _ in 0..20 {
            let (outputs, inputs) = (rng.gen_range(1..24), rng.gen_range(1..24));
            let dense = random_dense(&mut rng, outputs, inputs);
            let bn = random_bn(&mut rng, inputs);
            let eps = 1e-3;
            let affine = ChannelAffine::batch_norm(&bn[0], &bn[1], &bn[2], &bn[3], eps).unwrap();
            let mut folded = dense.clone();
            fold_into_inputs(&mut folded, &affine);
            for _ in 0..10 {
                let x: Vec<f64> = (0..inputs).map(|_| rng.gen_range(-4.0..4.0)).collect();
                let direct = dense.forward(&batch_norm_direct(&x, &bn, eps));
                assert_close(&folded.forward(&x), &direct, "before");
            }
        }
    }

    #[test]
    fn variances_no_batch_norm_has_are_refused() {
        let one = [1.0f32; 3];
        for (var, index, eps) in [
            ([1.0, -0.5, 1.0], 1, DEFAULT_EPS),
            ([1.0, 1.0, f32::NAN], 2, DEFAULT_EPS),
            ([f32::INFINITY, 1.0, 1.0], 0, DEFAULT_EPS),
            ([1.0, 0.0, 1.0], 1, 0.0),
        ] {
            let err = ChannelAffine::batch_norm(&one, &one, &one, &var, eps).unwrap_err();
            assert_eq!(err.index, index, "{var:?}");
        }
        // A zero variance is fine with a positive eps.
        assert!(ChannelAffine::batch_norm(&one, &one, &one, &[0.0; 3], DEFAULT_EPS).is_ok());
    }
}
