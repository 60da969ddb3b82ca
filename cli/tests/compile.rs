//! The compiler end to end: the committed digits model, bad inputs, and
//! whole networks on the Verilated engine against the integer reference.

use indicatif::ProgressBar;
use lutgen_compile::LearnOptions;
use lutgen_compile::{self as compile, mlp, CompileError, CompileOptions, Method, Mlp};
use lutgen_core::network::{random_network, Network};
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_sim::whole_network::{run_network, run_network_top};
use lutgen_sim::{Backpressure, SimOptions};
use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The model, training inputs, test inputs and test labels.
type Digits = (Mlp, Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>);

fn digits() -> Digits {
    let model = Mlp::read(&data("digits_mlp.safetensors"), &[]).unwrap();
    let train = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let labels = mlp::read_labels(&data("digits_test_y.npy")).unwrap();
    (model, train, test, labels)
}

fn options(method: Method) -> CompileOptions {
    CompileOptions {
        centroids: 16,
        sub_vector_len: 4,
        method,
        ..CompileOptions::default()
    }
}

fn reference_outputs(network: &Network, inputs: &[Vec<i8>]) -> Vec<Vec<i32>> {
    inputs
        .iter()
        .map(|x| network.infer(x).unwrap().outputs)
        .collect()
}

#[test]
fn digits_model_compiles_deterministically_and_classifies() {
    let (model, train, test, labels) = digits();
    assert_eq!(model.layers.len(), 2);
    let float: Vec<Vec<f64>> = test
        .iter()
        .map(|x| model.forward(&x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
        .collect();
    assert!(compile::accuracy(&float, &labels) > 0.97);
    for method in [Method::Kmeans, Method::Refit] {
        let bar = ProgressBar::hidden();
        let a = compile::compile(&model, &train, &options(method), &bar).unwrap();
        let b = compile::compile(&model, &train, &options(method), &bar).unwrap();
        assert_eq!(
            a.to_bytes(),
            b.to_bytes(),
            "{method:?} is not deterministic"
        );
        assert_eq!(Network::from_bytes(&a.to_bytes()).unwrap(), a);
        assert_eq!(a.table_bytes(), 16 * 16 * 64 + 16 * 16 * 10);
        let q: Vec<Vec<i8>> = test
            .iter()
            .map(|x| a.input_quantization().quantize(x))
            .collect();
        let acc = compile::accuracy(&reference_outputs(&a, &q), &labels);
        assert!(acc > 0.9, "{method:?}: LUT accuracy {acc}");
    }
}

fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            (
                name.to_string(),
                TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// A 2-D float32 .npy written by hand (the format is a short header and raw data).
fn write_npy(path: &Path, rows: usize, cols: usize, value: f32) {
    write_npy_rows(path, &vec![vec![value; cols]; rows]);
}

/// A 2-D float32 .npy of these rows.
fn write_npy_rows(path: &Path, values: &[Vec<f32>]) {
    let (rows, cols) = (values.len(), values[0].len());
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for value in values.iter().flatten() {
        out.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

fn layer(name: &str, outputs: usize, inputs: usize) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    vec![
        (
            format!("{name}.weight"),
            vec![outputs, inputs],
            (0..outputs * inputs)
                .map(|i| (i % 7) as f32 * 0.1 - 0.3)
                .collect(),
        ),
        (format!("{name}.bias"), vec![outputs], vec![0.1; outputs]),
    ]
}

fn save(dir: &Path, file: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) -> PathBuf {
    let path = dir.join(file);
    let borrowed: Vec<(&str, Vec<usize>, Vec<f32>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect();
    write_safetensors(&path, &borrowed);
    path
}

#[test]
fn bad_inputs_end_in_clear_errors() {
    let dir = std::env::temp_dir().join(format!("lutgen-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let good = save(
        &dir,
        "good.safetensors",
        [layer("fc1", 8, 16), layer("fc2", 4, 8)].concat(),
    );
    let model = Mlp::read(&good, &[]).unwrap();
    assert_eq!((model.input_dim(), model.layers.len()), (16, 2));

    let mismatch = save(
        &dir,
        "mismatch.safetensors",
        [layer("fc1", 8, 16), layer("fc2", 4, 6)].concat(),
    );
    let err = Mlp::read(&mismatch, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::LayerShape {
                outputs: 8,
                inputs: 6,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("fc2 takes 6 inputs"), "{err}");

    let mut missing = [layer("fc1", 8, 16), layer("fc2", 4, 8)].concat();
    missing.pop();
    let missing = save(&dir, "missing.safetensors", missing);
    let err = Mlp::read(&missing, &[]).unwrap_err();
    assert!(
        matches!(&err, CompileError::MissingTensor { name, .. } if name == "fc2.bias"),
        "{err}"
    );

    let mut nan = [layer("fc1", 8, 16), layer("fc2", 4, 8)].concat();
    nan[2].2[3] = f32::NAN;
    let nan = save(&dir, "nan.safetensors", nan);
    let err = Mlp::read(&nan, &[]).unwrap_err();
    assert!(
        matches!(&err, CompileError::NonFinite { name, index: 3, .. } if name == "fc2.weight"),
        "{err}"
    );

    let wide = dir.join("wide.npy");
    write_npy(&wide, 5, 12, 1.0);
    let err = mlp::read_matrix(&wide, 16, "calibration").unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::CalibrationWidth {
                expected: 16,
                got: 12,
                ..
            }
        ),
        "{err}"
    );

    let not_weights = dir.join("garbage.safetensors");
    std::fs::write(&not_weights, b"this is not a weights file").unwrap();
    assert!(matches!(
        Mlp::read(&not_weights, &[]),
        Err(CompileError::Format { .. })
    ));

    // V must divide every layer's width.
    let calib = vec![vec![1.0f32; 16]; 4];
    let err = compile::compile(
        &model,
        &calib,
        &CompileOptions {
            sub_vector_len: 3,
            ..options(Method::Kmeans)
        },
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::Split { .. }), "{err}");

    // The command line says the same and fails.
    let cli = |weights: &Path, calibration: &Path| {
        Command::new(env!("CARGO_BIN_EXE_lutgen"))
            .args(["compile", "--weights"])
            .arg(weights)
            .arg("--calibration")
            .arg(calibration)
            .args(["-k", "4", "-v", "2", "-o"])
            .arg(dir.join("out.lutnet"))
            .output()
            .unwrap()
    };
    let ok_calib = dir.join("calib.npy");
    write_npy(&ok_calib, 6, 16, 2.0);
    let out = cli(&nan, &ok_calib);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fc2.weight has a non-finite value NaN"),
        "{stderr}"
    );
    let out = cli(&good, &wide);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("calibration rows have 12 values"));
    let out = cli(&good, &ok_calib);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Network::read_from(dir.join("out.lutnet")).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

/// The compiled digits network on the Verilated engine, one pass per layer,
/// equals the integer reference bit for bit.
#[test]
fn digits_network_on_the_device_equals_the_reference() {
    let (model, train, test, _) = digits();
    let network = compile::compile(
        &model,
        &train,
        &options(Method::Refit),
        &ProgressBar::hidden(),
    )
    .unwrap();
    let q: Vec<Vec<i8>> = test[..48]
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
    let device = run_network(&network, &q, &SimOptions::default()).unwrap();
    assert_eq!(device.outputs, reference_outputs(&network, &q));
}

/// Random multi-layer images (random tables, centroids, requantization and
/// zero points) on the device equal the reference. The layer shapes are the
/// digits network's, so the Verilated models are shared with the test above.
#[test]
fn random_multilayer_networks_on_the_device_equal_the_reference() {
    let hidden = EngineConfig {
        input_dim: 64,
        codebooks: 16,
        centroids: 16,
        outputs: 64,
        ..EngineConfig::default()
    };
    let last = EngineConfig {
        outputs: 10,
        ..hidden.clone()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for seed in 0..3 {
        let network =
            random_network(&[hidden.clone(), hidden.clone(), last.clone()], seed).unwrap();
        let inputs: Vec<Vec<i8>> = (0..24)
            .map(|_| (0..64).map(|_| rng.gen::<i8>()).collect())
            .collect();
        let device = run_network(&network, &inputs, &SimOptions::default()).unwrap();
        assert_eq!(
            device.outputs,
            reference_outputs(&network, &inputs),
            "seed {seed}"
        );
    }
}

/// Every encoder compiles the digits model deterministically, learns real
/// parameters (not defaults), and classifies; the floors are well below the
/// measured accuracies (docs/encoders.md) so only a broken encoder fails.
#[test]
fn every_encoder_compiles_the_digits_model() {
    let (model, train, test, labels) = digits();
    for (encoder, floor) in [
        (EncoderKind::L2, 0.93),
        (EncoderKind::L1, 0.9),
        (EncoderKind::TwoLevel, 0.9),
        (EncoderKind::Tree, 0.9),
        (EncoderKind::Sign, 0.6),
    ] {
        let options = CompileOptions {
            encoders: vec![encoder],
            ..options(Method::Refit)
        };
        let bar = ProgressBar::hidden();
        let a = compile::compile(&model, &train, &options, &bar).unwrap();
        let b = compile::compile(&model, &train, &options, &bar).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes(), "{encoder} is not deterministic");
        for layer in a.layers() {
            let (config, params) = (layer.image.config(), layer.image.params());
            assert_eq!(config.encoder, encoder);
            match encoder {
                EncoderKind::L1 | EncoderKind::TwoLevel => {
                    assert!(
                        params.weights.iter().any(|&w| w != 1),
                        "{encoder}: unit weights"
                    )
                }
                EncoderKind::Tree => {
                    assert_eq!(config.centroids, 16);
                    assert!(
                        params.thresholds.iter().any(|&t| t != 0),
                        "tree: no thresholds"
                    )
                }
                EncoderKind::Sign => assert_eq!(config.centroids, 16),
                EncoderKind::L2 => {}
            }
        }
        let q: Vec<Vec<i8>> = test
            .iter()
            .map(|x| a.input_quantization().quantize(x))
            .collect();
        let acc = compile::accuracy(&reference_outputs(&a, &q), &labels);
        assert!(acc > floor, "{encoder}: LUT accuracy {acc} below {floor}");
    }
}

/// A network with a different encoder per layer (`tree`, then `two-level`)
/// runs on the network top bit for bit as the reference says.
#[test]
fn per_layer_encoders_on_the_device_equal_the_reference() {
    let (model, train, test, _) = digits();
    let options = CompileOptions {
        encoders: vec![EncoderKind::Tree, EncoderKind::TwoLevel],
        ..options(Method::Refit)
    };
    let network = compile::compile(&model, &train, &options, &ProgressBar::hidden()).unwrap();
    let encoders: Vec<EncoderKind> = network
        .layers()
        .iter()
        .map(|l| l.image.config().encoder)
        .collect();
    assert_eq!(encoders, [EncoderKind::Tree, EncoderKind::TwoLevel]);
    let q: Vec<Vec<i8>> = test[..32]
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
    let top = run_network_top(&network, &q, &SimOptions::default(), Backpressure::none()).unwrap();
    assert_eq!(top.outputs, reference_outputs(&network, &q));
}

#[test]
fn encoder_choices_the_compiler_cannot_honour_are_refused() {
    let (model, train, _, _) = digits();
    let bar = ProgressBar::hidden();
    let three = CompileOptions {
        encoders: vec![EncoderKind::L2; 3],
        ..options(Method::Refit)
    };
    let err = compile::compile(&model, &train, &three, &bar).unwrap_err();
    assert!(matches!(
        err,
        CompileError::EncoderCount {
            given: 3,
            layers: 2
        }
    ));
    assert!(err.to_string().contains("one for every layer"), "{err}");
    let learned_tree = CompileOptions {
        encoders: vec![EncoderKind::Tree],
        learn: LearnOptions {
            labels: Some(vec![0; train.len()]),
            ..LearnOptions::default()
        },
        ..options(Method::Learned)
    };
    let err = compile::compile(&model, &train, &learned_tree, &bar).unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::LearnedEncoder {
                layer: 0,
                encoder: EncoderKind::Tree
            }
        ),
        "{err}"
    );
    // Sign hashing with V = 16 would need 2^16 rows per codebook: a config error, not a panic.
    let wide_sign = CompileOptions {
        encoders: vec![EncoderKind::Sign],
        sub_vector_len: 16,
        ..options(Method::Refit)
    };
    let err = compile::compile(&model, &train, &wide_sign, &bar).unwrap_err();
    assert!(
        matches!(err, CompileError::Config { layer: 0, .. }),
        "{err}"
    );
}

/// `lutgen compile model.onnx`: the summary names the activations, the head
/// and where the float reference comes from; a Tanh graph compiles with an
/// activation table; `--activation` with a graph is a usage error.
#[test]
fn onnx_models_compile_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("lutgen-onnx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("bn.lutnet");
    let run = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("compile")
        .arg(data("onnx/mlp_bn.onnx"))
        .arg("--calibration")
        .arg(data("digits_train_x.npy"))
        .args(["--method", "kmeans", "--json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["activations"], serde_json::json!(["relu"]));
    assert_eq!(
        summary["batch_norm"],
        serde_json::json!([{
            "name": "/bn1/BatchNormalization",
            "layer": 0,
            "layer_name": "/fc1/Gemm",
            "into": "outputs"
        }])
    );
    assert!(summary["head"].as_str().unwrap().starts_with("softmax"));
    assert!(summary["float_reference"]
        .as_str()
        .unwrap()
        .contains("ONNX"));
    assert!(Network::read_from(&out).is_ok());

    let tanh = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("compile")
        .arg(data("onnx/mlp_tanh.onnx"))
        .arg("--calibration")
        .arg(data("digits_train_x.npy"))
        .arg("-o")
        .arg(dir.join("tanh.lutnet"))
        .output()
        .unwrap();
    assert!(
        tanh.status.success(),
        "{}",
        String::from_utf8_lossy(&tanh.stderr)
    );
    let network = Network::read_from(dir.join("tanh.lutnet")).unwrap();
    assert!(network.layers()[0].activation.is_some(), "a Tanh table");
    // Bit-exact on the simulated network top (the table loaded in hardware).
    let sim = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .args(["sim", "--network"])
        .arg(dir.join("tanh.lutnet"))
        .arg("--input")
        .arg(data("digits_test_x.npy"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    // Raw pixels (uint8) are real values, quantized with the file's input scale.
    assert_eq!(report["vectors"], 360, "{report}");
    assert!(
        report["input"].as_str().unwrap().starts_with("real values"),
        "{report}"
    );
    assert_eq!(report["mismatches"], 0, "{report}");

    let both = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("compile")
        .arg(data("onnx/mlp_relu.onnx"))
        .args(["--activation", "identity", "--calibration"])
        .arg(data("digits_train_x.npy"))
        .arg("-o")
        .arg(dir.join("x.lutnet"))
        .output()
        .unwrap();
    assert!(!both.status.success());
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(
        err.contains("--activation and --batch-norm apply to .safetensors"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--schedule sequential`: the digits network on one engine, bit-exact on
/// the 360 test images (`sim`), its Verilog (`generate`), and the layers and
/// flags it refuses, each naming what to change.
#[test]
fn a_network_runs_on_the_sequential_top_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("lutgen-sequential-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let compile = |name: &str, encoder: &str| {
        let out = dir.join(name);
        let run = lutgen(&[
            "compile".as_ref(),
            data("digits_mlp.safetensors").as_os_str(),
            "--calibration".as_ref(),
            data("digits_train_x.npy").as_os_str(),
            "--method".as_ref(),
            "kmeans".as_ref(),
            "--encoder".as_ref(),
            encoder.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out
    };
    let net = compile("l2.lutnet", "l2");
    let sim = lutgen(&[
        "sim".as_ref(),
        "--network".as_ref(),
        net.as_os_str(),
        "--schedule".as_ref(),
        "sequential".as_ref(),
        "--input".as_ref(),
        data("digits_test_x.npy").as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(report["schedule"], "sequential", "{report}");
    assert_eq!(report["vectors"], 360, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    // Both 16 x 64 layers (the second padded from 10 outputs) at 1,024 cycles each.
    assert_eq!(report["bound_cycles_per_inference"], 2048, "{report}");
    let cycles = report["cycles_per_inference"].as_f64().unwrap();
    assert!((2048.0..2048.0 * 1.2).contains(&cycles), "{report}");

    let verilog = dir.join("sequential.v");
    let generate = lutgen(&[
        "generate".as_ref(),
        "--network".as_ref(),
        net.as_os_str(),
        "--schedule".as_ref(),
        "sequential".as_ref(),
        "-o".as_ref(),
        verilog.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(
        generate.status.success(),
        "{}",
        String::from_utf8_lossy(&generate.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&generate.stdout).unwrap();
    assert_eq!(summary["top_module"], "lutgen_sequential", "{summary}");
    let text = std::fs::read_to_string(&verilog).unwrap();
    assert!(
        text.contains("module lutgen_sequential("),
        "no sequential module"
    );

    let tree = compile("tree.lutnet", "tree,l2");
    let refusals: [(&[&std::ffi::OsStr], &str); 3] = [
        (
            &[
                "sim".as_ref(),
                "--network".as_ref(),
                tree.as_os_str(),
                "--schedule".as_ref(),
                "sequential".as_ref(),
            ],
            "layer 0 uses the tree encoder; the sequential schedule runs `l2` and `l1`",
        ),
        (
            &[
                "generate".as_ref(),
                "--network".as_ref(),
                tree.as_os_str(),
                "--schedule".as_ref(),
                "sequential".as_ref(),
            ],
            "compile with --encoder l2, or use the dataflow schedule",
        ),
        (
            &[
                "sim".as_ref(),
                "--network".as_ref(),
                net.as_os_str(),
                "--schedule".as_ref(),
                "folded".as_ref(),
            ],
            "use `dataflow` (one engine per layer) or `sequential`",
        ),
    ];
    for (args, needle) in refusals {
        let out = lutgen(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let out = lutgen(&[
        "sim".as_ref(),
        "--random".as_ref(),
        "3".as_ref(),
        "--schedule".as_ref(),
        "sequential".as_ref(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--network"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--schedule sequential` runs a CNN: the CNN fixture compiled (K = 4, the
/// cycles do not depend on K) runs bit-exact on 20 random maps (`sim`),
/// its cycles per inference within 2% of the plan's bound (81 engine passes
/// of the padded engine's 16 codebooks x 16 outputs), and its Verilog names
/// the layers' geometry (`generate`).
#[test]
fn a_cnn_runs_on_the_sequential_top_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("lutgen-sequential-cnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let net = dir.join("cnn.lutnet");
    let run = lutgen(&[
        "compile".as_ref(),
        data("onnx/cnn.onnx").as_os_str(),
        "--calibration".as_ref(),
        data("digits_train_x.npy").as_os_str(),
        "--centroids".as_ref(),
        "4".as_ref(),
        "-o".as_ref(),
        net.as_os_str(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let sim = lutgen(&[
        "sim".as_ref(),
        "--network".as_ref(),
        net.as_os_str(),
        "--schedule".as_ref(),
        "sequential".as_ref(),
        "--random".as_ref(),
        "20".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["bound_cycles_per_inference"], 81 * 256, "{report}");
    let cycles = report["cycles_per_inference"].as_f64().unwrap();
    assert!((20736.0..20736.0 * 1.02).contains(&cycles), "{report}");
    let verilog = dir.join("cnn_sequential.v");
    let generate = lutgen(&[
        "generate".as_ref(),
        "--network".as_ref(),
        net.as_os_str(),
        "--schedule".as_ref(),
        "sequential".as_ref(),
        "-o".as_ref(),
        verilog.as_os_str(),
    ]);
    assert!(
        generate.status.success(),
        "{}",
        String::from_utf8_lossy(&generate.stderr)
    );
    let text = std::fs::read_to_string(&verilog).unwrap();
    for line in [
        "// Activation buffer: two maps of 512 bytes.",
        "// Layer 1: 3x3 convolution, stride 2, pads (top, left, bottom, right) (1, 1, 1, 1), over \
         the 8x8x8 input map (16 output pixels), then MaxPool 2x2 (16 engine passes per inference).",
    ] {
        assert!(text.contains(line), "no {line:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn lutgen(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .args(args)
        .output()
        .unwrap()
}

/// A compiled file is scored as it is (`eval --network`, beside the float
/// ONNX graph), described (`image --show`), its outputs dequantized, and
/// inputs unlike the calibration data draw a warning.
#[test]
fn a_compiled_network_is_evaluated_described_and_dequantized() {
    let dir = std::env::temp_dir().join(format!("lutgen-eval-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let net = dir.join("tanh.lutnet");
    let onnx = data("onnx/mlp_tanh.onnx");
    let (test_x, test_y) = (data("digits_test_x.npy"), data("digits_test_y.npy"));
    let compile = lutgen(&[
        "compile".as_ref(),
        onnx.as_ref(),
        "--calibration".as_ref(),
        data("digits_train_x.npy").as_ref(),
        "-o".as_ref(),
        net.as_ref(),
    ]);
    assert!(
        compile.status.success(),
        "{}",
        String::from_utf8_lossy(&compile.stderr)
    );

    let md = dir.join("eval.md");
    let eval = lutgen(&[
        "eval".as_ref(),
        "--network".as_ref(),
        net.as_ref(),
        "--test-x".as_ref(),
        test_x.as_ref(),
        "--test-y".as_ref(),
        test_y.as_ref(),
        "--weights".as_ref(),
        onnx.as_ref(),
        "--markdown".as_ref(),
        md.as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("onnx/expected.json")).unwrap())
            .unwrap();
    let torch = expected["models"]["mlp_tanh.onnx"]["torch_float_accuracy"]
        .as_f64()
        .unwrap();
    let float = report["accuracy_float"].as_f64().unwrap();
    assert!(
        (float - torch).abs() < 1e-9,
        "float {float}, PyTorch {torch}"
    );
    assert_eq!(report["test_vectors"], 360, "{report}");
    assert_eq!(report["device_vectors"], 360, "{report}");
    assert_eq!(report["device_mismatches"], 0, "{report}");
    assert_eq!(
        report["accuracy_device"], report["accuracy_reference"],
        "{report}"
    );
    assert_eq!(report["clipped_inputs"], 0, "{report}");
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("# Accuracy of") && text.contains("tanh.lutnet"),
        "{text}"
    );
    assert!(
        text.contains("then requantize") && text.contains("and table"),
        "{text}"
    );
    assert!(
        !text.contains("64-64-10 MLP") && !text.contains(".svg"),
        "{text}"
    );

    let show = lutgen(&[
        "image".as_ref(),
        "--show".as_ref(),
        net.as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let network = Network::read_from(&net).unwrap();
    assert_eq!(shown["layers"][0]["then"], "table", "{shown}");
    assert_eq!(shown["layers"][1]["then"], "output", "{shown}");
    assert_eq!(shown["layers"][0]["outputs"], 64, "{shown}");
    assert_eq!(
        shown["input_zero_point"],
        network.input_quantization().zero_point,
        "{shown}"
    );

    // Dequantized outputs: the float model's logits, up to the lookups' error.
    let y = dir.join("y.npy");
    let sim = lutgen(&[
        "sim".as_ref(),
        "--network".as_ref(),
        net.as_ref(),
        "--input".as_ref(),
        test_x.as_ref(),
        "--output".as_ref(),
        y.as_ref(),
        "--dequantize".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let bytes = std::fs::read(&y).unwrap();
    let array = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(array.shape(), &[360, 10]);
    let real: Vec<f32> = array.into_vec().unwrap();
    let model = lutgen_compile::frontend::read(&onnx, &Default::default()).unwrap();
    let test = mlp::read_matrix(&test_x, 64, "test").unwrap();
    let logits = model.float_outputs(&test).unwrap();
    // The graph ends in LogSoftmax (logits minus a per-row constant): compare centred rows.
    let centred = |row: Vec<f64>| {
        let mean = row.iter().sum::<f64>() / row.len() as f64;
        row.into_iter().map(move |v| v - mean)
    };
    // The lookups' error on the logits is about a fifth of their size (K = 16,
    // V = 4); a wrong output scale would be off by far more, and the
    // least-squares slope would leave 1.
    let (mut err, mut spread, mut gw, mut ww) = (0.0, 0.0, 0.0, 0.0);
    for (got, want) in real.chunks(10).zip(&logits) {
        let got = centred(got.iter().map(|&g| f64::from(g)).collect());
        for (g, w) in got.zip(centred(want.clone())) {
            err += (g - w).abs();
            spread += w.abs();
            gw += g * w;
            ww += w * w;
        }
    }
    assert!((0.85..1.15).contains(&(gw / ww)), "slope {}", gw / ww);
    assert!(
        err < 0.3 * spread,
        "dequantized outputs off by {err} against {spread}"
    );

    // Raw pixels times 16: far outside the calibration range, so a warning.
    let scaled: Vec<Vec<f32>> = test
        .iter()
        .map(|r| r.iter().map(|v| v * 16.0).collect())
        .collect();
    let loud = dir.join("x16.npy");
    write_npy_rows(&loud, &scaled);
    let warned = lutgen(&[
        "eval".as_ref(),
        "--network".as_ref(),
        net.as_ref(),
        "--test-x".as_ref(),
        loud.as_ref(),
        "--test-y".as_ref(),
        test_y.as_ref(),
        "--device-limit".as_ref(),
        "0".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        warned.status.success(),
        "{}",
        String::from_utf8_lossy(&warned.stderr)
    );
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("clipped"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&warned.stdout).unwrap();
    assert!(
        report["clipped_inputs"].as_u64().unwrap() > 1000,
        "{report}"
    );
    assert!(report["accuracy_device"].is_null(), "{report}");

    // int8 inputs are already quantized: the float model cannot take them.
    let int8 = dir.join("x8.npy");
    {
        use npyz::WriterBuilder;
        let file = std::fs::File::create(&int8).unwrap();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[360, 64])
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend(std::iter::repeat_n(0i8, 360 * 64)).unwrap();
        w.finish().unwrap();
    }
    let refused = lutgen(&[
        "eval".as_ref(),
        "--network".as_ref(),
        net.as_ref(),
        "--test-x".as_ref(),
        int8.as_ref(),
        "--test-y".as_ref(),
        test_y.as_ref(),
        "--weights".as_ref(),
        onnx.as_ref(),
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("takes real inputs"), "{err}");
    // A sweep option beside --network is refused by the parser.
    let both = lutgen(&[
        "eval".as_ref(),
        "--network".as_ref(),
        net.as_ref(),
        "--plot".as_ref(),
        "p.svg".as_ref(),
    ]);
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `nn.Sequential(Linear(16, 8), BatchNorm1d(8), ReLU(), Linear(8, 4))`'s
/// state_dict as PyTorch saves it (`num_batches_tracked` an I64 scalar):
/// `lutgen compile --batch-norm after-linear` folds the BatchNorm and the
/// summary says where; without the flag the compile fails saying to pass it.
#[test]
fn batch_norm_weights_compile_with_an_explicit_fold() {
    let dir = std::env::temp_dir().join(format!("lutgen-bn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f32s = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let bn =
        |n: usize, offset: f32| -> Vec<f32> { (0..n).map(|i| offset + 0.1 * i as f32).collect() };
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = [
        layer("0", 8, 16),
        vec![
            ("1.weight".into(), vec![8], bn(8, 0.5)),
            ("1.bias".into(), vec![8], bn(8, -0.2)),
            ("1.running_mean".into(), vec![8], bn(8, -0.3)),
            ("1.running_var".into(), vec![8], bn(8, 0.2)),
        ],
        layer("3", 4, 8),
    ]
    .concat()
    .into_iter()
    .map(|(name, shape, values)| (name, Dtype::F32, shape, f32s(values)))
    .collect();
    tensors.push((
        "1.num_batches_tracked".into(),
        Dtype::I64,
        vec![],
        42i64.to_le_bytes().to_vec(),
    ));
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let weights = dir.join("bn.safetensors");
    std::fs::write(&weights, safetensors::serialize(views, None).unwrap()).unwrap();
    let calibration = dir.join("calib.npy");
    write_npy(&calibration, 6, 16, 2.0);
    let compile = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lutgen"))
            .arg("compile")
            .arg(&weights)
            .arg("--calibration")
            .arg(&calibration)
            .args(["-k", "4", "-v", "2", "-o"])
            .arg(dir.join("bn.lutnet"))
            .args(extra)
            .output()
            .unwrap()
    };
    let json = compile(&["--batch-norm", "after-linear", "--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        summary["batch_norm"],
        serde_json::json!([{"name": "1", "layer": 0, "layer_name": "0", "into": "outputs"}])
    );
    assert_eq!(summary["activations"], serde_json::json!(["relu"]));
    assert!(Network::read_from(dir.join("bn.lutnet")).is_ok());
    let text = compile(&["--batch-norm", "after-linear", "--batch-norm-eps", "1e-3"]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("batch norm 1 folded into layer 0 (0)'s weight rows and bias"),
        "{stdout}"
    );

    let refused = compile(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("1.running_var")
            && stderr.contains("pass --batch-norm after-linear")
            && stderr.contains("export the model to ONNX"),
        "{stderr}"
    );
    // An eps that is not positive.
    let bad_eps = compile(&["--batch-norm", "after-linear", "--batch-norm-eps", "0"]);
    assert!(!bad_eps.status.success());
    assert!(String::from_utf8_lossy(&bad_eps.stderr)
        .contains("--batch-norm-eps must be finite and positive"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `lutgen compile cnn.onnx --method learned` trains through the
/// convolutions: on 300 training rows, 3 epochs, K = 16, its network's
/// integer reference beats the k-means network's on the test split, and the
/// same seed writes the same file.
#[test]
fn the_cnn_compiles_with_learned_centroids_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("lutgen-cnn-learned-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows = 300;
    let x = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let y = mlp::read_labels(&data("digits_train_y.npy")).unwrap();
    write_npy_rows(&dir.join("x.npy"), &x[..rows]);
    // Labels: a 1-D float32 .npy.
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    for &label in &y[..rows] {
        npy.extend_from_slice(&(label as f32).to_le_bytes());
    }
    std::fs::write(dir.join("y.npy"), npy).unwrap();
    let compile_with = |method: &str, levers: &[&str], out: &str| {
        let run = Command::new(env!("CARGO_BIN_EXE_lutgen"))
            .arg("compile")
            .arg(data("onnx/cnn.onnx"))
            .arg("--calibration")
            .arg(dir.join("x.npy"))
            .arg("--labels")
            .arg(dir.join("y.npy"))
            .args(["-k", "16", "--method", method, "--epochs", "3"])
            .args(levers)
            .arg("-o")
            .arg(dir.join(out))
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        Network::read_from(dir.join(out)).unwrap()
    };
    let compile = |method: &str, out: &str| compile_with(method, &[], out);
    let test_x = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let test_y = mlp::read_labels(&data("digits_test_y.npy")).unwrap();
    let score = |network: &Network| {
        let q = network.input_quantization();
        let outputs: Vec<Vec<f64>> = test_x
            .iter()
            .map(|row| {
                let inf = network.infer(&q.quantize(row)).unwrap();
                inf.outputs.iter().map(|&v| f64::from(v)).collect()
            })
            .collect();
        compile::accuracy(&outputs, &test_y)
    };
    let kmeans = score(&compile("kmeans", "kmeans.lutnet"));
    let a = compile("learned", "a.lutnet");
    let b = compile("learned", "b.lutnet");
    assert_eq!(a.to_bytes(), b.to_bytes(), "same seed, same network");
    let learned = score(&a);
    eprintln!("cnn, {rows} rows, 3 epochs: kmeans {kmeans:.4}, learned {learned:.4}");
    assert!(learned > kmeans, "learned {learned}, kmeans {kmeans}");
    // The learned method's levers train through convolutions too: mixup
    // distillation, the best epoch on validation rows, free tables.
    let levers = ["--mixup", "1", "--best-epoch", "true", "--free-tables"];
    let with_levers = compile_with("learned", &levers, "levers.lutnet");
    assert_ne!(
        with_levers.to_bytes(),
        a.to_bytes(),
        "the levers changed nothing"
    );
    let levered = score(&with_levers);
    eprintln!("with {levers:?}: {levered:.4}");
    assert!(levered > kmeans, "with levers {levered}, kmeans {kmeans}");
    std::fs::remove_dir_all(&dir).ok();
}
