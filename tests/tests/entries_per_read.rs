//! Co-simulation of engines that read R > 1 table entries per lane per
//! cycle (`EngineConfig::entries_per_read`): R = 2, 4, 8 and 16, table
//! entries of 8, 6, 4 and 2 bits stored narrow (R of them in one word of
//! `R * table_bits` bits), every encoder, N never a multiple of L * R (so
//! the last row of every lane holds padding entries), against the
//! reference, bit for bit, with random stalls and gaps; then the steady
//! state against the new bound `C * ceil(N / (L * R))`. The portable
//! Verilog, the ECP5 build (DP16KD blocks side by side for 32-bit words)
//! and the iCE40UP5K build (a 16-bit word in SPRAM).

use lutgen_core::{EncoderKind, EngineConfig, Image};
use lutgen_sim::{Backpressure, EngineSim};
use lutgen_tests::{assert_encoder_cosim, ecp5_engine, engine, random_vectors, spram_engine};

#[allow(clippy::too_many_arguments)]
fn config(
    encoder: EncoderKind,
    d: usize,
    c: usize,
    k: usize,
    n: usize,
    l: usize,
    r: usize,
    table_bits: u32,
) -> EngineConfig {
    let config = EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: k,
        outputs: n,
        lanes: l,
        encoder,
        table_bits,
        entries_per_read: r,
        ..EngineConfig::default()
    };
    config.validate().unwrap();
    assert!(
        !n.is_multiple_of(l * r),
        "{config:?}: N must leave padding entries"
    );
    config
}

/// Random and edge vectors on a random image, then adversarial images at
/// both extremes (tables and bias at their limits), with stalls and gaps;
/// then 200 vectors without back-pressure must run within 5% of the bound,
/// which for these shapes is the table read's `C * ceil(N / (L * R))`.
fn cosim_on(engine: &mut EngineSim, seed: u64) {
    assert_encoder_cosim(engine, seed, 500);
    let config = engine.config().clone();
    let image = Image::random(config.clone(), seed).unwrap();
    engine.load(&image).unwrap();
    let run = engine
        .run(
            &random_vectors(&config, 200, seed + 9),
            Backpressure::none(),
        )
        .unwrap();
    let bound = config.bound_cycles_per_inference();
    assert_eq!(config.limit(), "table-read", "{config:?}");
    assert_eq!(
        bound,
        config.codebooks
            * config
                .outputs
                .div_ceil(config.lanes * config.entries_per_read)
    );
    assert!(
        run.cycles_per_inference <= 1.05 * bound as f64,
        "{config:?}: {} cycles per inference, bound {bound}",
        run.cycles_per_inference
    );
}

fn cosim(config: EngineConfig, seed: u64) {
    cosim_on(&mut engine(&config), seed);
}

#[test]
fn two_entries_l2_one_lane() {
    cosim(config(EncoderKind::L2, 16, 4, 8, 11, 1, 2, 8), 10);
}

#[test]
fn four_entries_l1_two_lanes_full_32_bit_words() {
    cosim(config(EncoderKind::L1, 16, 16, 16, 13, 2, 4, 8), 20);
}

#[test]
fn eight_four_bit_entries_tree() {
    cosim(config(EncoderKind::Tree, 16, 16, 16, 21, 1, 8, 4), 30);
}

#[test]
fn four_six_bit_entries_sign_three_lanes() {
    cosim(config(EncoderKind::Sign, 16, 16, 2, 14, 3, 4, 6), 40);
}

#[test]
fn sixteen_two_bit_entries_two_level() {
    cosim(config(EncoderKind::TwoLevel, 16, 16, 16, 20, 1, 16, 2), 50);
}

/// The ECP5 build: 32-bit table words as two DP16KD blocks side by side
/// (8-bit entries, R = 4; 4-bit entries, R = 8).
#[test]
fn ecp5_primitives_packed_words() {
    for (i, config) in [
        config(EncoderKind::L2, 64, 16, 16, 18, 1, 4, 8),
        config(EncoderKind::L2, 32, 16, 16, 20, 1, 8, 4),
    ]
    .into_iter()
    .enumerate()
    {
        cosim_on(&mut ecp5_engine(&config), 60 + 10 * i as u64);
    }
}

/// The iCE40UP5K build: a 16-bit word of two 8-bit entries, one SPRAM wide.
#[test]
fn spram_packed_words() {
    let config = config(EncoderKind::L2, 64, 16, 16, 17, 1, 2, 8);
    cosim_on(&mut spram_engine(&config), 80);
}
