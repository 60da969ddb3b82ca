//! MemoryFormer's soft weighting of sign-hash rows, measured in software.
//!
//! MemoryFormer multiplies the row each chunk retrieves by the probability of
//! its hash code given the chunk, `p = prod_i sigmoid(2 |z_i| / t)` (the
//! softmax over all 2^tau codes of `<code, z> / t`, evaluated at the code the
//! signs pick). In hardware that costs a multiply per chunk plus the
//! probability itself, so lutgen's `sign` encoder retrieves rows unweighted.
//! This module measures what the weighting would buy: the same sign-hash
//! network in float arithmetic, tables fit by ridge least squares with and
//! without the weights, and the test accuracy of both. Float tables on both
//! sides, so the difference is the weighting alone.

use crate::eval::accuracy;
use crate::mlp::Mlp;
use crate::refit::refit_weighted;
use serde::Serialize;

/// Temperatures tried, relative to the layer's mean `|z|`; the one whose
/// calibration residual is lowest is kept (the test split is not looked at).
const TEMPERATURES: [f64; 6] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0];

/// Hard against soft-weighted sign hashing on one model.
#[derive(Clone, Debug, Serialize)]
pub struct SoftSignResult {
    pub sub_vector_len: usize,
    /// Test accuracy, rows retrieved unweighted (what the hardware does), float tables.
    pub accuracy_hard: f64,
    /// Test accuracy, rows weighted by MemoryFormer's probability, float tables.
    pub accuracy_soft: f64,
    /// The temperature chosen per layer, relative to that layer's mean `|z|`.
    pub temperatures: Vec<f64>,
}

impl SoftSignResult {
    /// Two sentences for the report.
    pub fn describe(&self) -> String {
        let temps: Vec<String> = self.temperatures.iter().map(|t| format!("{t}")).collect();
        format!(
            "Sign hashing with tau = V = {} in float arithmetic (tables by ridge least squares, \
             the split point of each layer at the middle of its int8 input range, as in the \
             hardware): unweighted rows (what lutgen's hardware does) {:.2}% against rows \
             weighted by MemoryFormer's probability {:.2}% ({:+.2} points; temperature per layer \
             {} times the mean |z|, chosen on the calibration set). The hardware stays \
             unweighted: the weighting costs a multiplier and a probability unit per chunk.",
            self.sub_vector_len,
            100.0 * self.accuracy_hard,
            100.0 * self.accuracy_soft,
            100.0 * (self.accuracy_soft - self.accuracy_hard),
            temps.join(" and ")
        )
    }
}

/// One fitted layer of the float sign-hash network.
struct SignLayer {
    centre: f64,
    /// `None`: unweighted.
    temperature: Option<f64>,
    tables: Vec<f64>,
    bias: Vec<f64>,
    outputs: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Codes and weights of `x` (chunks of `v`) around `centre`.
fn hash(x: &[f64], v: usize, centre: f64, temperature: Option<f64>) -> (Vec<usize>, Vec<f64>) {
    x.chunks(v)
        .map(|chunk| {
            let code = chunk
                .iter()
                .fold(0, |acc, &xi| (acc << 1) | usize::from(xi < centre));
            let weight = temperature.map_or(1.0, |t| {
                chunk
                    .iter()
                    .map(|&xi| sigmoid(2.0 * (xi - centre).abs() / t))
                    .product()
            });
            (code, weight)
        })
        .unzip()
}

impl SignLayer {
    fn forward(&self, x: &[f64], v: usize) -> Vec<f64> {
        let k = 1 << v;
        let (codes, weights) = hash(x, v, self.centre, self.temperature);
        let mut y = self.bias.clone();
        for (cb, (&code, &w)) in codes.iter().zip(&weights).enumerate() {
            let row = &self.tables[(cb * k + code) * self.outputs..][..self.outputs];
            for (o, &t) in y.iter_mut().zip(row) {
                *o += w * t;
            }
        }
        y
    }
}

/// Fits one layer on inputs `x` to targets `y` (pre-activations, bias
/// included); `None` temperature: unweighted. Returns the layer and its
/// calibration residual.
fn fit(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    bias: &[f64],
    v: usize,
    centre: f64,
    temperature: Option<f64>,
) -> Option<(SignLayer, f64)> {
    let (c, k, outputs) = (x[0].len() / v, 1 << v, bias.len());
    let (codes, weights): (Vec<Vec<usize>>, Vec<Vec<f64>>) =
        x.iter().map(|r| hash(r, v, centre, temperature)).unzip();
    let targets: Vec<Vec<f64>> = y
        .iter()
        .map(|t| t.iter().zip(bias).map(|(&a, &b)| a - b).collect())
        .collect();
    let lambda = x.len() as f64 / k as f64;
    let tables = refit_weighted(
        &codes,
        Some(&weights),
        &targets,
        &vec![0.0; c * k * outputs],
        c,
        k,
        lambda,
    )?;
    let layer = SignLayer {
        centre,
        temperature,
        tables,
        bias: bias.to_vec(),
        outputs,
    };
    let residual = x
        .iter()
        .zip(y)
        .map(|(r, t)| {
            let out = layer.forward(r, v);
            out.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
        })
        .sum();
    Some((layer, residual))
}

/// Runs `inputs` through the fitted layers (ReLU between layers).
fn infer(layers: &[SignLayer], inputs: &[Vec<f64>], v: usize) -> Vec<Vec<f64>> {
    inputs
        .iter()
        .map(|x| {
            let mut h = x.clone();
            for (i, layer) in layers.iter().enumerate() {
                h = layer.forward(&h, v);
                if i + 1 < layers.len() {
                    h.iter_mut().for_each(|a| *a = a.max(0.0));
                }
            }
            h
        })
        .collect()
}

/// Test accuracy of the float sign-hash network with `soft` weighting or without,
/// each layer fit on the outputs of the fitted layers before it.
fn network_accuracy(
    mlp: &Mlp,
    calibration: &[Vec<f64>],
    test: &[Vec<f64>],
    labels: &[usize],
    v: usize,
    soft: bool,
) -> (f64, Vec<f64>) {
    let targets: Vec<Vec<Vec<f64>>> = calibration.iter().map(|x| mlp.pre_activations(x)).collect();
    let mut x = calibration.to_vec();
    let mut layers = Vec::new();
    let mut temperatures = Vec::new();
    for (l, dense) in mlp.layers.iter().enumerate() {
        let y: Vec<Vec<f64>> = targets.iter().map(|t| t[l].clone()).collect();
        let bias: Vec<f64> = dense.bias.iter().map(|&b| f64::from(b)).collect();
        let (lo, hi) = x
            .iter()
            .flatten()
            .fold((0f64, 0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
        let centre = (lo + hi) / 2.0;
        let spread = x.iter().flatten().map(|&a| (a - centre).abs()).sum::<f64>()
            / (x.len() * dense.inputs).max(1) as f64;
        let candidates: Vec<Option<f64>> = if soft {
            TEMPERATURES.iter().map(|&t| Some(t)).collect()
        } else {
            vec![None]
        };
        let (layer, _, relative) = candidates
            .into_iter()
            .filter_map(|t| {
                fit(&x, &y, &bias, v, centre, t.map(|t| t * spread.max(1e-12)))
                    .map(|(layer, r)| (layer, r, t.unwrap_or(0.0)))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("the ridge makes every fit solvable");
        if soft {
            temperatures.push(relative);
        }
        x = infer(std::slice::from_ref(&layer), &x, v)
            .into_iter()
            .map(|h| {
                if l + 1 < mlp.layers.len() {
                    h.into_iter().map(|a| a.max(0.0)).collect()
                } else {
                    h
                }
            })
            .collect();
        layers.push(layer);
    }
    (accuracy(&infer(&layers, test, v), labels), temperatures)
}

/// Hard against soft-weighted sign hashing on `mlp`, fit on `calibration`, scored on `test`.
pub fn soft_sign_accuracy(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    test: &[Vec<f32>],
    labels: &[usize],
    sub_vector_len: usize,
) -> SoftSignResult {
    let widen = |rows: &[Vec<f32>]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| r.iter().map(|&x| f64::from(x)).collect())
            .collect()
    };
    let (cal, test) = (widen(calibration), widen(test));
    let (accuracy_hard, _) = network_accuracy(mlp, &cal, &test, labels, sub_vector_len, false);
    let (accuracy_soft, temperatures) =
        network_accuracy(mlp, &cal, &test, labels, sub_vector_len, true);
    SoftSignResult {
        sub_vector_len,
        accuracy_hard,
        accuracy_soft,
        temperatures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_hardware_bit_order() {
        // Element 0 is the most significant bit; below the centre is 1.
        let (codes, weights) = hash(&[-1.0, 2.0, -3.0, 4.0], 4, 0.0, None);
        assert_eq!(codes, vec![0b1010]);
        assert_eq!(weights, vec![1.0]);
    }

    #[test]
    fn weights_are_the_probability_of_the_chosen_code() {
        let (_, w) = hash(&[1.0, -1.0], 2, 0.0, Some(1.0));
        let p = sigmoid(2.0);
        assert!((w[0] - p * p).abs() < 1e-12);
        // Far from the split the weight tends to 1, at the split it is 1/2 per element.
        let (_, far) = hash(&[100.0], 1, 0.0, Some(1.0));
        let (_, near) = hash(&[0.0], 1, 0.0, Some(1.0));
        assert!(far[0] > 0.999 && (near[0] - 0.5).abs() < 1e-12);
    }
}
