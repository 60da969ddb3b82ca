//! Convolutional networks on the dataflow network top: the Verilated top
//! (window generators, engines, requantization, pooling stages) against
//! `Network::infer`, bit for bit, on every vector, with random
//! back-pressure. Random networks of one set of layers cover kernels 1, 3
//! and 5, strides 1 and 2, padding on every border (asymmetric too), maps
//! whose width is not a power of two (15, 7), MaxPool, AveragePool (odd
//! last rows and columns dropped) and GlobalAveragePool; the CNN fixture
//! (`tests/data/onnx/cnn.onnx`: a 3x3 stride-2 convolution, a dense layer
//! reading a 2x2x16 map) and the depthwise-separable CNN fixture
//! (`cnn_depthwise.onnx`: its depthwise Conv as the block-diagonal Conv the
//! frontend reads) run on test digits; the three pooling stages run alone
//! against `Pool::apply`. Four Verilator models in all (the random layers,
//! the two CNNs, the pooling stages), to keep the build time small.

use lutgen_compile::frontend::{self, WeightsOptions};
use lutgen_compile::{self as compile, mlp, CompileOptions};
use lutgen_core::conv::Padding;
use lutgen_core::memory_map::{LoadWord, LAYER_SHIFT, POOL_ZERO_POINT_WORD, SPATIAL_MEMORY};
use lutgen_core::network::{random_network, Network};
use lutgen_core::spatial::{Pool, Spatial};
use lutgen_core::EngineConfig;
use lutgen_hdl::network::NetworkShapeError;
use lutgen_hdl::verilog::{spatial_network_verilog, NETWORK_TOP_MODULE};
use lutgen_sim::{Backpressure, NetworkSim, SimError, SimOptions};
use lutgen_tests::{cache_dir, conv, padding, random_conv_network, run_tool, write_verilog};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

fn engine(input_dim: usize, codebooks: usize, outputs: usize, lanes: usize) -> EngineConfig {
    EngineConfig {
        input_dim,
        codebooks,
        centroids: 4,
        outputs,
        lanes,
        ..EngineConfig::default()
    }
}

/// The random network's layers (one Verilator model): a 16x15x2 map; a
/// 5x5 convolution, stride 1, padding top 2, left 1, bottom 1, right 2
/// (15x14x3), MaxPool 2x2 (7x7x3: the odd last row dropped); a 3x3
/// convolution, stride 1, padding top 1 and right 2 only (6x7x4),
/// AveragePool 2x2 (3x3x4: the odd last column dropped); a 1x1 convolution,
/// stride 2 (2x2x5), GlobalAveragePool (1x1x5); a dense layer 5 -> 4.
fn layers() -> (Vec<EngineConfig>, Vec<Spatial>) {
    let configs = vec![
        engine(50, 2, 3, 2),
        engine(27, 3, 4, 1),
        engine(4, 2, 5, 2),
        engine(5, 5, 4, 1),
    ];
    let spatial = vec![
        conv((16, 15, 2), 5, 1, padding(2, 1, 1, 2), 0, Some(Pool::Max2)),
        conv((7, 7, 3), 3, 1, padding(1, 0, 0, 2), 0, Some(Pool::Avg2)),
        conv(
            (3, 3, 4),
            1,
            2,
            Padding::default(),
            0,
            Some(Pool::GlobalAvg),
        ),
        Spatial::DENSE,
    ];
    (configs, spatial)
}

fn top(configs: &[EngineConfig], spatial: &[Spatial]) -> NetworkSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        ..SimOptions::default()
    };
    NetworkSim::with_spatial(configs, spatial, &options)
        .unwrap_or_else(|e| panic!("building {configs:?} {spatial:?}: {e}"))
}

/// All -128, all 127, all the input zero point, then `random` random maps.
fn vectors(network: &Network, random: usize, seed: u64) -> Vec<Vec<i8>> {
    let len = network.input_dim();
    let zero = network.input_quantization().zero_point;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![vec![-128; len], vec![127; len], vec![zero; len]];
    v.extend((0..random).map(|_| (0..len).map(|_| rng.gen::<i8>()).collect()));
    v
}

/// Loads `network`, streams `inputs` with `bp` (output stalls, input gaps)
/// and checks every output against `Network::infer`.
fn assert_bit_exact(
    sim: &mut NetworkSim,
    network: &Network,
    inputs: &[Vec<i8>],
    bp: Backpressure,
) -> f64 {
    sim.load(network).unwrap();
    let run = sim.run(inputs, bp).unwrap();
    assert_eq!(run.outputs.len(), inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        let want = network.infer(x).unwrap().outputs;
        assert_eq!(run.outputs[i], want, "vector {i}");
    }
    run.cycles_per_inference
}

/// Three random networks of [`layers`] (different weights, activation
/// tables, zero points at both ends of int8, with and without ReLU) on one
/// top: every vector bit-exact under random output stalls and input gaps,
/// and (first network) every hidden layer's trace (the pooled maps:
/// MaxPool's 7x7x3, AveragePool's 3x3x4, GlobalAveragePool's 1x1x5) equals
/// the reference's activations. A wrong pool zero point written over a good load changes
/// the pooled map (ties round toward the other side): the word is live. A
/// network of other layers is refused, naming the layer.
#[test]
fn random_conv_networks_are_bit_exact() {
    let (configs, spatial) = layers();
    let mut sim = top(&configs, &spatial);
    for (seed, zero_points) in [
        (3, [(-5, true), (9, false), (0, true)]),
        (11, [(20, false), (-128, true), (-7, false)]),
        (8, [(-100, false), (127, false), (90, true)]),
    ] {
        let network = random_conv_network(&configs, &spatial, &zero_points, seed);
        let inputs = vectors(&network, 3, seed);
        assert_bit_exact(
            &mut sim,
            &network,
            &inputs,
            Backpressure::new(0.3, 0.3, seed),
        );
        // The traces once (each is a run of its own).
        if seed != 3 {
            continue;
        }
        for layer in 0..3 {
            let traced = sim.trace(&inputs, layer).unwrap();
            let want: Vec<Vec<i8>> = inputs
                .iter()
                .map(|x| network.infer(x).unwrap().activations[layer + 1].clone())
                .collect();
            assert_eq!(traced, want, "seed {seed}, layer {layer}");
        }
    }
    // A wrong zero point for the AveragePool after layer 1.
    let network = random_conv_network(
        &configs,
        &spatial,
        &[(3, false), (-7, false), (0, false)],
        5,
    );
    let inputs = vectors(&network, 3, 9);
    sim.load(&network).unwrap();
    let zero = network.layers()[1].requantize.unwrap().zero_point;
    sim.write_words([LoadWord {
        address: 1 << LAYER_SHIFT | (SPATIAL_MEMORY as u32) << 16 | POOL_ZERO_POINT_WORD as u32,
        data: u32::from(zero.wrapping_add(40) as u8),
    }]);
    let traced = sim.trace(&inputs, 1).unwrap();
    let want: Vec<Vec<i8>> = inputs
        .iter()
        .map(|x| network.infer(x).unwrap().activations[2].clone())
        .collect();
    assert_ne!(traced, want, "the pool's zero point is not used");
    // A dense network of four layers: not the layers the top was built for.
    let dense = random_network(
        &[
            engine(8, 2, 4, 1),
            engine(4, 1, 4, 1),
            engine(4, 1, 4, 1),
            engine(4, 1, 4, 1),
        ],
        1,
    )
    .unwrap();
    let e = sim.load(&dense).unwrap_err();
    assert!(
        matches!(&e, SimError::NetworkMismatch(m) if m.contains("layer 0")),
        "{e}"
    );
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// The CNN fixtures, compiled (k-means, K = 4, calibrated on 400 training
/// digits): `cnn.onnx` (Conv 3x3 1 -> 8 pad 1, Conv 3x3 8 -> 16 stride 2
/// pad 1, MaxPool 2x2, Flatten, Gemm 64 -> 10) on 36 test digits and
/// `cnn_depthwise.onnx` (Conv 3x3 1 -> 8, a depthwise Conv 3x3 8 -> 8
/// stride 2 read as its block-diagonal group-1 Conv, a pointwise Conv 1x1
/// 8 -> 16, MaxPool 2x2, Flatten, Gemm 64 -> 10) on 12: bit-exact, and the
/// cycles per inference against each layer's table-read bound (output
/// pixels x ceil(N / L) per pixel, or the patch stream's length when
/// longer); the Verilog of each lints clean.
#[test]
fn the_cnn_fixture_on_the_network_top_is_bit_exact() {
    let train = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let hidden = indicatif::ProgressBar::hidden();
    for (name, digits) in [("cnn", 36), ("cnn_depthwise", 12)] {
        let path = data(&format!("onnx/{name}.onnx"));
        let model = frontend::read(&path, &WeightsOptions::default()).unwrap();
        // K = 4 keeps the model small (the cycles do not depend on K).
        let options = CompileOptions {
            centroids: 4,
            ..CompileOptions::default()
        };
        let network = compile::compile(&model.mlp, &train[..400], &options, &hidden).unwrap();
        assert!(network.spatial()[0].conv.is_some());
        let inputs: Vec<Vec<i8>> = test[..digits]
            .iter()
            .map(|x| network.input_quantization().quantize(x))
            .collect();
        let mut sim = NetworkSim::for_network(
            &network,
            &SimOptions {
                cache_dir: Some(cache_dir()),
                ..SimOptions::default()
            },
        )
        .unwrap();
        assert_bit_exact(&mut sim, &network, &inputs, Backpressure::new(0.3, 0.1, 1));
        let cycles = assert_bit_exact(&mut sim, &network, &inputs, Backpressure::none());
        let bounds: Vec<usize> = network
            .layers()
            .iter()
            .zip(network.spatial())
            .map(|(l, s)| {
                let c = l.image.config();
                let pixels = s
                    .conv
                    .map_or(1, |c| c.geometry.out_height() * c.geometry.out_width());
                pixels * c.bound_cycles_per_inference().max(c.input_dim)
            })
            .collect();
        eprintln!(
            "{name} fixture: {cycles:.1} cycles per inference on the dataflow top \
             (no back-pressure); per-layer bounds {bounds:?}"
        );
        // Its Verilog lints clean too (a 4x4x16 MaxPool: 32 partial results).
        let verilog = spatial_network_verilog(&network.configs(), network.spatial()).unwrap();
        assert_lint_clean(&verilog, &format!("conv-network-lint-{name}"));
        let slowest = *bounds.iter().max().unwrap() as f64;
        assert!(cycles >= slowest, "{name}: {cycles} < {slowest}");
    }
}

/// Shapes that do not chain on a network top are refused, naming the layer,
/// before any build; the sequential schedule refuses a last convolution.
#[test]
fn conv_shapes_that_do_not_chain_are_refused() {
    let (configs, spatial) = layers();
    let refused = |configs: &[EngineConfig], spatial: &[Spatial]| {
        spatial_network_verilog(configs, spatial).unwrap_err()
    };
    let e = refused(&configs, &spatial[..3]);
    assert!(matches!(e, NetworkShapeError::SpatialCount { .. }), "{e}");
    // A last layer that is a convolution.
    let mut s = spatial.clone();
    s[3] = conv((1, 1, 5), 1, 1, Padding::default(), 0, None);
    let e = refused(&configs, &s);
    assert!(matches!(e, NetworkShapeError::LastConv { layer: 3 }), "{e}");
    // Patches of another length than the engine's input.
    let mut c = configs.clone();
    c[0] = engine(48, 2, 3, 2);
    let e = refused(&c, &spatial);
    assert!(
        matches!(
            e,
            NetworkShapeError::ConvPatch {
                layer: 0,
                patch_len: 50,
                ..
            }
        ),
        "{e}"
    );
    // A pool on a dense layer, and on the last layer.
    let mut s = spatial.clone();
    s[3].pool = Some(Pool::Max2);
    let e = refused(&configs, &s);
    assert!(matches!(e, NetworkShapeError::Pool { layer: 3, .. }), "{e}");
    assert!(e.to_string().contains("MaxPool 2x2"), "{e}");
    // A map that is not the next convolution's (same length, other shape).
    let mut s = spatial.clone();
    s[1] = conv((3, 7, 7), 3, 1, padding(1, 0, 0, 2), 0, Some(Pool::Avg2));
    let e = refused(&configs, &s);
    assert!(
        matches!(
            e,
            NetworkShapeError::MapShape {
                layer: 0,
                next: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("output map is 7x7x3"), "{e}");
    // Lengths that do not chain (no pool: 15x14x3 = 630 elements).
    let mut s = spatial.clone();
    s[0].pool = None;
    let e = refused(&configs, &s);
    assert!(
        matches!(
            e,
            NetworkShapeError::Shape {
                layer: 0,
                outputs: 630,
                inputs: 147,
                ..
            }
        ),
        "{e}"
    );
    // A pool the stage cannot hold, a window generator that cannot be built.
    let mut s = spatial.clone();
    s[0] = conv((3, 11, 2), 5, 1, padding(1, 1, 1, 2), 0, Some(Pool::Max2));
    let e = refused(&configs, &s);
    assert!(
        matches!(e, NetworkShapeError::PoolShape { layer: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("not 1x10"), "{e}");
    let mut s = spatial.clone();
    s[0] = conv(
        (12, 8000, 2),
        5,
        1,
        padding(2, 1, 1, 2),
        0,
        Some(Pool::Max2),
    );
    let e = refused(&configs, &s);
    assert!(
        matches!(e, NetworkShapeError::Window { layer: 0, .. }),
        "{e}"
    );
    // The sequential schedule runs convolutions but not a last one.
    let options = SimOptions {
        schedule: lutgen_core::sequential::Schedule::Sequential,
        ..SimOptions::default()
    };
    let one_lane: Vec<EngineConfig> = configs
        .iter()
        .map(|c| EngineConfig {
            lanes: 1,
            ..c.clone()
        })
        .collect();
    let mut s = spatial.clone();
    s[3] = conv((1, 1, 5), 1, 1, Padding::default(), 0, None);
    let e = NetworkSim::with_spatial(&one_lane, &s, &options)
        .err()
        .unwrap();
    assert!(matches!(e, SimError::Sequential(_)), "{e}");
    assert!(
        e.to_string()
            .contains("layer 3 is a convolution and the last layer"),
        "{e}"
    );
}

/// Asserts that a network top's Verilog passes `verilator --lint-only -Wall`.
fn assert_lint_clean(verilog: &str, tag: &str) {
    let path = write_verilog(verilog, NETWORK_TOP_MODULE, tag);
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
    assert!(!text.contains("%Warning"), "{tag}:\n{text}");
}

/// A convolutional network top passes `verilator --lint-only -Wall` (the
/// CNN fixture's in its own test).
#[test]
fn conv_network_top_is_lint_clean_with_all_warnings() {
    let (configs, spatial) = layers();
    let verilog = spatial_network_verilog(&configs, &spatial).unwrap();
    assert_lint_clean(&verilog, "conv-network-lint");
}

/// The three pooling stages alone, in one Verilator model (a wrapper feeds
/// them the same stream): every pooled element equals `Pool::apply`, on a
/// 5x7x3 map (odd rows and columns), maps back to back, under random input
/// gaps and output stalls, with zero points at both ends of int8 and maps
/// of all -128, all 127 and random codes (sums at both ends of the range);
/// without gaps or stalls, one element per cycle.
#[test]
fn pool_stages_alone_equal_the_software_rule() {
    use lutgen_core::spatial::MapShape;
    use lutgen_hdl::pool::PoolStage;
    use lutgen_sim::ModelBuilder;
    use lutgen_tests::port_specs;
    let map = MapShape {
        height: 5,
        width: 7,
        channels: 3,
    };
    let kinds = [
        ("max", Pool::Max2),
        ("avg", Pool::Avg2),
        ("global", Pool::GlobalAvg),
    ];
    let mut verilog = String::from("/* verilator lint_off DECLFILENAME */\n");
    let mut ports: Vec<(String, u32, bool)> = [
        ("clock", 1, true),
        ("reset", 1, true),
        ("in_data", 8, true),
        ("in_valid", 1, true),
        ("in_ready", 1, false),
        ("load_enable", 1, true),
        ("load_word", 16, true),
        ("load_data", 32, true),
    ]
    .iter()
    .map(|&(n, w, i)| (n.to_string(), w, i))
    .collect();
    let mut body = String::new();
    let mut ready_all = Vec::new();
    for (name, pool) in kinds {
        verilog.push_str(&PoolStage::verilog(pool, map, &format!("pool_{name}")).unwrap());
        for (port, width, input) in [("data", 8, false), ("valid", 1, false), ("ready", 1, true)] {
            ports.push((format!("{name}_{port}"), width, input));
        }
        body.push_str(&format!(
            "wire {name}_in_ready;\n\
             pool_{name} {name}(.clock(clock), .reset(reset), .in_data(in_data), \
             .in_valid(in_valid & in_ready), .in_ready({name}_in_ready), .out_data({name}_data), \
             .out_valid({name}_valid), .out_ready({name}_ready), .load_enable(load_enable), \
             .load_word(load_word), .load_data(load_data));\n"
        ));
        ready_all.push(format!("{name}_in_ready"));
    }
    let decl: Vec<String> = ports
        .iter()
        .map(|(n, w, i)| {
            let dir = if *i { "input" } else { "output" };
            match w {
                1 => format!("    {dir} wire {n}"),
                _ => format!("    {dir} wire [{}:0] {n}", w - 1),
            }
        })
        .collect();
    verilog.push_str(&format!(
        "module pool_trio(\n{}\n);\n{body}assign in_ready = {};\nendmodule\n",
        decl.join(",\n"),
        ready_all.join(" & ")
    ));
    let specs = port_specs(ports.iter().map(|(n, w, i)| (n.as_str(), *w, *i)));
    let mut model = ModelBuilder::new(&verilog, "pool_trio", specs)
        .cache_dir(cache_dir())
        .rising_edge_only(true)
        .build()
        .expect("the pooling stages build in Verilator");
    let port = |name: &str| model.port(name).unwrap();
    let (clock, reset, in_data, in_valid, in_ready) = (
        port("clock"),
        port("reset"),
        port("in_data"),
        port("in_valid"),
        port("in_ready"),
    );
    let (load_enable, load_word, load_data) =
        (port("load_enable"), port("load_word"), port("load_data"));
    let outs: Vec<_> = kinds
        .iter()
        .map(|(name, _)| {
            (
                port(&format!("{name}_data")),
                port(&format!("{name}_valid")),
                port(&format!("{name}_ready")),
            )
        })
        .collect();
    model.set(reset, 1);
    for _ in 0..4 {
        model.tick(clock);
    }
    model.set(reset, 0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20);
    let len = map.len();
    for (round, zero) in [-128i8, 127, 0, -3, 64].into_iter().enumerate() {
        // The zero point through the load port (word 1).
        model.set(load_enable, 1);
        model.set(load_word, 1);
        model.set(load_data, u64::from(zero as u8));
        model.tick(clock);
        model.set(load_enable, 0);
        let mut maps = vec![vec![-128i8; len], vec![127; len]];
        maps.extend((0..3).map(|_| (0..len).map(|_| rng.gen::<i8>()).collect::<Vec<i8>>()));
        // Codes on one side of the zero point, as after a ReLU.
        maps.push((0..len).map(|_| rng.gen::<i8>().max(zero)).collect());
        let input = maps.concat();
        let want: Vec<Vec<i8>> = kinds
            .iter()
            .map(|(_, pool)| maps.iter().flat_map(|m| pool.apply(m, map, zero)).collect())
            .collect();
        let mut got: Vec<Vec<i8>> = vec![Vec::new(); kinds.len()];
        let (gap, stall) = ([0.0, 0.3, 0.6][round % 3], [0.0, 0.5, 0.2][round % 3]);
        let mut sent = 0;
        let mut cycles = 0;
        while sent < input.len() || got.iter().zip(&want).any(|(g, w)| g.len() < w.len()) {
            cycles += 1;
            assert!(cycles < 100 * input.len(), "stalled (round {round})");
            let valid = sent < input.len() && !rng.gen_bool(gap);
            model.set(in_valid, u64::from(valid));
            model.set(in_data, input.get(sent).map_or(0, |&b| b as u8 as u64));
            let readies: Vec<bool> = outs.iter().map(|_| !rng.gen_bool(stall)).collect();
            for ((_, _, ready), &r) in outs.iter().zip(&readies) {
                model.set(*ready, u64::from(r));
            }
            model.eval();
            if valid && model.get(in_ready) == 1 {
                sent += 1;
            }
            for (k, ((data, out_valid, _), &r)) in outs.iter().zip(&readies).enumerate() {
                if r && model.get(*out_valid) == 1 {
                    got[k].push(model.get(*data) as u8 as i8);
                }
            }
            model.tick(clock);
        }
        for (k, (name, _)) in kinds.iter().enumerate() {
            assert_eq!(got[k], want[k], "{name}, zero point {zero}");
        }
        // Without gaps or stalls one element goes in per cycle.
        if gap == 0.0 && stall == 0.0 {
            assert!(
                cycles <= input.len() + 4,
                "{cycles} cycles for {}",
                input.len()
            );
        }
    }
}
