//! The k-means / refit compile of every layer, in order, each on the int8 inputs the
//! compiled layers before it really produce (see the crate doc).

use crate::encoders;
use crate::error::CompileError;
use crate::mlp::Mlp;
use crate::options::{CompileOptions, Method};
use crate::quantize::{between, input_quantization, Between};
use crate::refit::refit;
use indicatif::ProgressBar;
use lutgen_core::encoder::nearest_l2;
use lutgen_core::network::{Layer, Network};
use lutgen_core::spatial::Conv;
use lutgen_core::{EncoderKind, EngineConfig, Image, Reference};

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
    compile_steps(mlp, calibration, options, given, progress).map(|(network, _)| network)
}

/// [`compile_with`], also returning the integer step after every layer but
/// the last (the requantization, the activation table and the next layer's
/// input scale and zero point), as calibrated.
pub fn compile_steps(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    options: &CompileOptions,
    given: Option<&[LayerParams]>,
    progress: &ProgressBar,
) -> Result<(Network, Vec<Between>), CompileError> {
    check_calibration(mlp, calibration)?;
    let shapes = options.shapes(mlp.layers.len())?;
    let table_max = options.table_max()?;
    let layer_encoders = options.layer_encoders(mlp.layers.len())?;
    if given.is_some() {
        if let Some(layer) = layer_encoders.iter().position(|&e| e != EncoderKind::L2) {
            return Err(CompileError::LearnedEncoder {
                layer,
                encoder: layer_encoders[layer],
            });
        }
    }
    // LUT-NN's split for a k x k convolution: one codebook per input
    // channel's window (V = k * k); a 1x1 convolution takes the given V.
    let sub_vector_len = |l: usize| match mlp.spatial_of(l).conv {
        Some(conv) if conv.geometry.kernel > 1 => conv.geometry.kernel * conv.geometry.kernel,
        _ => shapes[l].v,
    };
    for (layer, dense) in mlp.layers.iter().enumerate() {
        let v = sub_vector_len(layer);
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
    let codebooks_total: usize = mlp
        .layers
        .iter()
        .enumerate()
        .map(|(l, dense)| dense.inputs / sub_vector_len(l))
        .sum();
    progress.set_length(codebooks_total as u64);
    progress.set_position(0);

    let mut q: Vec<Vec<i8>> = calibration.iter().map(|x| input.quantize(x)).collect();
    let (mut in_scale, mut in_zero) = (f64::from(input.scale), input.zero_point);
    let mut layers = Vec::with_capacity(mlp.layers.len());
    let mut spatials = Vec::with_capacity(mlp.layers.len());
    let mut steps = Vec::new();
    for (l, dense) in mlp.layers.iter().enumerate() {
        let (d, outputs) = (dense.inputs, dense.outputs);
        let v = sub_vector_len(l);
        let c = d / v;
        let encoder = layer_encoders[l];
        let k = encoders::centroids_for(encoder, shapes[l].k, v);
        // A convolution pads with its input's zero point, and its engine
        // sees patches: the samples the encoder and the refit learn on are
        // the patches of every output pixel of every calibration input
        // (evenly subsampled past MAX_PATCH_SAMPLES), `origin` says whose.
        let mut spatial = mlp.spatial_of(l);
        if let Some(conv) = spatial.conv.as_mut() {
            conv.pad_value = in_zero;
        }
        let (samples, origin) = match spatial.conv {
            None => (q.clone(), (0..n).map(|i| (i, 0)).collect()),
            Some(conv) => patch_samples(&q, conv, MAX_PATCH_SAMPLES),
        };
        let n = samples.len();
        if encoder.has_centroids() && n < k {
            return Err(CompileError::CalibrationRows {
                rows: n,
                centroids: k,
            });
        }
        let config = EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: k,
            outputs,
            lanes: options.lanes.clamp(1, outputs),
            encoder,
            activation_bits: 8,
            centroid_bits: 8,
            table_bits: options.table_bits,
            bias_bits: 16,
            entries_per_read: 1,
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
            &samples,
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
            codes = samples
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
            let y: Vec<Vec<f64>> = origin
                .iter()
                .map(|&(row, pixel)| {
                    let t = &targets[row][l][pixel * outputs..(pixel + 1) * outputs];
                    t.iter()
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

        // Tables (table_bits wide) and bias at the same scale.
        let tmax = tables.iter().fold(0f64, |m, &t| m.max(t.abs()));
        let acc_scale = if tmax > 0.0 { tmax / table_max } else { 1.0 };
        let tables_q: Vec<i8> = tables
            .iter()
            .map(|&t| (t / acc_scale).round().clamp(-table_max, table_max) as i8)
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

        let (requantize, activation) = if l + 1 < mlp.layers.len() {
            let reference = Reference::new(&image);
            let accs: Vec<Vec<i32>> = q
                .iter()
                .map(|row| {
                    spatial
                        .accumulate(row, |x| reference.outputs(x))
                        .expect("calibration rows are int8 of the layer's input width")
                })
                .collect();
            let (min, max) = accs.iter().flatten().fold((0f64, 0f64), |(lo, hi), &a| {
                let v = f64::from(a) * acc_scale;
                (lo.min(v), hi.max(v))
            });
            let step = between(&mlp.activations[l], acc_scale, min, max, l)?;
            let zero = step.requantize.zero_point;
            q = accs
                .iter()
                .map(|acc| {
                    spatial.pool(acc.iter().map(|&a| step.apply(a)).collect(), outputs, zero)
                })
                .collect();
            in_scale = step.scale;
            in_zero = step.zero_point;
            let out = (Some(step.requantize), step.table);
            steps.push(step);
            out
        } else {
            (None, None)
        };
        layers.push(Layer {
            image,
            accumulator_scale: acc_scale as f32,
            requantize,
            activation,
        });
        spatials.push(spatial);
    }
    Ok((Network::with_spatial(input, layers, spatials)?, steps))
}

/// The most patches a convolution layer's encoder and refit learn on.
pub const MAX_PATCH_SAMPLES: usize = 16_384;

/// The patches of every output pixel of every input map in `maps`, at most
/// `max` of them, evenly spaced over (input, pixel) in order (deterministic),
/// each with its (input, output pixel).
pub fn patch_samples(
    maps: &[Vec<i8>],
    conv: Conv,
    max: usize,
) -> (Vec<Vec<i8>>, Vec<(usize, usize)>) {
    let g = conv.geometry;
    let pixels = g.out_pixels();
    let total = maps.len() * pixels;
    let step = total.div_ceil(max.max(1)).max(1);
    (0..total)
        .step_by(step)
        .map(|t| {
            let (row, pixel) = (t / pixels, t % pixels);
            let (oy, ox) = (pixel / g.out_width(), pixel % g.out_width());
            (g.patch(&maps[row], oy, ox, conv.pad_value), (row, pixel))
        })
        .unzip()
}
