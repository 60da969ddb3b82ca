//! The int8 dense baseline: the same MLP with int8 weights and multiply-accumulate.
//!
//! Same input quantization and the same requantization and activation
//! tables between layers as the lookup-table network, so the two differ only in how a layer is computed:
//! `acc_n = bias_n + sum_d W_q[n][d] * (x_d - zero_point)` with per-layer
//! symmetric weight scales (largest magnitude to 127) and the bias at the
//! accumulator scale `input_scale * weight_scale`.

use crate::error::CompileError;
use crate::layers::check_calibration;
use crate::mlp::Mlp;
use crate::quantize::{between, input_quantization, Between};
use lutgen_core::network::InputQuantization;
use lutgen_core::reference::InputError;
use lutgen_core::spatial::Spatial;

/// One int8 dense layer.
#[derive(Clone, Debug)]
pub struct DenseLayer {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<i8>,
    pub bias: Vec<i32>,
    pub input_zero_point: i8,
    /// Dense, or a convolution (padding with the input zero point) and its pooling.
    pub spatial: Spatial,
    /// Requantization and activation table to the next layer (the same as
    /// the lookup network's); None on the last layer.
    pub next: Option<Between>,
}

impl DenseLayer {
    /// The accumulators for the layer's input: once, or per output pixel's patch.
    fn accumulate(&self, x: &[i8]) -> Vec<i32> {
        self.spatial
            .accumulate(x, |v| Ok::<_, InputError>(self.dot(v)))
            .expect("inputs of the layer's width")
    }

    /// The next layer's input for this layer's accumulators: the step, then the pooling.
    fn next(&self, step: &Between, acc: &[i32]) -> Vec<i8> {
        let activated = acc.iter().map(|&a| step.apply(a)).collect();
        self.spatial
            .pool(activated, self.outputs, step.requantize.zero_point)
    }

    fn dot(&self, x: &[i8]) -> Vec<i32> {
        let zp = i32::from(self.input_zero_point);
        (0..self.outputs)
            .map(|n| {
                let row = &self.weight[n * self.inputs..(n + 1) * self.inputs];
                let dot: i64 = row
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| i64::from(w) * i64::from(i32::from(v) - zp))
                    .sum();
                (dot + i64::from(self.bias[n])).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                    as i32
            })
            .collect()
    }
}

/// An int8 dense network.
#[derive(Clone, Debug)]
pub struct DenseInt8 {
    pub input: InputQuantization,
    pub layers: Vec<DenseLayer>,
}

impl DenseInt8 {
    /// Quantizes `mlp`, calibrating the activation scales on `calibration`.
    pub fn quantize(mlp: &Mlp, calibration: &[Vec<f32>]) -> Result<Self, CompileError> {
        check_calibration(mlp, calibration)?;
        let input = input_quantization(calibration);
        let mut q: Vec<Vec<i8>> = calibration.iter().map(|x| input.quantize(x)).collect();
        let (mut in_scale, mut in_zero) = (f64::from(input.scale), input.zero_point);
        let mut layers = Vec::new();
        for (l, dense) in mlp.layers.iter().enumerate() {
            let wmax = dense
                .weight
                .iter()
                .fold(0f64, |m, &w| m.max(f64::from(w).abs()));
            let w_scale = if wmax > 0.0 { wmax / 127.0 } else { 1.0 };
            let acc_scale = in_scale * w_scale;
            let mut layer = DenseLayer {
                inputs: dense.inputs,
                outputs: dense.outputs,
                weight: dense
                    .weight
                    .iter()
                    .map(|&w| (f64::from(w) / w_scale).round().clamp(-127.0, 127.0) as i8)
                    .collect(),
                bias: dense
                    .bias
                    .iter()
                    .map(|&b| (f64::from(b) / acc_scale).round().clamp(-2e9, 2e9) as i32)
                    .collect(),
                input_zero_point: in_zero,
                spatial: mlp.spatial_of(l),
                next: None,
            };
            if let Some(conv) = layer.spatial.conv.as_mut() {
                conv.pad_value = in_zero;
            }
            if l + 1 < mlp.layers.len() {
                let accs: Vec<Vec<i32>> = q.iter().map(|x| layer.accumulate(x)).collect();
                let (min, max) = accs.iter().flatten().fold((0f64, 0f64), |(lo, hi), &a| {
                    let v = f64::from(a) * acc_scale;
                    (lo.min(v), hi.max(v))
                });
                let step = between(&mlp.activations[l], acc_scale, min, max, l)?;
                q = accs.iter().map(|a| layer.next(&step, a)).collect();
                in_scale = step.scale;
                in_zero = step.zero_point;
                layer.next = Some(step);
            }
            layers.push(layer);
        }
        Ok(DenseInt8 { input, layers })
    }

    /// The last layer's accumulators for one real-valued input.
    pub fn infer(&self, x: &[f32]) -> Vec<i32> {
        let mut h = self.input.quantize(x);
        for layer in &self.layers {
            let acc = layer.accumulate(&h);
            match &layer.next {
                Some(step) => h = layer.next(step, &acc),
                None => return acc,
            }
        }
        unreachable!("the last layer has no requantization")
    }
}
