//! The `lutgen` command line, end to end, as a user runs it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn lutgen(args: &[&str]) -> Output {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/lutgen-models");
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .args(args)
        .env_remove("LUTGEN_CACHE_DIR")
        .env(
            "LUTGEN_CACHE_DIR",
            std::env::var_os("LUTGEN_CACHE_DIR").unwrap_or(cache.into_os_string()),
        )
        .output()
        .expect("lutgen runs")
}

fn ok_json(args: &[&str]) -> Value {
    let out = lutgen(args);
    assert!(
        out.status.success(),
        "lutgen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn fails_with(args: &[&str], needle: &str) {
    let out = lutgen(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "lutgen {args:?} should fail");
    assert!(
        err.contains(needle),
        "lutgen {args:?}: expected `{needle}` in:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lutgen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn assert_exact_and_at_bound(report: &Value) {
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["encoder_mismatches"], 0, "{report}");
    let cycles = report["cycles_per_inference"].as_f64().unwrap();
    let bound = report["bound_cycles_per_inference"].as_f64().unwrap();
    assert!(cycles <= 1.05 * bound, "{report}");
}

#[test]
fn sim_default_and_lanes_meet_the_bound_bit_exactly() {
    let report = ok_json(&["sim", "--random", "1000", "--json"]);
    assert_eq!(report["vectors"], 1000);
    assert_exact_and_at_bound(&report);
    let report = ok_json(&[
        "sim",
        "--random",
        "1000",
        "--lanes",
        "4",
        "--outputs",
        "32",
        "--json",
    ]);
    assert_exact_and_at_bound(&report);
}

/// The ECP5 Verilog (DP16KD model, LUT-RAM FIFO, chunked argmin compares)
/// agrees with the reference too and keeps the bound; its latency differs
/// from the portable Verilog's (the output capture is registered on the
/// iCE40 only, docs/boards.md round 9), which shows it is the one simulated.
#[test]
fn sim_of_the_ecp5_verilog_is_bit_exact() {
    let report = ok_json(&["sim", "--random", "200", "--ecp5", "--json"]);
    assert_eq!(report["vectors"], 200);
    assert_exact_and_at_bound(&report);
    let portable = ok_json(&["sim", "--random", "200", "--json"]);
    assert_ne!(
        report["cycles"].as_u64(),
        portable["cycles"].as_u64(),
        "ECP5 {} cycles, portable {}",
        report["cycles"],
        portable["cycles"]
    );
}

#[test]
fn image_then_sim_with_npy_in_and_out_and_a_trace() {
    let image = temp("small.img");
    let flags = [
        "--input-dim",
        "8",
        "--codebooks",
        "2",
        "--centroids",
        "4",
        "--outputs",
        "3",
    ];
    let mut args = vec![
        "image",
        "--random",
        "--seed",
        "5",
        "-o",
        image.to_str().unwrap(),
        "--json",
    ];
    args.extend(flags);
    let described = ok_json(&args);
    assert_eq!(described["table_bytes"], 2 * 4 * 3);

    let y = temp("y.npy");
    let vcd = temp("run.vcd");
    let report = ok_json(&[
        "sim",
        "--image",
        image.to_str().unwrap(),
        "--random",
        "20",
        "--stall",
        "0.5",
        "--output",
        y.to_str().unwrap(),
        "--trace",
        vcd.to_str().unwrap(),
        "--json",
    ]);
    assert_exact_and_at_bound_or_stalled(&report);
    let results = lutgen::vectors::read_npy_i32(&y).unwrap();
    assert_eq!((results.len(), results[0].len()), (20, 3));
    let wave = std::fs::read_to_string(&vcd).unwrap();
    assert!(wave.contains("$enddefinitions") && wave.contains("out_data"));

    // The same vectors from a .npy file give the same results.
    let x = temp("x.npy");
    let rows: Vec<Vec<i32>> = vec![vec![-128, 127, 0, 1, 2, 3, 4, 5], vec![1; 8]];
    lutgen::vectors::write_npy(&x, &rows, 8).unwrap();
    let report = ok_json(&[
        "sim",
        "--image",
        image.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["vectors"], 2);
    assert_eq!(report["mismatches"], 0);

    fails_with(
        &["sim", "--image", image.to_str().unwrap(), "--outputs", "5"],
        "different engine",
    );
    let mut bytes = std::fs::read(&image).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = temp("bad.img");
    std::fs::write(&bad, &bytes).unwrap();
    fails_with(&["sim", "--image", bad.to_str().unwrap()], "CRC");
    fails_with(
        &["sim", "--image", "/nonexistent/x.img"],
        "/nonexistent/x.img",
    );
}

fn assert_exact_and_at_bound_or_stalled(report: &Value) {
    // With a stalled output the cycle count is not a throughput figure.
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["encoder_mismatches"], 0, "{report}");
}

#[test]
fn generate_writes_verilog_and_documents_parameters() {
    let path = temp("engine.v");
    let summary = ok_json(&[
        "generate",
        "--lanes",
        "2",
        "-o",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(summary["top_module"], "lutgen_engine");
    assert_eq!(summary["bound_cycles_per_inference"], 128);
    let verilog = std::fs::read_to_string(&path).unwrap();
    assert!(verilog.contains("module lutgen_engine("));

    let help = lutgen(&["generate", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--input-dim",
        "--codebooks",
        "power of two",
        "--lanes",
        "--table-bits",
        "--config",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

#[test]
fn bad_configurations_are_clear_errors() {
    fails_with(&["generate", "--centroids", "24"], "power of two");
    fails_with(&["generate", "--input-dim", "65"], "multiple of codebooks");
    fails_with(&["generate", "--lanes", "17"], "lanes");
    fails_with(&["generate", "--encoder", "cosine"], "unknown encoder");
    let toml = temp("bad.toml");
    std::fs::write(&toml, "centroids = \"many\"\n").unwrap();
    fails_with(
        &["generate", "--config", toml.to_str().unwrap()],
        "bad.toml",
    );
    fails_with(&["sim", "--stall", "1.5"], "--stall");
    fails_with(
        &["build", "--board", "hx8k-breakout", "--seeds", "0"],
        "--seeds",
    );
    fails_with(
        &["build", "--board", "hx8k-breakout", "--seeds", "33"],
        "--seeds",
    );
    let x = temp("wrong.npy");
    lutgen::vectors::write_npy(&x, &[vec![1, 2, 3]], 3).unwrap();
    fails_with(&["sim", "--input", x.to_str().unwrap()], "engine takes 64");
}

#[test]
fn sim_every_encoder_by_name() {
    for (name, k) in [
        ("l2", "8"),
        ("l1", "8"),
        ("two-level", "16"),
        ("tree", "16"),
        ("sign", "16"),
    ] {
        let report = ok_json(&[
            "sim",
            "--encoder",
            name,
            "--input-dim",
            "16",
            "--codebooks",
            "4",
            "--centroids",
            k,
            "--outputs",
            "8",
            "--random",
            "200",
            "--seed",
            "5",
            "--json",
        ]);
        assert_eq!(report["encoder"], name, "{report}");
        assert_eq!(report["vectors"], 200, "{report}");
        assert_exact_and_at_bound(&report);
        if name == "two-level" {
            // G = 4 centres + S = 4 keys instead of 16.
            assert_eq!(report["distances_per_codebook"], 8, "{report}");
            assert_eq!(report["full_search_distances_per_codebook"], 16, "{report}");
        }
    }
    fails_with(
        &["generate", "--encoder", "tree", "--centroids", "8"],
        "16 (a depth-4 tree",
    );
    fails_with(
        &["generate", "--encoder", "sign", "--centroids", "8"],
        "2^V",
    );
}

fn digits_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// `lutgen encoders --json`: one row per encoder with the report's keys, and
/// the soft-weighting measurement (reference only here; the device rows
/// are covered by tests/compile.rs).
#[test]
fn encoders_compares_every_encoder_on_the_digits_model() {
    let (w, c, x, y) = (
        digits_file("digits_mlp.safetensors"),
        digits_file("digits_train_x.npy"),
        digits_file("digits_test_x.npy"),
        digits_file("digits_test_y.npy"),
    );
    let args = [
        "encoders",
        "--weights",
        &w,
        "--calibration",
        &c,
        "--test-x",
        &x,
        "--test-y",
        &y,
        "--device-limit",
        "0",
        "--json",
    ];
    let report = ok_json(&args);
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["encoder"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["l2", "l1", "two-level", "tree", "sign"]);
    for row in rows {
        let acc = row["accuracy_lut_reference"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&acc), "{row}");
        assert_eq!(row["k"], 16);
        assert!(row["accuracy_lut_device"].is_null());
    }
    // Two-level computes G + K/G = 8 distances per codebook instead of 16.
    assert_eq!(
        rows[2]["distances_per_inference"].as_u64().unwrap() * 2,
        rows[0]["distances_per_inference"].as_u64().unwrap()
    );
    let soft = &report["soft_sign"];
    assert!(soft["accuracy_hard"].as_f64().unwrap() > 0.5, "{soft}");
    assert!(soft["accuracy_soft"].as_f64().unwrap() > 0.5, "{soft}");
    fails_with(
        &["encoders", "--weights", &w, "--encoders", "l3"],
        "unknown encoder `l3`",
    );
}

/// `lutgen sim --network`: a network file on the network top, bit-exact
/// against the reference, near its slowest layer's bound, with the
/// per-layer passes reported for comparison; bad requests are errors.
#[test]
fn sim_network_runs_a_whole_network_on_the_network_top() {
    use lutgen_core::network::random_network;
    use lutgen_core::EngineConfig;
    // The layers of tests/tests/network.rs's two-layer top (shared model cache).
    let layers = [
        EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 8,
            outputs: 12,
            lanes: 2,
            ..EngineConfig::default()
        },
        EngineConfig {
            input_dim: 12,
            codebooks: 12,
            centroids: 16,
            outputs: 12,
            lanes: 3,
            activation_bits: 4,
            ..EngineConfig::default()
        },
    ];
    let path = temp("two.lutnet");
    random_network(&layers, 4).unwrap().write_to(&path).unwrap();
    let file = path.to_str().unwrap();
    let report = ok_json(&[
        "sim",
        "--network",
        file,
        "--random",
        "200",
        "--stall",
        "0.2",
        "--compare-passes",
        "--json",
    ]);
    assert_eq!(report["layers"], 2, "{report}");
    assert_eq!(report["vectors"], 200, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    let cycles = report["cycles_per_inference"].as_f64().unwrap();
    let bound = report["bound_cycles_per_inference"].as_f64().unwrap();
    let passes = report["passes_cycles_per_inference"].as_f64().unwrap();
    assert!(cycles <= 1.05 * bound && cycles < passes, "{report}");
    let verilog = temp("two.v");
    let out = lutgen(&[
        "generate",
        "--network",
        file,
        "-o",
        verilog.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&verilog).unwrap();
    assert!(text.contains("module lutgen_network(") && text.contains("// Layer 1:"));
    fails_with(
        &["sim", "--network", file, "--outputs", "3"],
        "drop --image and the engine flags",
    );
    let bytes = std::fs::read(&path).unwrap();
    let broken = temp("broken.lutnet");
    std::fs::write(&broken, &bytes[..bytes.len() - 3]).unwrap();
    fails_with(
        &["sim", "--network", broken.to_str().unwrap()],
        "network file",
    );
}

/// `--timeout` takes 0.001 to 3600 seconds; anything else (infinite, huge,
/// NaN, negative, zero) is a usage error from the argument parser, exit
/// code 2, not a panic in `Duration::from_secs_f64` (exit code 101).
#[test]
fn timeouts_out_of_range_are_usage_errors() {
    let image = random_image("timeout.lutimg");
    let image = image.as_str();
    let port = "/nonexistent/lutgen-port";
    for timeout in ["inf", "1e300", "NaN", "-1", "0", "3601", "soon"] {
        for args in [
            vec!["ident", "--port", port],
            vec!["load", "--port", port, image],
            vec!["status", "--port", port],
            vec!["run", "--port", port, "--image", image, "--random", "1"],
        ] {
            let mut args = args.clone();
            args.extend(["--timeout", timeout]);
            let out = lutgen(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "lutgen {args:?}: {err}");
            assert!(
                err.contains("--timeout") && err.contains("0.001 to 3600 seconds"),
                "lutgen {args:?}: {err}"
            );
        }
    }
    // In range, the argument parses and the command goes on to the port.
    fails_with(
        &["ident", "--port", port, "--timeout", "0.5"],
        "lutgen-port",
    );
}

/// `.npy` row counts are checked against the bytes present, and an input
/// with no rows is an error, not a run of zero vectors that exits 0.
#[test]
fn npy_inputs_without_rows_are_errors() {
    let image = random_image("npy-rows.lutimg");
    let image = image.as_str();
    // A header claiming 2^62 rows of 64 int8 elements, and no data.
    let huge = temp("huge.npy");
    std::fs::write(&huge, npy_header("(4611686018427387904, 64)")).unwrap();
    // A real, empty input: 0 rows of 64.
    let empty = temp("empty.npy");
    std::fs::write(&empty, npy_header("(0, 64)")).unwrap();
    for (path, needle) in [
        (huge.to_str().unwrap(), "huge.npy"),
        (empty.to_str().unwrap(), "empty.npy: the array has no rows"),
    ] {
        for args in [
            vec!["sim", "--input", path],
            vec![
                "run",
                "--port",
                "/nonexistent",
                "--image",
                image,
                "--input",
                path,
            ],
        ] {
            let out = lutgen(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "lutgen {args:?}: {err}");
            assert!(err.contains(needle), "lutgen {args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let err = String::from_utf8_lossy(&lutgen(&["sim", "--input", huge.to_str().unwrap()]).stderr)
        .into_owned();
    assert!(err.contains("data"), "{err}");
}

/// A random image of the default engine, written to `name` in the temporary folder.
fn random_image(name: &str) -> String {
    let path = temp(name);
    let path = path.to_str().unwrap();
    let out = lutgen(&["image", "--random", "-o", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_string()
}

/// A version-1 `.npy` header for int8 data of the given shape, and no data.
fn npy_header(shape: &str) -> Vec<u8> {
    lutgen_compile::npy::file(1, "|i1", false, shape, &[])
}

/// `lutgen build --network`: the conflicts with the engine flags are
/// refused before anything is read, and a network that does not fit is
/// refused by the fit check (no tool runs), naming the block RAMs it needs
/// against the board's; one that fits passes `--check`.
#[test]
fn build_network_refuses_engine_flags_and_what_does_not_fit() {
    use lutgen_core::network::random_network;
    use lutgen_core::EngineConfig;
    // The digits network's shapes (64-64-10, C = 16, K = 16), random contents.
    let layer = |outputs| EngineConfig {
        input_dim: 64,
        codebooks: 16,
        centroids: 16,
        outputs,
        ..EngineConfig::default()
    };
    let net = temp("digits-shaped.lutnet");
    std::fs::write(
        &net,
        random_network(&[layer(64), layer(10)], 5)
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let net = net.to_str().unwrap();
    let build = ["build", "--board", "icebreaker", "--network", net];
    for extra in [
        &["--codebooks", "8"][..],
        &["--config", "x.toml"],
        &["--out-of-context"],
        &["--macs", "4"],
    ] {
        fails_with(&[&build[..], extra].concat(), "cannot be used with");
    }
    fails_with(
        &[&build[..], &["--engine", "dense"]].concat(),
        "drop --engine dense",
    );
    fails_with(
        &[
            "build",
            "--board",
            "icebreaker",
            "--network",
            "missing.lutnet",
        ],
        "missing.lutnet",
    );
    // Too big for the iCEBreaker: refused by the fit check, with the figures.
    let out = lutgen(&[&build[..], &["--check"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("does not fit icebreaker"), "{err}");
    assert!(
        err.contains("too many block RAMs: 74 needed, the board has 30 SB_RAM40_4K"),
        "{err}"
    );
    assert!(err.contains("cannot be reshaped to fit"), "{err}");
    assert!(!err.contains("largest configuration"), "{err}");
    // Without --check the same refusal comes before any tool runs (no build directory).
    let dir = temp("net-build-refused");
    let out = lutgen(&[&build[..], &["--out", dir.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("74 needed"), "{err}");
    assert!(!dir.exists(), "{}", dir.display());
    // It fits the ULX3S-85F: the fit check as JSON names every layer.
    let fit = ok_json(&[
        "build",
        "--board",
        "ulx3s-85f",
        "--network",
        net,
        "--check",
        "--json",
    ]);
    assert_eq!(fit["fits"], true, "{fit}");
    assert_eq!(fit["network"], true, "{fit}");
    assert!(
        fit["top"]
            .as_str()
            .unwrap()
            .contains("2-layer network 64-64-10"),
        "{fit}"
    );
    assert_eq!(fit["multipliers"], 4, "{fit}");
}

/// `--entries-per-read`: every invalid R is refused naming the rule (no
/// panic), and one image file runs on engines of R = 1 and R = 2 (the
/// image has no R), bit-exact, at the bound that R gives.
#[test]
fn entries_per_read_is_checked_and_one_image_runs_at_any_r() {
    for (args, needle) in [
        (
            &["--entries-per-read", "3"][..],
            "entries_per_read (3) must be a power of two from 1 to 4",
        ),
        (
            &["--entries-per-read", "8"],
            "entries_per_read (8) must be a power of two from 1 to 4",
        ),
        (
            &["--entries-per-read", "0"],
            "entries_per_read (0) must be a power of two",
        ),
        (
            &["--entries-per-read", "16", "--table-bits", "4"],
            "from 1 to 8 with table_bits 4",
        ),
        (
            &["--entries-per-read", "4", "--outputs", "3"],
            "lanes x entries_per_read (1 x 4) must not exceed outputs (3)",
        ),
    ] {
        let out = temp("refused.v");
        let mut all = vec!["generate", "-o", out.to_str().unwrap()];
        all.extend_from_slice(args);
        fails_with(&all, needle);
    }
    let image = temp("any-r.lutimg");
    let path = image.to_str().unwrap();
    assert!(lutgen(&["image", "--random", "--seed", "3", "-o", path])
        .status
        .success());
    for (r, bound) in [("1", 256), ("2", 128)] {
        let report = ok_json(&[
            "sim",
            "--image",
            path,
            "--entries-per-read",
            r,
            "--random",
            "50",
            "--json",
        ]);
        assert_eq!(report["entries_per_read"], r.parse::<u64>().unwrap());
        assert_eq!(report["bound_cycles_per_inference"], bound);
        assert_eq!(report["limit"], "table-read");
        assert_eq!(
            (
                report["mismatches"].as_u64(),
                report["encoder_mismatches"].as_u64()
            ),
            (Some(0), Some(0))
        );
    }
}

/// docs/boards.md's fit-check example is this command's output, line for
/// line (the error a user sees when a device does not fit the iCEBreaker).
#[test]
fn the_fit_check_example_in_the_boards_doc_is_what_lutgen_prints() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/boards.md"),
    )
    .unwrap();
    let command = "$ lutgen build --board icebreaker --check --outputs 32\n";
    let start = doc.find(command).expect("the example is in docs/boards.md") + command.len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    let out = lutgen(&[
        "build",
        "--board",
        "icebreaker",
        "--check",
        "--outputs",
        "32",
    ]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), block);
}
