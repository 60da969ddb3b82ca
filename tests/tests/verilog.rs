//! The generated Verilog passes `verilator --lint-only -Wall` with only the
//! waivers written in the file, and synthesizes with `yosys synth_ice40`.

use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::dp16kd::ecp5_simulation_verilog;
use lutgen_hdl::spram::{spram_simulation_verilog, with_spram_define};
use lutgen_hdl::verilog::{engine_verilog, TOP_MODULE};
use lutgen_tests::{run_tool, write_verilog, yosys_cells as cells};
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

/// The iCE40 SPRAM branches (the lanes' tables as SB_SPRAM256KA) lint
/// clean too, with lutgen's model of the block.
#[test]
fn spram_variant_lint_clean_with_all_warnings() {
    for (i, config) in configs().iter().chain(&encoder_configs()).enumerate() {
        let verilog = spram_simulation_verilog(&engine_verilog(config).unwrap());
        let text = lint(&write_verilog(
            &verilog,
            TOP_MODULE,
            &format!("verilog-spram-lint{i}"),
        ));
        assert!(!text.contains("%Warning"), "{config:?}:\n{text}");
        let blocks = config.lanes * config.table_words_per_lane().div_ceil(16384);
        assert_eq!(
            verilog.matches("SB_SPRAM256KA spram_").count(),
            blocks,
            "{config:?}"
        );
    }
}

/// `synth_ice40 -device u` of an engine whose table (4,096 entries) takes 8
/// block RAMs: with `LUTGEN_ICE40_SPRAM` the table is one SB_SPRAM256KA and
/// those 8 SB_RAM40_4K are gone. Synthesis stops after memory mapping
/// (`-run begin:map_ffram`): the cells counted are placed by then, and the
/// LUT mapping after it would triple the test's time.
#[test]
fn tables_synthesize_to_spram_for_the_up5k() {
    let config = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 16,
        outputs: 64,
        ..EngineConfig::default()
    };
    let verilog = engine_verilog(&config).unwrap();
    let stat = |text: &str, tag: &str| {
        let path = write_verilog(text, TOP_MODULE, &format!("verilog-{tag}"));
        let stat = path.with_file_name("stat.txt");
        let script = format!(
            "read_verilog {}; synth_ice40 -device u -top {TOP_MODULE} -run begin:map_ffram; tee -q -o {} stat",
            path.display(),
            stat.display()
        );
        run_tool("yosys", &["-q", "-p", &script]);
        std::fs::read_to_string(stat).unwrap()
    };
    let bram = stat(&verilog, "up5k-bram");
    let spram = stat(&with_spram_define(&verilog), "up5k-spram");
    assert_eq!(cells(&bram, "SB_SPRAM256KA"), 0, "{bram}");
    assert_eq!(cells(&spram, "SB_SPRAM256KA"), 1, "{spram}");
    assert_eq!(
        cells(&bram, "SB_RAM40_4K") - cells(&spram, "SB_RAM40_4K"),
        8,
        "{bram}\n{spram}"
    );
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

/// The l2 engine through yosys for the iCE40 up to memory mapping, like
/// every encoder below; its full synthesis (LUT mapping included) is in
/// `tests/tests/board.rs::ice40_flow_*`, which place and route it.
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
        "read_verilog {}; synth_ice40 -top {TOP_MODULE} -run begin:map_ffram; stat",
        path.display()
    );
    let text = run_tool("yosys", &["-q", "-p", &script]);
    assert!(!text.contains("ERROR"), "{text}");
}

/// Every encoder's engine through yosys for the iCE40, one test per
/// encoder so they run in parallel. Synthesis stops after memory mapping
/// (`-run begin:map_ffram`): reading, elaboration, flattening, the
/// optimizations and block-RAM inference are where an encoder's Verilog can
/// fail; the LUT mapping after it is the l2 engine's in the board flow tests
/// (and every encoder's, placed and routed, in `scripts/test.sh --slow`), and
/// would triple these tests' time.
fn encoder_synthesizes_for_ice40(encoder: EncoderKind, centroids: usize) {
    let config = encoder_configs()
        .into_iter()
        .find(|c| c.encoder == encoder && c.centroids == centroids)
        .expect("one of encoder_configs()");
    let path = write(&config, &format!("yosys-{encoder:?}-{centroids}"));
    let script = format!(
        "read_verilog {}; synth_ice40 -top {TOP_MODULE} -run begin:map_ffram; stat",
        path.display()
    );
    let text = run_tool("yosys", &["-q", "-p", &script]);
    assert!(!text.contains("ERROR"), "{config:?}: {text}");
}

#[test]
fn l1_synthesizes_for_ice40() {
    encoder_synthesizes_for_ice40(EncoderKind::L1, 8);
}

#[test]
fn two_level_synthesizes_for_ice40() {
    encoder_synthesizes_for_ice40(EncoderKind::TwoLevel, 16);
    encoder_synthesizes_for_ice40(EncoderKind::TwoLevel, 2);
}

#[test]
fn tree_synthesizes_for_ice40() {
    encoder_synthesizes_for_ice40(EncoderKind::Tree, 16);
}

#[test]
fn sign_synthesizes_for_ice40() {
    encoder_synthesizes_for_ice40(EncoderKind::Sign, 16);
}
