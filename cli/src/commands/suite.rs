//! `lutgen suite`: fidelity over a suite of models (issue 21).
//!
//! For every model of a suite manifest (`tests/data/suite/suite.json`, made
//! by `scripts/models/train_suite.py`), every method and every seed: compile
//! at the (K, V) the table budget allows on the training rows of the training
//! split (the manifest's validation rows held apart), then score the float
//! graph, the integer reference and the simulated network top on the test
//! split. The gap is float minus device, in points; per method the mean and
//! worst gap over the suite. The device must equal the reference bit for bit.

use super::dataset::{score_quantized, DeviceScore};
use super::eval::{command_line, plot_link, write};
use crate::error::Error;
use crate::output::task_bar;
use clap::Args;
use lutgen_compile::dense::DenseInt8;
use lutgen_compile::frontend::{self, WeightsOptions};
use lutgen_compile::suite::{
    budget_shape, markdown, plot, summarize, table, Manifest, SuiteModel, SuiteReport, SuiteRow,
    NOTE,
};
use lutgen_compile::{self as compile, accuracy, mlp, CompileError};
use lutgen_compile::{CompileOptions, LearnOptions, Method};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Measure float against device accuracy over a suite of models, methods and seeds at a table budget.
#[derive(Args, Debug)]
pub struct SuiteArgs {
    /// The suite's manifest (paths in it are relative to its directory).
    #[arg(default_value = "tests/data/suite/suite.json")]
    pub suite: PathBuf,
    /// Only these models (by name; default: all).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Table methods.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Method::Kmeans, Method::Refit, Method::Learned])]
    pub methods: Vec<Method>,
    /// Compile seeds (k-means++ seeding; the learned method's split and batch order).
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 2])]
    pub seeds: Vec<u64>,
    /// Tables at most this many times the int8 weight bytes: K is the largest
    /// power of two with K / V <= budget.
    #[arg(long, default_value_t = 4.0)]
    pub budget: f64,
    /// Sub-vector length V (must divide every layer's input width).
    #[arg(short = 'v', long = "sub-vector", default_value_t = 4)]
    pub sub_vector_len: usize,
    /// Epochs of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().epochs)]
    pub epochs: usize,
    /// Adam step size of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().learning_rate)]
    pub learning_rate: f64,
    /// Weight of the learned method's distillation from the float network.
    #[arg(long, default_value_t = LearnOptions::default().distill)]
    pub distill: f64,
    /// Keep the learned method's epoch most accurate on its validation rows (false: the last epoch).
    #[arg(long, default_value_t = LearnOptions::default().best_epoch, action = clap::ArgAction::Set)]
    pub best_epoch: bool,
    /// Ridge term of the refit.
    #[arg(long, default_value_t = 1.0)]
    pub ridge: f64,
    /// Run only the first N test vectors on the simulated device (0: no device run).
    #[arg(long, value_name = "N")]
    pub device_limit: Option<usize>,
    /// Write the report as Markdown to this file.
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Draw the gap of every row to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn read_manifest(path: &Path) -> Result<Manifest, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a suite manifest: {e}", path.display())))
}

/// Splits the training split into (training rows, validation rows) by the manifest's indices.
fn split<T: Clone>(all: &[T], validation: &[usize]) -> Result<(Vec<T>, Vec<T>), Error> {
    if let Some(&bad) = validation.iter().find(|&&i| i >= all.len()) {
        return Err(Error::Usage(format!(
            "validation row {bad} is outside the training split ({} rows)",
            all.len()
        )));
    }
    let mut is_validation = vec![false; all.len()];
    for &i in validation {
        is_validation[i] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (row, &v) in all.iter().zip(&is_validation) {
        if v {
            val.push(row.clone());
        } else {
            train.push(row.clone());
        }
    }
    Ok((train, val))
}

/// The fewest lanes (a power of two) with which every layer's table memory
/// fits an engine memory: a lane holds `(D / V) K ceil(N / L)` table words.
fn lanes_for(model: &lutgen_compile::Mlp, k: usize, v: usize) -> usize {
    let fits = |lanes: usize| {
        model.layers.iter().all(|l| {
            (l.inputs / v) * k * l.outputs.div_ceil(lanes.min(l.outputs))
                <= lutgen_core::config::MAX_MEMORY_WORDS
        })
    };
    let mut lanes = 1;
    while !fits(lanes) && lanes < model.layers.iter().map(|l| l.outputs).max().unwrap_or(1) {
        lanes *= 2;
    }
    lanes
}

/// One line on stderr per row, above the bar (also when the bar is hidden, off a terminal).
fn say(bar: &indicatif::ProgressBar, line: String) {
    bar.suspend(|| eprintln!("{line}"));
}

pub fn run(args: &SuiteArgs) -> Result<bool, Error> {
    let started_all = Instant::now();
    let manifest = read_manifest(&args.suite)?;
    let dir = args.suite.parent().unwrap_or(Path::new("."));
    let (k, v) = budget_shape(args.budget, args.sub_vector_len).ok_or_else(|| {
        Error::Usage(format!(
            "a budget of {} x the int8 weights allows no K >= 2 at V = {}",
            args.budget, args.sub_vector_len
        ))
    })?;
    if let Some(unknown) = args
        .models
        .iter()
        .find(|n| !manifest.models.iter().any(|m| &m.name == *n))
    {
        return Err(Error::Usage(format!(
            "no model {unknown} in {}; it has {}",
            args.suite.display(),
            manifest
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let models: Vec<_> = manifest
        .models
        .iter()
        .filter(|m| args.models.is_empty() || args.models.contains(&m.name))
        .collect();
    let first = models
        .first()
        .ok_or_else(|| Error::Usage("the suite has no models".into()))?;
    let d = frontend::read(&dir.join(&first.file), &WeightsOptions::default())?
        .mlp
        .input_dim();
    let data = &manifest.data;
    let train_all = mlp::read_matrix(&dir.join(&data.train_x), d, "training inputs")?;
    let train_labels_all = mlp::read_labels(&dir.join(&data.train_y))?;
    let test = mlp::read_matrix(&dir.join(&data.test_x), d, "test inputs")?;
    let labels = mlp::read_labels(&dir.join(&data.test_y))?;
    for (inputs, labels) in [(&train_all, &train_labels_all), (&test, &labels)] {
        if inputs.len() != labels.len() {
            return Err(CompileError::LabelCount {
                inputs: inputs.len(),
                labels: labels.len(),
            }
            .into());
        }
    }
    let (calibration, validation) = split(&train_all, &data.validation_rows)?;
    let (train_labels, validation_labels) = split(&train_labels_all, &data.validation_rows)?;
    let device_vectors = args.device_limit.unwrap_or(test.len()).min(test.len());

    let overall = task_bar(false);
    overall.set_length((models.len() * args.methods.len() * args.seeds.len()) as u64);
    let mut suite_models = Vec::new();
    let mut rows = Vec::new();
    let mut all_match = true;
    for entry in models {
        let path = dir.join(&entry.file);
        let source = frontend::read(&path, &WeightsOptions::default())?;
        let model = &source.mlp;
        if model.input_dim() != d {
            return Err(Error::Usage(format!(
                "{}: {} inputs, the suite's first model has {d}",
                path.display(),
                model.input_dim()
            )));
        }
        if let Some(layer) = model.layers.iter().find(|l| l.inputs % v != 0) {
            return Err(Error::Usage(format!(
                "{}: a layer has {} inputs, which V = {v} does not divide (choose --sub-vector)",
                path.display(),
                layer.inputs
            )));
        }
        let accuracy_float = accuracy(&source.float_outputs(&test)?, &labels);
        let accuracy_float_validation =
            accuracy(&source.float_outputs(&validation)?, &validation_labels);
        let dense = DenseInt8::quantize(model, &calibration)?;
        let accuracy_int8 = accuracy(
            &test.iter().map(|x| dense.infer(x)).collect::<Vec<_>>(),
            &labels,
        );
        let weight_bytes_int8 = model.weight_bytes_int8();
        let lanes = lanes_for(model, k, v);
        suite_models.push(SuiteModel {
            name: entry.name.clone(),
            architecture: entry.architecture.clone(),
            shape: model.shape_name(),
            training_seed: entry.seed,
            weight_bytes_int8,
            accuracy_float,
            accuracy_float_pytorch: entry.float_test_accuracy,
            accuracy_float_validation,
            accuracy_int8,
        });
        for &method in &args.methods {
            for &seed in &args.seeds {
                let what = format!("{} {} seed {seed}", entry.name, method.name());
                overall.set_message(format!("{what}: compiling"));
                let options = CompileOptions {
                    centroids: k,
                    sub_vector_len: v,
                    method,
                    seed,
                    ridge: args.ridge,
                    lanes,
                    learn: LearnOptions {
                        epochs: args.epochs,
                        learning_rate: args.learning_rate,
                        distill: args.distill,
                        best_epoch: args.best_epoch,
                        labels: Some(train_labels.clone()),
                        ..LearnOptions::default()
                    },
                    ..CompileOptions::default()
                };
                let started = Instant::now();
                let compiled = compile::compile(
                    model,
                    &calibration,
                    &options,
                    &indicatif::ProgressBar::hidden(),
                );
                let compile_seconds = started.elapsed().as_secs_f64();
                let mut row = SuiteRow {
                    model: entry.name.clone(),
                    method,
                    seed,
                    k,
                    v,
                    lanes,
                    table_bytes: 0,
                    weight_bytes_int8,
                    table_ratio: 0.0,
                    accuracy_float,
                    accuracy_reference: None,
                    accuracy_device: None,
                    device_vectors: 0,
                    device_matches_reference: true,
                    accuracy_reference_validation: None,
                    gap_points: None,
                    gap_of: "reference",
                    refused: None,
                    compile_seconds,
                    device_seconds: 0.0,
                };
                let network = compiled?;
                row.table_bytes = network.table_bytes();
                row.table_ratio = row.table_bytes as f64 / weight_bytes_int8 as f64;
                if row.table_ratio > args.budget + 1e-9 {
                    return Err(Error::Usage(format!(
                        "{what}: tables of {} bytes are {:.2} x the int8 weights, over the budget",
                        row.table_bytes, row.table_ratio
                    )));
                }
                overall.set_message(format!(
                    "{what}: {device_vectors} vectors on the simulated device"
                ));
                let input = network.input_quantization();
                let quantize = |rows: &[Vec<f32>]| -> Vec<Vec<i8>> {
                    rows.iter().map(|x| input.quantize(x)).collect()
                };
                let score = score_quantized(&network, &quantize(&test), &labels, device_vectors)?;
                let on_validation =
                    score_quantized(&network, &quantize(&validation), &validation_labels, 0)?;
                row.accuracy_reference = Some(score.accuracy_reference);
                row.accuracy_reference_validation = Some(on_validation.accuracy_reference);
                let lut = match &score.device {
                    Some(device) => {
                        row.accuracy_device = Some(device.accuracy);
                        row.device_vectors = device.vectors;
                        row.device_matches_reference = device.matches();
                        row.device_seconds = device.seconds;
                        if device.vectors == test.len() {
                            row.gap_of = "device";
                            device.accuracy
                        } else {
                            score.accuracy_reference
                        }
                    }
                    None => score.accuracy_reference,
                };
                row.gap_points = Some(100.0 * (accuracy_float - lut));
                if let Some(d) = score.device.as_ref().filter(|d| !d.matches()) {
                    all_match = false;
                    say(
                        &overall,
                        format!(
                        "{what}: the device disagrees with the reference on {} of {} vectors ({})",
                        d.mismatched,
                        d.vectors,
                        d.first_mismatch.as_deref().unwrap_or("")
                    ),
                    );
                }
                say(
                    &overall,
                    format!(
                        "{what}: float {:.2}%, reference {:.2}%, device {}, gap {:.2} points",
                        100.0 * accuracy_float,
                        100.0 * score.accuracy_reference,
                        score
                            .device
                            .as_ref()
                            .map_or("not run".into(), |d: &DeviceScore| {
                                format!("{:.2}% ({} vectors)", 100.0 * d.accuracy, d.vectors)
                            }),
                        row.gap_points.unwrap_or(0.0)
                    ),
                );
                rows.push(row);
                overall.inc(1);
            }
        }
    }
    overall.finish_and_clear();
    let report = SuiteReport {
        suite: args.suite.display().to_string(),
        command: command_line(),
        budget: args.budget,
        k,
        v,
        seeds: args.seeds.clone(),
        test_vectors: test.len(),
        calibration_vectors: calibration.len(),
        validation_vectors: validation.len(),
        validation_rule: data.validation_rule.clone(),
        plot_link: match (&args.markdown, &args.plot) {
            (Some(md), Some(plot)) => Some(plot_link(md, plot)),
            _ => None,
        },
        seconds: started_all.elapsed().as_secs_f64(),
        note: NOTE,
        models: suite_models,
        summary: summarize(&rows, &args.methods),
        rows,
    };
    if let Some(path) = &args.markdown {
        write(path, markdown(&report))?;
    }
    if let Some(path) = &args.plot {
        plot(path, &report)?;
    }
    if args.json {
        crate::output::print_json(&report);
    } else {
        print!("{}", table(&report));
    }
    Ok(all_match)
}
