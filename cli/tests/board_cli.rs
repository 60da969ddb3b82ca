//! End to end through a pseudo-terminal: `lutgen board --sim` serves the
//! simulated device, and `lutgen ident/load/run/status` talk to it as to a
//! serial port. Timeouts are generous (the board paces itself in simulated
//! cycles), so a slow machine only makes the test slower.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

// The driver crate's example, compiled into this test so its code runs against the simulated board.
#[path = "../../driver/examples/drive.rs"]
mod drive_example;

fn lutgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
}

const ENGINE: [&str; 8] = [
    "--input-dim",
    "8",
    "--codebooks",
    "4",
    "--centroids",
    "4",
    "--outputs",
    "4",
];

/// Kills the board when the test ends, pass or fail.
struct Board(Child);

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_board(json: bool) -> (Board, String) {
    let mut cmd = lutgen();
    cmd.args(["board", "--sim", "--pace", "cycles", "--baud", "1500000"])
        .args(ENGINE)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd.spawn().expect("lutgen runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = if json {
        let v: serde_json::Value = serde_json::from_str(&line).expect("first line is JSON");
        v["port"].as_str().expect("has a port").to_string()
    } else {
        line.trim().to_string()
    };
    assert!(Path::new(&port).exists(), "{port} does not exist");
    (Board(child), port)
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn load_and_run_verify_through_a_pseudo_terminal() {
    let dir = tempfile_dir();
    let image = dir.join("small.lutimg");
    let out = lutgen()
        .args(["image", "--random", "--seed", "3", "--output"])
        .arg(&image)
        .args(ENGINE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lutgen image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_board, port) = start_board(true);
    let t = ["--timeout", "20"];

    let ident = json_of(
        &lutgen()
            .args(["ident", "--port", &port, "--json"])
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(ident["config"]["outputs"], 4);

    let load = json_of(
        &lutgen()
            .args(["load", "--port", &port, "--json"])
            .args(t)
            .arg(&image)
            .output()
            .unwrap(),
    );
    // Identify, the status a load starts with, the 176-byte image in one
    // frame, and the status that proves it loaded.
    assert_eq!(load["frames"], 4, "{load}");
    assert_eq!(load["retransmissions"], 0, "{load}");

    let output = dir.join("y.npy");
    let run = json_of(
        &lutgen()
            .args([
                "run", "--port", &port, "--random", "300", "--verify", "--json", "--image",
            ])
            .arg(&image)
            .arg("--output")
            .arg(&output)
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(run["vectors"], 300);
    assert_eq!(run["mismatches"], 0);
    assert!(run["inferences_per_second"].as_f64().unwrap() > 0.0);
    assert!(run["payload_efficiency"].as_f64().unwrap() > 0.9);
    assert!(output.exists());

    let status = json_of(
        &lutgen()
            .args(["status", "--port", &port, "--json"])
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(status["vectors_processed"], 300);
    assert_eq!(status["loaded"], true);
    let file = std::fs::read(&image).unwrap();
    let crc = u32::from_le_bytes(file[56..60].try_into().unwrap());
    assert_eq!(status["image_crc"], crc);
    assert_eq!(status["load_offset"], file.len());
}

#[test]
fn board_prints_its_path_first_and_a_missing_port_is_one_clear_line() {
    let (_board, port) = start_board(false);
    assert!(port.starts_with("/dev/"), "{port}");
    let out = lutgen()
        .args(["ident", "--port", "/dev/lutgen-missing", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/dev/lutgen-missing") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn the_driver_example_drives_the_simulated_board() {
    let (_board, port) = start_board(false);
    let summary = drive_example::drive(&port, None, 50).expect("the example runs");
    assert_eq!(summary.vectors, 50);
    assert_eq!(summary.mismatches, 0);
    assert_eq!(summary.vectors_processed, 50);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lutgen-board-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
