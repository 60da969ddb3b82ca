//! The network device end to end: a device generated for a compiled
//! network's layers, driven by the host through the simulated board (in
//! this process, and through `lutgen board --sim --network` on a
//! pseudo-terminal). The committed digits model is compiled here (a
//! twentieth of a second), loaded as its network file, and the 360 test
//! digits must come back equal to the integer reference, also on a damaged
//! link. Time is simulated device cycles: nothing depends on this machine's speed.

use lutgen_core::network::random_network;
use lutgen_core::protocol::{Command as Cmd, Decoded, Decoder, DeviceError, Frame, ERROR_REPLY};
use lutgen_core::{Image, Network};
use lutgen_driver::transport::fault::{Faults, FaultyTransport};
use lutgen_driver::transport::Transport;
use lutgen_driver::{Driver, DriverError, DriverOptions};
use lutgen_hdl::device::DeviceConfig;
use lutgen_sim::device::DeviceSimOptions;
use lutgen_sim::transport::SimTransport;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn lutgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lutgen-netdev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The committed digits MLP (64-64-10), compiled with the defaults.
fn digits_network(dir: &Path) -> PathBuf {
    let path = dir.join("digits.lutnet");
    if !path.exists() {
        let out = lutgen()
            .arg("compile")
            .arg(data("digits_mlp.safetensors"))
            .arg("--calibration")
            .arg(data("digits_train_x.npy"))
            .arg("-o")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

/// The digits test split as the device takes it (quantized as the compiler did).
fn digits_inputs(network: &Network) -> Vec<Vec<i8>> {
    let x = read_f32(&data("digits_test_x.npy"));
    let q = network.input_quantization();
    x.iter().map(|r| q.quantize(r)).collect()
}

/// A 2-D .npy as rows of f32.
fn read_f32(path: &Path) -> Vec<Vec<f32>> {
    let array = lutgen_compile::npy::read(&std::fs::read(path).unwrap()).unwrap();
    let cols = array.shape[1];
    array
        .values
        .into_f32()
        .chunks(cols)
        .map(|r| r.to_vec())
        .collect()
}

fn options() -> DriverOptions {
    DriverOptions {
        timeout: Duration::from_millis(100),
        retries: 12,
        window_bytes: None,
    }
}

fn device(network: &Network) -> DeviceConfig {
    DeviceConfig::network(network.configs(), 12_000_000, 3_000_000)
}

#[test]
fn the_digits_network_runs_bit_exact_on_the_network_device_even_on_a_damaged_link() {
    let dir = temp_dir();
    let network = Network::read_from(digits_network(&dir)).unwrap();
    let inputs = digits_inputs(&network);
    assert_eq!(inputs.len(), 360);
    let expected: Vec<Vec<i32>> = inputs
        .iter()
        .map(|x| network.infer(x).unwrap().outputs)
        .collect();
    let transport = SimTransport::new(&device(&network), &DeviceSimOptions::default()).unwrap();
    let faults = Faults {
        flip: 1.0 / 1000.0,
        drop: 1.0 / 1000.0,
        insert: 1.0 / 1000.0,
        mute_after: None,
    };
    let mut driver = Driver::new(FaultyTransport::new(transport, faults, 7), options());
    let ident = driver.identify().unwrap();
    assert_eq!(ident.layers.as_deref(), Some(network.configs().as_slice()));
    assert_eq!(ident.outputs(), 10);
    driver.load_network(&network, &mut |_, _| {}).unwrap();
    let results = driver.run(&inputs, &mut |_, _| {}).unwrap();
    let wrong = results
        .iter()
        .zip(&expected)
        .position(|(got, want)| got != want);
    assert_eq!(wrong, None, "first wrong vector");
    let damage = driver.transport().damage();
    assert!(
        damage.flipped + damage.dropped + damage.inserted > 0,
        "{damage:?}"
    );
    let status = driver.status().unwrap();
    assert!(status.loaded() && !status.fault(), "{status:?}");
    let file = network.to_bytes();
    let crc = u32::from_le_bytes(file[file.len() - 4..].try_into().unwrap());
    assert_eq!(status.image_crc, crc);
}

#[test]
fn files_for_other_devices_are_refused_before_data_moves() {
    let dir = temp_dir();
    let network = Network::read_from(digits_network(&dir)).unwrap();
    let transport = SimTransport::new(&device(&network), &DeviceSimOptions::default()).unwrap();
    let mut driver = Driver::new(transport, options());
    // A network of other layers (the hidden layer 32 wide).
    let mut other = network.configs();
    other[0].outputs = 32;
    other[1].input_dim = 32;
    other[1].codebooks = 8;
    let foreign = random_network(&other, 1).unwrap();
    let err = driver.load_network(&foreign, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DriverError::WrongTarget { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("a network of 2 layers: 64->64") && text.contains("64->32"),
        "{text}"
    );
    // An image for one engine, to a network device.
    let image = network.layers()[0].image.clone();
    let err = driver.load(&image, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, DriverError::WrongTarget { .. }), "{err}");
    // Nothing was sent but identify: the device has no load in progress.
    let status = driver.status().unwrap();
    assert!(!status.loaded() && !status.loading(), "{status:?}");
    assert_eq!(status.frames_rejected, 0);
}

/// `network` with layer `layer`'s tables replaced by random ones: a
/// deliberately broken layer (every value valid, so the device takes it).
fn broken(network: &Network, layer: usize) -> Network {
    let mut layers = network.layers().to_vec();
    layers[layer].image = Image::random(layers[layer].image.config().clone(), 99).unwrap();
    Network::with_spatial(
        network.input_quantization(),
        layers,
        network.spatial().to_vec(),
    )
    .unwrap()
}

/// One raw frame, its one reply.
fn exchange(t: &mut SimTransport, frame: Frame) -> Frame {
    t.write(&frame.encode()).unwrap();
    let mut decoder = Decoder::new(4096);
    for _ in 0..1000 {
        decoder.push(&t.read(Duration::from_millis(20)).unwrap());
        if let Some(Decoded::Frame(f)) = decoder.next_frame() {
            return f;
        }
    }
    panic!("no reply");
}

#[test]
fn trace_reads_each_layer_and_names_a_broken_one() {
    let dir = temp_dir();
    let network = Network::read_from(digits_network(&dir)).unwrap();
    let inputs = digits_inputs(&network);
    let transport = SimTransport::new(&device(&network), &DeviceSimOptions::default()).unwrap();
    let mut driver = Driver::new(transport, options());
    // Before any load: refused, not loaded.
    let err = driver.trace(0, &inputs[0]).unwrap_err();
    assert!(
        err.to_string().contains("no complete image loaded"),
        "{err}"
    );
    driver.load_network(&network, &mut |_, _| {}).unwrap();
    for x in &inputs[..4] {
        let reference = network.infer(x).unwrap();
        let (activations, outputs) = driver.trace(0, x).unwrap();
        assert_eq!(activations, reference.activations[1]);
        assert_eq!(outputs, reference.outputs);
        assert_eq!(driver.first_divergence(&network, x).unwrap(), None);
    }
    // Data streams on after a trace, in order.
    let results = driver.run(&inputs[..20], &mut |_, _| {}).unwrap();
    for (x, got) in inputs[..20].iter().zip(&results) {
        assert_eq!(got, &network.infer(x).unwrap().outputs);
    }
    // A device loaded with a broken layer 0, then a broken layer 1, checked
    // against the right network: the trace names the layer.
    for layer in [0, 1] {
        driver
            .load_network(&broken(&network, layer), &mut |_, _| {})
            .unwrap();
        let d = driver
            .first_divergence(&network, &inputs[0])
            .unwrap()
            .expect("the broken layer shows");
        assert_eq!((d.layer, d.last), (layer, layer == 1), "{d}");
    }
    // The last layer (its outputs are the data reply) and an engine's layer
    // cannot be traced; the device says so itself.
    let mut t = SimTransport::new(&device(&network), &DeviceSimOptions::default()).unwrap();
    let mut payload = vec![1u8];
    payload.extend(inputs[0].iter().map(|&x| x as u8));
    let reply = exchange(&mut t, Frame::new(Cmd::Trace.code(), 7, payload));
    assert_eq!(reply.code, ERROR_REPLY);
    assert_eq!(reply.payload[0], DeviceError::NoSuchLayer.code());
    let reply = exchange(&mut t, Frame::new(Cmd::Trace.code(), 8, vec![0; 3]));
    assert_eq!(reply.payload[0], DeviceError::BadLength.code());
    assert!(driver.trace(1, &inputs[0]).is_err());
}

fn sequential_device(network: &Network) -> DeviceConfig {
    DeviceConfig::sequential(network.configs(), 12_000_000, 3_000_000)
}

/// The sequential device (one engine runs both layers in turn): identify
/// names its schedule and engine, the driver loads the padded file, the 360
/// digits come back bit-exact over a link that damages 1 byte in 1,000 each
/// way, networks of another capacity are refused before any data moves,
/// naming what does not fit, and the trace names a broken layer.
#[test]
fn the_digits_network_runs_bit_exact_on_the_sequential_device() {
    use lutgen_core::sequential::{Schedule, SequentialPlan};
    let dir = temp_dir();
    let network = Network::read_from(digits_network(&dir)).unwrap();
    let inputs = digits_inputs(&network);
    let transport =
        SimTransport::new(&sequential_device(&network), &DeviceSimOptions::default()).unwrap();
    let mut driver = Driver::new(transport, options());
    let ident = driver.identify().unwrap();
    assert_eq!(ident.schedule, Schedule::Sequential);
    let plan = SequentialPlan::new(&network.configs()).unwrap();
    assert_eq!(ident.sequential_engine.as_ref(), Some(plan.engine()));
    assert_eq!(ident.outputs(), 10);

    // Other capacities: refused before anything but identify moves.
    let configs = network.configs();
    let mut wide = configs.clone();
    wide[1].centroids = 32;
    let mut three = configs.clone();
    three.insert(1, configs[1].clone());
    three[1].outputs = 64;
    let mut other = configs.clone();
    other[0].outputs = 32;
    other[1].input_dim = 32;
    other[1].codebooks = 8;
    for (layers, needle) in [
        (three, "the network has 3 layers, this device runs 2"),
        (
            wide,
            "layer 1 does not fit the device: it is larger than the device's engine",
        ),
        (other, "the device runs 64->64"),
    ] {
        let foreign = random_network(&layers, 1).unwrap();
        let err = driver.load_network(&foreign, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, DriverError::DoesNotFit { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let err = driver
        .load(&network.layers()[0].image, &mut |_, _| {})
        .unwrap_err();
    assert!(matches!(err, DriverError::WrongTarget { .. }), "{err}");
    let status = driver.status().unwrap();
    assert!(!status.loaded() && !status.loading(), "{status:?}");
    assert_eq!(status.frames_rejected, 0);

    // Loaded and run over a damaged link.
    let transport = driver.into_transport();
    let faults = Faults {
        flip: 1.0 / 1000.0,
        drop: 1.0 / 1000.0,
        insert: 1.0 / 1000.0,
        mute_after: None,
    };
    let mut driver = Driver::new(FaultyTransport::new(transport, faults, 11), options());
    driver.load_network(&network, &mut |_, _| {}).unwrap();
    let results = driver.run(&inputs, &mut |_, _| {}).unwrap();
    let wrong = results
        .iter()
        .zip(&inputs)
        .position(|(got, x)| got != &network.infer(x).unwrap().outputs);
    assert_eq!(wrong, None, "first wrong vector");
    let damage = driver.transport().damage();
    assert!(
        damage.flipped + damage.dropped + damage.inserted > 0,
        "{damage:?}"
    );
    let status = driver.status().unwrap();
    assert!(status.loaded() && !status.fault(), "{status:?}");
    let file = plan.load_file(&network).unwrap();
    assert_eq!(status.image_crc, lutgen_driver::loaded_crc(&file));

    // The trace reads layer 0's activations; a broken last layer is named
    // (on the undamaged link; the pseudo-terminal test below breaks layer 0).
    let mut driver = Driver::new(driver.into_transport().into_inner(), options());
    let (activations, outputs) = driver.trace(0, &inputs[0]).unwrap();
    let reference = network.infer(&inputs[0]).unwrap();
    assert_eq!(
        (activations, outputs),
        (reference.activations[1].clone(), reference.outputs)
    );
    driver
        .load_network(&broken(&network, 1), &mut |_, _| {})
        .unwrap();
    let d = driver
        .first_divergence(&network, &inputs[0])
        .unwrap()
        .expect("the broken layer shows");
    assert_eq!((d.layer, d.last), (1, true), "{d}");
}

/// Kills the board when the test ends, pass or fail.
struct Board(Child);

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// `lutgen board --sim --network net` (3 Mbaud, paced by cycles) with
/// `extra` flags: the board, and what it printed first.
fn start_board(net: &Path, extra: &[&str]) -> (Board, serde_json::Value) {
    let mut child = lutgen()
        .args([
            "board", "--sim", "--pace", "cycles", "--baud", "3000000", "--json",
        ])
        .arg("--network")
        .arg(net)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let board = Board(child);
    let started: serde_json::Value = serde_json::from_str(&line).expect("first line is JSON");
    (board, started)
}

#[test]
fn board_load_and_run_a_network_through_a_pseudo_terminal() {
    let dir = temp_dir();
    let net = digits_network(&dir);
    let (_board, started) = start_board(&net, &[]);
    assert_eq!(started["layers"], 2, "{started}");
    let port = started["port"].as_str().unwrap().to_string();
    let t = ["--timeout", "20", "--baud", "3000000"];

    let ident = json_of(
        &lutgen()
            .args(["ident", "--port", &port, "--json"])
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(ident["layers"].as_array().unwrap().len(), 2, "{ident}");

    let load = json_of(
        &lutgen()
            .args(["load", "--port", &port, "--json"])
            .args(t)
            .arg(&net)
            .output()
            .unwrap(),
    );
    assert_eq!(load["retransmissions"], 0, "{load}");

    let logits = dir.join("logits.npy");
    let run = json_of(
        &lutgen()
            .args([
                "run",
                "--port",
                &port,
                "--verify",
                "--json",
                "--dequantize",
                "--network",
            ])
            .arg(&net)
            .arg("--input")
            .arg(data("digits_test_x.npy"))
            .arg("--output")
            .arg(&logits)
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(run["layers"], 2, "{run}");
    assert_eq!(run["vectors"], 360, "{run}");
    assert_eq!(run["mismatches"], 0, "{run}");
    assert_eq!(run["clipped_inputs"], 0, "{run}");
    let y = read_f32(&logits);
    assert_eq!((y.len(), y[0].len()), (360, 10));

    // The board's accuracy on the test split: eval takes its device column from the port.
    let eval = json_of(
        &lutgen()
            .args([
                "eval",
                "--json",
                "--port",
                &port,
                "--baud",
                "3000000",
                "--timeout",
                "5",
                "--network",
            ])
            .arg(&net)
            .arg("--test-x")
            .arg(data("digits_test_x.npy"))
            .arg("--test-y")
            .arg(data("digits_test_y.npy"))
            .output()
            .unwrap(),
    );
    assert_eq!(eval["device_vectors"], 360, "{eval}");
    assert_eq!(eval["device_mismatches"], 0, "{eval}");
    assert_eq!(
        eval["accuracy_device"], eval["accuracy_reference"],
        "{eval}"
    );
    assert!(eval["device"].as_str().unwrap().contains(&port), "{eval}");

    // The device loaded with a broken layer 0: run --verify names it.
    let bad = dir.join("broken.lutnet");
    broken(&Network::read_from(&net).unwrap(), 0)
        .write_to(&bad)
        .unwrap();
    json_of(
        &lutgen()
            .args(["load", "--port", &port, "--json"])
            .args(t)
            .arg(&bad)
            .output()
            .unwrap(),
    );
    let out = lutgen()
        .args([
            "run",
            "--port",
            &port,
            "--verify",
            "--json",
            "--random",
            "20",
            "--network",
        ])
        .arg(&net)
        .args(t)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("the device holds another file"),
        "{warning}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let divergence = report["first_divergence"].as_str().unwrap();
    assert!(divergence.contains("layer 0 activation"), "{report}");

    // An image to the network device: refused, naming both.
    let image = dir.join("layer.lutimg");
    let out = lutgen()
        .args(["image", "--random", "--output"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = lutgen()
        .args(["load", "--port", &port])
        .args(t)
        .arg(&image)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runs a network of 2 layers") && err.contains("an image for one engine"),
        "{err}"
    );
}

/// The sequential device through a pseudo-terminal, as a user drives it:
/// `board --sim --schedule sequential`, then `ident`, `load` and `run
/// --verify` with no schedule flag (identify tells the host); a network of
/// another capacity is refused naming what does not fit; a broken layer is
/// named by `run --verify`.
#[test]
fn board_load_and_run_a_sequential_network_through_a_pseudo_terminal() {
    let dir = temp_dir();
    let net = digits_network(&dir);
    let (_board, started) = start_board(&net, &["--schedule", "sequential"]);
    assert_eq!(started["schedule"], "sequential", "{started}");
    let port = started["port"].as_str().unwrap().to_string();
    let t = ["--timeout", "20", "--baud", "3000000"];
    let ident = json_of(
        &lutgen()
            .args(["ident", "--port", &port, "--json"])
            .args(t)
            .output()
            .unwrap(),
    );
    assert_eq!(ident["schedule"], "sequential", "{ident}");
    assert_eq!(ident["sequential_engine"]["outputs"], 64, "{ident}");
    let load = |file: &Path| {
        lutgen()
            .args(["load", "--port", &port, "--json"])
            .args(t)
            .arg(file)
            .output()
            .unwrap()
    };
    json_of(&load(&net));
    let run = |file: &Path, vectors: &[&str]| {
        lutgen()
            .args(["run", "--port", &port, "--verify", "--json", "--network"])
            .arg(file)
            .args(vectors)
            .args(t)
            .output()
            .unwrap()
    };
    let x = data("digits_test_x.npy");
    let report = json_of(&run(&net, &["--input", x.to_str().unwrap()]));
    assert_eq!(report["vectors"], 360, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");

    // Another capacity: refused before any byte of it moves.
    let network = Network::read_from(&net).unwrap();
    let mut wide = network.configs();
    wide[0].centroids = 32;
    let foreign = dir.join("wide.lutnet");
    random_network(&wide, 2)
        .unwrap()
        .write_to(&foreign)
        .unwrap();
    let out = load(&foreign);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not fit") && err.contains("K 32 > 16"),
        "{err}"
    );

    // A broken layer 0: named by run --verify.
    let bad = dir.join("broken-seq.lutnet");
    broken(&network, 0).write_to(&bad).unwrap();
    json_of(&load(&bad));
    let out = run(&net, &["--random", "20"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let divergence = report["first_divergence"].as_str().unwrap();
    assert!(divergence.contains("layer 0 activation"), "{report}");
}

/// The CNN fixture (`tests/data/onnx/cnn.onnx`: Conv 3x3 1 -> 8 pad 1,
/// Conv 3x3 8 -> 16 stride 2 pad 1, MaxPool 2x2, Gemm 64 -> 10), compiled
/// with K = 4 (a smaller device to build; the shapes do not depend on K).
fn cnn_network(dir: &Path) -> PathBuf {
    let path = dir.join("cnn.lutnet");
    if !path.exists() {
        let out = lutgen()
            .arg("compile")
            .arg(data("onnx/cnn.onnx"))
            .arg("--calibration")
            .arg(data("digits_train_x.npy"))
            .args(["--centroids", "4", "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

/// A float32 .npy of `rows` (all the same length).
fn write_f32(path: &Path, rows: &[Vec<f32>]) {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        rows[0].len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in rows.iter().flatten() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// A convolutional network on the UART network device, as a user drives
/// it: `board --sim --network cnn.lutnet` (the device generated for its
/// layers, geometries and pooling), `ident` (the spatial section: the
/// input map, each layer's convolution), `load`, `run --verify` on 36 test
/// digits (an 8x8x1 map each, 64 bytes) and `run --sim`, every vector equal
/// to `Network::infer`; a file for another geometry (layer 1 pooled by
/// AveragePool instead of MaxPool, the same engines) refused before any of
/// it moves, naming the layer; a broken conv layer named by the trace
/// (`run --verify`'s first divergence: layer 0's 8x8x8 map, 512
/// activations, traced and matching, then layer 1's pooled 2x2x16);
/// `generate --device` lint-clean under `verilator -Wall`.
#[test]
fn the_cnn_runs_bit_exact_on_the_network_device_through_a_pseudo_terminal() {
    let dir = temp_dir();
    let net = cnn_network(&dir);
    let network = Network::read_from(&net).unwrap();
    assert_eq!(network.input_dim(), 64);
    let (_board, started) = start_board(&net, &[]);
    assert_eq!(started["layers"], 3, "{started}");
    let port = started["port"].as_str().unwrap().to_string();
    let t = ["--timeout", "20", "--baud", "3000000"];

    let ident = json_of(
        &lutgen()
            .args(["ident", "--port", &port, "--json"])
            .args(t)
            .output()
            .unwrap(),
    );
    let spatial = ident["spatial"].as_array().expect("a spatial section");
    assert_eq!(spatial.len(), 3, "{ident}");
    assert_eq!(spatial[1]["conv"]["geometry"]["stride"], 2, "{ident}");
    assert_eq!(spatial[1]["pool"], "Max2", "{ident}");
    assert!(spatial[2]["conv"].is_null(), "{ident}");
    let text = lutgen()
        .args(["ident", "--port", &port])
        .args(t)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("input: a 8x8x1 map (HWC), 64 bytes per vector")
            && text.contains("runs as 3x3 convolution, stride 2")
            && text.contains("then MaxPool 2x2"),
        "{text}"
    );

    let load = |file: &Path| {
        lutgen()
            .args(["load", "--port", &port, "--json"])
            .args(t)
            .arg(file)
            .output()
            .unwrap()
    };
    json_of(&load(&net));
    let x = dir.join("cnn_x.npy");
    write_f32(&x, &read_f32(&data("digits_test_x.npy"))[..36]);
    let run = |vectors: &[&str]| {
        lutgen()
            .args(["run", "--port", &port, "--verify", "--json", "--network"])
            .arg(&net)
            .args(vectors)
            .args(t)
            .output()
            .unwrap()
    };
    let report = json_of(&run(&["--input", x.to_str().unwrap()]));
    assert_eq!(report["vectors"], 36, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["layers"], 3, "{report}");

    // The in-process simulated device (the same Verilog, cached).
    let sim = json_of(
        &lutgen()
            .args(["run", "--sim", "--baud", "3000000", "--random", "12"])
            .args(["--verify", "--json", "--network"])
            .arg(&net)
            .output()
            .unwrap(),
    );
    assert_eq!(sim["mismatches"], 0, "{sim}");
    assert_eq!(sim["time_base"], "simulated", "{sim}");

    // The board's accuracy column: eval takes it from the port.
    let eval = json_of(
        &lutgen()
            .args(["eval", "--json", "--port", &port, "--baud", "3000000"])
            .args(["--timeout", "20", "--device-limit", "12", "--network"])
            .arg(&net)
            .arg("--test-x")
            .arg(data("digits_test_x.npy"))
            .arg("--test-y")
            .arg(data("digits_test_y.npy"))
            .output()
            .unwrap(),
    );
    assert_eq!(eval["device_vectors"], 12, "{eval}");
    assert_eq!(eval["device_mismatches"], 0, "{eval}");

    // Another geometry, the same engines: refused before any of it moves
    // (the device still holds the CNN: a run without --load verifies).
    let mut spatial = network.spatial().to_vec();
    spatial[1].pool = Some(lutgen_core::spatial::Pool::Avg2);
    let avg = Network::with_spatial(
        network.input_quantization(),
        network.layers().to_vec(),
        spatial,
    )
    .unwrap();
    let other = dir.join("cnn-avg.lutnet");
    avg.write_to(&other).unwrap();
    let out = load(&other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("runs layer 1 as 3x3 convolution")
            && err.contains("then MaxPool 2x2")
            && err.contains("then AveragePool 2x2"),
        "{err}"
    );
    let report = json_of(&run(&["--random", "4"]));
    assert_eq!(report["mismatches"], 0, "{report}");

    // The client written from docs/protocol.md alone reads the spatial
    // section (its hash, the 64-byte input map), is refused the AvgPool
    // file (error 9), loads the CNN and checks 12 digits.
    let inputs = digits_inputs(&network)[..12].to_vec();
    let lines =
        |rows: Vec<Vec<String>>| -> String { rows.iter().map(|r| r.join(" ") + "\n").collect() };
    let ints = |v: &[i64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let xs: Vec<Vec<String>> = inputs
        .iter()
        .map(|x| ints(&x.iter().map(|&v| i64::from(v)).collect::<Vec<_>>()))
        .collect();
    let ys: Vec<Vec<String>> = inputs
        .iter()
        .map(|x| {
            let out = network.infer(x).unwrap().outputs;
            ints(&out.iter().map(|&v| i64::from(v)).collect::<Vec<_>>())
        })
        .collect();
    std::fs::write(dir.join("cnn_inputs.txt"), lines(xs)).unwrap();
    std::fs::write(dir.join("cnn_expect.txt"), lines(ys)).unwrap();
    // As cli/tests/python_client.rs finds it: one that can `import serial`.
    let python = match std::env::var("LUTGEN_PYTHON") {
        Ok(p) => p,
        Err(_) => ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import serial"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect("a Python 3 with pyserial (scripts/setup.sh installs python3-serial)")
            .to_string(),
    };
    let client = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clients/lutgen_client.py"))
        .arg(&port)
        .args(["--baud", "3000000", "--timeout", "20", "--image"])
        .arg(&net)
        .arg("--inputs")
        .arg(dir.join("cnn_inputs.txt"))
        .arg("--expect")
        .arg(dir.join("cnn_expect.txt"))
        .arg("--wrong-image")
        .arg(&other)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&client.stdout);
    assert!(
        client.status.success()
            && said.contains("D=64 in")
            && said
                .contains("layer 1 is a 3x3 convolution, stride 2, over a 8x8x8 map, pool code 1")
            && said.contains("ran 12 vectors: every output as expected"),
        "{said}\n{}",
        String::from_utf8_lossy(&client.stderr)
    );

    // A broken layer 1 (a convolution, pooled): layer 0's 512 activations
    // trace equal, layer 1's differ.
    let bad = dir.join("cnn-broken.lutnet");
    broken(&network, 1).write_to(&bad).unwrap();
    json_of(&load(&bad));
    let out = run(&["--random", "6"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let divergence = report["first_divergence"].as_str().unwrap();
    assert!(divergence.contains("layer 1 activation"), "{report}");

    // The device's Verilog, as `lutgen build` would take it: lint-clean.
    let verilog = dir.join("cnn-device.v");
    let out = lutgen()
        .args(["generate", "--device", "--network"])
        .arg(&net)
        .arg("-o")
        .arg(&verilog)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&verilog).unwrap();
    assert!(
        text.contains("// 3x3 convolution, stride 2, pads (top, left, bottom, right) (1, 1, 1, 1), over the 8x8x8 input map"),
        "{}",
        &text[..text.len().min(2000)]
    );
    let lint = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--top-module", "lutgen_device"])
        .arg(&verilog)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// The two kinds of file go with their own flags; each mix-up is refused
/// before anything is built, naming the flag to use.
#[test]
fn image_and_network_flags_are_not_mixed_up() {
    let dir = temp_dir();
    let net = digits_network(&dir);
    let image = dir.join("one.lutimg");
    let out = lutgen()
        .args(["image", "--random", "--output"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(out.status.success());
    let refused = |args: &[&std::ffi::OsStr], needle: &str| {
        let out = lutgen().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    };
    let (net, image) = (net.as_os_str(), image.as_os_str());
    refused(
        &[
            "run".as_ref(),
            "--sim".as_ref(),
            "--random".as_ref(),
            "1".as_ref(),
            "--image".as_ref(),
            net,
        ],
        "is a network file: pass it with --network",
    );
    refused(
        &[
            "run".as_ref(),
            "--sim".as_ref(),
            "--random".as_ref(),
            "1".as_ref(),
            "--network".as_ref(),
            image,
        ],
        "is a table image, not a network file: pass it with --image",
    );
    refused(
        &[
            "board".as_ref(),
            "--sim".as_ref(),
            "--network".as_ref(),
            image,
        ],
        "pass it with --image",
    );
    refused(
        &[
            "board".as_ref(),
            "--sim".as_ref(),
            "--outputs".as_ref(),
            "3".as_ref(),
            "--network".as_ref(),
            net,
        ],
        "drop the engine flags",
    );
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    refused(
        &[
            "load".as_ref(),
            "--port".as_ref(),
            "/dev/null".as_ref(),
            text.as_os_str(),
        ],
        "neither a table image nor a network file",
    );
    refused(
        &["eval".as_ref(), "--port".as_ref(), "/dev/null".as_ref()],
        "--network",
    );
    refused(
        &[
            "eval".as_ref(),
            "--timeout".as_ref(),
            "5".as_ref(),
            "--network".as_ref(),
            net,
        ],
        "add --network FILE.lutnet --port PATH, or drop them",
    );
}

/// The sequential device and `lutgen build` do not run convolutions yet:
/// every command that takes a network to them refuses a network with a conv
/// layer, naming the layer and what runs it, before it generates, builds,
/// simulates or sends anything (both network tops run it in simulation, and
/// the dataflow network device on the board).
#[test]
fn sequential_and_board_flow_commands_refuse_convolution_networks() {
    use lutgen_core::conv::{ConvGeometry, Padding};
    use lutgen_core::spatial::{Conv, Spatial};
    use lutgen_core::EngineConfig;
    let configs = [
        EngineConfig {
            input_dim: 9,
            codebooks: 1,
            centroids: 4,
            outputs: 2,
            ..EngineConfig::default()
        },
        EngineConfig {
            input_dim: 32,
            codebooks: 8,
            centroids: 4,
            outputs: 3,
            ..EngineConfig::default()
        },
    ];
    // Layer 0 with a requantization (from a dense pair), layer 1 last.
    let pair = [
        configs[0].clone(),
        EngineConfig {
            input_dim: 2,
            codebooks: 1,
            ..configs[1].clone()
        },
    ];
    let first = random_network(&pair, 1).unwrap();
    let last = random_network(&configs[1..], 2).unwrap();
    let layers = vec![first.layers()[0].clone(), last.layers()[0].clone()];
    let conv = Spatial {
        conv: Some(Conv {
            geometry: ConvGeometry {
                in_height: 4,
                in_width: 4,
                in_channels: 1,
                kernel: 3,
                stride: 1,
                padding: Padding::uniform(1),
            },
            pad_value: 0,
        }),
        pool: None,
    };
    let network = Network::with_spatial(
        first.input_quantization(),
        layers,
        vec![conv, Spatial::DENSE],
    )
    .unwrap();
    let dir = temp_dir();
    let path = dir.join("conv.lutnet");
    network.write_to(&path).unwrap();
    let p = path.to_str().unwrap();
    // Both network tops in simulation run it (tests/tests/conv_network.rs,
    // tests/tests/sequential.rs), and the dataflow network device (the CNN
    // test above); the sequential device, `lutgen build` and the engine
    // passes of --compare-passes do not.
    let top = dir.join("conv_sequential.v");
    let out = lutgen()
        .args(["generate", "--network", p, "--schedule", "sequential", "-o"])
        .arg(&top)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verilog = std::fs::read_to_string(&top).unwrap();
    assert!(
        verilog.contains(
            "// Layer 0: 3x3 convolution, stride 1, pads (top, left, bottom, right) (1, 1, 1, 1)"
        ),
        "{}",
        &verilog[..400]
    );
    let sequential: [&[&str]; 3] = [
        &[
            "generate",
            "--network",
            p,
            "--device",
            "--schedule",
            "sequential",
        ],
        &["board", "--sim", "--network", p, "--schedule", "sequential"],
        &[
            "run",
            "--sim",
            "--schedule",
            "sequential",
            "--network",
            p,
            "--random",
            "2",
        ],
    ];
    let board_flow: [&[&str]; 1] = [&["build", "--network", p, "--board", "icebreaker"]];
    let passes: [&[&str]; 1] = [&["sim", "--network", p, "--compare-passes"]];
    // The description names the convolution (the integer reference runs it).
    let show = lutgen().args(["image", "--show", p]).output().unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{text}");
    assert!(
        text.contains("[3x3 convolution, stride 1, pads (top, left, bottom, right) (1, 1, 1, 1), over the 4x4x1 input map (16 output pixels)]"),
        "{text}"
    );
    for (runs, says) in [
        (&sequential[..], "use `--schedule dataflow`"),
        (&board_flow[..], "`lutgen board --sim --network`"),
        (&passes[..], "drop --compare-passes"),
    ] {
        for args in runs {
            let out = lutgen().args(*args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?}");
            assert!(
                stderr.contains("layer 0 is a 3x3 convolution (stride 1)")
                    && stderr.contains("does not")
                    && stderr.contains(says),
                "{args:?}: {stderr}"
            );
        }
    }
    // `eval`'s simulated device column runs it on the dataflow top, every
    // vector equal to the reference (a .npy of 6 rows of the 4x4x1 map, and
    // labels; float32 both, the input quantized with the file's scale).
    let npy = |path: &Path, shape: &str, values: &[f32]| {
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        values
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        std::fs::write(path, bytes).unwrap();
    };
    let x: Vec<f32> = (0..6 * 16)
        .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
        .collect();
    npy(&dir.join("conv_x.npy"), "(6, 16)", &x);
    npy(
        &dir.join("conv_y.npy"),
        "(6,)",
        &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
    );
    let out = lutgen()
        .arg("eval")
        .args(["--network", p, "--test-x"])
        .arg(dir.join("conv_x.npy"))
        .arg("--test-y")
        .arg(dir.join("conv_y.npy"))
        .args(["--device-limit", "6", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["device_vectors"], 6, "{report}");
    assert_eq!(report["device_mismatches"], 0, "{report}");
    assert_eq!(
        report["accuracy_device"], report["accuracy_reference"],
        "{report}"
    );
    // The dataflow network top is generated for it.
    let out = lutgen()
        .args(["generate", "--network", p])
        .output()
        .unwrap();
    let verilog = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        verilog.contains("module lutgen_network(")
            && verilog.contains("// 3x3 convolution, stride 1, pads (top, left, bottom, right) (1, 1, 1, 1), over the 4x4x1 input map"),
        "{}",
        &verilog[..verilog.len().min(2000)]
    );
}
