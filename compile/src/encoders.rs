//! Learning one layer's encoder from its int8 calibration inputs.
//!
//! The compiler calls [`learn_encoder`] once per layer. It returns what the
//! image needs besides tables and bias (centroids and [`EncoderParams`]) and
//! the *prototypes* of every table row: the point in the layer's input space a
//! row stands for. Tables are then the prototypes' dot products with the
//! weights (`kmeans` method) or refit by least squares to the layer's float
//! outputs given the encodings (`refit`); both are encoder-agnostic.
//!
//! | encoder | encoder parameters | prototypes |
//! |---|---|---|
//! | `l2` | k-means centroids | the centroids |
//! | `l1` | k-means centroids, per-dimension weights ([`l1_weights`]) | the centroids |
//! | `two-level` | as `l1`, keys grouped into G clusters ([`group_keys`]) | the keys |
//! | `tree` | split dimensions and thresholds, greedy ([`learn_tree`], MADDNESS) | mean input of each leaf |
//! | `sign` | nothing | mean input of each sign pattern |
//!
//! A row no calibration input reaches gets the prototype "all zero" (the
//! layer's zero point); the refit's ridge keeps such rows at that prior.

use crate::kmeans;
use lutgen_core::config::TREE_DEPTH;
use lutgen_core::image::{EncoderParams, TREE_NODES};
use lutgen_core::learn::{group_keys, l1_weights, learn_tree};
use lutgen_core::{encoder, EncoderKind, EngineConfig, Image, ImageError};

/// One layer's learned encoder.
#[derive(Clone, Debug)]
pub struct LayerEncoder {
    /// `[c][k][v]` for `l2`, `l1` and `two-level`; empty for `tree` and `sign`.
    pub centroids: Vec<i8>,
    pub params: EncoderParams,
    /// `[c][k][v]`: the int8-domain input each row stands for.
    pub prototypes: Vec<f64>,
    /// `[row][c]`: the row each calibration input selects, exactly as the engine does.
    pub codes: Vec<Vec<usize>>,
}

/// K for an encoder: fixed by the encoder for `tree` (16 leaves) and `sign`
/// (2^V sign patterns), the requested `centroids` otherwise.
pub fn centroids_for(encoder: EncoderKind, centroids: usize, sub_vector_len: usize) -> usize {
    match encoder {
        EncoderKind::Tree => 1 << TREE_DEPTH,
        // Shifts past 2^20 are refused by the config check (V at most 10).
        EncoderKind::Sign => 1 << sub_vector_len.min(20),
        _ => centroids,
    }
}

/// Learns the encoder of `config` from the layer's int8 calibration inputs
/// `rows` (D values each). `seed(c)` seeds codebook c's k-means++.
pub fn learn_encoder(
    config: &EngineConfig,
    rows: &[Vec<i8>],
    iterations: usize,
    seed: impl Fn(usize) -> u64,
    zero_point: i8,
) -> Result<LayerEncoder, ImageError> {
    let (c, k, v) = (config.codebooks, config.centroids, config.sub_vector_len());
    let samples =
        |cb: usize| -> Vec<&[i8]> { rows.iter().map(|r| &r[cb * v..(cb + 1) * v]).collect() };
    let mut params = EncoderParams::default_for(config);
    let mut centroids = Vec::new();
    match config.encoder {
        EncoderKind::L2 | EncoderKind::L1 | EncoderKind::TwoLevel => {
            for cb in 0..c {
                let points: Vec<f64> = samples(cb)
                    .iter()
                    .flat_map(|s| s.iter().map(|&x| f64::from(x)))
                    .collect();
                let found = kmeans::kmeans(&points, v, k, iterations, seed(cb));
                let mut keys: Vec<Vec<i8>> = found
                    .chunks(v)
                    .map(|p| p.iter().map(|&x| round_i8(x)).collect())
                    .collect();
                if config.encoder.has_weights() {
                    let weights = l1_weights(&samples(cb), v);
                    if config.encoder == EncoderKind::TwoLevel {
                        let (order, centres) = group_keys(&keys, config.clusters(), &weights);
                        keys = order.iter().map(|&i| keys[i].clone()).collect();
                        params.centres.extend(centres.into_iter().flatten());
                    }
                    params.weights[cb * v..(cb + 1) * v].copy_from_slice(&weights);
                }
                centroids.extend(keys.into_iter().flatten());
            }
        }
        EncoderKind::Tree => {
            let (lo, hi) = EngineConfig::signed_range(config.centroid_bits);
            for cb in 0..c {
                let (splits, thresholds) = learn_tree(&samples(cb), v, lo as i8, hi as i8);
                params.split_dims.extend(splits);
                params.thresholds.extend(thresholds);
            }
            debug_assert_eq!(params.thresholds.len(), c * TREE_NODES);
        }
        EncoderKind::Sign => {}
    }

    // Encode the calibration set with an image of these parameters and
    // zero tables: the codes are then exactly the engine's.
    let probe = Image::with_params(
        config.clone(),
        centroids.clone(),
        vec![0; c * k * config.outputs],
        vec![0; config.outputs],
        params.clone(),
    )?;
    let codes: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| {
            (0..c)
                .map(|cb| encoder::encode(&probe, cb, &r[cb * v..(cb + 1) * v]).index)
                .collect()
        })
        .collect();

    let prototypes = if centroids.is_empty() {
        bucket_means(rows, &codes, c, k, v, zero_point)
    } else {
        centroids.iter().map(|&x| f64::from(x)).collect()
    };
    Ok(LayerEncoder {
        centroids,
        params,
        prototypes,
        codes,
    })
}

/// `[c][k][v]`: the mean sub-vector of the rows encoded to each (c, k);
/// `zero_point` (real zero) where none is.
fn bucket_means(
    rows: &[Vec<i8>],
    codes: &[Vec<usize>],
    c: usize,
    k: usize,
    v: usize,
    zero_point: i8,
) -> Vec<f64> {
    let mut sum = vec![0.0; c * k * v];
    let mut count = vec![0usize; c * k];
    for (row, code) in rows.iter().zip(codes) {
        for (cb, &kk) in code.iter().enumerate() {
            count[cb * k + kk] += 1;
            for (j, &x) in row[cb * v..(cb + 1) * v].iter().enumerate() {
                sum[(cb * k + kk) * v + j] += f64::from(x);
            }
        }
    }
    sum.iter()
        .enumerate()
        .map(|(i, &s)| match count[i / v] {
            0 => f64::from(zero_point),
            n => s / n as f64,
        })
        .collect()
}

fn round_i8(x: f64) -> i8 {
    x.round().clamp(-128.0, 127.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(encoder: EncoderKind, k: usize) -> EngineConfig {
        EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: k,
            outputs: 3,
            encoder,
            ..EngineConfig::default()
        }
    }

    fn rows() -> Vec<Vec<i8>> {
        (0..200)
            .map(|i: i32| {
                (0..8)
                    .map(|j: i32| ((i * 37 + j * 11) % 200 - 100) as i8)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_encoder_learns_codes_the_image_reproduces() {
        for encoder in EncoderKind::ALL {
            let k = centroids_for(encoder, 16, 4);
            let config = config(encoder, k);
            config.validate().unwrap();
            let rows = rows();
            let learned = learn_encoder(&config, &rows, 10, |cb| cb as u64, -128).unwrap();
            assert_eq!(learned.prototypes.len(), 2 * k * 4, "{encoder}");
            assert_eq!(learned.codes.len(), rows.len());
            // More than one row is used: the encoder separates the inputs.
            let used: std::collections::HashSet<usize> =
                learned.codes.iter().map(|c| c[0]).collect();
            assert!(used.len() > 1, "{encoder}: one bucket for everything");
            for code in learned.codes.iter().flatten() {
                assert!(*code < k);
            }
        }
    }

    #[test]
    fn leaf_prototypes_are_the_mean_of_their_inputs() {
        let config = config(EncoderKind::Sign, 16);
        let rows = vec![
            vec![-2i8, 3, 4, 5, 0, 0, 0, 0],
            vec![-4, 5, 6, 7, 0, 0, 0, 0],
        ];
        let learned = learn_encoder(&config, &rows, 1, |_| 0, -128).unwrap();
        // Both first sub-vectors have sign pattern 1000 = row 8.
        assert_eq!(learned.codes[0][0], 8);
        assert_eq!(&learned.prototypes[8 * 4..9 * 4], &[-3.0, 4.0, 5.0, 6.0]);
        // An unused row stands for real zero.
        assert_eq!(learned.prototypes[0], -128.0);
    }
}
