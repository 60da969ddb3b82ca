//! The whole network on the device: the Verilated network top (one engine
//! per layer, requantization and activation tables between them) against
//! `Network::infer`, bit for bit, on random networks of two and three
//! layers (with and without activation tables), requantization edges,
//! activation tables of every kind, the compiled digits network, and bad
//! input.

use lutgen_compile as compile;
use lutgen_core::network::{random_network, ActivationTable, Network};
use lutgen_core::{EncoderKind, EngineConfig, Image, Reference, Requantize};
use lutgen_hdl::network::NetworkShapeError;
use lutgen_hdl::verilog::{network_verilog, NETWORK_TOP_MODULE};
use lutgen_sim::{Backpressure, SimError};
use lutgen_tests::{
    adversarial_encoder_image, adversarial_image, assert_network_bit_exact,
    assert_trace_finds_a_halved_multiplier, ecp5_network_top, edge_vectors, identity_image,
    network_top, random_vectors, refit_digits_network, run_tool, spram_network_top,
    with_activation, with_image, with_requantize, write_verilog, Extreme,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

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

/// Two `l2` layers, lanes 2 then 3; the second takes 4-bit activations
/// and can hold an identity image (V = 1, K = 16), which makes the
/// requantization between them visible in the outputs.
fn two_layers() -> Vec<EngineConfig> {
    vec![
        config(16, 4, 8, 12, 2),
        EngineConfig {
            activation_bits: 4,
            ..config(12, 12, 16, 12, 3)
        },
    ]
}

/// Three layers with other shapes and encoders: `l2`, then `sign` on 4-bit
/// activations with 2 lanes for 5 outputs (padding rows), then an `l2`
/// layer on 8-bit activations that can hold an identity image (V = 1,
/// K = 256), so the 8-bit requantization before it is visible.
fn three_layers() -> Vec<EngineConfig> {
    vec![
        config(12, 3, 4, 8, 1),
        EngineConfig {
            encoder: EncoderKind::Sign,
            activation_bits: 4,
            ..config(8, 4, 4, 5, 2)
        },
        config(5, 5, 256, 5, 1),
    ]
}

/// Cycles per inference the slowest layer allows: its table-read bound, or
/// its input rate (one element per cycle) when that is slower.
fn slowest_layer(layers: &[EngineConfig]) -> f64 {
    layers
        .iter()
        .map(|c| c.bound_cycles_per_inference().max(c.input_dim))
        .max()
        .unwrap() as f64
}

fn requantize(multiplier: i32, shift: u8, zero_point: i8, relu: bool) -> Requantize {
    Requantize {
        multiplier,
        shift,
        zero_point,
        relu,
        bits: 8,
    }
}

/// The requantizations that reach every edge of `Requantize::apply` for a
/// `bits`-wide result: saturation at both ends, ReLU, zero points at both
/// ends, the extreme multipliers and shifts, and power-of-two scales from 1
/// down to 2^-16, whose ties (`acc * m / 2^s` exactly half-way) are common.
fn requantize_edges(bits: u32) -> Vec<Requantize> {
    let (lo, hi) = EngineConfig::signed_range(bits);
    let zp = |v: i64| v.clamp(lo, hi) as i8;
    let mut edges = vec![
        requantize(1 << 30, 30, 0, false), // scale 1: saturates at both ends
        requantize(1 << 30, 30, zp(lo), true), // ReLU at the lower end
        requantize(3, 2, 0, false),        // 3/4, small multiplier
        requantize(1, 1, 0, false),        // multiplier 1, shift 1
        requantize(i32::MAX, 1, zp(-3), false), // largest scale: everything saturates
        requantize(i32::MAX, 62, 0, false), // largest shift: almost everything is 0
        requantize(1 << 30, 38, zp(hi), true), // zero point at the top, ReLU: always hi
        requantize(1 << 30, 37, zp(lo), false), // zero point at the bottom
        requantize(0x5555_5555, 37, zp(3), true), // every partial product non-zero
        requantize(0x7FFF_0001, 44, zp(-5), false),
    ];
    for t in 0..16 {
        edges.push(requantize(
            1 << 30,
            31 + t,
            zp(t as i64 % 5 - 2),
            t % 3 == 0,
        ));
    }
    edges
}

/// Layer `layer`'s image with a zero bias: small accumulators, whose ties
/// survive saturation at small scales.
fn zero_bias(image: &Image) -> Image {
    Image::with_params(
        image.config().clone(),
        image.centroids().to_vec(),
        image.tables().to_vec(),
        vec![0; image.config().outputs],
        image.params().clone(),
    )
    .unwrap()
}

/// A random permutation of the `bits`-wide range as an activation table:
/// not monotonic, and every entry distinct, so the next layer's input still
/// tells every requantized value apart and a wrong index always shows.
fn permutation_table(bits: u32, seed: u64) -> ActivationTable {
    let (lo, hi) = EngineConfig::signed_range(bits);
    let mut values: Vec<i8> = (lo..=hi).map(|v| v as i8).collect();
    values.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    ActivationTable::from_fn(bits, |q| values[(i64::from(q) - lo) as usize]).unwrap()
}

/// Runs every requantization edge after layer `layer` of `base` (whose
/// next layer is the last one and holds an identity image), with each of
/// `images` as layer `layer`'s image, on `vectors`: every other edge
/// without an activation table, the others with a permutation table (which
/// hides no requantization error: its entries are distinct).
fn check_requantize_edges(
    top: &mut lutgen_sim::NetworkSim,
    base: &Network,
    layer: usize,
    images: &[Image],
    vectors: &[Vec<i8>],
) {
    let bits = base.layers()[layer].requantize.unwrap().bits;
    for (i, r) in requantize_edges(bits).into_iter().enumerate() {
        let table = (i % 2 == 1).then(|| permutation_table(bits, i as u64));
        let edge = with_activation(&with_requantize(base, layer, r), layer, table);
        for image in images {
            let network = with_image(&edge, layer, image.clone());
            assert_network_bit_exact(top, &network, vectors, Backpressure::random(0.2, i as u64));
        }
    }
}

/// A network reference with another requantization rule, for checking that
/// the comparison would notice a wrong one (tables as the reference applies them).
fn infer_with(network: &Network, x: &[i8], rule: impl Fn(&Requantize, i32) -> i8) -> Vec<i32> {
    infer_with_table(network, x, rule, |t, q| t.apply(q))
}

/// A network reference with other requantization and table rules.
fn infer_with_table(
    network: &Network,
    x: &[i8],
    rule: impl Fn(&Requantize, i32) -> i8,
    lookup: impl Fn(&ActivationTable, i8) -> i8,
) -> Vec<i32> {
    let mut x = x.to_vec();
    for layer in network.layers() {
        let acc = Reference::new(&layer.image).outputs(&x).unwrap();
        match (&layer.requantize, &layer.activation) {
            (Some(r), None) => x = acc.iter().map(|&a| rule(r, a)).collect(),
            (Some(r), Some(t)) => x = acc.iter().map(|&a| lookup(t, rule(r, a))).collect(),
            (None, _) => return acc,
        }
    }
    unreachable!()
}

/// `Requantize::apply` with ties rounded toward zero instead of away from it.
fn ties_toward_zero(r: &Requantize, acc: i32) -> i8 {
    let p = i64::from(acc) * i64::from(r.multiplier);
    let half = 1i64 << (r.shift - 1);
    let magnitude = (p.unsigned_abs() as i64 + half - 1) >> r.shift;
    let value = if p < 0 { -magnitude } else { magnitude };
    let (lo, hi) = EngineConfig::signed_range(r.bits);
    let mut q = (value + i64::from(r.zero_point)).clamp(lo, hi);
    if r.relu {
        q = q.max(i64::from(r.zero_point));
    }
    q as i8
}

fn assert_near_slowest_layer(layers: &[EngineConfig], cycles_per_inference: f64) {
    let bound = slowest_layer(layers);
    assert!(
        cycles_per_inference <= 1.05 * bound,
        "{cycles_per_inference} cycles per inference, slowest layer {bound}"
    );
}

#[test]
fn two_layer_networks_are_bit_exact() {
    let layers = two_layers();
    let mut top = network_top(&layers);
    // Random networks, random vectors and edge vectors, with output stalls and input gaps.
    for seed in 0..3 {
        let network = random_network(&layers, seed).unwrap();
        let mut vectors = random_vectors(&layers[0], 300, seed + 10);
        vectors.extend(edge_vectors(&network.layers()[0].image));
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.3, 0.2, seed),
        );
    }
    // Output stalls long enough to back up through every engine and stage.
    let network = random_network(&layers, 5).unwrap();
    let vectors = random_vectors(&layers[0], 40, 15);
    assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::new(0.9, 0.3, 5));
    // Every requantization edge (4-bit result), with the identity as the
    // last layer, on random, small and extreme accumulators.
    let random = random_network(&layers, 7).unwrap();
    let base = with_image(&random, 1, identity_image(&layers[1]));
    let first = &random.layers()[0].image;
    let images = [
        first.clone(),
        zero_bias(first),
        adversarial_image(&layers[0], 1, Extreme::Min),
        adversarial_image(&layers[0], 2, Extreme::Max),
    ];
    check_requantize_edges(
        &mut top,
        &base,
        0,
        &images,
        &random_vectors(&layers[0], 40, 8),
    );
    // Throughput: the slowest layer's rate, not the sum of the layers'.
    let network = random_network(&layers, 1).unwrap();
    let run = assert_network_bit_exact(
        &mut top,
        &network,
        &random_vectors(&layers[0], 200, 4),
        Backpressure::none(),
    );
    assert_near_slowest_layer(&layers, run.cycles_per_inference);
}

/// A requantization rule that differs from the reference only on ties is
/// caught: the hardware's outputs differ from it, so the comparisons above
/// can fail.
#[test]
fn a_wrong_reference_is_caught() {
    let layers = two_layers();
    let mut top = network_top(&layers);
    let random = random_network(&layers, 2).unwrap();
    let base = with_image(&random, 1, identity_image(&layers[1]));
    let network = with_image(
        &with_requantize(&base, 0, requantize(1 << 30, 36, 0, false)),
        0,
        zero_bias(&random.layers()[0].image),
    );
    let vectors = random_vectors(&layers[0], 50, 5);
    let run = assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::none());
    let wrong = vectors
        .iter()
        .zip(&run.outputs)
        .filter(|(x, got)| &&infer_with(&network, x, ties_toward_zero) != got)
        .count();
    assert!(
        wrong > 0,
        "ties toward zero went unnoticed on all 50 vectors"
    );
}

#[test]
fn three_layer_networks_with_other_encoders_are_bit_exact() {
    let layers = three_layers();
    let mut top = network_top(&layers);
    for seed in 0..3 {
        let network = random_network(&layers, seed).unwrap();
        let vectors = random_vectors(&layers[0], 300, seed + 20);
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.4, 0.1, seed),
        );
    }
    let network = random_network(&layers, 5).unwrap();
    let vectors = random_vectors(&layers[0], 40, 25);
    assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::new(0.9, 0.3, 6));
    // Every requantization edge (8-bit result) after the `sign` layer, with
    // the identity as the last layer; ReLU and 4-bit saturation before it.
    let random = random_network(&layers, 9).unwrap();
    let base = with_requantize(&random, 0, requantize(1 << 30, 30, -8, true));
    let base = with_image(&base, 2, identity_image(&layers[2]));
    let middle = &random.layers()[1].image;
    let images = [
        middle.clone(),
        zero_bias(middle),
        adversarial_encoder_image(&layers[1], 1, Extreme::Min),
        adversarial_encoder_image(&layers[1], 2, Extreme::Max),
    ];
    check_requantize_edges(
        &mut top,
        &base,
        1,
        &images,
        &random_vectors(&layers[0], 40, 30),
    );
    let run = assert_network_bit_exact(
        &mut top,
        &random,
        &random_vectors(&layers[0], 100, 31),
        Backpressure::none(),
    );
    assert_near_slowest_layer(&layers, run.cycles_per_inference);
}

/// Activation tables run exactly: the same bitstream with and without a
/// table (the enable is loaded, so a table left by an earlier load is
/// switched off), tables of every kind on 4- and 8-bit activations, behind
/// an identity last layer so every table output reaches the outputs, and a
/// lookup one index off is caught.
#[test]
fn activation_tables_are_bit_exact_and_loaded_not_built() {
    let layers = two_layers();
    let mut top = network_top(&layers);
    let random = random_network(&layers, 2).unwrap();
    assert!(random.layers()[0].activation.is_none());
    // A zero bias on layer 0, so its accumulators (sums of 4 table entries)
    // spread over the 4-bit range at the scales below; identity last layer.
    let base = with_image(&random, 1, identity_image(&layers[1]));
    let base = with_image(&base, 0, zero_bias(&random.layers()[0].image));
    let vectors = random_vectors(&layers[0], 60, 40);
    let bits = layers[1].activation_bits;
    let (lo, hi) = EngineConfig::signed_range(bits);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
    let random_entries = ActivationTable::from_fn(bits, |_| rng.gen_range(lo..=hi) as i8).unwrap();
    // Real activations in 4 bits, scale 1/2 on both sides: tanh and a sigmoid-like step.
    let tanh = ActivationTable::from_fn(bits, |q| {
        ((f64::from(q) / 2.0).tanh() * 2.0 * 3.5)
            .round()
            .clamp(lo as f64, hi as f64) as i8
    })
    .unwrap();
    let sigmoid = ActivationTable::from_fn(bits, |q| {
        (1.0 / (1.0 + (-f64::from(q)).exp()) * 15.0 - 8.0).round() as i8
    })
    .unwrap();
    let tables = [
        Some(permutation_table(bits, 1)),
        None,
        Some(random_entries),
        Some(ActivationTable::identity(bits).unwrap()),
        Some(tanh),
        Some(sigmoid),
        Some(ActivationTable::from_fn(bits, |_| lo as i8).unwrap()),
        None,
        Some(permutation_table(bits, 2)),
    ];
    // Requantizations that reach both ends of the range (so the table's
    // first and last entries, indices 248 and 7, are read) and the ReLU.
    let requantizations = [
        requantize(1 << 30, 35, 0, false),
        requantize(1 << 30, 34, -8, true),
        requantize(3 << 29, 36, 2, false),
    ];
    for (i, table) in tables.iter().enumerate() {
        for (j, r) in requantizations.iter().enumerate() {
            let network = with_activation(&with_requantize(&base, 0, *r), 0, *table);
            assert_network_bit_exact(
                &mut top,
                &network,
                &vectors,
                Backpressure::random(0.3, (i * 3 + j) as u64),
            );
        }
    }
    // Every requantized value is reached, so every entry of the table is read.
    let r = requantizations[0];
    let network = with_activation(
        &with_requantize(&base, 0, r),
        0,
        Some(permutation_table(bits, 3)),
    );
    let seen: std::collections::BTreeSet<i8> = vectors
        .iter()
        .flat_map(|x| network.infer(x).unwrap().activations[1].clone())
        .collect();
    assert_eq!(seen.len(), 16, "{seen:?}");
    // A lookup one index off (q + 1, wrapping within the range) disagrees with the hardware.
    let run = assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::none());
    let wrong = vectors
        .iter()
        .zip(&run.outputs)
        .filter(|(x, got)| {
            let off = infer_with_table(
                &network,
                x,
                |r, a| r.apply(a),
                |t, q| t.apply(if i64::from(q) == hi { lo as i8 } else { q + 1 }),
            );
            &&off != got
        })
        .count();
    assert_eq!(wrong, vectors.len(), "an off-by-one lookup went unnoticed");
    // Throughput is unchanged with a table.
    let run = assert_network_bit_exact(
        &mut top,
        &with_activation(&random, 0, Some(permutation_table(bits, 4))),
        &random_vectors(&layers[0], 200, 42),
        Backpressure::none(),
    );
    assert_near_slowest_layer(&layers, run.cycles_per_inference);
}

/// Tables on both boundaries of the three-layer network (4 bits after the
/// first layer, 8 bits after the second), with and without, and an 8-bit
/// table whose every entry is read, behind the identity last layer.
#[test]
fn activation_tables_on_several_layers_are_bit_exact() {
    let layers = three_layers();
    let mut top = network_top(&layers);
    let random = random_network(&layers, 9).unwrap();
    let vectors = random_vectors(&layers[0], 80, 50);
    for (k, (first, second)) in [(true, true), (false, true), (true, false), (false, false)]
        .into_iter()
        .enumerate()
    {
        let network = with_activation(
            &random,
            0,
            first.then(|| permutation_table(4, 10 + k as u64)),
        );
        let network = with_activation(
            &network,
            1,
            second.then(|| permutation_table(8, 20 + k as u64)),
        );
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.3, 0.2, k as u64),
        );
    }
    // 8 bits, identity last layer, the `sign` layer with a zero bias and
    // scale 1/2 (its accumulators spread over the range): a permutation
    // table, whose distinct outputs count the entries read, then a table of
    // random entries.
    // (Layer 0 with a zero bias and no ReLU too, so the `sign` layer's
    // inputs vary in sign from vector to vector.)
    let base = with_requantize(&random, 0, requantize(1 << 30, 35, 0, false));
    let base = with_image(&base, 0, zero_bias(&random.layers()[0].image));
    let base = with_image(&base, 2, identity_image(&layers[2]));
    let base = with_image(&base, 1, zero_bias(&random.layers()[1].image));
    let base = with_requantize(&base, 1, requantize(1 << 30, 31, 0, false));
    let many = random_vectors(&layers[0], 400, 52);
    let network = with_activation(&base, 1, Some(permutation_table(8, 30)));
    let read: std::collections::BTreeSet<i8> = many
        .iter()
        .flat_map(|x| network.infer(x).unwrap().activations[2].clone())
        .collect();
    assert!(read.len() >= 100, "only {} table entries read", read.len());
    assert_network_bit_exact(&mut top, &network, &many, Backpressure::random(0.2, 53));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(51);
    let table = ActivationTable::from_fn(8, |_| rng.gen::<i8>()).unwrap();
    let network = with_activation(&base, 1, Some(table));
    assert_network_bit_exact(&mut top, &network, &many, Backpressure::random(0.2, 54));
}

/// The network top as built for ECP5, where every table (the activation
/// tables too) is DP16KD blocks whose output register holds the second read
/// register: random networks with and without tables, and a permutation
/// table whose every entry is read, stay bit-exact.
#[test]
fn activation_tables_on_the_ecp5_primitives_are_bit_exact() {
    let layers = two_layers();
    let mut top = ecp5_network_top(&layers);
    for seed in 0..3 {
        let network = random_network(&layers, seed).unwrap();
        let vectors = random_vectors(&layers[0], 100, seed + 60);
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.3, 0.2, seed),
        );
    }
    let random = random_network(&layers, 2).unwrap();
    let base = with_image(&random, 1, identity_image(&layers[1]));
    let base = with_image(&base, 0, zero_bias(&random.layers()[0].image));
    let network = with_activation(
        &with_requantize(&base, 0, requantize(1 << 30, 35, 0, false)),
        0,
        Some(permutation_table(4, 61)),
    );
    let vectors = random_vectors(&layers[0], 60, 62);
    assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::random(0.3, 63));
}

/// The network top as built for the iCE40UP5K, every engine's tables in
/// SPRAM (SB_SPRAM256KA with its behavioural model): random networks loaded
/// in turn into one top stay bit-exact.
#[test]
fn tables_in_spram_are_bit_exact() {
    let layers = two_layers();
    let mut top = spram_network_top(&layers);
    for seed in 0..3 {
        let network = random_network(&layers, seed).unwrap();
        let vectors = random_vectors(&layers[0], 100, seed + 70);
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.3, 0.2, seed),
        );
    }
}

#[test]
fn reset_mid_stream_leaves_no_trace() {
    let layers = two_layers();
    let mut top = network_top(&layers);
    let network = random_network(&layers, 3).unwrap();
    top.load(&network).unwrap();
    let vectors = random_vectors(&layers[0], 20, 6);
    top.push_partial(&vectors, 150);
    top.reset();
    assert_network_bit_exact(&mut top, &network, &vectors, Backpressure::random(0.3, 1));
}

#[test]
fn mismatched_networks_and_inputs_are_refused() {
    let layers = two_layers();
    let mut top = network_top(&layers);
    assert!(matches!(
        top.run(&random_vectors(&layers[0], 1, 1), Backpressure::none()),
        Err(SimError::NotLoaded)
    ));
    // Another shape in layer 1.
    let mut other = layers.clone();
    other[1].lanes = 2;
    let err = top.load(&random_network(&other, 1).unwrap()).unwrap_err();
    assert!(
        matches!(&err, SimError::NetworkMismatch(m) if m.contains("layer 1")),
        "{err}"
    );
    // Another number of layers.
    let three = vec![
        layers[0].clone(),
        config(12, 6, 4, 12, 1),
        layers[1].clone(),
    ];
    let err = top.load(&random_network(&three, 1).unwrap()).unwrap_err();
    assert!(
        matches!(&err, SimError::NetworkMismatch(m) if m.contains("3 layers")),
        "{err}"
    );
    // Vectors of the wrong width.
    top.load(&random_network(&layers, 1).unwrap()).unwrap();
    assert!(matches!(
        top.run(&[vec![0; 15]], Backpressure::none()),
        Err(SimError::InputLength {
            expected: 16,
            got: 15,
            ..
        })
    ));
}

#[test]
fn layers_that_do_not_chain_are_refused_before_any_build() {
    let layers = two_layers();
    let cases: Vec<(Vec<EngineConfig>, &str)> = vec![
        (vec![], "at least one layer"),
        (vec![layers[0].clone(), layers[0].clone()], "12 outputs"),
        (vec![layers[1].clone(); 17], "at most 16 layers"),
        (vec![config(16, 3, 8, 12, 1)], "layer 0"),
    ];
    for (layers, words) in cases {
        let err = network_verilog(&layers).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
        let options = lutgen_sim::SimOptions::default();
        assert!(matches!(
            lutgen_sim::NetworkSim::new(&layers, &options),
            Err(SimError::NetworkShape(_))
        ));
    }
    assert_eq!(network_verilog(&[]).unwrap_err(), NetworkShapeError::Empty);
}

#[test]
fn network_top_is_lint_clean_with_all_warnings() {
    for (i, layers) in [two_layers(), three_layers()].iter().enumerate() {
        let verilog = network_verilog(layers).unwrap();
        let path = write_verilog(&verilog, NETWORK_TOP_MODULE, &format!("network-lint{i}"));
        let text = run_tool(
            "verilator",
            &[
                "--lint-only",
                "-Wall",
                "--top-module",
                NETWORK_TOP_MODULE,
                path.to_str().unwrap(),
            ],
        );
        assert!(!text.contains("%Warning"), "{layers:?}:\n{text}");
    }
}

/// The committed digits model, compiled (refit, K = 16, V = 4), on the
/// network top: all 360 test images equal the reference, and so does the
/// accuracy.
#[test]
fn digits_network_on_the_network_top_equals_the_reference() {
    let (network, q, labels) = refit_digits_network();
    let layers = network.configs();
    let mut top = network_top(&layers);
    let run = assert_network_bit_exact(&mut top, &network, &q, Backpressure::none());
    let reference: Vec<Vec<i32>> = q
        .iter()
        .map(|x| network.infer(x).unwrap().outputs)
        .collect();
    assert_eq!(
        compile::accuracy(&run.outputs, &labels),
        compile::accuracy(&reference, &labels)
    );
    assert_near_slowest_layer(&layers, run.cycles_per_inference);
}

/// The trace port names where a device first disagrees with the reference:
/// a fault injected through the load port after a good load (a wrong
/// requantization multiplier after layer 1, a wrong bias in the last layer)
/// is found in the layer it was put in, at an element that differs; a good
/// load has no divergence, and the trace of every layer equals the
/// reference's activations.
#[test]
fn the_trace_names_the_layer_where_a_fault_was_injected() {
    use lutgen_core::memory_map::{LoadWord, MemoryMap, LAYER_SHIFT};
    let layers = three_layers();
    let mut top = network_top(&layers);
    let network = random_network(&layers, 41).unwrap();
    let vectors = random_vectors(&layers[0], 12, 42);
    assert_trace_finds_a_halved_multiplier(&mut top, &network, &vectors);

    // Reloaded, then the last layer's bias for output 3 moved by 1000.
    top.load(&network).unwrap();
    let last = &network.layers()[2].image;
    let map = MemoryMap::new(last.config());
    let lanes = last.config().lanes;
    // Toward zero, so the bias stays within its width.
    let delta = if last.bias()[3] > 0 { -1000 } else { 1000 };
    top.write_words([LoadWord {
        address: 2 << LAYER_SHIFT | (map.bias_memory(3 % lanes) as u32) << 16 | (3 / lanes) as u32,
        data: (last.bias()[3] + delta) as u32,
    }]);
    let found = top
        .first_divergence(&network, &vectors[0])
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.layer, found.last, found.element),
        (2, true, 3),
        "{found}"
    );
    assert_eq!(
        found.got,
        Some(found.expected + i64::from(delta)),
        "{found}"
    );
}
