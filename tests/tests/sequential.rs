//! The sequential schedule: one engine, sized for the largest layer, runs a
//! network's layers in turn (`lutgen_hdl::sequential`). Against
//! `Network::infer`, bit for bit: random `l2` and `l1` networks whose layers
//! differ in every dimension the padding covers (C, K, N, V, widths), with
//! activation tables and back-pressure; the compiled digits network; random
//! convolutional networks (kernels 5, 3 and 1, strides 1 and 2, padding on
//! every border, widths 15, 7 and 3, MaxPool, AveragePool and
//! GlobalAveragePool, five sub-vector lengths on one engine) and the two CNN
//! fixtures; the trace port and an injected fault; and the layers it
//! refuses, before any build.

use lutgen_core::memory_map::{
    LoadWord, LAYER_SHIFT, PAD_VALUE_WORD, POOL_ZERO_POINT_WORD, SPATIAL_MEMORY,
};
use lutgen_core::network::{random_network, ActivationTable, Network};
use lutgen_core::sequential::{Schedule, SequentialPlan};
use lutgen_core::spatial::{Pool, Spatial};
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::verilog::{sequential_verilog, SEQUENTIAL_TOP_MODULE};
use lutgen_sim::{Backpressure, NetworkSim, SimError, SimOptions};
use lutgen_tests::{
    assert_network_bit_exact, assert_trace_finds_a_halved_multiplier, cache_dir,
    compiled_cnn_fixture, conv, edge_vectors, padding, random_conv_network, random_vectors,
    refit_digits_network, run_tool, sequential_top, with_activation, write_verilog,
};
use rand::{Rng, SeedableRng};

fn config(d: usize, c: usize, k: usize, n: usize) -> EngineConfig {
    EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: k,
        outputs: n,
        ..EngineConfig::default()
    }
}

/// Three `l2` layers with V = 2 that differ in C, K and N and in widths: the
/// engine is C = 8, K = 16, N = 12, and each layer uses a part of it.
fn three_layers() -> Vec<EngineConfig> {
    vec![
        config(10, 5, 8, 12),
        EngineConfig {
            activation_bits: 4,
            table_bits: 6,
            ..config(12, 6, 16, 16)
        },
        EngineConfig {
            bias_bits: 12,
            ..config(16, 8, 4, 3)
        },
    ]
}

/// Cycles the table read alone takes per inference: every layer at the
/// padded engine's `C * ceil(N / L)`.
fn table_read_bound(layers: &[EngineConfig]) -> usize {
    SequentialPlan::new(layers)
        .unwrap()
        .bound_cycles_per_inference()
}

#[test]
fn random_networks_run_layer_by_layer_bit_exact() {
    let layers = three_layers();
    let mut top = sequential_top(&layers);
    assert_eq!(top.schedule(), Schedule::Sequential);
    for seed in 0..3 {
        let network = random_network(&layers, seed).unwrap();
        let mut vectors = random_vectors(&layers[0], 150, seed + 10);
        vectors.extend(edge_vectors(&network.layers()[0].image));
        assert_network_bit_exact(
            &mut top,
            &network,
            &vectors,
            Backpressure::new(0.3, 0.2, seed),
        );
    }
    // `l1` layers (weights banked too), K, N and V differing (3 and 1: the
    // second layer's weights padded with zeros).
    let l1 = |c: EngineConfig| EngineConfig {
        encoder: EncoderKind::L1,
        ..c
    };
    let l1_layers = [l1(config(12, 4, 8, 9)), l1(config(9, 9, 16, 5))];
    let mut l1_top = sequential_top(&l1_layers);
    for seed in 0..2 {
        let network = random_network(&l1_layers, seed).unwrap();
        assert_network_bit_exact(
            &mut l1_top,
            &network,
            &random_vectors(&l1_layers[0], 100, seed),
            Backpressure::new(0.3, 0.3, seed),
        );
    }
    // Activation tables after both hidden layers.
    let network = random_network(&layers, 4).unwrap();
    let halve = ActivationTable::from_fn(4, |q| q / 2).unwrap();
    let negate = ActivationTable::from_fn(8, |q| q.wrapping_neg()).unwrap();
    let network = with_activation(&network, 0, Some(halve));
    let network = with_activation(&network, 1, Some(negate));
    assert_network_bit_exact(
        &mut top,
        &network,
        &random_vectors(&layers[0], 60, 5),
        Backpressure::new(0.8, 0.3, 4),
    );
    // Throughput: the sum of the padded layers' table reads, plus each
    // layer's feed and drain.
    let network = random_network(&layers, 6).unwrap();
    let run = assert_network_bit_exact(
        &mut top,
        &network,
        &random_vectors(&layers[0], 100, 7),
        Backpressure::none(),
    );
    let bound = table_read_bound(&layers) as f64;
    println!(
        "{} cycles per inference, table-read bound {bound}",
        run.cycles_per_inference
    );
    assert!(run.cycles_per_inference >= bound);
    assert!(
        run.cycles_per_inference <= bound + 3.0 * 64.0,
        "{} cycles per inference, table-read bound {bound}",
        run.cycles_per_inference
    );
}

/// The digits network (64-64-10, K = 16, V = 4) on one engine: all 360 test
/// images equal the reference.
#[test]
fn digits_network_runs_on_one_engine() {
    let (network, q, _) = refit_digits_network();
    let layers = network.configs();
    let mut top = sequential_top(&layers);
    let run = assert_network_bit_exact(&mut top, &network, &q, Backpressure::none());
    println!(
        "digits, sequential: {} cycles per inference (table-read bound {})",
        run.cycles_per_inference,
        table_read_bound(&layers)
    );
}

/// The trace port works as on the dataflow top: every hidden layer's trace
/// equals the reference's activations, and a fault injected after a good
/// load (layer 1's requantization multiplier halved) is found in layer 1.
#[test]
fn the_trace_names_the_layer_of_an_injected_fault() {
    let layers = three_layers();
    let mut top = sequential_top(&layers);
    let network = random_network(&layers, 41).unwrap();
    let vectors = random_vectors(&layers[0], 12, 42);
    assert_trace_finds_a_halved_multiplier(&mut top, &network, &vectors);
}

/// Layers one engine cannot run are refused before anything is built, and a
/// network for other layers is refused at load.
#[test]
fn what_one_engine_cannot_run_is_refused() {
    let options = SimOptions {
        schedule: Schedule::Sequential,
        ..SimOptions::default()
    };
    let tree = vec![EngineConfig {
        encoder: EncoderKind::Tree,
        ..config(16, 4, 16, 8)
    }];
    let lanes = vec![
        config(16, 4, 16, 8),
        EngineConfig {
            lanes: 2,
            ..config(8, 1, 16, 4)
        },
    ];
    for (layers, needle) in [(tree, "`l2` and `l1` layers only"), (lanes, "same --lanes")] {
        match NetworkSim::new(&layers, &options) {
            Err(e @ SimError::Sequential(_)) => assert!(e.to_string().contains(needle), "{e}"),
            Err(e) => panic!("{layers:?}: refused for another reason: {e}"),
            Ok(_) => panic!("{layers:?}: built"),
        }
    }
    let layers = three_layers();
    let mut top = sequential_top(&layers);
    let other = random_network(&[config(10, 5, 8, 12), config(12, 6, 16, 3)], 1).unwrap();
    let e = top.load(&other).unwrap_err().to_string();
    assert!(e.contains("layers"), "{e}");
}

/// The dense and the convolutional sequential tops pass `verilator
/// --lint-only -Wall`.
#[test]
fn sequential_top_is_lint_clean_with_all_warnings() {
    let (configs, spatial) = conv_layers();
    for (tag, plan) in [
        (
            "sequential-lint",
            SequentialPlan::new(&three_layers()).unwrap(),
        ),
        (
            "sequential-conv-lint",
            SequentialPlan::with_spatial(&configs, &spatial).unwrap(),
        ),
    ] {
        let verilog = sequential_verilog(&plan);
        let path = write_verilog(&verilog, SEQUENTIAL_TOP_MODULE, tag);
        let text = run_tool(
            "verilator",
            &[
                "--lint-only",
                "-Wall",
                "--top-module",
                SEQUENTIAL_TOP_MODULE,
                path.to_str().unwrap(),
            ],
        );
        assert!(!text.contains("%Warning"), "{tag}: {text}");
    }
}

fn conv_engine(d: usize, c: usize, k: usize, n: usize) -> EngineConfig {
    config(d, c, k, n)
}

/// Five layers on one engine (one Verilator model): a 16x15x2 map; a 5x5
/// convolution, stride 1, padding top 2, left 1, bottom 1, right 2
/// (15x14x3, V = 10), MaxPool (7x7x3, the odd last row dropped); a 3x3
/// convolution, stride 1, padding top 1 and right 2 only (6x7x4, V = 9,
/// K = 8), AveragePool (3x3x4, the odd last column dropped); a 3x3
/// convolution, stride 2, padding 1 all round (2x2x6, V = 4); a 1x1
/// convolution (2x2x5, V = 2), GlobalAveragePool (1x1x5); a dense layer
/// 5 -> 4 (V = 1).
/// The engine: V = 10, C = 9, D = 90, K = 8, N = 6.
fn conv_layers() -> (Vec<EngineConfig>, Vec<Spatial>) {
    let configs = vec![
        conv_engine(50, 5, 4, 3),
        conv_engine(27, 3, 8, 4),
        conv_engine(36, 9, 4, 6),
        conv_engine(6, 3, 4, 5),
        conv_engine(5, 5, 4, 4),
    ];
    let spatial = vec![
        conv((16, 15, 2), 5, 1, padding(2, 1, 1, 2), 0, Some(Pool::Max2)),
        conv((7, 7, 3), 3, 1, padding(1, 0, 0, 2), 0, Some(Pool::Avg2)),
        conv((3, 3, 4), 3, 2, padding(1, 1, 1, 1), 0, None),
        conv(
            (2, 2, 6),
            1,
            1,
            padding(0, 0, 0, 0),
            0,
            Some(Pool::GlobalAvg),
        ),
        Spatial::DENSE,
    ];
    (configs, spatial)
}

fn sequential_conv_top(configs: &[EngineConfig], spatial: &[Spatial]) -> NetworkSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        schedule: Schedule::Sequential,
        ..SimOptions::default()
    };
    NetworkSim::with_spatial(configs, spatial, &options)
        .unwrap_or_else(|e| panic!("building {configs:?} {spatial:?}: {e}"))
}

/// All -128, all 127, all the input zero point, then `random` random maps.
fn conv_vectors(network: &Network, random: usize, seed: u64) -> Vec<Vec<i8>> {
    let len = network.input_dim();
    let zero = network.input_quantization().zero_point;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![vec![-128; len], vec![127; len], vec![zero; len]];
    v.extend((0..random).map(|_| (0..len).map(|_| rng.gen::<i8>()).collect()));
    v
}

/// The traces of every hidden layer (the pooled maps) of `network` on `top`.
fn assert_traces(top: &mut NetworkSim, network: &Network, inputs: &[Vec<i8>]) {
    for layer in 0..network.layers().len() - 1 {
        let traced = top.trace(inputs, layer).unwrap();
        let want: Vec<Vec<i8>> = inputs
            .iter()
            .map(|x| network.infer(x).unwrap().activations[layer + 1].clone())
            .collect();
        assert_eq!(traced, want, "layer {layer}'s trace");
    }
}

/// Three random networks of [`conv_layers`] (different weights, activation
/// tables, zero points at both ends of int8, with and without ReLU) on one
/// sequential top: every vector bit-exact under random output stalls and
/// input gaps; every hidden layer's trace (the pooled maps) equals the
/// reference's activations; a wrong pad value and a wrong pool zero point
/// written over a good load change the layer's trace (both registers are live);
/// the cycles per inference against the plan's bound.
#[test]
fn random_conv_networks_run_on_one_engine_bit_exact() {
    let (configs, spatial) = conv_layers();
    let mut top = sequential_conv_top(&configs, &spatial);
    for (seed, zero_points) in [
        (3, [(-5, true), (9, false), (0, true), (4, false)]),
        (11, [(20, false), (-128, true), (-7, false), (127, false)]),
        (8, [(-100, false), (127, false), (90, true), (-128, true)]),
    ] {
        let network = random_conv_network(&configs, &spatial, &zero_points, seed);
        let inputs = conv_vectors(&network, 4, seed);
        assert_network_bit_exact(
            &mut top,
            &network,
            &inputs,
            Backpressure::new(0.3, 0.3, seed),
        );
        if seed == 3 {
            assert_traces(&mut top, &network, &inputs);
        }
    }
    // Pad value and pool zero point: a wrong value written after a good load.
    let network = random_conv_network(
        &configs,
        &spatial,
        &[(3, false), (-7, false), (0, false), (0, false)],
        5,
    );
    let inputs = conv_vectors(&network, 4, 9);
    let spatial_word = |layer: u32, word: usize, value: i8| LoadWord {
        address: layer << LAYER_SHIFT | (SPATIAL_MEMORY as u32) << 16 | word as u32,
        data: u32::from(value as u8),
    };
    for (layer, word) in [(0, PAD_VALUE_WORD), (1, POOL_ZERO_POINT_WORD)] {
        let want: Vec<Vec<i8>> = inputs
            .iter()
            .map(|x| network.infer(x).unwrap().activations[layer + 1].clone())
            .collect();
        top.load(&network).unwrap();
        assert_eq!(top.trace(&inputs, layer).unwrap(), want);
        top.write_words([spatial_word(layer as u32, word, 60)]);
        assert_ne!(
            top.trace(&inputs, layer).unwrap(),
            want,
            "layer {layer}'s word {word} is not used"
        );
    }
    // Cycles: the plan's bound (every pass at the padded engine's
    // table-read bound), plus the input load and each layer's drain.
    let run = assert_network_bit_exact(&mut top, &network, &inputs, Backpressure::none());
    let bound = SequentialPlan::with_spatial(&configs, &spatial)
        .unwrap()
        .bound_cycles_per_inference() as f64;
    println!(
        "random conv network, sequential: {} cycles per inference, bound {bound}",
        run.cycles_per_inference
    );
    assert!(run.cycles_per_inference >= bound);
    assert!(
        run.cycles_per_inference <= 1.1 * bound + 500.0,
        "{} cycles per inference, bound {bound}",
        run.cycles_per_inference
    );
}

/// The CNN fixtures (`cnn.onnx`: Conv 3x3 1 -> 8 pad 1, Conv 3x3 8 -> 16
/// stride 2 pad 1, MaxPool 2x2, Gemm 64 -> 10; `cnn_depthwise.onnx`: Conv
/// 3x3, the depthwise Conv 3x3 stride 2 as its block-diagonal Conv, a
/// pointwise Conv 1x1 (V = 4), MaxPool, Gemm), compiled with K = 4, on one
/// engine each: bit-exact on test digits with and without back-pressure,
/// and the cycles per inference against the plan's bound.
#[test]
fn the_cnn_fixtures_run_on_one_engine_bit_exact() {
    for (name, digits) in [("cnn", 24), ("cnn_depthwise", 12)] {
        let (network, inputs) = compiled_cnn_fixture(name, digits);
        let mut top = sequential_conv_top(&network.configs(), network.spatial());
        assert_network_bit_exact(&mut top, &network, &inputs, Backpressure::new(0.3, 0.1, 1));
        let run = assert_network_bit_exact(&mut top, &network, &inputs, Backpressure::none());
        let plan = SequentialPlan::with_spatial(&network.configs(), network.spatial()).unwrap();
        let bound = plan.bound_cycles_per_inference() as f64;
        println!(
            "{name} fixture, sequential: {} cycles per inference, bound {bound} (engine {:?})",
            run.cycles_per_inference,
            plan.engine()
        );
        assert!(run.cycles_per_inference >= bound);
        assert!(
            run.cycles_per_inference <= 1.1 * bound + 500.0,
            "{name}: {} cycles per inference, bound {bound}",
            run.cycles_per_inference
        );
    }
}
