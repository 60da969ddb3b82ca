//! Co-simulation: the Verilated engine against the integer reference, bit for
//! bit, on random and adversarial images and vectors, with random output
//! stalls and input gaps, across configurations that reach every edge.

use lutgen_core::{EngineConfig, Image};
use lutgen_sim::{Backpressure, EngineSim, SimError};
use lutgen_tests::{
    adversarial_image, assert_bit_exact, assert_meets_bound, ecp5_engine, edge_vectors, engine,
    random_vectors, spram_engine, Extreme,
};

fn config(d: usize, c: usize, k: usize, n: usize, lanes: usize) -> EngineConfig {
    EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: k,
        outputs: n,
        lanes,
        ..EngineConfig::default()
    }
}

/// 1,000 random vectors plus edge vectors on a random image, then ties and
/// accumulator extremes on adversarial images; the output is stalled at random.
fn cosim(config: EngineConfig, seed: u64) {
    cosim_on(&mut engine(&config), seed);
}

fn cosim_on(engine: &mut EngineSim, seed: u64) {
    let config = engine.config().clone();
    let image = Image::random(config.clone(), seed).unwrap();
    let mut vectors = random_vectors(&config, 1000, seed + 1);
    vectors.extend(edge_vectors(&image));
    assert_bit_exact(engine, &image, &vectors, Backpressure::new(0.3, 0.2, seed));
    for (i, extreme) in [Extreme::Min, Extreme::Max].into_iter().enumerate() {
        let image = adversarial_image(&config, seed + 2 + i as u64, extreme);
        let mut vectors = edge_vectors(&image);
        vectors.extend(random_vectors(&config, 200, seed + 5 + i as u64));
        assert_bit_exact(engine, &image, &vectors, Backpressure::new(0.5, 0.1, seed));
    }
}

/// The Verilog as synthesized for ECP5 (DP16KD blocks with output registers,
/// the index FIFO in LUT RAM), on memory layouts of one and several blocks
/// side by side (widths 18, 4 and 1) and a bias memory left to LUT RAM.
#[test]
fn ecp5_primitives() {
    for (i, config) in [
        EngineConfig::default(),
        config(64, 16, 64, 16, 1),
        config(32, 8, 16, 12, 2),
    ]
    .into_iter()
    .enumerate()
    {
        cosim_on(&mut ecp5_engine(&config), 60 + 10 * i as u64);
    }
}

/// The Verilog as synthesized for the iCE40UP5K with the tables in SPRAM
/// (SB_SPRAM256KA with its behavioural model): one block (the default
/// engine), a table of two blocks (24,576 entries, the block picked by a
/// registered select; K * M not a power of two) and two lanes with a block
/// each. Three images are loaded in turn into each engine, so the single
/// port's writes between runs are covered too; the steady state meets the
/// table-read bound as on block RAM.
#[test]
fn spram_tables() {
    for (i, config) in [
        EngineConfig::default(),
        config(64, 16, 128, 12, 1),
        config(32, 8, 16, 12, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let mut engine = spram_engine(&config);
        cosim_on(&mut engine, 90 + 10 * i as u64);
        let image = Image::random(config.clone(), 1).unwrap();
        engine.load(&image).unwrap();
        let run = engine
            .run(&random_vectors(&config, 100, 2), Backpressure::none())
            .unwrap();
        let bound = config.bound_cycles_per_inference() as f64;
        assert!(
            run.cycles_per_inference <= bound * 1.05,
            "{config:?}: {} cycles per inference, bound {bound}",
            run.cycles_per_inference
        );
    }
}

#[test]
fn default_configuration() {
    cosim(EngineConfig::default(), 10);
}

#[test]
fn one_codebook() {
    cosim(config(8, 1, 16, 8, 1), 20);
}

#[test]
fn two_centroids_two_lanes() {
    cosim(config(16, 4, 2, 8, 2), 30);
}

/// K = 256, the most centroids an index holds, searched folded: N = 64
/// gives the search 128 cycles per inference, so 16 units take 16 centroids
/// each in turn (the pass number is the index's high bits).
#[test]
fn two_hundred_fifty_six_centroids() {
    let config = config(8, 2, 256, 64, 1);
    assert_eq!(config.distance_units(), 16);
    cosim(config, 40);
}

/// K = 256 unfolded: N = 4 leaves the search 8 cycles, so 256 units and a
/// 256-leaf argmin tree (4.4 MB of Verilog, about 30 s to build). In the
/// slow run (`scripts/test.sh --slow`).
#[test]
#[ignore = "slow: the 256-unit engine takes about 30 s to Verilate and compile"]
fn two_hundred_fifty_six_centroids_unfolded() {
    let config = config(8, 2, 256, 4, 1);
    assert_eq!(config.distance_units(), 256);
    cosim(config, 40);
}

#[test]
fn one_output() {
    cosim(config(16, 4, 8, 1, 1), 50);
}

#[test]
fn outputs_not_a_multiple_of_lanes_narrow_widths() {
    cosim(
        EngineConfig {
            table_bits: 4,
            bias_bits: 8,
            activation_bits: 6,
            centroid_bits: 5,
            ..config(32, 8, 16, 10, 3)
        },
        60,
    );
}

#[test]
fn one_row_per_lane_and_one_element_per_codebook() {
    // M = 1: every table read finishes a codebook; V = 1: every element does.
    cosim(config(8, 8, 4, 4, 4), 70);
}

#[test]
fn folded_search_one_unit_one_element_per_codebook() {
    // F = 16: one distance unit searches all 16 centroids in turn (a
    // one-leaf argmin tree); V = 1, so every element finishes a codebook.
    let config = config(8, 8, 16, 16, 1);
    assert_eq!(
        (config.centroids_per_unit(), config.distance_units()),
        (16, 1)
    );
    cosim(config, 90);
}

#[test]
fn folded_search_256_centroids() {
    // F = 64 passes on 4 units: ring of 64 partial distances per unit.
    let config = config(4, 4, 256, 64, 1);
    assert_eq!(
        (config.centroids_per_unit(), config.distance_units()),
        (64, 4)
    );
    cosim(config, 100);
}

#[test]
fn wide_bias_reaches_the_accumulator_limit() {
    // 2^31 - 1 bias plus table maxima: the accumulator's top bit is exercised.
    cosim(
        EngineConfig {
            bias_bits: 31,
            ..config(16, 16, 4, 4, 2)
        },
        80,
    );
}

#[test]
fn cycles_per_inference_meet_the_table_read_bound() {
    for config in [
        EngineConfig::default(),
        config(64, 16, 16, 32, 4),
        config(8, 8, 16, 16, 1),
        config(4, 4, 256, 64, 1),
    ] {
        assert_meets_bound(&config);
    }
}

#[test]
fn an_image_for_another_configuration_is_refused() {
    let config = config(8, 2, 4, 4, 1);
    let mut engine = engine(&config);
    let other = Image::random(
        EngineConfig {
            outputs: 5,
            ..config.clone()
        },
        1,
    )
    .unwrap();
    assert!(matches!(
        engine.load(&other),
        Err(SimError::ImageMismatch { .. })
    ));
    // Streaming before any image was loaded is refused too.
    let vectors = random_vectors(&config, 1, 1);
    assert!(matches!(
        engine.run(&vectors, Backpressure::none()),
        Err(SimError::NotLoaded)
    ));
    let image = Image::random(config.clone(), 1).unwrap();
    engine.load(&image).unwrap();
    assert!(matches!(
        engine.run(&[vec![0; 7]], Backpressure::none()),
        Err(SimError::InputLength {
            index: 0,
            expected: 8,
            got: 7
        })
    ));
}

#[test]
fn reset_discards_work_in_flight() {
    // Reset mid-stream, then a full run must still be exact.
    let config = config(16, 4, 8, 8, 2);
    let mut engine = engine(&config);
    let image = Image::random(config.clone(), 3).unwrap();
    engine.load(&image).unwrap();
    engine.push_partial(&random_vectors(&config, 3, 4)[..], 30);
    engine.reset();
    assert_bit_exact(
        &mut engine,
        &image,
        &random_vectors(&config, 100, 5),
        Backpressure::none(),
    );
}
