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
