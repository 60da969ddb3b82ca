//! Float <-> int8 at the edges of a compiled network: the input's quantization and the
//! requantization between layers, calibrated on real activations.

use crate::error::CompileError;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_quantization_covers_the_range() {
        let q = input_quantization(&[vec![0.0, 16.0], vec![8.0, 4.0]]);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.quantize(&[0.0, 16.0]), vec![-128, 127]);
    }
}
