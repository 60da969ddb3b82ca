//! A convolution layer ([`lutgen_hdl::conv_layer::ConvLayer`]: the window
//! generator in front of an engine with `D = C * k * k`, `V = k * k`) in
//! Verilator: every output pixel's N outputs against
//! [`Reference::outputs`] on that pixel's patch
//! ([`ConvGeometry::patches`]), several maps back to back, random
//! back-pressure on both sides; and, without back-pressure, the cycles per
//! map within 5% of the table-read bound `out_pixels * C * ceil(N / L)`
//! (the window generator never the limit). The layer's Verilog is lint
//! clean.

use lutgen_core::conv::{ConvGeometry, Padding};
use lutgen_core::memory_map::MemoryMap;
use lutgen_core::{EngineConfig, Image, Reference};
use lutgen_hdl::engine::RESET_CYCLES;
use lutgen_hdl::verilog::{conv_layer_verilog, CONV_LAYER_MODULE, CONV_LAYER_PORTS};
use lutgen_sim::ModelBuilder;
use lutgen_tests::{cache_dir, port_specs, run_tool, write_verilog};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Streams three maps through the layer for `geometry` and `config` (a
/// random image) under `pressure` (probabilities of `in_valid` and
/// `out_ready`), checks every output, and returns the cycles between the
/// last outputs of the second and third maps.
fn run(geometry: ConvGeometry, config: &EngineConfig, seed: u64, pressure: (f64, f64)) -> u64 {
    let verilog = conv_layer_verilog(config, &geometry).unwrap();
    let ports = port_specs(CONV_LAYER_PORTS.map(|p| (p.name, p.width, p.input)));
    let mut model = ModelBuilder::new(&verilog, CONV_LAYER_MODULE, ports)
        .cache_dir(cache_dir())
        .rising_edge_only(true)
        .build()
        .expect("the convolution layer builds in Verilator");
    let port = |name: &str| model.port(name).unwrap();
    let [clock, reset, in_data, in_valid, in_ready, pad_value, out_data, out_valid, out_ready, out_last, load_enable, load_address, load_data, fault] =
        CONV_LAYER_PORTS.map(|p| port(p.name));
    model.set(reset, 1);
    for _ in 0..RESET_CYCLES {
        model.tick(clock);
    }
    model.set(reset, 0);
    let image = Image::random(config.clone(), seed).unwrap();
    model.set(load_enable, 1);
    for word in MemoryMap::load_words_for(config, &image) {
        model.set(load_address, u64::from(word.address));
        model.set(load_data, u64::from(word.data));
        model.tick(clock);
    }
    model.set(load_enable, 0);
    model.eval();

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pad: i8 = rng.gen();
    model.set(pad_value, pad as u8 as u64);
    let maps: Vec<Vec<i8>> = (0..3)
        .map(|_| (0..geometry.input_len()).map(|_| rng.gen()).collect())
        .collect();
    let reference = Reference::new(&image);
    let n = config.outputs;
    let expected: Vec<i32> = maps
        .iter()
        .flat_map(|map| {
            let patches = geometry.patches(map, pad).unwrap();
            patches
                .chunks(geometry.patch_len())
                .flat_map(|patch| reference.outputs(patch).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let per_map = geometry.out_pixels() * n;
    let input: Vec<i8> = maps.concat();
    let (mut sent, mut got, mut cycle) = (0, Vec::with_capacity(expected.len()), 0u64);
    let mut map_ends = Vec::new();
    while got.len() < expected.len() || sent < input.len() {
        assert!(cycle < 100 * expected.len() as u64 + 10_000, "stalled");
        assert_eq!(model.get(fault), 0, "engine fault");
        let valid = sent < input.len() && rng.gen_bool(pressure.0);
        let ready = rng.gen_bool(pressure.1);
        model.set(in_valid, u64::from(valid));
        model.set(in_data, input.get(sent).map_or(0, |&b| b as u8 as u64));
        model.set(out_ready, u64::from(ready));
        if valid && model.get(in_ready) == 1 {
            sent += 1;
        }
        if ready && model.get(out_valid) == 1 {
            assert!(got.len() < expected.len(), "more outputs than expected");
            got.push(model.get(out_data) as u32 as i32);
            assert_eq!(model.get(out_last) == 1, got.len() % n == 0, "out_last");
            if got.len() % per_map == 0 {
                map_ends.push(cycle);
            }
        }
        model.tick(clock);
        cycle += 1;
    }
    if let Some(i) = got.iter().zip(&expected).position(|(g, e)| g != e) {
        panic!(
            "map {}, output pixel {}, output {}: got {}, expected {}",
            i / per_map,
            i % per_map / n,
            i % n,
            got[i],
            expected[i]
        );
    }
    map_ends[2] - map_ends[1]
}

fn check(geometry: ConvGeometry, config: EngineConfig) {
    for (seed, pressure) in [(1, (0.5, 0.5)), (2, (1.0, 0.3)), (3, (0.4, 1.0))] {
        run(geometry, &config, seed, pressure);
    }
    let cycles = run(geometry, &config, 4, (1.0, 1.0));
    let table_read = config.codebooks * config.outputs.div_ceil(config.lanes);
    let bound = geometry.out_pixels() * table_read;
    println!(
        "{geometry:?}, {config:?}: {cycles} cycles per map, table-read bound {bound} ({:.1}%)",
        100.0 * cycles as f64 / bound as f64
    );
    assert!(
        cycles as f64 <= 1.05 * bound as f64,
        "{cycles} cycles per map, bound {bound}"
    );
}

/// A 3x3 convolution with "same" padding on an 8x8x2 map, N = 16, L = 1.
fn same_padding() -> (ConvGeometry, EngineConfig) {
    let geometry = ConvGeometry {
        in_height: 8,
        in_width: 8,
        in_channels: 2,
        kernel: 3,
        stride: 1,
        padding: Padding::uniform(1),
    };
    let config = EngineConfig {
        input_dim: 18,
        codebooks: 2,
        centroids: 8,
        outputs: 16,
        ..EngineConfig::default()
    };
    (geometry, config)
}

#[test]
fn kernel_3_stride_1_same_padding() {
    let (geometry, config) = same_padding();
    check(geometry, config);
}

/// The layer's Verilog passes `verilator --lint-only -Wall` with only the
/// waivers written in the file (the engine's, and its unused outputs').
#[test]
fn lint_clean_with_all_warnings() {
    let (geometry, config) = same_padding();
    let path = write_verilog(
        &conv_layer_verilog(&config, &geometry).unwrap(),
        CONV_LAYER_MODULE,
        "conv-layer-lint",
    );
    let text = run_tool(
        "verilator",
        &[
            "--lint-only",
            "-Wall",
            "--top-module",
            CONV_LAYER_MODULE,
            path.to_str().unwrap(),
        ],
    );
    assert!(!text.contains("%Warning"), "{text}");
}

#[test]
fn kernel_3_stride_2_asymmetric_padding_two_lanes() {
    let geometry = ConvGeometry {
        in_height: 7,
        in_width: 6,
        in_channels: 3,
        kernel: 3,
        stride: 2,
        padding: Padding {
            top: 0,
            left: 1,
            bottom: 2,
            right: 0,
        },
    };
    let config = EngineConfig {
        input_dim: 27,
        codebooks: 3,
        centroids: 4,
        outputs: 24,
        lanes: 2,
        ..EngineConfig::default()
    };
    check(geometry, config);
}
