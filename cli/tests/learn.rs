//! The learned method (LUT-NN training): deterministic for a fixed seed, and
//! its compiled network runs on the Verilated engine exactly as the reference.
//! Kept short: a subset of the training split and one or two epochs (the
//! full run is `lutgen compile --finetune EPOCHS` / `lutgen eval`).

use indicatif::ProgressBar;
use lutgen_compile::{self as compile, mlp, CompileOptions, Method, Mlp};
use lutgen_compile::{learn, LearnOptions};
use lutgen_sim::whole_network::run_network;
use lutgen_sim::SimOptions;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

fn subset(rows: usize) -> (Mlp, Vec<Vec<f32>>, Vec<usize>) {
    let model = Mlp::read(&data("digits_mlp.safetensors"), &[]).unwrap();
    let mut x = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let mut y = mlp::read_labels(&data("digits_train_y.npy")).unwrap();
    x.truncate(rows);
    y.truncate(rows);
    (model, x, y)
}

fn options(labels: Vec<usize>, epochs: usize) -> CompileOptions {
    CompileOptions {
        centroids: 16,
        sub_vector_len: 4,
        method: Method::Learned,
        learn: LearnOptions {
            epochs,
            labels: Some(labels),
            ..LearnOptions::default()
        },
        ..CompileOptions::default()
    }
}

#[test]
fn learning_is_deterministic_and_logs_every_epoch() {
    let (model, x, y) = subset(300);
    let opts = options(y.clone(), 2);
    let bar = ProgressBar::hidden();
    let (a, log) = learn(&model, &x, &y, &opts, &bar).unwrap();
    let (b, _) = learn(&model, &x, &y, &opts, &bar).unwrap();
    assert_eq!(
        a.to_bytes(),
        b.to_bytes(),
        "same seed, different image bytes"
    );
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.loss.is_finite()));
    assert!(log
        .iter()
        .all(|e| (0.0..=1.0).contains(&e.validation_accuracy)));
    // Through the public entry point too, and a different seed gives a different network.
    let c = compile::compile(&model, &x, &opts, &bar).unwrap();
    assert_eq!(a.to_bytes(), c.to_bytes());
    let other = CompileOptions { seed: 1, ..opts };
    let d = compile::compile(&model, &x, &other, &bar).unwrap();
    assert_ne!(a.to_bytes(), d.to_bytes());
}

#[test]
fn learned_method_needs_labels() {
    let (model, x, _) = subset(50);
    let mut opts = options(Vec::new(), 1);
    opts.learn.labels = None;
    let err = compile::compile(&model, &x, &opts, &ProgressBar::hidden()).unwrap_err();
    assert!(err.to_string().contains("labels"), "{err}");
    opts.learn.labels = Some(vec![0; 49]);
    let err = compile::compile(&model, &x, &opts, &ProgressBar::hidden()).unwrap_err();
    assert!(err.to_string().contains("49 labels"), "{err}");
}

/// Mixup distillation: deterministic, changes the training, and refused
/// without the distillation term that scores its unlabelled rows.
#[test]
fn mixup_is_deterministic_and_needs_distillation() {
    let (model, x, y) = subset(200);
    let bar = ProgressBar::hidden();
    let plain = options(y.clone(), 1);
    let mut mixed = plain.clone();
    mixed.learn.mixup = 1.0;
    let (a, _) = learn(&model, &x, &y, &mixed, &bar).unwrap();
    let (b, _) = learn(&model, &x, &y, &mixed, &bar).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes(), "same seed, different bytes");
    let (p, _) = learn(&model, &x, &y, &plain, &bar).unwrap();
    assert_ne!(a.to_bytes(), p.to_bytes(), "mixup changed nothing");

    mixed.learn.distill = 0.0;
    let err = learn(&model, &x, &y, &mixed, &bar).unwrap_err();
    assert!(
        err.to_string().contains("mixup needs distillation"),
        "{err}"
    );
    mixed.learn.mixup = -1.0;
    let err = learn(&model, &x, &y, &mixed, &bar).unwrap_err();
    assert!(err.to_string().contains("mixup -1"), "{err}");
}

/// The learned method trains through a Tanh (the device's activation table
/// forward, the float Tanh's slope backward): a learned compile of the ONNX
/// Tanh fixture is deterministic, keeps its activation table, and its
/// compiled network is accurate on its validation rows and the test split.
#[test]
fn learned_method_trains_through_tanh() {
    let source = compile::frontend::read(
        &data("onnx/mlp_tanh.onnx"),
        &compile::frontend::WeightsOptions::default(),
    )
    .unwrap();
    let model = source.mlp;
    assert!(!model.all_relu(), "{:?}", model.activations);
    let (_, x, y) = subset(400);
    let opts = options(y.clone(), 2);
    let bar = ProgressBar::hidden();
    let (a, log) = learn(&model, &x, &y, &opts, &bar).unwrap();
    let (b, _) = learn(&model, &x, &y, &opts, &bar).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes(), "same seed, different bytes");
    let c = compile::compile(&model, &x, &opts, &bar).unwrap();
    assert_eq!(a.to_bytes(), c.to_bytes());
    assert!(a.layers()[0].activation.is_some(), "the Tanh table");
    let validation = log.last().unwrap().validation_accuracy;
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let labels = mlp::read_labels(&data("digits_test_y.npy")).unwrap();
    let outs: Vec<Vec<i32>> = test
        .iter()
        .map(|x| {
            a.infer(&a.input_quantization().quantize(x))
                .unwrap()
                .outputs
        })
        .collect();
    let test_accuracy = compile::accuracy(&outs, &labels);
    println!(
        "learned Tanh, 2 epochs on 400 rows: validation accuracy {:.2}% (integer reference, {} rows), test {:.2}%",
        100.0 * validation,
        40, // 10% of the 400 rows
        100.0 * test_accuracy
    );
    assert!(validation > 0.85, "validation accuracy {validation}");
    assert!(test_accuracy > 0.85, "test accuracy {test_accuracy}");
}

/// A learned network on the device equals the integer reference bit for bit.
#[test]
fn learned_network_on_the_device_equals_the_reference() {
    let (model, x, y) = subset(300);
    let network = compile::compile(&model, &x, &options(y, 1), &ProgressBar::hidden()).unwrap();
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let q: Vec<Vec<i8>> = test[..32]
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
    let device = run_network(&network, &q, &SimOptions::default()).unwrap();
    let reference: Vec<Vec<i32>> = q
        .iter()
        .map(|x| network.infer(x).unwrap().outputs)
        .collect();
    assert_eq!(device.outputs, reference);
}
