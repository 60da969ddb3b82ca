//! docs/protocol.md is enough to drive the device: `scripts/clients/lutgen_client.py`,
//! a Python client written from that page alone (standard library and
//! pyserial, no lutgen code), loads, runs and checks an image on
//! `lutgen board --sim` for every encoder, and sees the device refuse a wrong
//! image (error 9), a load frame that leaves a gap (error 8) and data before
//! a load (error 7).
//!
//! Only the client's side is project-free: this test makes the image, the
//! input vectors and the expected outputs with lutgen_core. Python 3 with
//! pyserial is required, not optional: when it is missing the tests fail and
//! say to run scripts/setup.sh (CI installs both).

use lutgen_core::{EncoderKind, EngineConfig, Image, Reference};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

const VECTORS: usize = 20;

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clients/lutgen_client.py")
}

/// A Python 3 that can `import serial`: `$LUTGEN_PYTHON` if set, else
/// `python3`, else `/usr/bin/python3` (where Debian's python3-serial lives,
/// should another python3, pyenv's say, come first on PATH).
fn python() -> &'static str {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let candidates = match std::env::var("LUTGEN_PYTHON") {
            Ok(p) => vec![p],
            Err(_) => vec!["python3".to_string(), "/usr/bin/python3".to_string()],
        };
        candidates
            .iter()
            .find(|p| {
                Command::new(p)
                    .args([
                        "-c",
                        "import sys, serial; assert sys.version_info >= (3, 6)",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no Python 3 with pyserial (tried {}): run scripts/setup.sh, which installs \
                     python3 and python3-serial, or set LUTGEN_PYTHON to a Python 3 that can \
                     `import serial`",
                    candidates.join(", ")
                )
            })
    });
    match found {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Kills the board when the test ends, pass or fail.
struct Board(Child);

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `lutgen board --sim` for the image's engine (`flag` `--image`) or the
/// network's layers (`--network`); returns once it has printed its pseudo-terminal.
fn start_board(flag: &str, image: &Path) -> (Board, String) {
    start_board_with(&[flag.as_ref(), image.as_os_str()], "1500000")
}

/// `lutgen board --sim --pace cycles --baud BAUD ARGS`.
fn start_board_with(args: &[&std::ffi::OsStr], baud: &str) -> (Board, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .args(["board", "--sim", "--pace", "cycles", "--baud", baud])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("lutgen runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_string();
    assert!(
        Path::new(&port).exists(),
        "board port {port:?} does not exist"
    );
    (Board(child), port)
}

fn write_vectors<T: ToString>(path: &Path, rows: &[Vec<T>]) {
    let text: String = rows
        .iter()
        .map(|row| {
            let line: Vec<String> = row.iter().map(T::to_string).collect();
            line.join(" ") + "\n"
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

/// Writes the image, the wrong image (if any), inputs and expected outputs,
/// starts a board for the engine and runs the client against it.
/// `wrong`: the configuration of the image the device must refuse (`None`:
/// the client makes one itself); `chunk`: image bytes per load frame.
fn client_checks(name: &str, config: EngineConfig, wrong: Option<EngineConfig>, chunk: usize) {
    let python = python();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("lutgen-py-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let image = Image::random(config.clone(), 11).unwrap();
    let image_path = dir.join("model.lutimg");
    image.write_to(&image_path).unwrap();
    let inputs = config.random_inputs(VECTORS, 12);
    let reference = Reference::new(&image);
    let expected: Vec<Vec<i32>> = inputs
        .iter()
        .map(|x| reference.outputs(x).unwrap())
        .collect();
    write_vectors(&dir.join("inputs.txt"), &inputs);
    write_vectors(&dir.join("expected.txt"), &expected);

    let (_board, port) = start_board("--image", &image_path);
    let mut client = Command::new(python);
    client
        .arg(client_script())
        .arg(&port)
        .arg("--image")
        .arg(&image_path)
        .arg("--inputs")
        .arg(dir.join("inputs.txt"))
        .arg("--expect")
        .arg(dir.join("expected.txt"))
        .args(["--baud", "1500000", "--timeout", "30", "--chunk"])
        .arg(chunk.to_string());
    if let Some(wrong) = wrong {
        assert_ne!(wrong, config);
        let path = dir.join("wrong.lutimg");
        Image::random(wrong, 13).unwrap().write_to(&path).unwrap();
        client.arg("--wrong-image").arg(path);
    }
    let out = client.output().expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{name}: the Python client failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for refusal in [
        "error 9 (wrong image)",
        "error 7 (not loaded)",
        "error 8 (load offset)",
    ] {
        assert!(stdout.contains(refusal), "{name}: no {refusal}:\n{stdout}");
    }
    eprintln!(
        "{name}: {:.1} s (board start, Verilator build if not cached, client)\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// D = 8 in four sub-vectors of two, four outputs: the small engine of the
/// other device tests (its Verilated model is likely cached already).
fn small(encoder: EncoderKind, centroids: usize) -> EngineConfig {
    EngineConfig {
        input_dim: 8,
        codebooks: 4,
        centroids,
        outputs: 4,
        encoder,
        ..EngineConfig::default()
    }
}

fn one_more_output(config: &EngineConfig) -> EngineConfig {
    EngineConfig {
        outputs: config.outputs + 1,
        ..config.clone()
    }
}

/// A network device: the client identifies it from its longer identify
/// reply, loads the digits network file, checks the file's own CRC in the
/// status and every logit of the last layer, and sees a network for other
/// layers refused.
#[test]
fn a_network_device() {
    network_device_checks(false);
}

/// A sequential device: the client identifies it from its schedule section
/// (and checks the hash over it), loads the network file padded to the
/// device's engine (written here with `SequentialPlan::load_file`, as the
/// page describes it), checks the padded file's CRC in the status and every
/// logit, and sees an unpadded file for other layers refused (error 9).
/// At 3 Mbaud, the model `network_device.rs` builds for its sequential tests.
#[test]
fn a_sequential_device() {
    network_device_checks(true);
}

fn network_device_checks(sequential: bool) {
    use lutgen_core::network::random_network;
    use lutgen_core::sequential::SequentialPlan;
    use lutgen_core::Network;
    let python = python();
    let dir = std::env::temp_dir().join(format!(
        "lutgen-py-network-{sequential}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let net_path = dir.join("digits.lutnet");
    let out = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("compile")
        .arg(data.join("digits_mlp.safetensors"))
        .arg("--calibration")
        .arg(data.join("digits_train_x.npy"))
        .arg("-o")
        .arg(&net_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let network = Network::read_from(&net_path).unwrap();
    let inputs = network.layers()[0]
        .image
        .config()
        .random_inputs(VECTORS, 12);
    let expected: Vec<Vec<i32>> = inputs
        .iter()
        .map(|x| network.infer(x).unwrap().outputs)
        .collect();
    write_vectors(&dir.join("inputs.txt"), &inputs);
    write_vectors(&dir.join("expected.txt"), &expected);
    let mut other = network.configs();
    other[1].outputs = 12;
    let wrong = dir.join("other.lutnet");
    random_network(&other, 3).unwrap().write_to(&wrong).unwrap();
    let (baud, _board, port, file) = if sequential {
        let padded = dir.join("padded.lutnet");
        let plan = SequentialPlan::new(&network.configs()).unwrap();
        std::fs::write(&padded, plan.load_file(&network).unwrap()).unwrap();
        let (board, port) = start_board_with(
            &[
                "--network".as_ref(),
                net_path.as_os_str(),
                "--schedule".as_ref(),
                "sequential".as_ref(),
            ],
            "3000000",
        );
        ("3000000", board, port, padded)
    } else {
        let (board, port) = start_board("--network", &net_path);
        ("1500000", board, port, net_path.clone())
    };
    let out = Command::new(python)
        .arg(client_script())
        .arg(&port)
        .arg("--image")
        .arg(&file)
        .arg("--inputs")
        .arg(dir.join("inputs.txt"))
        .arg("--expect")
        .arg(dir.join("expected.txt"))
        .arg("--wrong-image")
        .arg(&wrong)
        .args(["--baud", baud, "--timeout", "30"])
        .output()
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "the Python client failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("network device, 2 layers"), "{stdout}");
    assert_eq!(
        stdout.contains("identify: sequential device, one engine of D=64 C=16 K=16 N=64"),
        sequential,
        "{stdout}"
    );
    for refusal in [
        "error 9 (wrong image)",
        "error 7 (not loaded)",
        "error 8 (load offset)",
    ] {
        assert!(stdout.contains(refusal), "no {refusal}:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn l2_with_the_wrong_image_the_client_makes() {
    // A 176-byte image: the client splits it into two frames.
    client_checks("l2", small(EncoderKind::L2, 4), None, 508);
}

#[test]
fn l1_with_two_lanes() {
    let config = EngineConfig {
        outputs: 6,
        lanes: 2,
        ..small(EncoderKind::L1, 4)
    };
    let wrong = one_more_output(&config);
    client_checks("l1", config, Some(wrong), 508);
}

#[test]
fn two_level_in_100_byte_frames() {
    // K = 16: G = 4 clusters of 4 keys; a 504-byte image in six frames.
    let config = small(EncoderKind::TwoLevel, 16);
    let wrong = one_more_output(&config);
    client_checks("two-level", config, Some(wrong), 100);
}

#[test]
fn tree() {
    let config = small(EncoderKind::Tree, 16);
    let wrong = one_more_output(&config);
    client_checks("tree", config, Some(wrong), 508);
}

#[test]
fn sign() {
    // V = 2, so K = 4 sign codes; the wrong image is another encoder's.
    let config = small(EncoderKind::Sign, 4);
    client_checks("sign", config, Some(small(EncoderKind::L2, 4)), 508);
}

/// The minimal client printed in docs/protocol.md, run as it stands (port
/// and image path substituted) against the simulated board: it identifies,
/// loads an image and reads the loaded flag.
#[test]
fn the_minimal_client_on_the_page_works() {
    let python = python();
    let page = include_str!("../../docs/protocol.md");
    let start = page.find("```python\n").expect("a Python block") + "```python\n".len();
    let code = &page[start..];
    let code = &code[..code.find("```").unwrap()];
    let config = small(EncoderKind::L2, 4);
    let dir = std::env::temp_dir().join(format!("lutgen-py-minimal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image_path = dir.join("model.lutimg");
    Image::random(config, 21)
        .unwrap()
        .write_to(&image_path)
        .unwrap();
    let (_board, port) = start_board("--image", &image_path);
    assert!(code.contains("\"/dev/ttyUSB0\"") && code.contains("\"model.lutimg\""));
    let code = code
        .replace("\"/dev/ttyUSB0\"", &format!("{port:?}"))
        .replace(
            "\"model.lutimg\"",
            &format!("{:?}", image_path.display().to_string()),
        );
    let out = Command::new(python).arg("-c").arg(&code).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the page's client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(129, 0, b'LTGN"), "{stdout}");
    assert!(stdout.trim_end().ends_with("\nloaded"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
