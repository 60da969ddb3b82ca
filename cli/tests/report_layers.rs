//! `lutgen report --network`: a compiled network's layers as a sweep of
//! encoders and entries per read beside the dense baseline, as jobs (one
//! `--point` per candidate, no network file needed to run them), and the
//! refusals, each naming what it refuses. No place and route here (the
//! sweep machinery that builds the points is `report_jobs.rs`'s); the
//! rows, the choice of the best and the table are the board crate's unit
//! tests (`lutgen_board::layers`).

use lutgen_core::network::random_network;
use lutgen_core::EngineConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lutgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
}

fn report(network: &Path, more: &[&str]) -> Output {
    lutgen()
        .arg("report")
        .arg("--network")
        .arg(network)
        .args(more)
        .output()
        .expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A one-layer network, D=16 C=4 K=16 (a tree has 16 leaves) and N=6 (not a multiple of R = 4).
fn tiny_network(dir: &Path) -> PathBuf {
    let layer = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 16,
        outputs: 6,
        ..EngineConfig::default()
    };
    let path = dir.join("tiny.lutnet");
    random_network(&[layer], 1)
        .unwrap()
        .write_to(&path)
        .unwrap();
    path
}

#[test]
fn a_network_sweeps_as_jobs_and_refusals_name_what_they_refuse() {
    let dir = std::env::temp_dir().join(format!("lutgen-report-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let network = tiny_network(&dir);
    let jobs = dir.join("jobs.txt");
    let results = dir.join("results");
    let sweep = [
        "--boards",
        "hx8k-breakout,ulx3s-85f",
        "--encoders",
        "tree,sign",
        "--entries-per-read",
        "1,4",
    ];
    let out = report(
        &network,
        &[
            &sweep[..],
            &[
                "--write-jobs",
                jobs.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--collect"), "{}", stderr(&out));
    let lines = std::fs::read_to_string(&jobs).unwrap();
    // Per board: 2 encoders x 2 R LUT builds and a dense build per R.
    assert_eq!(lines.lines().count(), 12, "{lines}");
    for point in [
        "--point hx8k-breakout,tree.d16.c4.k16.n6.l1.r1.a8.p8.t8.b16,lut",
        "--point hx8k-breakout,sign.d16.c4.k16.n6.l1.r4.a8.p8.t8.b16,lut",
        "--point ulx3s-85f,l2.d16.c4.k16.n6.l1.r4.a8.p8.t8.b16,dense",
    ] {
        assert!(lines.contains(point), "{point} not in\n{lines}");
    }

    // Collecting before the jobs ran names the first missing point.
    let out = report(
        &network,
        &[&sweep[..], &["--collect", results.to_str().unwrap()]].concat(),
    );
    assert!(
        !out.status.success()
            && stderr(&out).contains(
                "no result for point hx8k-breakout,tree.d16.c4.k16.n6.l1.r1.a8.p8.t8.b16,lut"
            ),
        "{}",
        stderr(&out)
    );

    // Refusals.
    for (args, why) in [
        (
            &["--entries-per-read", "8"][..],
            "entries per read 8 does not fit",
        ),
        (
            &["--encoders", "fast"][..],
            "--encoders: unknown encoder `fast`",
        ),
        // V = 4 needs 4 sign bits: fine; an unknown board is refused.
        (&["--boards", "nowhere"][..], "nowhere"),
    ] {
        let out = report(
            &network,
            &[args, &["--write-jobs", jobs.to_str().unwrap()]].concat(),
        );
        assert!(
            !out.status.success() && stderr(&out).contains(why),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // A file that is not a network, and --encoders without --network.
    std::fs::write(dir.join("bad.lutnet"), b"not a network").unwrap();
    let out = report(&dir.join("bad.lutnet"), &["--write-jobs", "x"]);
    assert!(
        !out.status.success() && stderr(&out).contains("give a network file written by"),
        "{}",
        stderr(&out)
    );
    let out = lutgen()
        .args(["report", "--encoders", "tree", "--write-jobs", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The CNN fixture's layers: each convolution becomes points built as the
/// whole convolution layer (window generator and engine, LUT or dense:
/// `.conv` presets), the classifier as an engine; one convolution point
/// is built through the iCE40 flow and simulated bit-exact per input map.
#[test]
fn a_cnn_sweeps_its_convolutions_as_whole_layers() {
    let dir = std::env::temp_dir().join(format!("lutgen-report-cnn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let network = dir.join("cnn.lutnet");
    let out = lutgen()
        .arg("compile")
        .arg(data("onnx/cnn.onnx"))
        .arg("--calibration")
        .arg(data("digits_train_x.npy"))
        .args(["-k", "16", "-v", "4", "-o"])
        .arg(&network)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs = dir.join("jobs.txt");
    let out = report(
        &network,
        &[
            "--boards",
            "hx8k-breakout",
            "--encoders",
            "tree",
            "--entries-per-read",
            "1",
            "--write-jobs",
            jobs.to_str().unwrap(),
            "--results",
            dir.join("results").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(&jobs).unwrap();
    let first = "hx8k-breakout,tree.d9.c1.k16.n8.l1.r1.a8.p8.t8.b16.conv8-8-1-3-1-1-1-1-1,lut";
    for point in [
        first,
        "hx8k-breakout,l2.d9.c1.k16.n8.l1.r1.a8.p8.t8.b16.conv8-8-1-3-1-1-1-1-1,dense",
        "hx8k-breakout,tree.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16.conv8-8-8-3-2-1-1-1-1,lut",
        "hx8k-breakout,tree.d64.c16.k16.n10.l1.r1.a8.p8.t8.b16,lut",
    ] {
        assert!(
            lines.contains(&format!("--point {point} ")),
            "{point} not in\n{lines}"
        );
    }
    // The first convolution with the tree encoder, placed and routed out of
    // context: every output pixel checked, cycles per map at the bound
    // (64 output pixels x 8 table reads, or the 9 inputs of each patch).
    let json = dir.join("point.json");
    let out = lutgen()
        .args(["report", "--point", first, "--build-dir"])
        .arg(dir.join("build"))
        .arg("--point-out")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        report["top"]
            .as_str()
            .unwrap()
            .starts_with("convolution layer"),
        "{report}"
    );
    let (cycles, bound) = (
        report["cycles_per_inference"].as_f64().unwrap(),
        report["bound_cycles_per_inference"].as_f64().unwrap(),
    );
    assert!(
        bound >= 64.0 * 8.0 && cycles <= 1.05 * bound,
        "{cycles} of {bound}"
    );
    assert!(report["logic_cells"].as_u64().unwrap() > 0, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
