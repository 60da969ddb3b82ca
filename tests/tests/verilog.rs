//! The generated Verilog passes `verilator --lint-only -Wall` with only the
//! waivers written in the file, and synthesizes with `yosys synth_ice40`.

use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::dp16kd::ecp5_simulation_verilog;
use lutgen_hdl::verilog::{engine_verilog, TOP_MODULE};
use lutgen_tests::{run_tool, write_verilog};
use std::path::PathBuf;

fn write(config: &EngineConfig, tag: &str) -> PathBuf {
    write_verilog(
        &engine_verilog(config).unwrap(),
        TOP_MODULE,
        &format!("verilog-{tag}"),
    )
}

fn configs() -> Vec<EngineConfig> {
    let base = EngineConfig::default();
    vec![
        base.clone(),
        EngineConfig {
            input_dim: 8,
            codebooks: 1,
            centroids: 2,
            outputs: 1,
            ..base.clone()
        },
        EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: 256,
            outputs: 4,
            ..base.clone()
        },
        EngineConfig {
            outputs: 10,
            lanes: 3,
            table_bits: 4,
            ..base.clone()
        },
        EngineConfig {
            input_dim: 8,
            codebooks: 8,
            centroids: 4,
            outputs: 4,
            lanes: 4,
            ..base
        },
    ]
}

/// One small engine per encoder other than `l2` (K = 2 two-level has a one-leaf centre tree).
fn encoder_configs() -> Vec<EngineConfig> {
    let base = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        outputs: 8,
        lanes: 2,
        ..EngineConfig::default()
    };
    [
        (EncoderKind::L1, 8),
        (EncoderKind::TwoLevel, 16),
        (EncoderKind::TwoLevel, 2),
        (EncoderKind::Tree, 16),
        (EncoderKind::Sign, 16),
    ]
    .into_iter()
    .map(|(encoder, centroids)| EngineConfig {
        encoder,
        centroids,
        ..base.clone()
    })
    .collect()
}

/// `verilator --lint-only -Wall` on the engine in `path`: its output.
fn lint(path: &std::path::Path) -> String {
    run_tool(
        "verilator",
        &[
            "--lint-only",
            "-Wall",
            "--top-module",
            TOP_MODULE,
            path.to_str().unwrap(),
        ],
    )
}

#[test]
fn lint_clean_with_all_warnings() {
    for (i, config) in configs().iter().chain(&encoder_configs()).enumerate() {
        let text = lint(&write(config, &format!("lint{i}")));
        assert!(!text.contains("%Warning"), "{config:?}:\n{text}");
    }
}

/// The ECP5 branches (DP16KD instances, LUT-RAM index FIFO) lint clean too,
/// with lutgen's model of the block.
#[test]
fn ecp5_variant_lint_clean_with_all_warnings() {
    for (i, config) in configs().iter().enumerate() {
        let verilog = ecp5_simulation_verilog(&engine_verilog(config).unwrap());
        let text = lint(&write_verilog(
            &verilog,
            TOP_MODULE,
            &format!("verilog-ecp5-lint{i}"),
        ));
        assert!(!text.contains("%Warning"), "{config:?}:\n{text}");
        assert!(verilog.contains("DP16KD #("), "{config:?} has no DP16KD");
    }
}

#[test]
fn waivers_are_explicit_and_explained() {
    let verilog = engine_verilog(&EngineConfig::default()).unwrap();
    for line in verilog.lines().filter(|l| l.contains("lint_off")) {
        let rule = line
            .split("lint_off")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        assert!(
            verilog.contains(&format!("// {rule}:")) || line.contains("//"),
            "waiver of {rule} has no reason"
        );
    }
}

#[test]
fn synthesizes_for_ice40() {
    // A small engine keeps this test at a few seconds; the default engine
    // synthesizes too (about 45 s, see README).
    let config = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 4,
        outputs: 8,
        lanes: 2,
        ..EngineConfig::default()
    };
    let path = write(&config, "yosys");
    let script = format!(
        "read_verilog {}; synth_ice40 -top {TOP_MODULE}; stat",
        path.display()
    );
    let text = run_tool("yosys", &["-q", "-p", &script]);
    assert!(!text.contains("ERROR"), "{text}");
}

#[test]
fn every_encoder_synthesizes_for_ice40() {
    for (i, config) in encoder_configs().iter().enumerate() {
        let path = write(config, &format!("yosys-encoder{i}"));
        let script = format!(
            "read_verilog {}; synth_ice40 -top {TOP_MODULE}; stat",
            path.display()
        );
        let text = run_tool("yosys", &["-q", "-p", &script]);
        assert!(!text.contains("ERROR"), "{config:?}: {text}");
    }
}
