//! Float <-> int8 at the edges of a compiled network: the input's quantization and the
//! requantization between layers, calibrated on real activations.

use crate::error::CompileError;
use crate::mlp::Activation;
use lutgen_core::network::{ActivationTable, InputQuantization, Requantize};

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

/// Requantization with no activation after it: the next layer's input covers
/// the real outputs' range `[min, max]` (0 included), asymmetric, all 256 codes.
pub fn identity_requantize(
    accumulator_scale: f64,
    min: f64,
    max: f64,
    layer: usize,
) -> Result<(Requantize, f64), CompileError> {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let out_scale = ((hi - lo) / 255.0).max(1e-9);
    let zero_point = (-128.0 - lo / out_scale).round().clamp(-128.0, 127.0) as i8;
    let r = Requantize::from_scale(accumulator_scale / out_scale, zero_point, false, 8)
        .map_err(|source| CompileError::Requantize { layer, source })?;
    Ok((r, out_scale))
}

/// What runs between two layers in integers: the requantization, the
/// activation table if the activation is neither ReLU nor the identity, and
/// the next layer's input scale and zero point.
#[derive(Clone, Debug)]
pub struct Between {
    pub requantize: Requantize,
    /// Real value of one unit of the requantized code (before the table;
    /// `scale` when there is no table).
    pub requantize_scale: f64,
    pub table: Option<ActivationTable>,
    /// Real value of one unit of the next layer's input.
    pub scale: f64,
    pub zero_point: i8,
}

impl Between {
    /// The next layer's input for one accumulator (as `Layer::next_activation`).
    pub fn apply(&self, acc: i32) -> i8 {
        let q = self.requantize.apply(acc);
        self.table.as_ref().map_or(q, |t| t.apply(q))
    }
}

/// The integer step after layer `layer` for the `activation` that follows
/// it, calibrated on the layer's real outputs (`min`, `max`).
///
/// ReLU and the identity are requantizations alone. Any other function `f`
/// is a requantization of the pre-activation to its range (`s_r`, `z_r`),
/// then a table: entry `q` is `f((q - z_r) * s_r)` quantized with the scale
/// and zero point that cover `f`'s values on all 256 levels (0 included).
pub fn between(
    activation: &Activation,
    accumulator_scale: f64,
    min: f64,
    max: f64,
    layer: usize,
) -> Result<Between, CompileError> {
    let plain = |(r, scale): (Requantize, f64)| Between {
        requantize: r,
        requantize_scale: scale,
        table: None,
        scale,
        zero_point: r.zero_point,
    };
    match activation {
        Activation::Relu => Ok(plain(relu_requantize(accumulator_scale, max, layer)?)),
        Activation::Identity => Ok(plain(identity_requantize(
            accumulator_scale,
            min,
            max,
            layer,
        )?)),
        Activation::Function(f) => {
            let (r, s_r) = identity_requantize(accumulator_scale, min, max, layer)?;
            let levels: Vec<f32> = (-128i32..=127)
                .map(|q| ((q - i32::from(r.zero_point)) as f64 * s_r) as f32)
                .collect();
            let y: Vec<f64> = f.apply(&levels).into_iter().map(f64::from).collect();
            if let Some(i) = y.iter().position(|v| !v.is_finite()) {
                return Err(CompileError::ActivationValue {
                    layer,
                    activation: f.name.clone(),
                    x: f64::from(levels[i]),
                    y: y[i],
                });
            }
            let lo = y.iter().cloned().fold(0f64, f64::min);
            let hi = y.iter().cloned().fold(0f64, f64::max);
            let scale = ((hi - lo) / 255.0).max(1e-9);
            let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i8;
            let table = ActivationTable::from_fn(r.bits, |q| {
                let v = y[(i32::from(q) + 128) as usize];
                ((v / scale).round() + f64::from(zero_point)).clamp(-128.0, 127.0) as i8
            })
            .map_err(|source| CompileError::Table { layer, source })?;
            Ok(Between {
                requantize: r,
                requantize_scale: s_r,
                table: Some(table),
                scale,
                zero_point,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_quantization_covers_the_range() {
        let q = input_quantization(&[vec![0.0, 16.0], vec![8.0, 4.0]]);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.quantize(&[0.0, 16.0]), vec![-128, 127]);
    }

    #[test]
    fn identity_requantization_covers_negative_outputs() {
        let (r, scale) = identity_requantize(1.0, -10.0, 20.0, 0).unwrap();
        assert!(!r.relu);
        assert!((scale - 30.0 / 255.0).abs() < 1e-9);
        assert_eq!(r.apply(-10), -128);
        assert_eq!(r.apply(20), 127);
        assert_eq!(r.apply(0), r.zero_point);
    }
}
