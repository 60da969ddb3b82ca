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
