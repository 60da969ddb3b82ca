//! `lutgen suite` on a reduced setting: two models of the committed suite,
//! one seed, the JSON's shape, `learned` on a Tanh model as on a ReLU one, and
//! the device equal to the reference (on the 64-64-10 shape the other
//! command-line tests already Verilate, so the cache serves it).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn suite(args: &[&str]) -> Value {
    let cache = root().join("target/lutgen-models");
    let out = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("suite")
        .arg(root().join("tests/data/suite/suite.json"))
        .args(args)
        .arg("--json")
        .env(
            "LUTGEN_CACHE_DIR",
            std::env::var_os("LUTGEN_CACHE_DIR").unwrap_or(cache.into_os_string()),
        )
        .output()
        .expect("lutgen runs");
    assert!(
        out.status.success(),
        "lutgen suite {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(root().join("tests/data/suite/suite.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_suite_manifest_describes_its_models_and_splits() {
    let m = manifest();
    let models = m["models"].as_array().unwrap();
    assert!(models.len() >= 5);
    let depths: Vec<u64> = models
        .iter()
        .map(|x| x["depth"].as_u64().unwrap())
        .collect();
    assert!(depths.contains(&2) && depths.contains(&4), "{depths:?}");
    assert!(models.iter().any(|x| x["batch_norm"] == true));
    assert!(models.iter().any(|x| x["activation"] != "relu"));
    let validation = m["data"]["validation_rows"].as_array().unwrap();
    assert_eq!(validation.len(), 288);
    assert!(validation
        .iter()
        .all(|i| i.as_u64().unwrap() % 5 == 0 && i.as_u64().unwrap() < 1437));
    for x in models {
        assert!(root()
            .join("tests/data/suite")
            .join(x["file"].as_str().unwrap())
            .exists());
    }
}

#[test]
fn suite_reports_gaps_per_method_and_learns_through_tanh() {
    let dir = std::env::temp_dir().join(format!("lutgen-suite-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("fidelity.md");
    let svg = dir.join("fidelity.svg");
    let report = suite(&[
        "--models",
        "relu2_32,tanh2_64",
        "--methods",
        "kmeans,learned",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--device-limit",
        "0",
        "--markdown",
        md.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(
        (report["k"].as_u64(), report["v"].as_u64()),
        (Some(16), Some(4))
    );
    assert_eq!(report["budget"].as_f64(), Some(4.0));
    assert_eq!(report["test_vectors"].as_u64(), Some(360));
    assert_eq!(report["validation_vectors"].as_u64(), Some(288));
    assert_eq!(report["calibration_vectors"].as_u64(), Some(1437 - 288));
    let manifest = manifest();
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        // tract runs the graph as PyTorch did: the same accuracy to the row.
        let name = m["name"].as_str().unwrap();
        let entry = manifest["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap();
        assert_eq!(m["accuracy_float"], entry["float_test_accuracy"], "{name}");
    }
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert!(r["refused"].is_null(), "{r}");
        assert_eq!(r["table_ratio"].as_f64(), Some(4.0), "{r}");
        assert!(r["accuracy_device"].is_null());
        assert_eq!(r["gap_of"], "reference");
        let gap = r["gap_points"].as_f64().unwrap();
        let expected = 100.0
            * (r["accuracy_float"].as_f64().unwrap() - r["accuracy_reference"].as_f64().unwrap());
        assert!((gap - expected).abs() < 1e-9, "{r}");
        assert!(r["accuracy_reference_validation"].as_f64().unwrap() > 0.5);
    }
    let summary = report["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0]["method"], "kmeans");
    assert_eq!(summary[0]["rows"].as_u64(), Some(2));
    assert_eq!(summary[1]["method"], "learned");
    assert_eq!(
        (summary[1]["rows"].as_u64(), summary[1]["refused"].as_u64()),
        (Some(2), Some(0))
    );
    let gaps: Vec<f64> = rows
        .iter()
        .filter(|r| r["method"] == "kmeans")
        .map(|r| r["gap_points"].as_f64().unwrap())
        .collect();
    let mean = gaps.iter().sum::<f64>() / 2.0;
    assert!((summary[0]["mean_gap_points"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert_eq!(
        summary[0]["worst_gap_points"].as_f64().unwrap(),
        gaps.iter().copied().fold(f64::MIN, f64::max)
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("# Fidelity over the model suite"), "{text}");
    assert!(text.contains("fidelity.svg"), "{text}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn suite_device_equals_the_reference() {
    let report = suite(&[
        "--models",
        "tanh2_64",
        "--methods",
        "kmeans",
        "--seeds",
        "0",
        "--device-limit",
        "20",
    ]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["device_vectors"].as_u64(), Some(20));
    assert_eq!(r["device_matches_reference"], true);
    assert!(r["accuracy_device"].as_f64().is_some());
    assert_eq!(r["gap_of"], "reference");
}

fn suite_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lutgen"))
        .arg("suite")
        .arg(root().join("tests/data/suite/suite.json"))
        .args(args)
        .output()
        .expect("lutgen runs");
    assert!(!out.status.success(), "lutgen suite {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn suite_takes_per_layer_shapes_narrow_tables_and_grouping() {
    // relu2_32 is 64-32-10: 2,048 + 320 int8 weights. 8x4 on the first
    // layer (2x: 4,096 entries) and 64x4 on the last (16x: 5,120) is 9,216
    // table entries, 3.89x.
    let report = suite(&[
        "--models",
        "relu2_32",
        "--methods",
        "kmeans,learned",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--device-limit",
        "0",
        "--layer-shapes",
        "8x4,64x4",
        "--table-bits",
        "4",
        "--group-inputs",
        "true",
    ]);
    assert_eq!(report["table_bits"].as_u64(), Some(4));
    assert_eq!(report["group_inputs"], true);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["shapes"], "8x4,64x4", "{r}");
        let ratio = r["table_ratio"].as_f64().unwrap();
        assert!((ratio - 9216.0 / 2368.0).abs() < 1e-9, "{r}");
        assert!(r["accuracy_reference_validation"].as_f64().unwrap() > 0.5);
    }
}

#[test]
fn suite_refuses_shapes_over_the_budget_or_off_the_layers() {
    let over = suite_fails(&["--models", "relu2_32", "--layer-shapes", "64x4,16x4"]);
    assert!(over.contains("over the budget"), "{over}");
    let split = suite_fails(&["--models", "relu2_32", "--layer-shapes", "16x3,16x4"]);
    assert!(split.contains("layer 0 (64 inputs): 16x3"), "{split}");
    let count = suite_fails(&["--models", "relu2_32", "--layer-shapes", "16x4"]);
    assert!(
        count.contains("1 layer shapes for a network of 2 layers"),
        "{count}"
    );
    let nonsense = suite_fails(&["--models", "relu2_32", "--layer-shapes", "big"]);
    assert!(nonsense.contains("not a layer shape"), "{nonsense}");
    let bits = suite_fails(&["--models", "relu2_32", "--table-bits", "9"]);
    assert!(bits.contains("2 to 8 bits"), "{bits}");
}

#[test]
fn suite_chooses_layer_shapes_within_the_budget() {
    let report = suite(&[
        "--models",
        "relu2_32",
        "--methods",
        "kmeans",
        "--seeds",
        "0",
        "--device-limit",
        "0",
        "--layer-shapes",
        "auto",
    ]);
    assert_eq!(report["layer_shapes"], "auto");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let shapes: Vec<&str> = r["shapes"].as_str().unwrap().split(',').collect();
    assert_eq!(shapes.len(), 2, "{r}");
    assert!(r["table_ratio"].as_f64().unwrap() <= 4.0 + 1e-9, "{r}");
}
