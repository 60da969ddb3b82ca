//! Float <-> int8 at the edges of a compiled network: the input's quantization and the
//! requantization between layers, calibrated on real activations.

use crate::error::CompileError;
use crate::mlp::Activation;
use lutgen_core::network::{InputQuantization, Requantize};

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

/// The requantization after layer `layer` for the `activation` that follows
/// it, calibrated on the layer's real outputs (`min`, `max`), and the next
/// layer's input scale.
pub fn requantize_for(
    activation: &Activation,
    accumulator_scale: f64,
    min: f64,
    max: f64,
    layer: usize,
) -> Result<(Requantize, f64), CompileError> {
    match activation {
        Activation::Relu => relu_requantize(accumulator_scale, max, layer),
        Activation::Identity => identity_requantize(accumulator_scale, min, max, layer),
        Activation::Function(f) => Err(CompileError::Activation {
            layer,
            activation: f.name.clone(),
        }),
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
