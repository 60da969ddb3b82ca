//! A convolution layer ([`lutgen_hdl::conv_layer::ConvLayer`]: the window
//! generator in front of an engine with `D = C * k * k`, `V = k * k`) and its
//! dense int8 baseline ([`lutgen_hdl::dense_conv`]: the same window
//! generator in front of the dense MAC engine) in Verilator, through the
//! board crate's check ([`lutgen_board::conv_sim::check_conv`]): every
//! output pixel's N outputs against the reference on that pixel's patch
//! ([`ConvGeometry::patches`]), several maps back to back, random
//! back-pressure on both sides; and, without back-pressure, the cycles per
//! map within 5% of the bound `out_pixels * cycles per patch` (LUT: the
//! table read `C * ceil(N / L)`; dense: `D * ceil(N / P)`), so the window
//! generator is never the limit. Both layers' Verilog is lint clean.

use lutgen_board::conv_sim::check_conv;
use lutgen_board::top::Top;
use lutgen_core::conv::{ConvGeometry, Padding};
use lutgen_core::EngineConfig;
use lutgen_hdl::dense::DenseConfig;
use lutgen_hdl::dense_conv::{dense_conv_layer_verilog, DENSE_CONV_LAYER_MODULE};
use lutgen_hdl::verilog::{conv_layer_verilog, CONV_LAYER_MODULE};
use lutgen_sim::{Backpressure, SimOptions};
use lutgen_tests::{cache_dir, run_tool, write_verilog};

/// Checks the layer `top` under three kinds of back-pressure, then
/// measures cycles per map without any against its bound.
fn check_top(top: Top) {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        ..SimOptions::default()
    };
    // (input gaps, output stalls): both, input only, output only.
    for (seed, (gap, stall)) in [(1, (0.5, 0.5)), (2, (0.0, 0.7)), (3, (0.6, 0.0))] {
        check_conv(&top, 3, Backpressure::new(stall, gap, seed), seed, &options)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    let (cycles, bound) = check_conv(&top, 3, Backpressure::none(), 4, &options).unwrap();
    println!(
        "{}: {cycles} cycles per map, bound {bound} ({:.1}%)",
        top.describe(),
        100.0 * cycles / bound as f64
    );
    assert!(
        cycles <= 1.05 * bound as f64,
        "{cycles} cycles per map, bound {bound}"
    );
}

fn check(geometry: ConvGeometry, config: EngineConfig) {
    check_top(Top::conv(geometry, Top::Engine(config)).unwrap());
}

/// The dense baseline of the layer, one MAC per `macs`.
fn check_dense(
    geometry: ConvGeometry,
    config: &EngineConfig,
    macs: usize,
    weights_per_read: usize,
) {
    let dense = DenseConfig {
        input_dim: config.input_dim,
        outputs: config.outputs,
        macs,
        bias_bits: config.bias_bits,
        weights_per_read,
    };
    check_top(Top::conv(geometry, Top::Dense(dense)).unwrap());
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
    let dense = DenseConfig {
        input_dim: config.input_dim,
        outputs: config.outputs,
        macs: 2,
        bias_bits: config.bias_bits,
        weights_per_read: 2,
    };
    let path = write_verilog(
        &dense_conv_layer_verilog(&dense, &geometry).unwrap(),
        DENSE_CONV_LAYER_MODULE,
        "dense-conv-layer-lint",
    );
    let text = run_tool(
        "verilator",
        &[
            "--lint-only",
            "-Wall",
            "--top-module",
            DENSE_CONV_LAYER_MODULE,
            path.to_str().unwrap(),
        ],
    );
    assert!(!text.contains("%Warning"), "{text}");
}

/// The dense baseline of the same-padding layer: one MAC, then two MACs
/// reading two weights a cycle (N = 16 = 4 x 4 rows).
#[test]
fn dense_baseline_kernel_3_stride_1_same_padding() {
    let (geometry, config) = same_padding();
    check_dense(geometry, &config, 1, 1);
    check_dense(geometry, &config, 2, 2);
}

/// The dense baseline of a 5x5 stride-2 layer with asymmetric padding on a
/// map whose width is not a power of two.
#[test]
fn dense_baseline_kernel_5_stride_2_asymmetric_padding() {
    let geometry = ConvGeometry {
        in_height: 7,
        in_width: 6,
        in_channels: 1,
        kernel: 5,
        stride: 2,
        padding: Padding {
            top: 2,
            left: 1,
            bottom: 0,
            right: 2,
        },
    };
    let config = EngineConfig {
        input_dim: 25,
        codebooks: 1,
        outputs: 5,
        ..EngineConfig::default()
    };
    check_dense(geometry, &config, 1, 1);
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
