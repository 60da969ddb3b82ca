//! Test support: one block's Verilog, on its own, through yosys (it
//! elaborates, infers no latch and passes `check`) and Verilator's
//! `--lint-only -Wall`, with the waivers below.

use lutgen_core::{EncoderKind, EngineConfig};
use rust_hdl::prelude::*;

/// A small engine (D = 16, C = 4, N = 8) with `encoder` and K = `centroids`,
/// for the stages' tests.
pub fn small_engine(encoder: EncoderKind, centroids: usize) -> EngineConfig {
    EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids,
        outputs: 8,
        encoder,
        ..EngineConfig::default()
    }
}

/// Waivers for a block linted alone. WIDTH, UNOPTFLAT, DECLFILENAME: as in
/// the engine's file (`verilog.rs`: rust-hdl's 32-bit literals and masks,
/// one always block per module, one file). UNUSEDSIGNAL: a block alone has
/// inputs and taps its parent would read or drive that nothing here does.
/// UNUSEDPARAM: rust-hdl declares every state of an enum register as a
/// localparam in its module, where only some are compared.
const BLOCK_WAIVERS: &str = "\
/* verilator lint_off WIDTH */
/* verilator lint_off UNOPTFLAT */
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
";

/// Runs `program` with `args` in `dir`; panics with its output on failure.
fn run(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install it: apt-get install {program}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// Asserts that `block`'s Verilog (module `top`) elaborates in yosys without
/// latches and passes `verilator --lint-only -Wall` with [`BLOCK_WAIVERS`] only.
pub fn assert_block_is_clean<B: Block>(name: &str, block: &mut B) {
    block.connect_all();
    // The memories' own `lint_on UNUSEDSIGNAL` lines are dropped so the
    // waiver stays file-wide (as in the device's file).
    let verilog: String = generate_verilog(block)
        .lines()
        .filter(|l| l.trim() != "/* verilator lint_on UNUSEDSIGNAL */")
        .flat_map(|l| [l, "\n"])
        .collect();
    let verilog = format!("{BLOCK_WAIVERS}{verilog}");
    let dir = std::env::temp_dir().join(format!("lutgen-hdl-lint-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), &verilog).unwrap();
    run(
        &dir,
        "yosys",
        &[
            "-q",
            "-p",
            "read_verilog top.v; hierarchy -check -top top; proc; flatten; \
             select -assert-none t:$dlatch t:$adlatch t:$dlatchsr; check -assert",
        ],
    );
    let lint = run(
        &dir,
        "verilator",
        &["--lint-only", "-Wall", "--top-module", "top", "top.v"],
    );
    assert!(!lint.contains("%Warning"), "{name}:\n{lint}");
    let _ = std::fs::remove_dir_all(&dir);
}
