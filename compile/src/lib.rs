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
//!
//! With `group_inputs`, every hidden layer's units are first permuted so that
//! each codebook of the next layer holds correlated inputs ([`group`]).

pub mod batch_norm;
pub mod dataset;
pub mod dense;
pub mod encoders;
pub mod error;
pub mod eval;
pub mod frontend;
pub mod group;
pub mod kmeans;
pub mod layers;
pub mod learn;
pub mod linear;
pub mod mlp;
pub mod npy;
pub mod onnx;
pub mod options;
pub mod quantize;
pub mod refit;
pub mod soft;
pub mod suite;

pub use batch_norm::{FoldedBatchNorm, FoldedInto};
pub use error::CompileError;
pub use eval::accuracy;
pub use layers::{check_calibration, compile_with, LayerParams};
pub use learn::learn;
pub use mlp::{Activation, Head, Mlp};
pub use options::{CompileOptions, LayerShape, LearnOptions, Method};
pub use quantize::{between, identity_requantize, input_quantization, relu_requantize, Between};
pub use refit::{refit, refit_weighted};

use indicatif::ProgressBar;
use lutgen_core::spatial::Spatial;
use lutgen_core::{EncoderKind, Network};

/// Compiles `mlp` into a network of table images, calibrated on `calibration`.
pub fn compile(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    options: &CompileOptions,
    progress: &ProgressBar,
) -> Result<Network, CompileError> {
    let conv = (0..mlp.layers.len()).find(|&l| mlp.spatial_of(l) != Spatial::DENSE);
    if let Some(layer) = conv {
        if options.group_inputs {
            return Err(CompileError::GroupConv { layer });
        }
    }
    if options.group_inputs {
        check_calibration(mlp, calibration)?;
        let shapes = options.shapes(mlp.layers.len())?;
        let (grouped, _) = group::group_inputs(mlp, calibration, &shapes)?;
        let options = CompileOptions {
            group_inputs: false,
            ..options.clone()
        };
        return compile(&grouped, calibration, &options, progress);
    }
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
        return learn(mlp, calibration, labels, options, progress).map(|(n, _)| n);
    }
    compile_with(mlp, calibration, options, None, progress)
}
