//! Per-layer K and V, narrow tables and ITLUMM's grouping of correlated
//! inputs (issue 21's levers), on the committed digits model (64-64-10).

use indicatif::ProgressBar;
use lutgen_compile::{self as compile, mlp, CompileError, CompileOptions, LayerShape, Method, Mlp};
use lutgen_core::network::Network;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

fn digits() -> (Mlp, Vec<Vec<f32>>) {
    let model = Mlp::read(&data("digits_mlp.safetensors"), &[]).unwrap();
    let train = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    (model, train)
}

fn kmeans() -> CompileOptions {
    CompileOptions {
        method: Method::Kmeans,
        ..CompileOptions::default()
    }
}

fn outputs(network: &Network, rows: &[Vec<f32>]) -> Vec<Vec<i32>> {
    let input = network.input_quantization();
    rows.iter()
        .map(|x| network.infer(&input.quantize(x)).unwrap().outputs)
        .collect()
}

#[test]
fn each_layer_takes_its_own_shape() {
    let (model, train) = digits();
    let options = CompileOptions {
        layer_shapes: vec![LayerShape { k: 8, v: 2 }, LayerShape { k: 64, v: 4 }],
        ..kmeans()
    };
    let network = compile::compile(&model, &train, &options, &ProgressBar::hidden()).unwrap();
    let configs: Vec<_> = network.layers().iter().map(|l| l.image.config()).collect();
    assert_eq!((configs[0].centroids, configs[0].codebooks), (8, 32));
    assert_eq!((configs[1].centroids, configs[1].codebooks), (64, 16));
    assert_eq!(network.table_bytes(), 32 * 8 * 64 + 16 * 64 * 10);
    // One shape per layer, V dividing the layer.
    let err = compile::compile(
        &model,
        &train,
        &CompileOptions {
            layer_shapes: vec![LayerShape { k: 16, v: 4 }],
            ..kmeans()
        },
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::ShapeCount {
                given: 1,
                layers: 2
            }
        ),
        "{err}"
    );
    let err = compile::compile(
        &model,
        &train,
        &CompileOptions {
            layer_shapes: vec![LayerShape { k: 16, v: 4 }, LayerShape { k: 16, v: 3 }],
            ..kmeans()
        },
        &ProgressBar::hidden(),
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::Split { layer: 1, .. }), "{err}");
}

#[test]
fn narrow_tables_stay_in_their_width() {
    let (model, train) = digits();
    for method in [Method::Kmeans, Method::Refit] {
        let options = CompileOptions {
            table_bits: 4,
            method,
            ..CompileOptions::default()
        };
        let network = compile::compile(&model, &train, &options, &ProgressBar::hidden()).unwrap();
        for layer in network.layers() {
            assert_eq!(layer.image.config().table_bits, 4);
            let tables = layer.image.tables();
            assert!(tables.iter().all(|&t| (-7..=7).contains(&t)));
            // The scale puts the largest magnitude at the top of the range.
            assert_eq!(tables.iter().map(|t| t.unsigned_abs()).max(), Some(7));
        }
        // Written and read back as it is.
        assert_eq!(Network::from_bytes(&network.to_bytes()).unwrap(), network);
    }
    for bits in [0, 1, 9] {
        let err = compile::compile(
            &model,
            &train,
            &CompileOptions {
                table_bits: bits,
                ..kmeans()
            },
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(matches!(err, CompileError::TableBits { .. }), "{err}");
    }
}

#[test]
fn grouping_keeps_the_float_network_and_its_interface() {
    let (model, train) = digits();
    let shapes = vec![LayerShape { k: 16, v: 4 }; 2];
    let (grouped, perms) = compile::group::group_inputs(&model, &train, &shapes).unwrap();
    assert_eq!(perms.len(), 1);
    let mut sorted = perms[0].clone();
    sorted.sort();
    assert_eq!(sorted, (0..64).collect::<Vec<_>>());
    assert_ne!(
        perms[0], sorted,
        "the digits' hidden units are not already grouped"
    );
    // The float function is unchanged (up to the order of additions).
    for x in train.iter().take(50) {
        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (a, b) in model.forward(&x).iter().zip(grouped.forward(&x)) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
    // Compiled: the same inputs and outputs, a different network inside.
    let options = CompileOptions {
        group_inputs: true,
        ..kmeans()
    };
    let bar = ProgressBar::hidden();
    let a = compile::compile(&model, &train, &options, &bar).unwrap();
    assert_eq!(
        a.to_bytes(),
        compile::compile(&model, &train, &options, &bar)
            .unwrap()
            .to_bytes()
    );
    let plain = compile::compile(&model, &train, &kmeans(), &bar).unwrap();
    assert_ne!(a.to_bytes(), plain.to_bytes());
    assert_eq!(a.input_quantization(), plain.input_quantization());
    let agree = outputs(&a, &train)
        .iter()
        .zip(outputs(&plain, &train))
        .filter(|(x, y)| {
            let am = |v: &[i32]| (0..v.len()).max_by_key(|&i| (v[i], std::cmp::Reverse(i)));
            am(x) == am(y)
        })
        .count();
    assert!(agree * 10 > train.len() * 9, "{agree} of {}", train.len());
    // A network without hidden layers has nothing to group: refused.
    let one = Mlp {
        layers: vec![model.layers[0].clone()],
        activations: Vec::new(),
        ..model.clone()
    };
    let err = compile::compile(&one, &train, &options, &bar).unwrap_err();
    assert!(matches!(err, CompileError::GroupNoHidden), "{err}");
}
