//! The ONNX frontend on models exported by `torch.onnx.export`
//! (tests/data/onnx, made by scripts/models/export_onnx_fixtures.py): what
//! it reads equals the graph tract runs, the float accuracy is PyTorch's,
//! and everything it does not run is refused naming the node.

use lutgen_compile::frontend::{self, WeightsOptions};
use lutgen_compile::mlp::{read_labels, read_matrix};
use lutgen_compile::{accuracy, Activation, CompileError, CompileOptions, Head, Method};
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

fn onnx(name: &str) -> PathBuf {
    data().join("onnx").join(format!("{name}.onnx"))
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(data().join("onnx/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn test_split(width: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    let x = read_matrix(&data().join("digits_test_x.npy"), width, "test").unwrap();
    let y = read_labels(&data().join("digits_test_y.npy")).unwrap();
    (x, y)
}

/// Every trained fixture: lutgen's reading of the graph (layers, folded
/// BatchNorm, transposed MatMul weights, activations evaluated by tract)
/// gives the graph's own outputs, and the float accuracy is PyTorch's.
#[test]
fn the_read_model_is_the_graph_and_scores_what_pytorch_scored() {
    let expected = expected();
    for (name, activation, head, layers) in [
        ("mlp_relu", "relu", Head::Logits, 2),
        ("mlp_relu_external", "relu", Head::Logits, 2),
        ("mlp_bn", "relu", Head::Softmax, 2),
        ("mlp_matmul", "relu", Head::Logits, 3),
        ("mlp_tanh", "Tanh", Head::LogSoftmax, 2),
        ("mlp_gelu", "Div, Erf, Add, Mul, Mul", Head::Logits, 2),
    ] {
        let model = frontend::read(&onnx(name), &WeightsOptions::default()).unwrap();
        let mlp = &model.mlp;
        assert_eq!(mlp.layers.len(), layers, "{name}");
        assert_eq!(mlp.head, head, "{name}");
        assert!(
            mlp.activations.iter().all(|a| a.name() == activation),
            "{name}: {:?}",
            mlp.activations
        );
        let (x, y) = test_split(mlp.input_dim());
        let graph = model.float_outputs(&x).unwrap();
        // The Mlp's own forward pass against the graph's, before the head.
        for (row, out) in x.iter().zip(&graph).take(50) {
            let ours = mlp.forward(&row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            let ours: Vec<f64> = match head {
                Head::Logits => ours,
                Head::Softmax | Head::LogSoftmax => {
                    let max = ours.iter().cloned().fold(f64::MIN, f64::max);
                    let sum: f64 = ours.iter().map(|v| (v - max).exp()).sum();
                    ours.iter()
                        .map(|v| {
                            let log = v - max - sum.ln();
                            if head == Head::Softmax {
                                log.exp()
                            } else {
                                log
                            }
                        })
                        .collect()
                }
            };
            for (a, b) in ours.iter().zip(out) {
                assert!((a - b).abs() < 1e-3, "{name}: {a} vs {b}");
            }
        }
        let e = &expected["models"][format!("{name}.onnx")];
        let correct = (accuracy(&graph, &y) * y.len() as f64).round() as u64;
        assert_eq!(correct, e["test_correct"].as_u64().unwrap(), "{name}");
    }
}

/// Every trained graph compiles (Tanh and GELU through activation tables)
/// and the lookup network, run by the integer reference, classifies.
#[test]
fn every_graph_compiles_and_classifies() {
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let options = CompileOptions {
        method: Method::Refit,
        ..CompileOptions::default()
    };
    let bar = indicatif::ProgressBar::hidden();
    let (x, y) = test_split(64);
    for (name, tables) in [
        ("mlp_relu", 0),
        ("mlp_bn", 0),
        ("mlp_matmul", 0),
        ("mlp_tanh", 1),
        ("mlp_gelu", 1),
    ] {
        let model = frontend::read(&onnx(name), &WeightsOptions::default()).unwrap();
        let network = lutgen_compile::compile(&model.mlp, &calibration, &options, &bar)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let with_tables = network
            .layers()
            .iter()
            .filter(|l| l.activation.is_some())
            .count();
        assert_eq!(with_tables, tables, "{name}");
        let q = network.input_quantization();
        let outputs: Vec<Vec<f64>> = x
            .iter()
            .map(|row| {
                network
                    .infer(&q.quantize(row))
                    .unwrap()
                    .outputs
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect()
            })
            .collect();
        let lut = accuracy(&outputs, &y);
        let float = accuracy(&model.float_outputs(&x).unwrap(), &y);
        eprintln!("{name}: float {float:.4}, lookup {lut:.4}");
        assert!(lut > float - 0.05, "{name}: float {float}, lookup {lut}");
    }
}

fn refusal(path: &Path) -> String {
    let err = frontend::read(path, &WeightsOptions::default()).unwrap_err();
    assert!(
        matches!(err, CompileError::Onnx { .. }),
        "{}: {err}",
        path.display()
    );
    err.to_string()
}

/// What the frontend does not run is an error naming the node and its op.
#[test]
fn unsupported_graphs_are_refused_naming_the_node() {
    let lstm = refusal(&onnx("lstm"));
    assert!(lstm.contains("LSTM"), "{lstm}");
    let transpose = refusal(&onnx("transpose_middle"));
    assert!(transpose.contains("/Transpose (Transpose)"), "{transpose}");
    let two = refusal(&onnx("two_inputs"));
    assert!(two.contains("2 inputs (a, b)"), "{two}");
    // The same message every time.
    assert_eq!(refusal(&onnx("lstm")), lstm);
    // Options that only a weights file takes.
    let err = frontend::read(
        &onnx("mlp_relu"),
        &WeightsOptions {
            activation: Some(Activation::Identity),
            ..WeightsOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::OnnxOptions { .. }), "{err}");
}

/// Fewer calibration rows than centroids is an error, not a quiet 46%.
#[test]
fn too_few_calibration_rows_are_refused() {
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let model = frontend::read(&onnx("mlp_relu"), &WeightsOptions::default()).unwrap();
    let err = lutgen_compile::compile(
        &model.mlp,
        &calibration[..5],
        &CompileOptions::default(),
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::CalibrationRows {
                rows: 5,
                centroids: 16
            }
        ),
        "{err}"
    );
}

/// A BatchNormalization whose channel count differs from the layer after it
/// is refused naming that layer (it used to index past the channels).
#[test]
fn a_batch_norm_of_the_wrong_width_is_refused() {
    use prost::Message;
    use tract_onnx::prelude::Framework;
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(onnx("mlp_bn"))
        .unwrap();
    let graph = proto.graph.as_mut().unwrap();
    // Cut the BatchNorm's four parameters to 32 channels (the layer has 64).
    let bn = graph
        .node
        .iter()
        .find(|n| n.op_type == "BatchNormalization")
        .unwrap()
        .clone();
    for t in graph.initializer.iter_mut() {
        if bn.input[1..].contains(&t.name) {
            t.dims = vec![32];
            t.raw_data.truncate(32 * 4);
            t.float_data.truncate(32);
        }
    }
    let dir = std::env::temp_dir().join(format!("lutgen-onnx-bn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bn32.onnx");
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    let text = refusal(&path);
    assert!(
        text.contains("Gemm") && text.contains("BatchNormalization before it has 32 channels"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Reshape to three dimensions inside the network is refused naming the
/// node (only a flatten to (batch, features) runs).
#[test]
fn a_reshape_to_three_dimensions_is_refused() {
    use prost::Message;
    use tract_onnx::pb::{NodeProto, TensorProto};
    use tract_onnx::prelude::Framework;
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(onnx("mlp_relu"))
        .unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let input = graph.input[0].name.clone();
    // Every consumer of the input now reads `to3d`, a (batch, 8, 8) reshape of it.
    for node in graph.node.iter_mut() {
        for name in node.input.iter_mut() {
            if *name == input {
                *name = "to3d".into();
            }
        }
    }
    graph.initializer.push(TensorProto {
        name: "shape3".into(),
        dims: vec![3],
        data_type: 7, // INT64
        int64_data: vec![-1, 8, 8],
        ..TensorProto::default()
    });
    graph.node.insert(
        0,
        NodeProto {
            name: "/to3d/Reshape".into(),
            op_type: "Reshape".into(),
            input: vec![input, "shape3".into()],
            output: vec!["to3d".into()],
            ..NodeProto::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("lutgen-onnx-reshape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reshape3.onnx");
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    let text = refusal(&path);
    assert!(
        text.contains("/to3d/Reshape (Reshape)") && text.contains("[-1, 8, 8]"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The state_dict of the BatchNorm fixture (the graph's initializers, as
/// PyTorch named them, plus `bn1.num_batches_tracked`) saved as safetensors:
/// read with `--layers fc1,bn1,fc2 --batch-norm after-linear`, it folds to
/// the model the graph computes, and both frontends report the same fold.
#[test]
fn the_batch_norm_fixture_as_a_state_dict_folds_to_the_graph() {
    use lutgen_compile::batch_norm::Fold;
    use lutgen_compile::{FoldedBatchNorm, FoldedInto};
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx()
        .proto_model_for_path(onnx("mlp_bn"))
        .unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = proto
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .map(|t| {
            assert_eq!(t.data_type, 1, "{}: float32", t.name);
            let data = if t.raw_data.is_empty() {
                t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                t.raw_data.clone()
            };
            let shape = t.dims.iter().map(|&d| d as usize).collect();
            (t.name.clone(), Dtype::F32, shape, data)
        })
        .collect();
    tensors.push((
        "bn1.num_batches_tracked".into(),
        Dtype::I64,
        vec![],
        1800i64.to_le_bytes().to_vec(),
    ));
    let mut names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bn1.bias",
            "bn1.num_batches_tracked",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("lutgen-onnx-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mlp_bn.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();

    let options = WeightsOptions {
        layers: ["fc1", "bn1", "fc2"].map(String::from).to_vec(),
        batch_norm: Some(Fold::default()),
        ..WeightsOptions::default()
    };
    let weights = frontend::read(&path, &options).unwrap();
    let graph = frontend::read(&onnx("mlp_bn"), &WeightsOptions::default()).unwrap();
    assert_eq!(
        weights.mlp.batch_norms,
        [FoldedBatchNorm {
            name: "bn1".into(),
            layer: 0,
            layer_name: "fc1".into(),
            into: FoldedInto::Outputs,
        }]
    );
    assert_eq!(graph.mlp.batch_norms.len(), 1);
    assert_eq!(
        (
            graph.mlp.batch_norms[0].layer,
            graph.mlp.batch_norms[0].into
        ),
        (0, FoldedInto::Outputs)
    );
    assert!(graph.mlp.batch_norms[0].name.contains("bn1"));
    // The same folded layers (eps is 1e-5 in f64 here, the f32 attribute in the graph).
    for (a, b) in weights.mlp.layers.iter().zip(&graph.mlp.layers) {
        for (x, y) in a
            .weight
            .iter()
            .chain(&a.bias)
            .zip(b.weight.iter().chain(&b.bias))
        {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{x} vs {y}");
        }
    }
    // The folded weights' logits, softmaxed, are the graph's probabilities.
    let (x, y) = test_split(64);
    let probabilities = graph.float_outputs(&x).unwrap();
    for (row, out) in x.iter().zip(&probabilities) {
        let logits = weights
            .mlp
            .forward(&row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let max = logits.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = logits.iter().map(|v| (v - max).exp()).sum();
        for (l, p) in logits.iter().zip(out) {
            let ours = (l - max).exp() / sum;
            assert!((ours - p).abs() < 1e-5, "{ours} vs {p}");
        }
    }
    let correct =
        (accuracy(&weights.float_outputs(&x).unwrap(), &y) * y.len() as f64).round() as u64;
    assert_eq!(
        correct,
        expected()["models"]["mlp_bn.onnx"]["test_correct"]
            .as_u64()
            .unwrap()
    );

    // fc1, bn1, fc2 sort as bn1, fc1, fc2: without --layers the order is refused.
    let err = frontend::read(
        &path,
        &WeightsOptions {
            layers: vec![],
            ..options.clone()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, CompileError::BatchNormOrder { batch_norm, .. } if batch_norm == "bn1"),
        "{err}"
    );
    // Without --batch-norm, an error that says to pass it.
    let err = frontend::read(
        &path,
        &WeightsOptions {
            batch_norm: None,
            ..options.clone()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("--batch-norm after-linear"),
        "{err}"
    );
    // And --batch-norm with a graph, which says where its BatchNorms sit.
    let err = frontend::read(
        &onnx("mlp_bn"),
        &WeightsOptions {
            batch_norm: Some(Fold::default()),
            ..WeightsOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::OnnxOptions { .. }), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The graph's float outputs and the read model's own forward pass agree
/// on the first `rows` test digits (within 1e-3).
fn assert_forward_is_the_graph(name: &str, rows: usize) -> frontend::Model {
    assert_forward_is_the_graph_at(&onnx(name), rows)
}

/// [`assert_forward_is_the_graph`] of the graph at `path`.
fn assert_forward_is_the_graph_at(path: &Path, rows: usize) -> frontend::Model {
    let name = path.display();
    let model = frontend::read(path, &WeightsOptions::default()).unwrap();
    let (x, _) = test_split(model.mlp.input_dim());
    let graph = model.float_outputs(&x[..rows]).unwrap();
    for (row, out) in x.iter().zip(&graph) {
        let ours = model
            .mlp
            .forward(&row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        assert_eq!(ours.len(), out.len(), "{name}");
        for (a, b) in ours.iter().zip(out) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{name}: {a} vs {b}");
        }
    }
    model
}

/// Conv (1 -> 4 channels, pad 1), Relu, Flatten, Gemm: the Flatten of a
/// 4-channel map permutes the Gemm's columns from ONNX's (C, H, W) order to
/// lutgen's HWC order, so the read model computes exactly the graph.
#[test]
fn a_conv_graph_reads_as_the_graph_with_the_flatten_permuted() {
    let model = assert_forward_is_the_graph("conv", 40);
    let mlp = &model.mlp;
    assert_eq!(mlp.layers.len(), 2);
    assert_eq!((mlp.layers[0].inputs, mlp.layers[0].outputs), (9, 4));
    assert_eq!((mlp.layers[1].inputs, mlp.input_dim()), (256, 64));
    let g = mlp.spatial[0].conv.unwrap().geometry;
    assert_eq!(
        (g.in_height, g.in_width, g.kernel, g.out_pixels()),
        (8, 8, 3, 64)
    );
    assert_eq!(mlp.activations[0], Activation::Relu);
}

/// The trained CNN (scripts/models/train_cnn.py): Conv+Relu, a strided
/// Conv+Relu, MaxPool 2x2, Flatten, Gemm. It reads as the graph, compiles
/// (k-means and refit tables on the patches), the int8 dense baseline
/// scores the float accuracy, the integer reference of the lookup network
/// what it scored when this test was written, and the network file
/// round-trips.
#[test]
fn the_cnn_compiles_and_its_reference_tracks_the_float_model() {
    let model = assert_forward_is_the_graph("cnn", 40);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("onnx/cnn.json")).unwrap())
            .unwrap();
    let (x, y) = test_split(64);
    let float = accuracy(&model.float_outputs(&x).unwrap(), &y);
    assert!((float - info["test_accuracy"].as_f64().unwrap()).abs() < 1e-9);
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let bar = indicatif::ProgressBar::hidden();
    // The int8 dense baseline runs the same convolutions, pooling and
    // Flatten permutation: the float accuracy, so those are right.
    let int8 = int8_dense_accuracy(&model.mlp, &calibration, &x, &y);
    assert!(int8 > float - 0.01, "int8 dense {int8}, float {float}");
    // K = 16 tables lose more on these tiny convolutions than on the MLPs
    // (K = 64: 0.886 kmeans, 0.903 refit; K = 256 kmeans: 0.936).
    for (method, at_least) in [(Method::Kmeans, 0.70), (Method::Refit, 0.84)] {
        let options = CompileOptions {
            method,
            ..CompileOptions::default()
        };
        let network = lutgen_compile::compile(&model.mlp, &calibration, &options, &bar).unwrap();
        let kinds: Vec<_> = network
            .spatial()
            .iter()
            .map(|s| (s.conv.is_some(), s.pool))
            .collect();
        use lutgen_core::spatial::Pool;
        assert_eq!(
            kinds,
            [(true, None), (true, Some(Pool::Max2)), (false, None)],
            "{method:?}"
        );
        // V = 9: one codebook per input channel's 3x3 window.
        let configs = network.configs();
        assert_eq!((configs[0].codebooks, configs[1].codebooks), (1, 8));
        assert_eq!(network.input_dim(), 64);
        let lut = reference_accuracy(&network, &x, &y);
        eprintln!("cnn {method:?}: float {float:.4}, int8 {int8:.4}, lookup reference {lut:.4}");
        assert!(lut >= at_least, "{method:?}: float {float}, lookup {lut}");
        let bytes = network.to_bytes();
        let back = lutgen_core::Network::from_bytes(&bytes).unwrap();
        assert_eq!(back, network);
        assert_eq!(back.to_bytes(), bytes);
        assert!(back.require_dense().is_err());
    }
    // Input grouping refuses convolutions, by name.
    let options = CompileOptions {
        group_inputs: true,
        ..CompileOptions::default()
    };
    let err = lutgen_compile::compile(&model.mlp, &calibration, &options, &bar).unwrap_err();
    assert!(matches!(err, CompileError::GroupConv { layer: 0 }), "{err}");
    assert!(
        err.to_string().contains("layer 0 is a convolution"),
        "{err}"
    );
}

/// Test accuracy of a compiled network's integer reference on `x`, `y`.
/// The int8 dense baseline's accuracy on `x`, quantized on `calibration`.
fn int8_dense_accuracy(
    mlp: &lutgen_compile::mlp::Mlp,
    calibration: &[Vec<f32>],
    x: &[Vec<f32>],
    y: &[usize],
) -> f64 {
    let dense = lutgen_compile::dense::DenseInt8::quantize(mlp, calibration).unwrap();
    let outputs: Vec<Vec<f64>> = x
        .iter()
        .map(|row| dense.infer(row).iter().map(|&v| f64::from(v)).collect())
        .collect();
    accuracy(&outputs, y)
}

fn reference_accuracy(network: &lutgen_core::Network, x: &[Vec<f32>], y: &[usize]) -> f64 {
    let q = network.input_quantization();
    let outputs: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            let inf = network.infer(&q.quantize(row)).unwrap();
            inf.outputs.iter().map(|&v| f64::from(v)).collect()
        })
        .collect();
    accuracy(&outputs, y)
}

/// The learned method trains through the CNN's convolutions and pooling
/// (im2col gather, 2x2 max): on a small setting (300 training rows, 3
/// epochs, K = 16) its compiled network's integer reference beats k-means'
/// on the test split, and the same seed gives the same network bytes.
#[test]
fn learned_centroids_train_through_the_cnn() {
    let model = frontend::read(&onnx("cnn"), &WeightsOptions::default()).unwrap();
    let (x, y) = test_split(64);
    let rows = 300;
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap()
        [..rows]
        .to_vec();
    let labels = read_labels(&data().join("digits_train_y.npy")).unwrap()[..rows].to_vec();
    let bar = indicatif::ProgressBar::hidden();
    let score = |network: &lutgen_core::Network| reference_accuracy(network, &x, &y);
    let kmeans = CompileOptions {
        method: Method::Kmeans,
        ..CompileOptions::default()
    };
    let kmeans = score(&lutgen_compile::compile(&model.mlp, &calibration, &kmeans, &bar).unwrap());
    let mut learned = CompileOptions {
        method: Method::Learned,
        ..CompileOptions::default()
    };
    learned.learn.epochs = 3;
    learned.learn.labels = Some(labels);
    let a = lutgen_compile::compile(&model.mlp, &calibration, &learned, &bar).unwrap();
    let b = lutgen_compile::compile(&model.mlp, &calibration, &learned, &bar).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes(), "same seed, same network");
    let configs = a.configs();
    assert_eq!((configs[0].codebooks, configs[1].codebooks), (1, 8));
    let learned = score(&a);
    eprintln!("cnn, {rows} rows: kmeans {kmeans:.4}, learned {learned:.4}");
    assert!(learned > kmeans, "learned {learned}, kmeans {kmeans}");
}

/// Every convolution feature lutgen does not run is refused naming the
/// node, the attribute and what to do (tests/data/onnx/conv_refusals, made
/// by scripts/models/conv_fixtures.py).
#[test]
fn unsupported_convolutions_are_refused_by_name() {
    for (name, needles) in [
        (
            "dilations",
            &["conv (Conv)", "dilations = [2, 2] is not supported"][..],
        ),
        (
            "auto_pad",
            &["auto_pad = SAME_UPPER is not supported", "explicit pads"],
        ),
        ("kernel7", &["kernel 7x7 is not supported"]),
        ("stride3", &["stride 3 is not supported"]),
        (
            "ceil_mode",
            &["pool (MaxPool)", "ceil_mode = 1 is not supported"],
        ),
        ("pool3", &["kernel_shape = [3, 3] is not supported"]),
        (
            "pool_first",
            &["pool0 (MaxPool)", "only after a Conv layer"],
        ),
        ("residual", &["residual (Add)", "besides the one value"]),
        ("two_channels", &["an input of 2 channels"]),
    ] {
        let path = data().join(format!("onnx/conv_refusals/{name}.onnx"));
        let e = refusal(&path);
        for needle in needles {
            assert!(e.contains(needle), "{name}: {e}");
        }
    }
}

/// AveragePool 2x2, GlobalAveragePool, a BatchNormalization folded into a
/// Conv, a 5x5 kernel with stride 2 and asymmetric pads, and a 1x1 Conv
/// (tests/data/onnx/conv_graphs, untrained): each reads as the graph tract
/// runs, and compiles into a network whose integer reference runs.
#[test]
fn pools_batch_norm_and_asymmetric_pads_read_as_the_graph_and_compile() {
    use lutgen_core::spatial::Pool;
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let bar = indicatif::ProgressBar::hidden();
    for (name, pools, folded) in [
        ("avgpool", vec![Some(Pool::Avg2), None], 0),
        ("global_avgpool", vec![Some(Pool::GlobalAvg), None], 0),
        ("conv_bn", vec![None, None, None], 1),
    ] {
        let model = assert_forward_is_the_graph(&format!("conv_graphs/{name}"), 20);
        let mlp = &model.mlp;
        let got: Vec<_> = (0..mlp.layers.len())
            .map(|l| mlp.spatial_of(l).pool)
            .collect();
        assert_eq!(got, pools, "{name}");
        assert_eq!(mlp.batch_norms.len(), folded, "{name}");
        let options = CompileOptions {
            method: Method::Kmeans,
            ..CompileOptions::default()
        };
        let network = lutgen_compile::compile(mlp, &calibration, &options, &bar).unwrap();
        let q = network.input_quantization();
        let inf = network.infer(&q.quantize(&calibration[0])).unwrap();
        assert_eq!(inf.outputs.len(), 10, "{name}");
    }
    let conv_bn = frontend::read(
        &data().join("onnx/conv_graphs/conv_bn.onnx"),
        &WeightsOptions::default(),
    )
    .unwrap();
    let g = conv_bn.mlp.spatial[0].conv.unwrap().geometry;
    assert_eq!(
        (
            g.kernel,
            g.stride,
            g.padding.top,
            g.padding.left,
            g.padding.bottom,
            g.padding.right
        ),
        (5, 2, 2, 1, 1, 2)
    );
    assert_eq!(g.out_pixels(), 16);
}

/// The depthwise-separable CNN (scripts/models/train_cnn.py --depthwise):
/// Conv 3x3 1 -> 8, a depthwise Conv 3x3 8 -> 8 (group 8, stride 2), a
/// pointwise Conv 1x1 8 -> 16, MaxPool 2x2, Flatten, Gemm. It reads as the
/// graph (the depthwise weights expanded to a block-diagonal 8 -> 8 Conv:
/// output channel o reads input channel o only), scores the float accuracy
/// PyTorch recorded, and compiles: k-means tables are zero outside each
/// output's group, the refit's need not be (it fits the layer's outputs),
/// and the integer reference, which reads the network file, tracks the
/// float model.
#[test]
fn the_depthwise_cnn_reads_as_the_graph_and_its_reference_tracks_the_float_model() {
    let model = assert_forward_is_the_graph("cnn_depthwise", 40);
    let mlp = &model.mlp;
    let shapes: Vec<_> = mlp.layers.iter().map(|l| (l.inputs, l.outputs)).collect();
    assert_eq!(shapes, [(9, 8), (72, 8), (8, 16), (64, 10)]);
    let depthwise = &mlp.layers[1];
    for o in 0..8 {
        for c in 0..8 {
            let w = &depthwise.weight[o * 72 + c * 9..][..9];
            assert_eq!(
                w.iter().all(|&v| v == 0.0),
                c != o,
                "output {o}, channel {c}"
            );
        }
    }
    let g = mlp.spatial[1].conv.unwrap().geometry;
    assert_eq!(
        (g.in_channels, g.kernel, g.stride, g.out_pixels()),
        (8, 3, 2, 16)
    );
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data().join("onnx/cnn_depthwise.json")).unwrap(),
    )
    .unwrap();
    let (x, y) = test_split(64);
    let float = accuracy(&model.float_outputs(&x).unwrap(), &y);
    assert!((float - info["test_accuracy"].as_f64().unwrap()).abs() < 1e-9);
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let int8 = int8_dense_accuracy(mlp, &calibration, &x, &y);
    assert!(int8 > float - 0.01, "int8 dense {int8}, float {float}");
    // K = 16 when this test was written: k-means 0.5056, refit 0.7778 (456
    // nonzero refit entries outside the groups, of 16 x 8 x 7 = 896).
    for (method, at_least) in [(Method::Kmeans, 0.48), (Method::Refit, 0.75)] {
        let options = CompileOptions {
            method,
            ..CompileOptions::default()
        };
        let network = lutgen_compile::compile(mlp, &calibration, &options, &bar).unwrap();
        let configs = network.configs();
        assert_eq!(configs[1].codebooks, 8, "{method:?}");
        // Table entries of the depthwise layer outside each output's group.
        let image = &network.layers()[1].image;
        let outside = (0..8)
            .flat_map(|c| (0..configs[1].centroids).map(move |k| (c, k)))
            .map(|(c, k)| {
                let row = image.table_row(c, k);
                (0..8).filter(|&o| o != c && row[o] != 0).count()
            })
            .sum::<usize>();
        if method == Method::Kmeans {
            assert_eq!(outside, 0, "k-means tables outside the groups");
        }
        let lut = reference_accuracy(&network, &x, &y);
        eprintln!(
            "cnn_depthwise {method:?}: float {float:.4}, int8 {int8:.4}, lookup reference \
             {lut:.4}; {outside} nonzero entries outside the groups"
        );
        assert!(lut >= at_least, "{method:?}: float {float}, lookup {lut}");
        let bytes = network.to_bytes();
        let back = lutgen_core::Network::from_bytes(&bytes).unwrap();
        assert_eq!(back, network);
        assert_eq!(reference_accuracy(&back, &x, &y), lut);
    }
}

/// `cnn_depthwise.onnx` with its depthwise Conv's `group` set to `group`
/// and, when `weights` is given, its weights replaced by that many input
/// channels per group (deterministic values), and with `batch_norm` a
/// BatchNormalization right after that Conv, written to a temporary file.
fn regrouped(
    tag: &str,
    group: i64,
    weights: Option<usize>,
    batch_norm: bool,
) -> (PathBuf, PathBuf) {
    use prost::Message;
    use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};
    use tract_onnx::prelude::Framework;
    let floats = |name: &str, values: Vec<f32>| TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: 1, // FLOAT
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    };
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(onnx("cnn_depthwise"))
        .unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let conv = graph
        .node
        .iter_mut()
        .find(|n| n.name == "/depthwise/Conv")
        .expect("the depthwise Conv");
    conv.attribute
        .iter_mut()
        .find(|a| a.name == "group")
        .unwrap()
        .i = group;
    let weight = conv.input[1].clone();
    if let Some(per_group) = weights {
        let t = graph
            .initializer
            .iter_mut()
            .find(|t| t.name == weight)
            .unwrap();
        t.dims = vec![8, per_group as i64, 3, 3];
        let values: Vec<f32> = (0..8 * per_group * 9)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 20.0)
            .collect();
        t.float_data.clear();
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    if batch_norm {
        let at = graph
            .node
            .iter()
            .position(|n| n.name == "/depthwise/Conv")
            .unwrap();
        let out = graph.node[at].output[0].clone();
        graph.node[at].output[0] = "before_bn".into();
        let channel = |f: fn(f32) -> f32| (0..8).map(|c| f(c as f32)).collect::<Vec<f32>>();
        graph.initializer.extend([
            floats("bn_scale", channel(|c| 0.5 + c / 8.0)),
            floats("bn_bias", channel(|c| c / 10.0 - 0.3)),
            floats("bn_mean", channel(|c| 0.2 - c / 20.0)),
            floats("bn_var", channel(|c| 0.3 + c / 5.0)),
        ]);
        graph.node.insert(
            at + 1,
            NodeProto {
                name: "bn".into(),
                op_type: "BatchNormalization".into(),
                input: ["before_bn", "bn_scale", "bn_bias", "bn_mean", "bn_var"]
                    .map(String::from)
                    .to_vec(),
                output: vec![out],
                attribute: vec![AttributeProto {
                    name: "epsilon".into(),
                    r#type: 1, // FLOAT
                    f: 1e-5,
                    ..AttributeProto::default()
                }],
                ..NodeProto::default()
            },
        );
    }
    let dir = std::env::temp_dir().join(format!("lutgen-onnx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.onnx"));
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    (path, dir)
}

/// A grouped Conv that is not depthwise, with a BatchNormalization after
/// it: the depthwise CNN's middle Conv with group = 2 (weights
/// (8, 4, 3, 3)) reads as the graph tract runs, the BatchNorm folded into
/// its output channels, each output channel reading only its group's four
/// input channels, and compiles into a network whose integer reference
/// classifies.
#[test]
fn a_conv_of_two_groups_and_its_batch_norm_read_as_the_graph_and_compile() {
    let (path, dir) = regrouped("group2", 2, Some(4), true);
    let model = assert_forward_is_the_graph_at(&path, 40);
    assert_eq!(model.mlp.batch_norms.len(), 1);
    assert_eq!(model.mlp.batch_norms[0].layer, 1);
    let layer = &model.mlp.layers[1];
    assert_eq!((layer.inputs, layer.outputs), (72, 8));
    for o in 0..8 {
        for c in 0..8 {
            let w = &layer.weight[o * 72 + c * 9..][..9];
            assert_eq!(
                w.iter().all(|&v| v == 0.0),
                c / 4 != o / 4,
                "output {o}, channel {c}"
            );
        }
    }
    let calibration = read_matrix(&data().join("digits_train_x.npy"), 64, "calibration").unwrap();
    let options = CompileOptions {
        method: Method::Kmeans,
        ..CompileOptions::default()
    };
    let network = lutgen_compile::compile(
        &model.mlp,
        &calibration,
        &options,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let q = network.input_quantization();
    assert_eq!(
        network
            .infer(&q.quantize(&calibration[0]))
            .unwrap()
            .outputs
            .len(),
        10
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group that does not divide the channels, weights of the wrong shape
/// for the group, and group 0 are refused naming the Conv and what to do.
#[test]
fn inconsistent_groups_are_refused_by_name() {
    for (tag, group, weights, needles) in [
        (
            "group3",
            3,
            None,
            &[
                "/depthwise/Conv (Conv)",
                "group = 3 does not divide the 8 input channels and the 8 output channels",
                "export with a group that divides both",
            ][..],
        ),
        (
            "group2_shape",
            2,
            None,
            &[
                "/depthwise/Conv (Conv)",
                "weights of shape [8, 1, 3, 3]",
                "so the weights are (8, 4, 3, 3)",
            ],
        ),
        ("group0", 0, None, &["group = 0", "export with group >= 1"]),
        (
            "group4_shape",
            4,
            Some(4),
            &["weights of shape [8, 4, 3, 3]", "(8, 2, 3, 3)"],
        ),
    ] {
        let (path, dir) = regrouped(tag, group, weights, false);
        let e = refusal(&path);
        for needle in needles {
            assert!(e.contains(needle), "{tag}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
