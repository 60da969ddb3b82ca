//! The sequential schedule: one engine, sized for the largest layer, runs a
//! network's layers in turn (`lutgen_hdl::sequential`). Against
//! `Network::infer`, bit for bit: random `l2` and `l1` networks whose layers
//! differ in every dimension the padding covers (C, K, N, widths), with
//! activation tables and back-pressure; the compiled digits network; the trace port and
//! an injected fault; and the layers it refuses, before any build.

use lutgen_core::network::{random_network, ActivationTable};
use lutgen_core::sequential::{Schedule, SequentialPlan};
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::verilog::{sequential_verilog, SEQUENTIAL_TOP_MODULE};
use lutgen_sim::{Backpressure, NetworkSim, SimError, SimOptions};
use lutgen_tests::{
    assert_network_bit_exact, assert_trace_finds_a_halved_multiplier, edge_vectors, random_vectors,
    refit_digits_network, run_tool, sequential_top, with_activation, write_verilog,
};

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
    // `l1` layers (weights banked too), K and N differing.
    let l1 = |c: EngineConfig| EngineConfig {
        encoder: EncoderKind::L1,
        ..c
    };
    let l1_layers = [l1(config(12, 4, 8, 9)), l1(config(9, 3, 16, 5))];
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
    let mixed_v = vec![config(16, 4, 16, 8), config(8, 1, 16, 4)];
    for (layers, needle) in [
        (tree, "`l2` and `l1` layers only"),
        (mixed_v, "sub-vector length"),
    ] {
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

#[test]
fn sequential_top_is_lint_clean_with_all_warnings() {
    let plan = SequentialPlan::new(&three_layers()).unwrap();
    let verilog = sequential_verilog(&plan);
    let path = write_verilog(&verilog, SEQUENTIAL_TOP_MODULE, "sequential-lint");
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
    assert!(!text.contains("%Warning"), "{text}");
}
