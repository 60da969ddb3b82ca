//! Board flow: the dense baseline bit-exact in Verilator, lint-clean, and
//! the full iCE40 flow (yosys, nextpnr-ice40) for one small configuration.

use lutgen_board::dense_sim::check_dense;
use lutgen_board::flow::{
    find_tool, ToolSpec, ECPPACK, ICEPACK, NEXTPNR_ECP5, NEXTPNR_ICE40, YOSYS_ECP5, YOSYS_ICE40,
};
use lutgen_board::pll::{Pll, BOARD_MODULE};
use lutgen_board::report::{build, simulate, BuildOptions, BuildReport};
use lutgen_board::top::{EngineKind, Top};
use lutgen_board::Board;
use lutgen_core::EngineConfig;
use lutgen_hdl::dense::{dense_verilog, DenseConfig, DENSE_MODULE};
use lutgen_hdl::dp16kd::{ecp5_simulation_verilog, MIN_WORDS};
use lutgen_sim::SimOptions;
use std::process::Command;

fn dense(input_dim: usize, outputs: usize, macs: usize) -> DenseConfig {
    DenseConfig {
        input_dim,
        outputs,
        macs,
        bias_bits: 16,
        weights_per_read: 1,
    }
}

fn dense_r(input_dim: usize, outputs: usize, macs: usize, r: usize) -> DenseConfig {
    DenseConfig {
        weights_per_read: r,
        ..dense(input_dim, outputs, macs)
    }
}

/// Shapes at the edges: one MAC, a MAC per output, padding rows, one input;
/// R weights per read (one wide word, R multipliers) with N not a multiple
/// of P x R.
fn shapes() -> Vec<DenseConfig> {
    vec![
        dense_r(64, 10, 1, 4),
        dense_r(16, 10, 3, 2),
        dense(64, 16, 1),
        dense(64, 16, 16),
        dense(16, 10, 3),
        // Full-width bias: 32-bit accumulators that wrap like an int32.
        DenseConfig {
            bias_bits: 32,
            ..dense(16, 10, 3)
        },
        dense(1, 1, 1),
        dense(8, 5, 5),
        dense(3, 7, 2),
    ]
}

#[test]
fn dense_engine_matches_its_reference_bit_for_bit() {
    for c in shapes() {
        for stall in [0.0, 0.4] {
            let run = check_dense(&c, 12, stall, 3, &SimOptions::default())
                .unwrap_or_else(|e| panic!("{c:?}: {e}"));
            if stall == 0.0 {
                // The MAC array sustains its bound: D * ceil(N / (P R)) cycles (or N
                // when the output stream is the slower side).
                let bound = c.bound_cycles_per_inference().max(c.outputs) as f64;
                assert!(
                    run.cycles_per_inference <= bound * 1.02 + 1.0,
                    "{c:?}: {} cycles per inference, bound {bound}",
                    run.cycles_per_inference
                );
            }
        }
    }
}

/// The dense Verilog as synthesized for ECP5 (weight memories of at least
/// `dp16kd::MIN_WORDS` words as DP16KD blocks with their output register,
/// the registered MULT18X18D), with stalls, against the same reference.
#[test]
fn dense_ecp5_variant_matches_its_reference_bit_for_bit() {
    let options = SimOptions {
        ecp5_primitives: true,
        ..SimOptions::default()
    };
    let with_blocks: Vec<_> = shapes()
        .into_iter()
        .filter(|c| c.input_dim * c.rows_per_lane() >= MIN_WORDS)
        .collect();
    assert!(with_blocks.len() >= 3);
    for c in with_blocks {
        check_dense(&c, 12, 0.4, 5, &options).unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
}

#[test]
fn dense_verilog_is_lint_clean() {
    let dir = std::env::temp_dir().join(format!("lutgen-dense-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let variants = shapes().into_iter().flat_map(|c| {
        let verilog = dense_verilog(&c).unwrap();
        [(c, verilog.clone()), (c, ecp5_simulation_verilog(&verilog))]
    });
    for (i, (c, verilog)) in variants.enumerate() {
        let path = dir.join(format!("dense{i}.v"));
        std::fs::write(&path, verilog).unwrap();
        let out = Command::new("verilator")
            .args(["--lint-only", "-Wall", "--top-module", DENSE_MODULE])
            .arg(&path)
            .output()
            .expect("verilator is installed (scripts/setup.sh)");
        assert!(
            out.status.success(),
            "{c:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The small configuration both flow tests build: D=16 C=4 K=4 N=4.
fn small_config() -> EngineConfig {
    EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 4,
        outputs: 4,
        ..EngineConfig::default()
    }
}

/// True (with a message naming the install command) when a tool is missing.
fn missing(tools: &[ToolSpec], install: &str) -> bool {
    let missing = tools.iter().any(|t| find_tool(t).is_err());
    if missing {
        eprintln!("SKIPPED: a board tool is missing ({install})");
    }
    missing
}

/// Builds `engine` (the device top, or the engine alone if `out_of_context`)
/// for `board` into `dir`, placed and routed at `1 + more_seeds` seeds, and
/// checks what every build must give: timing at the board clock at every
/// seed, resources, cycles, reports, and a bitstream when pinned. A device
/// with `pll_mhz` runs from the board's PLL at that clock.
fn build_and_check(
    board: &Board,
    engine: EngineKind,
    out_of_context: bool,
    more_seeds: u64,
    pll_mhz: Option<f64>,
    dir: std::path::PathBuf,
) -> BuildReport {
    let clock_hz = (board.clock_mhz * 1e6) as u32;
    let mut top = Top::for_board(
        engine,
        &small_config(),
        None,
        out_of_context,
        clock_hz,
        115_200,
    );
    if let Some(mhz) = pll_mhz {
        top = top.with_pll(Pll::for_board(board, mhz).unwrap());
    }
    let options = BuildOptions {
        out_dir: dir,
        force: false,
        sim_vectors: 4,
        seed: 1,
        more_seeds,
    };
    let r = build(board, engine, &top, &options).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.fmax_mhz.unwrap() > board.clock_mhz, "{r:?}");
    let seeds: Vec<u64> = r.fmax_by_seed.iter().map(|s| s.seed).collect();
    assert_eq!(seeds, (1..=1 + more_seeds).collect::<Vec<_>>(), "{r:?}");
    assert_eq!(r.fmax_by_seed[0].fmax_mhz, r.fmax_mhz, "{r:?}");
    for run in &r.fmax_by_seed {
        assert!(run.fmax_mhz.unwrap() > board.clock_mhz, "{r:?}");
    }
    assert!(r.logic_cells > 50 && r.block_rams > 0, "{r:?}");
    assert!(r.cycles_per_inference > 0.0);
    assert_eq!(r.pinned, !out_of_context);
    if r.pinned {
        assert!(r.bitstream.as_ref().unwrap().exists(), "{r:?}");
    }
    assert!(options.out_dir.join("report.md").exists());
    assert!(options.out_dir.join("report.json").exists());
    r
}

/// The whole ECP5 flow for a small device (UART + protocol + engine) on the
/// ULX3S-85F: yosys, nextpnr-ecp5, ecppack, to a bitstream. Not in the
/// default run: about 2 min 15 s of wall time with the YoWASP tools on a
/// loaded 2-core machine (`cargo test -p lutgen-tests --test board -- --ignored`).
#[test]
#[ignore = "slow: the ECP5 flow takes minutes"]
fn ecp5_flow_for_a_small_device() {
    if missing(
        &[YOSYS_ECP5, NEXTPNR_ECP5, ECPPACK],
        "sudo bash scripts/setup.sh --ecp5",
    ) {
        return;
    }
    let board = Board::find("ulx3s-85f").unwrap();
    let dir = std::env::temp_dir().join(format!("lutgen-ecp5-flow-{}", std::process::id()));
    let r = build_and_check(&board, EngineKind::Lut, false, 0, None, dir);
    let bitstream = r.bitstream.as_ref().unwrap();
    assert!(bitstream.extension().unwrap() == "bit", "{r:?}");
    assert!(
        std::fs::metadata(bitstream).unwrap().len() > 100_000,
        "{r:?}"
    );
}

/// The iCE40 flow, one test per distinct netlist so they run in parallel:
/// the pinned device (UART + protocol + engine) behind the board's PLL to a
/// bitstream for the HX8K breakout; the LUT engine out of context at two
/// seeds; the dense engine out of context.
fn ice40_flow(
    engine: EngineKind,
    out_of_context: bool,
    more_seeds: u64,
    pll_mhz: Option<f64>,
) -> Option<BuildReport> {
    if missing(
        &[YOSYS_ICE40, NEXTPNR_ICE40, ICEPACK],
        "apt-get install yosys nextpnr-ice40 fpga-icestorm",
    ) {
        return None;
    }
    let board = Board::find("hx8k-breakout").unwrap();
    let out = std::env::temp_dir().join(format!(
        "lutgen-board-flow-{}/{engine:?}-{out_of_context}",
        std::process::id()
    ));
    let r = build_and_check(
        &board,
        engine,
        out_of_context,
        more_seeds,
        pll_mhz,
        out.clone(),
    );
    if more_seeds > 0 {
        assert!(out.join("pnr_report_seed2.json").exists(), "{r:?}");
        assert!(std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("seed 2: "));
    }
    Some(r)
}

/// The device from the HX8K's PLL at 48 MHz (4 x the oscillator): the
/// PLL instance goes through yosys, nextpnr (which derives the core
/// clock's constraint from its dividers) and icepack.
#[test]
fn ice40_flow_device_bitstream() {
    let Some(r) = ice40_flow(EngineKind::Lut, false, 0, Some(48.0)) else {
        return;
    };
    let pll = r.pll.as_ref().expect("a PLL build");
    assert_eq!(
        (pll.output_mhz, r.target_mhz, r.core_clock_mhz),
        (48.0, 48.0, Some(48.0))
    );
    let verilog = std::fs::read_to_string(&r.verilog).unwrap();
    assert!(verilog.contains(&format!("module {BOARD_MODULE}(")));
    assert!(verilog.contains("SB_PLL40_CORE #("));
    // The Fmax is the core clock's (the PLL output's), not the oscillator's.
    let pnr = std::fs::read_to_string(r.verilog.with_file_name("pnr_report.json")).unwrap();
    assert!(pnr.contains("core_clock"), "{pnr}");
}

#[test]
fn ice40_flow_lut_engine_at_two_seeds() {
    ice40_flow(EngineKind::Lut, true, 1, None);
}

#[test]
fn ice40_flow_dense_engine() {
    ice40_flow(EngineKind::Dense, true, 0, None);
}

/// The digits network's layer shapes (64-64-10, C = 16, K = 16, one lane):
/// what `lutgen compile` makes of tests/data/digits_mlp.safetensors.
fn digits_layers() -> Vec<EngineConfig> {
    let layer = |outputs| EngineConfig {
        input_dim: 64,
        codebooks: 16,
        centroids: 16,
        outputs,
        lanes: 1,
        ..EngineConfig::default()
    };
    vec![layer(64), layer(10)]
}

/// A network device's cycles per inference come from the network top (all
/// layers and the stages between them), checked bit-exact against
/// `Network::infer` on a random network of its layers; the bound is the
/// slowest layer's, since the layers overlap.
#[test]
fn a_network_device_simulates_its_whole_network() {
    let layers = vec![
        EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 4,
            outputs: 8,
            lanes: 2,
            ..EngineConfig::default()
        },
        EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: 4,
            outputs: 5,
            ..EngineConfig::default()
        },
    ];
    let top = Top::network_device(layers.clone(), 12_000_000, 115_200);
    let (cycles, bound) = simulate(&top, 6).unwrap_or_else(|e| panic!("{e}"));
    let slowest = layers
        .iter()
        .map(|l| l.bound_cycles_per_inference())
        .max()
        .unwrap();
    assert_eq!(bound, slowest);
    // Dataflow: near the slowest layer's rate, far below the sum of the layers'.
    let sum: usize = layers.iter().map(|l| l.bound_cycles_per_inference()).sum();
    assert!(
        cycles >= bound as f64 * 0.98 && cycles < sum as f64,
        "{cycles} cycles per inference, bound {bound}, layers' sum {sum}"
    );
}

/// The digits network device (64-64-10: two engines, one requantization
/// stage, the network loader) through the whole ECP5 flow on the
/// ULX3S-85F to a bitstream and a report. Not in the default run: 4 min
/// 28 s of wall time (yosys, the YoWASP nextpnr-ecp5 and ecppack, then the
/// network top in Verilator) on the shared 2-core machine (`bash
/// scripts/test.sh --slow`).
#[test]
#[ignore = "slow: the ECP5 flow for a network device takes minutes"]
fn ecp5_flow_for_the_digits_network_device() {
    if missing(
        &[YOSYS_ECP5, NEXTPNR_ECP5, ECPPACK],
        "sudo bash scripts/setup.sh --ecp5",
    ) {
        return;
    }
    let board = Board::find("ulx3s-85f").unwrap();
    let dir = std::env::temp_dir().join(format!("lutgen-ecp5-network-{}", std::process::id()));
    let top = Top::network_device(digits_layers(), (board.clock_mhz * 1e6) as u32, 115_200);
    let options = BuildOptions {
        out_dir: dir.clone(),
        force: false,
        sim_vectors: 4,
        seed: 1,
        more_seeds: 0,
    };
    let r = build(&board, EngineKind::Lut, &top, &options).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.pinned && r.fit.fits && r.fit.network, "{r:?}");
    let bitstream = r.bitstream.as_ref().unwrap();
    assert!(bitstream.extension().unwrap() == "bit", "{r:?}");
    assert!(
        std::fs::metadata(bitstream).unwrap().len() > 100_000,
        "{r:?}"
    );
    assert!(r.fmax_mhz.unwrap() > board.clock_mhz, "{r:?}");
    // Every layer's tables are in block RAM: more than one engine's.
    assert!(r.block_rams > 20 && r.logic_cells > 5_000, "{r:?}");
    assert!(r.cycles_per_inference > 0.0, "{r:?}");
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(markdown.contains("2-layer network 64-64-10"), "{markdown}");
    assert!(
        markdown.contains("64 bytes in and 40 bytes out"),
        "{markdown}"
    );
    assert!(dir.join("report.json").exists());
}
