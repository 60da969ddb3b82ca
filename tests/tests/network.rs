//! The whole network on the device: the Verilated network top (one engine
//! per layer, requantization between them) against `Network::infer`, bit
//! for bit, on random networks of two and three layers, requantization
//! edges, the compiled digits network, and bad input.

use indicatif::ProgressBar;
use lutgen_compile::{self as compile, mlp, CompileOptions, Method, Mlp};
use lutgen_core::network::{random_network, Network};
use lutgen_core::{EncoderKind, EngineConfig, Image, Reference, Requantize};
use lutgen_hdl::network::NetworkShapeError;
use lutgen_hdl::verilog::{network_verilog, NETWORK_TOP_MODULE};
use lutgen_sim::{Backpressure, SimError};
use lutgen_tests::{
    adversarial_encoder_image, adversarial_image, assert_network_bit_exact, edge_vectors,
    identity_image, network_top, random_vectors, run_tool, with_image, with_requantize,
    write_verilog, Extreme,
};
use std::path::Path;

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

/// Runs every requantization edge after layer `layer` of `base` (whose
/// next layer is the last one and holds an identity image), with each of
/// `images` as layer `layer`'s image, on `vectors`.
fn check_requantize_edges(
    top: &mut lutgen_sim::NetworkSim,
    base: &Network,
    layer: usize,
    images: &[Image],
    vectors: &[Vec<i8>],
) {
    let bits = base.layers()[layer].requantize.unwrap().bits;
    for (i, r) in requantize_edges(bits).into_iter().enumerate() {
        for image in images {
            let network = with_image(&with_requantize(base, layer, r), layer, image.clone());
            assert_network_bit_exact(top, &network, vectors, Backpressure::random(0.2, i as u64));
        }
    }
}

/// A network reference with another requantization rule, for checking that
/// the comparison would notice a wrong one.
fn infer_with(network: &Network, x: &[i8], rule: impl Fn(&Requantize, i32) -> i8) -> Vec<i32> {
    let mut x = x.to_vec();
    for layer in network.layers() {
        let acc = Reference::new(&layer.image).outputs(&x).unwrap();
        match &layer.requantize {
            Some(r) => x = acc.iter().map(|&a| rule(r, a)).collect(),
            None => return acc,
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

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The committed digits model, compiled (refit, K = 16, V = 4), on the
/// network top: all 360 test images equal the reference, and so does the
/// accuracy.
#[test]
fn digits_network_on_the_network_top_equals_the_reference() {
    let model = Mlp::read(&data("digits_mlp.safetensors"), &[]).unwrap();
    let train = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let labels = mlp::read_labels(&data("digits_test_y.npy")).unwrap();
    let options = CompileOptions {
        method: Method::Refit,
        ..CompileOptions::default()
    };
    let network = compile::compile(&model, &train, &options, &ProgressBar::hidden()).unwrap();
    let layers: Vec<EngineConfig> = network
        .layers()
        .iter()
        .map(|l| l.image.config().clone())
        .collect();
    let mut top = network_top(&layers);
    let q: Vec<Vec<i8>> = test
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
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
