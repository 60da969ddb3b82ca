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
use crate::learn_args::LearnArgs;
use crate::output::task_bar;
use clap::Args;
use lutgen_compile::dense::DenseInt8;
use lutgen_compile::frontend::{self, WeightsOptions};
use lutgen_compile::suite::{
    best_allocation, budget_shape, candidate_shapes, check_shapes, markdown, markdown_section,
    plot, sections_of, summarize, table, with_section, Manifest, SuiteModel, SuiteReport, SuiteRow,
    NOTE,
};
use lutgen_compile::{self as compile, accuracy, mlp, CompileError};
use lutgen_compile::{CompileOptions, LayerShape, Method};
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
    #[command(flatten)]
    pub learn: LearnArgs,
    /// Width of the table entries, 2 to 8 bits (tables and bias share one scale per layer).
    #[arg(long, default_value_t = 8)]
    pub table_bits: u32,
    /// Each layer's K and V: `uniform` (the budget's K at V = --sub-vector
    /// for every layer), `auto` (chosen per model within the budget on the
    /// validation rows, see docs/compiler.md), or one `KxV` per layer
    /// (e.g. `8x4,64x4`; only for models of that many layers).
    #[arg(long, default_value = "uniform", value_name = "uniform|auto|KxV,...")]
    pub layer_shapes: String,
    /// Permute every hidden layer's units so that each codebook of the next
    /// layer holds correlated inputs (ITLUMM; the network's input and output
    /// order are unchanged).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub group_inputs: bool,
    /// Ridge term of the refit.
    #[arg(long, default_value_t = 1.0)]
    pub ridge: f64,
    /// Run only the first N test vectors on the simulated device (0: no device run).
    #[arg(long, value_name = "N")]
    pub device_limit: Option<usize>,
    /// Write the report as Markdown to this file.
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Write the report as a section of the --markdown file (replacing the
    /// section of that name, keeping the rest of the page) instead of the
    /// whole page. A whole-page run keeps the page's sections.
    #[arg(long, value_name = "NAME", requires = "markdown")]
    pub section: Option<String>,
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
fn lanes_for(model: &lutgen_compile::Mlp, shapes: &[LayerShape]) -> usize {
    let fits = |lanes: usize| {
        model.layers.iter().zip(shapes).all(|(l, s)| {
            (l.inputs / s.v) * s.k * l.outputs.div_ceil(lanes.min(l.outputs))
                <= lutgen_core::config::MAX_MEMORY_WORDS
        })
    };
    let mut lanes = 1;
    while !fits(lanes) && lanes < model.layers.iter().map(|l| l.outputs).max().unwrap_or(1) {
        lanes *= 2;
    }
    lanes
}

/// How each layer's K and V are chosen (`--layer-shapes`).
enum ShapeRule {
    Uniform,
    Auto,
    Given(Vec<LayerShape>),
}

impl ShapeRule {
    fn parse(text: &str) -> Result<Self, Error> {
        match text.trim() {
            "uniform" => Ok(ShapeRule::Uniform),
            "auto" => Ok(ShapeRule::Auto),
            list => list
                .split(',')
                .map(|s| s.parse::<LayerShape>())
                .collect::<Result<Vec<_>, _>>()
                .map(ShapeRule::Given)
                .map_err(|e| Error::Usage(format!("--layer-shapes: {e} (or uniform, or auto)"))),
        }
    }
}

/// Mean KL divergence (nats) from the float network's softmax to the
/// compiled network's (its dequantized outputs) over `inputs`.
fn kl_to_float(
    network: &lutgen_core::Network,
    inputs: &[Vec<f32>],
    float: &[Vec<f64>],
) -> Result<f64, Error> {
    let softmax = |z: &[f64]| -> Vec<f64> {
        let m = z.iter().fold(f64::MIN, |a, &b| a.max(b));
        let e: Vec<f64> = z.iter().map(|&v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect()
    };
    let input = network.input_quantization();
    let scale = f64::from(network.output_scale());
    let outs = super::dataset::reference_outputs(
        network,
        &inputs.iter().map(|x| input.quantize(x)).collect::<Vec<_>>(),
    )?;
    let mut total = 0.0;
    for (o, f) in outs.iter().zip(float) {
        let q = softmax(&o.iter().map(|&a| f64::from(a) * scale).collect::<Vec<_>>());
        let p = softmax(f);
        total += p
            .iter()
            .zip(&q)
            .map(|(&p, &q)| {
                if p > 0.0 {
                    p * (p / q.max(1e-300)).ln()
                } else {
                    0.0
                }
            })
            .sum::<f64>();
    }
    Ok(total / outs.len().max(1) as f64)
}

/// Chooses each layer's shape within `budget` on the validation rows: for
/// every layer and every candidate shape ([`candidate_shapes`]) the model is
/// compiled with `kmeans` (every other layer at `base`), and the validation
/// KL divergence from the float network measured; the combination of the
/// least summed divergence within the budget ([`best_allocation`]) is kept
/// when, compiled, its divergence is below the uniform `base`'s; else `base`.
#[allow(clippy::too_many_arguments)]
fn allocate(
    model: &lutgen_compile::Mlp,
    calibration: &[Vec<f32>],
    validation: &[Vec<f32>],
    float_validation: &[Vec<f64>],
    base: LayerShape,
    budget: f64,
    options: &CompileOptions,
    bar: &indicatif::ProgressBar,
    name: &str,
) -> Result<Vec<LayerShape>, Error> {
    let dims: Vec<(usize, usize)> = model.layers.iter().map(|l| (l.inputs, l.outputs)).collect();
    let uniform = vec![base; dims.len()];
    let score = |shapes: &[LayerShape]| -> Result<f64, Error> {
        let options = CompileOptions {
            method: Method::Kmeans,
            layer_shapes: shapes.to_vec(),
            lanes: lanes_for(model, shapes),
            ..options.clone()
        };
        let network = compile::compile(
            model,
            calibration,
            &options,
            &indicatif::ProgressBar::hidden(),
        )?;
        kl_to_float(&network, validation, float_validation)
    };
    let base_score = score(&uniform)?;
    let mut costs = Vec::new();
    for (l, &(d, _)) in dims.iter().enumerate() {
        let mut of = Vec::new();
        for shape in candidate_shapes(d) {
            bar.set_message(format!(
                "{name}: choosing layer shapes, layer {l} at {shape}"
            ));
            let cost = if shape == base {
                base_score
            } else {
                let mut shapes = uniform.clone();
                shapes[l] = shape;
                score(&shapes)?
            };
            of.push((shape, cost));
        }
        costs.push(of);
    }
    let Some(best) = best_allocation(&dims, &costs, budget) else {
        return Ok(uniform);
    };
    let best_score = if best == uniform {
        base_score
    } else {
        score(&best)?
    };
    let list: Vec<String> = best.iter().map(LayerShape::to_string).collect();
    say(
        bar,
        format!(
            "{name}: layer shapes {} (validation KL {best_score:.4} against {base_score:.4} uniform): {}",
            list.join(","),
            if best_score < base_score { "kept" } else { "uniform kept" }
        ),
    );
    Ok(if best_score < base_score {
        best
    } else {
        uniform
    })
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
    let rule = ShapeRule::parse(&args.layer_shapes)?;
    if !(2..=8).contains(&args.table_bits) {
        return Err(CompileError::TableBits {
            bits: args.table_bits,
        }
        .into());
    }

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
        let dims: Vec<(usize, usize)> =
            model.layers.iter().map(|l| (l.inputs, l.outputs)).collect();
        if let ShapeRule::Given(shapes) = &rule {
            check_shapes(&dims, shapes, args.budget)
                .map_err(|e| Error::Usage(format!("{}: --layer-shapes: {e}", entry.name)))?;
        } else if let Some(layer) = model.layers.iter().find(|l| l.inputs % v != 0) {
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
        let base = LayerShape { k, v };
        let float_validation = source.float_outputs(&validation)?;
        let base_options = CompileOptions {
            seed: args.seeds.first().copied().unwrap_or(0),
            ridge: args.ridge,
            table_bits: args.table_bits,
            group_inputs: args.group_inputs,
            ..CompileOptions::default()
        };
        let shapes = match &rule {
            ShapeRule::Uniform => vec![base; dims.len()],
            ShapeRule::Given(shapes) => shapes.clone(),
            ShapeRule::Auto => allocate(
                model,
                &calibration,
                &validation,
                &float_validation,
                base,
                args.budget,
                &base_options,
                &overall,
                &entry.name,
            )?,
        };
        let shapes_text = shapes
            .iter()
            .map(LayerShape::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let lanes = lanes_for(model, &shapes);
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
                    centroids: shapes[0].k,
                    sub_vector_len: shapes[0].v,
                    layer_shapes: shapes.clone(),
                    method,
                    seed,
                    lanes,
                    learn: args.learn.options(Some(train_labels.clone())),
                    ..base_options.clone()
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
                    k: shapes[0].k,
                    v: shapes[0].v,
                    shapes: shapes_text.clone(),
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
        layer_shapes: args.layer_shapes.clone(),
        table_bits: args.table_bits,
        group_inputs: args.group_inputs,
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
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let page = match &args.section {
            Some(name) => with_section(&old, name, &markdown_section(&report, name)),
            None => sections_of(&old)
                .iter()
                .fold(markdown(&report), |page, (name, text)| {
                    with_section(&page, name, text)
                }),
        };
        write(path, page)?;
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
