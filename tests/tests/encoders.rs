//! Co-simulation of every encoder (`l1`, `two-level`, `tree`, `sign`; `l2`
//! is `cosim.rs`) against the reference, bit for bit, at their edges: K = 2
//! and K at its maximum, ties, extreme weights and thresholds, extreme
//! inputs, tau = 1, one element per codebook; random stalls and gaps.

use lutgen_core::{EncoderKind, EngineConfig, Image};
use lutgen_sim::SimError;
use lutgen_tests::{assert_encoder_cosim, assert_meets_bound, ecp5_engine, engine};

fn config(encoder: EncoderKind, d: usize, c: usize, k: usize, n: usize, l: usize) -> EngineConfig {
    EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: k,
        outputs: n,
        lanes: l,
        encoder,
        ..EngineConfig::default()
    }
}

/// `count` random vectors plus edge vectors on a random image, then
/// adversarial images at both extremes, with stalls and gaps.
fn cosim(config: EngineConfig, seed: u64, count: usize) {
    assert_encoder_cosim(&mut engine(&config), seed, count);
}

#[test]
fn l1_two_centroids_two_lanes() {
    cosim(config(EncoderKind::L1, 8, 4, 2, 4, 2), 100, 500);
}

#[test]
fn l1_narrow_widths_outputs_not_a_multiple_of_lanes() {
    cosim(
        EngineConfig {
            table_bits: 4,
            bias_bits: 8,
            activation_bits: 6,
            centroid_bits: 5,
            ..config(EncoderKind::L1, 32, 8, 16, 10, 3)
        },
        110,
        500,
    );
}

#[test]
fn l1_folded_search() {
    // F = 4 centroids per unit, 4 units, with weights.
    let config = config(EncoderKind::L1, 16, 4, 16, 16, 1);
    assert_eq!(config.centroids_per_unit(), 4);
    cosim(config, 120, 500);
}

#[test]
fn two_level_two_keys_one_cluster() {
    cosim(config(EncoderKind::TwoLevel, 8, 2, 2, 4, 1), 120, 500);
}

#[test]
fn two_level_one_element_per_codebook() {
    // V = 1: a replay of one element per codebook, back to back.
    cosim(config(EncoderKind::TwoLevel, 8, 8, 64, 4, 2), 130, 500);
}

#[test]
fn two_level_4096_keys_memorization_mode() {
    // MBI's memorization mode: one codebook, K at its maximum (64 centres of 64 keys),
    // one table row per output (L = N).
    cosim(config(EncoderKind::TwoLevel, 8, 1, 4096, 4, 4), 140, 300);
}

#[test]
fn tree_one_element_per_codebook() {
    // V = 1: every level compares the same element.
    cosim(config(EncoderKind::Tree, 4, 4, 16, 4, 1), 150, 500);
}

#[test]
fn tree_long_sub_vectors_three_lanes() {
    cosim(
        EngineConfig {
            centroid_bits: 6,
            ..config(EncoderKind::Tree, 32, 4, 16, 10, 3)
        },
        160,
        500,
    );
}

/// The memories as the ECP5 gets them: DP16KD blocks read through their
/// output registers (the tree's root of 32 words and halves of 16; the
/// two-level centre and key memories).
#[test]
fn ecp5_primitives() {
    for (i, config) in [
        config(EncoderKind::Tree, 16, 4, 16, 8, 1),
        config(EncoderKind::TwoLevel, 8, 8, 64, 4, 2),
    ]
    .into_iter()
    .enumerate()
    {
        assert_encoder_cosim(&mut ecp5_engine(&config), 170 + 10 * i as u64, 500);
    }
}

#[test]
fn sign_tau_one() {
    cosim(config(EncoderKind::Sign, 4, 4, 2, 4, 2), 170, 500);
}

#[test]
fn sign_tau_ten() {
    cosim(config(EncoderKind::Sign, 10, 1, 1024, 4, 4), 180, 500);
}

#[test]
fn every_encoder_meets_the_table_read_bound() {
    for config in [
        config(EncoderKind::L1, 8, 4, 2, 4, 2),
        config(EncoderKind::L1, 16, 4, 16, 16, 1),
        config(EncoderKind::TwoLevel, 8, 8, 64, 4, 2),
        config(EncoderKind::Tree, 4, 4, 16, 4, 1),
        config(EncoderKind::Sign, 4, 4, 2, 4, 2),
    ] {
        assert_meets_bound(&config);
    }
}

#[test]
fn an_image_for_another_encoder_is_refused() {
    let l1 = config(EncoderKind::L1, 8, 4, 2, 4, 2);
    let mut engine = engine(&l1);
    let l2 = EngineConfig {
        encoder: EncoderKind::L2,
        ..l1.clone()
    };
    let e = engine.load(&Image::random(l2, 1).unwrap()).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::EncoderMismatch {
                engine: EncoderKind::L1,
                image: EncoderKind::L2
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("--encoder l2"), "{e}");
}
