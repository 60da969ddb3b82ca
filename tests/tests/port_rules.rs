//! The engine's load-port and narrow-value rules (docs/architecture.md,
//! "Narrow values and port rules"), checked on the Verilated engine at its
//! ports: what survives a reset, what a write during reset does, writes to
//! addresses no memory has, padding rows, and an activation outside
//! `activation_bits`.

use lutgen_core::encoder::nearest_l2;
use lutgen_core::memory_map::{LoadWord, MemoryMap};
use lutgen_core::{EngineConfig, Image, Reference};
use lutgen_sim::{Backpressure, EngineSim};
use lutgen_tests::{engine, random_vectors};

/// N = 10 outputs on L = 4 lanes: M = 3 rows per lane, outputs 10 and 11
/// (lanes 2 and 3 of row 2) are padding; F = 1, so 4 centroid memories and
/// 12 memories in all.
fn padded() -> EngineConfig {
    EngineConfig {
        input_dim: 8,
        codebooks: 4,
        centroids: 4,
        outputs: 10,
        lanes: 4,
        ..EngineConfig::default()
    }
}

fn word(memory: usize, word: usize, data: u32) -> LoadWord {
    LoadWord {
        address: ((memory as u32) << 16) | word as u32,
        data,
    }
}

/// Runs `vectors` on what the engine holds now (no load first) and asserts
/// every output and encoder decision equals the reference of `image`.
fn assert_holds(engine: &mut EngineSim, image: &Image, vectors: &[Vec<i8>]) {
    let run = engine
        .run(vectors, Backpressure::new(0.3, 0.2, 1))
        .expect("engine run");
    let reference = Reference::new(image);
    for (i, x) in vectors.iter().enumerate() {
        let want = reference.infer(x).expect("valid input");
        let got: Vec<(usize, u64)> = run.encodings[i]
            .iter()
            .map(|e| (e.index, e.distance))
            .collect();
        let expected: Vec<(usize, u64)> =
            want.encodings.iter().map(|e| (e.index, e.score)).collect();
        assert_eq!(got, expected, "vector {i}: encodings differ");
        assert_eq!(run.outputs[i], want.outputs, "vector {i}: outputs differ");
    }
}

#[test]
fn memories_survive_reset_and_writes_during_reset_take_effect() {
    let config = padded();
    let mut engine = engine(&config);
    let (a, b) = (
        Image::random(config.clone(), 1).unwrap(),
        Image::random(config.clone(), 2).unwrap(),
    );
    let vectors = random_vectors(&config, 40, 3);
    engine.load(&a).unwrap();
    engine.push_partial(&vectors, 25);
    engine.reset();
    assert_holds(&mut engine, &a, &vectors);
    // Every word of b written while reset is high, back to back.
    engine.write_during_reset(MemoryMap::load_words(&b));
    assert_holds(&mut engine, &b, &vectors);
}

#[test]
fn writes_to_memory_numbers_past_the_last_change_nothing() {
    let config = padded();
    let map = MemoryMap::new(&config);
    assert_eq!(map.memories(), 12);
    let mut engine = engine(&config);
    let image = Image::random(config.clone(), 4).unwrap();
    engine.load(&image).unwrap();
    // 12 would be an `l1` engine's weight memory; this `l2` engine has none.
    let garbage = [12, 13, 0x7FFF, 0xFFFF]
        .into_iter()
        .flat_map(|m| [0, 1, 2, 0xFFFF].map(|w| word(m, w, 0xDEAD_BEEF)));
    engine.write(garbage);
    assert_holds(&mut engine, &image, &random_vectors(&config, 40, 5));
}

#[test]
fn a_word_past_a_memory_aliases_onto_its_low_address_bits() {
    // Lane 0's bias memory has M = 3 words and decodes load_address[1:0]:
    // word 4 is word 0 (output 0), word 0x0005 | 0x8000 is word 1 (output 4).
    let config = padded();
    let map = MemoryMap::new(&config);
    let mut engine = engine(&config);
    let image = Image::random(config.clone(), 6).unwrap();
    engine.load(&image).unwrap();
    engine.write([
        word(map.bias_memory(0), 4, -1234i32 as u32),
        word(map.bias_memory(0), 0x8005, 777),
    ]);
    let mut bias = image.bias().to_vec();
    bias[0] = -1234;
    bias[4] = 777;
    let aliased = Image::with_params(
        config.clone(),
        image.centroids().to_vec(),
        image.tables().to_vec(),
        bias,
        image.params().clone(),
    )
    .unwrap();
    assert_holds(&mut engine, &aliased, &random_vectors(&config, 40, 7));
}

#[test]
fn padding_rows_never_reach_the_outputs() {
    // Outputs 10 and 11 would be row 2 of lanes 2 and 3: give them a bias
    // and table entries that are not zero; the N = 10 outputs are unchanged.
    let config = padded();
    let map = MemoryMap::new(&config);
    let (c, k, m) = (config.codebooks, config.centroids, config.rows_per_lane());
    let mut engine = engine(&config);
    let image = Image::random(config.clone(), 8).unwrap();
    engine.load(&image).unwrap();
    let mut words = Vec::new();
    for lane in [2, 3] {
        words.push(word(map.bias_memory(lane), 2, 0x7FFF));
        for row in 0..c * k {
            words.push(word(map.table_memory(lane), row * m + 2, 0x7F));
        }
    }
    engine.write(words);
    assert_holds(&mut engine, &image, &random_vectors(&config, 40, 9));
}

#[test]
fn out_of_range_activations_are_not_checked_and_can_wrap_a_distance() {
    // 2-bit activations and centroids: distances keep distance_bits = 4 bits
    // (at most 3^2 per element, V = 1). The reference refuses x = 127; the
    // engine takes it, computes (127 - p)^2 exactly per element, and keeps
    // the sum modulo 16: 128^2 (p = -1) wraps to 0 and beats 126^2 (p = 1),
    // the nearest centroid by the formula.
    let config = EngineConfig {
        input_dim: 2,
        codebooks: 2,
        centroids: 4,
        outputs: 1,
        activation_bits: 2,
        centroid_bits: 2,
        ..EngineConfig::default()
    };
    assert_eq!(config.distance_bits(), 4);
    let random = Image::random(config.clone(), 10).unwrap();
    let centroids = [-2i8, -1, 0, 1].repeat(2);
    let image = Image::new(
        config.clone(),
        centroids,
        random.tables().to_vec(),
        random.bias().to_vec(),
    )
    .unwrap();
    let x = vec![127i8, 0];
    assert!(Reference::new(&image).check_input(&x).is_err());
    let formula = nearest_l2((0..4).map(|k| image.centroid(0, k)), &x[..1]);
    assert_eq!((formula.index, formula.score), (3, 126 * 126));
    let mut engine = engine(&config);
    engine.load(&image).unwrap();
    let run = engine.run(&[x], Backpressure::none()).unwrap();
    let chosen = run.encodings[0][0];
    assert_eq!((chosen.index, chosen.distance), (1, (128 * 128) % 16));
}
