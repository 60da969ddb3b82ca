//! The device top (UART + frame layer + engine) passes
//! `verilator --lint-only -Wall` with only the waivers written in the file.
//! That it synthesizes for iCE40 is checked by the board flow, which takes a
//! device through yosys, nextpnr and icepack (`board.rs::ice40_flow_device_bitstream`).

use lutgen_core::EngineConfig;
use lutgen_hdl::device::{core_verilog, device_verilog, DeviceConfig, CORE_MODULE, DEVICE_MODULE};
use lutgen_tests::{run_tool, write_verilog};

fn device(baud: u32) -> DeviceConfig {
    DeviceConfig::engine(
        EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 4,
            outputs: 8,
            lanes: 2,
            ..EngineConfig::default()
        },
        12_000_000,
        baud,
    )
}

#[test]
fn device_and_core_are_lint_clean() {
    for baud in [115_200, 3_000_000] {
        let d = device(baud);
        for (text, top) in [
            (device_verilog(&d).unwrap(), DEVICE_MODULE),
            (core_verilog(&d).unwrap(), CORE_MODULE),
        ] {
            let path = write_verilog(&text, top, &format!("lint-{baud}"));
            let path = path.to_str().unwrap();
            run_tool(
                "verilator",
                &["--lint-only", "-Wall", "--top-module", top, path],
            );
        }
    }
}

#[test]
fn unusable_links_are_refused_with_the_fix() {
    let err = device_verilog(&device(6_000_000)).unwrap_err().to_string();
    assert!(
        err.contains("2 clock cycles per bit") && err.contains("lower the baud"),
        "{err}"
    );
    let wide = DeviceConfig::engine(
        EngineConfig {
            input_dim: 1024,
            codebooks: 256,
            ..EngineConfig::default()
        },
        12_000_000,
        115_200,
    );
    let err = device_verilog(&wide).unwrap_err().to_string();
    assert!(err.contains("input_dim <= 512"), "{err}");
}

/// A conv network device whose input map does not fit a data frame
/// (24x24x1 = 576 bytes) is refused, naming the map; one whose last layer
/// is a convolution (its outputs would be a map of 32-bit values), naming
/// the layer.
#[test]
fn conv_devices_that_cannot_run_are_refused_by_name() {
    use lutgen_core::conv::{ConvGeometry, Padding};
    use lutgen_core::spatial::{Conv, Spatial};
    let conv = |side: usize| Spatial {
        conv: Some(Conv {
            geometry: ConvGeometry {
                in_height: side,
                in_width: side,
                in_channels: 1,
                kernel: 3,
                stride: 1,
                padding: Padding::uniform(1),
            },
            pad_value: 0,
        }),
        pool: None,
    };
    let layer = |d: usize, c: usize, n: usize| EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: 4,
        outputs: n,
        ..EngineConfig::default()
    };
    let big = DeviceConfig::network_spatial(
        vec![layer(9, 1, 1), layer(576, 144, 10)],
        &[conv(24), Spatial::DENSE],
        12_000_000,
        115_200,
    );
    let err = big.validate().unwrap_err().to_string();
    assert!(
        err.contains("input map is 24x24x1 = 576 bytes") && err.contains("512-byte payload"),
        "{err}"
    );
    let fits = DeviceConfig::network_spatial(
        vec![layer(9, 1, 1), layer(484, 121, 10)],
        &[conv(22), Spatial::DENSE],
        12_000_000,
        115_200,
    );
    assert_eq!(fits.validate(), Ok(()));
    assert_eq!(fits.input_len(), 484);
    let last = DeviceConfig::network_spatial(vec![layer(9, 1, 4)], &[conv(4)], 12_000_000, 115_200);
    let err = last.validate().unwrap_err().to_string();
    assert!(
        err.contains("layer 0 is a convolution and the last layer"),
        "{err}"
    );
}
