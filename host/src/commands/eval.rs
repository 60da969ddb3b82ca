//! `lutgen eval`: what the lookups cost in accuracy, from float to the simulated device.
//!
//! For each K, V and method: compile the model on the training split, then on
//! the test split measure the float model, the int8 dense baseline, the
//! lookup-table network in the integer reference, and the same network on
//! the Verilated network top (every layer on the device, requantization and
//! ReLU in hardware). The device's outputs must equal the reference's bit for
//! bit; any difference fails the command.

use super::compile::progress_bar;
use super::dataset::{Dataset, DatasetArgs, DeviceScore};
use crate::compile::dense::DenseInt8;
use crate::compile::learn::LearnOptions;
use crate::compile::{self, accuracy, mlp, CompileOptions, Method};
use crate::error::Error;
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Measure float, int8 and lookup-table accuracy (reference and simulated device) on a test split.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Centroids per codebook to sweep.
    #[arg(short = 'k', long, value_delimiter = ',', default_values_t = [8, 16, 32])]
    pub centroids: Vec<usize>,
    /// Sub-vector lengths to sweep.
    #[arg(short = 'v', long = "sub-vector", value_delimiter = ',', default_values_t = [2, 4, 8])]
    pub sub_vector_lens: Vec<usize>,
    /// Table methods to sweep.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Method::Kmeans, Method::Refit, Method::Learned])]
    pub methods: Vec<Method>,
    /// Training labels (for the learned method).
    #[arg(long, default_value = "tests/data/digits_train_y.npy")]
    pub calibration_labels: PathBuf,
    /// The (K, V) pairs that get a learned row, as KxV (training costs time); `all` for every pair.
    #[arg(long, value_delimiter = ',', default_values_t = ["8x2".to_string(), "16x4".to_string(), "32x8".to_string()])]
    pub learned: Vec<String>,
    /// Epochs of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().epochs)]
    pub epochs: usize,
    /// Adam step size of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().learning_rate)]
    pub learning_rate: f64,
    /// Weight of the learned method's distillation from the float network.
    #[arg(long, default_value_t = LearnOptions::default().distill)]
    pub distill: f64,
    /// Learn free tables (from the refit) instead of tables derived from the centroids and learned weights.
    #[arg(long)]
    pub free_tables: bool,
    /// Run only the first N test vectors on the simulated device (0: no device run).
    #[arg(long, value_name = "N")]
    pub device_limit: Option<usize>,
    /// Seed of the k-means++ seeding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Ridge term of the refit.
    #[arg(long, default_value_t = 1.0)]
    pub ridge: f64,
    /// Write the results as a Markdown table to this file.
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Draw accuracy against table bytes to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One configuration's results.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub k: usize,
    pub v: usize,
    pub method: Method,
    pub table_bytes: usize,
    pub centroid_bytes: usize,
    pub weight_bytes_int8: usize,
    pub accuracy_float: f64,
    pub accuracy_int8: f64,
    pub accuracy_lut_reference: f64,
    /// Over the first `device_vectors` test vectors (all of them unless --device-limit).
    pub accuracy_lut_device: Option<f64>,
    pub device_vectors: usize,
    pub device_matches_reference: bool,
    pub device_cycles: u64,
    pub compile_seconds: f64,
    pub device_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub test_vectors: usize,
    pub calibration_vectors: usize,
    pub note: &'static str,
    pub rows: Vec<Row>,
}

const NOTE: &str =
    "On the device, the whole network runs on the Verilated network top: one engine \
                    per layer, requantization and ReLU between layers in hardware";

pub fn run(args: &EvalArgs) -> Result<bool, Error> {
    let data = args.data.load()?;
    let accuracy_float = data.float_accuracy();
    let Dataset {
        model,
        calibration,
        test,
        labels,
    } = &data;
    let dense = DenseInt8::quantize(model, calibration)?;
    let accuracy_int8 = accuracy(
        &test.iter().map(|x| dense.infer(x)).collect::<Vec<_>>(),
        labels,
    );
    let device_vectors = args.device_limit.unwrap_or(test.len()).min(test.len());
    let train_labels = if args.methods.contains(&Method::Learned) {
        Some(mlp::read_labels(&args.calibration_labels)?)
    } else {
        None
    };
    let learned_pair = |k: usize, v: usize| {
        args.learned
            .iter()
            .any(|p| p == "all" || *p == format!("{k}x{v}"))
    };

    let configs: Vec<(usize, usize, Method)> = args
        .centroids
        .iter()
        .flat_map(|&k| {
            args.sub_vector_lens
                .iter()
                .flat_map(move |&v| args.methods.iter().map(move |&m| (k, v, m)))
        })
        .filter(|&(k, v, m)| m != Method::Learned || learned_pair(k, v))
        .collect();
    let overall = progress_bar(false);
    overall.set_length(configs.len() as u64);
    let mut rows = Vec::new();
    let mut all_match = true;
    for (k, v, method) in configs {
        overall.set_message(format!("K = {k}, V = {v}, {}: compiling", method.name()));
        let options = CompileOptions {
            centroids: k,
            sub_vector_len: v,
            method,
            seed: args.seed,
            ridge: args.ridge,
            learn: LearnOptions {
                epochs: args.epochs,
                learning_rate: args.learning_rate,
                distill: args.distill,
                free_tables: args.free_tables,
                labels: train_labels.clone(),
                ..LearnOptions::default()
            },
            ..CompileOptions::default()
        };
        let started = Instant::now();
        let network = compile::compile(
            model,
            calibration,
            &options,
            &indicatif::ProgressBar::hidden(),
        )?;
        let compile_seconds = started.elapsed().as_secs_f64();
        overall.set_message(format!(
            "K = {k}, V = {v}, {}: {device_vectors} vectors on the simulated device",
            method.name()
        ));
        let score = data.score(&network, device_vectors)?;
        let row = Row {
            k,
            v,
            method,
            table_bytes: network.table_bytes(),
            centroid_bytes: network.centroid_bytes(),
            weight_bytes_int8: model.weight_bytes_int8(),
            accuracy_float,
            accuracy_int8,
            accuracy_lut_reference: score.accuracy_reference,
            accuracy_lut_device: score.device.as_ref().map(|d| d.accuracy),
            device_vectors,
            device_matches_reference: score.device.as_ref().is_none_or(DeviceScore::matches),
            device_cycles: score.device.as_ref().map_or(0, |d| d.cycles),
            compile_seconds,
            device_seconds: score.device.as_ref().map_or(0.0, |d| d.seconds),
        };
        if let Some(d) = score.device.as_ref().filter(|d| !d.matches()) {
            all_match = false;
            overall.println(format!(
                "K = {k}, V = {v}, {}: the device disagrees with the reference on {} of {} vectors",
                method.name(),
                d.mismatched,
                d.vectors
            ));
        }
        rows.push(row);
        overall.inc(1);
    }
    overall.finish_and_clear();
    let report = Report {
        test_vectors: test.len(),
        calibration_vectors: calibration.len(),
        note: NOTE,
        rows,
    };
    if let Some(path) = &args.markdown {
        write(path, markdown(&report))?;
    }
    if let Some(path) = &args.plot {
        plot(path, &report)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serializes")
        );
    } else {
        print!("{}", table(&report));
    }
    Ok(all_match)
}

fn write(path: &Path, text: String) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// The results as a Markdown table (accuracies in percent).
pub fn table(report: &Report) -> String {
    let mut s = String::from(
        "| K | V | method | table bytes | x int8 weights | float % | int8 dense % | LUT reference % | LUT device % |\n\
         | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in &report.rows {
        let device = match r.accuracy_lut_device {
            Some(a) if r.device_vectors == report.test_vectors => pct(a),
            Some(a) => format!("{} (first {})", pct(a), r.device_vectors),
            None => "not run".into(),
        };
        s += &format!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |\n",
            r.k,
            r.v,
            r.method.name(),
            r.table_bytes,
            r.table_bytes as f64 / r.weight_bytes_int8 as f64,
            pct(r.accuracy_float),
            pct(r.accuracy_int8),
            pct(r.accuracy_lut_reference),
            device
        );
    }
    s
}

fn markdown(report: &Report) -> String {
    let all_match = report.rows.iter().all(|r| r.device_matches_reference);
    let device_rows = report.rows.iter().filter(|r| r.device_vectors > 0).count();
    format!(
        "# Accuracy of lookup-table inference on the digits test split\n\n\
         Generated by `lutgen eval --markdown docs/accuracy.md --plot docs/accuracy.svg` \
         (see [compiler.md](compiler.md)). {} test images (one image is {:.2} points), \
         tables calibrated on {} training images; 64-64-10 MLP. `table bytes` counts the int8 \
         table entries of both layers (centroids not included); `x int8 weights` divides it by \
         the {} int8 weight bytes of the dense model.\n\n\
         {}. {} of {} rows ran on the device; {}.\n\n{}\n\
         ![accuracy against table bytes](accuracy.svg)\n",
        report.test_vectors,
        100.0 / report.test_vectors.max(1) as f64,
        report.calibration_vectors,
        report.rows.first().map_or(0, |r| r.weight_bytes_int8),
        NOTE,
        device_rows,
        report.rows.len(),
        if all_match {
            "on every one the device's outputs equal the reference's bit for bit"
        } else {
            "SOME DEVICE ROWS DISAGREE WITH THE REFERENCE (see device_matches_reference)"
        },
        table(report)
    )
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("cannot draw {}: {e}", path.display()))
}

/// Accuracy against table bytes, one series per method, float and int8 as reference lines.
pub fn plot(path: &Path, report: &Report) -> Result<(), Error> {
    use plotters::prelude::*;
    let rows = &report.rows;
    if rows.is_empty() {
        return Ok(());
    }
    let lut = |r: &Row| 100.0 * r.accuracy_lut_device.unwrap_or(r.accuracy_lut_reference);
    let xs: Vec<f64> = rows.iter().map(|r| r.table_bytes as f64).collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let float = 100.0 * rows[0].accuracy_float;
    let int8 = 100.0 * rows[0].accuracy_int8;
    let ymin = rows.iter().map(lut).fold(float.min(int8), f64::min);
    let ymin = (ymin - 2.0).floor().max(0.0);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "digits 64-64-10: accuracy against table bytes",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((xmin / 1.3..xmax * 1.3).log_scale(), ymin..100.0)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_labels(8)
        .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
        .x_desc("table bytes (int8 entries, both layers; log scale)")
        .y_desc("test accuracy (%)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let (x0, x1) = (xmin / 1.3, xmax * 1.3);
    let gray = RGBColor(110, 110, 110);
    chart
        .draw_series(LineSeries::new(
            [(x0, float), (x1, float)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| plot_error(path, e))?
        .label(format!("float ({float:.2}%)"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, int8), (x1, int8)],
            6,
            4,
            gray.stroke_width(2),
        ))
        .map_err(|e| plot_error(path, e))?
        .label(format!("int8 dense ({int8:.2}%)"))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], gray.stroke_width(2)));
    let orange = RGBColor(230, 140, 0);
    let weights = rows[0].weight_bytes_int8 as f64 * 4.0;
    chart
        .draw_series(DashedLineSeries::new(
            [(weights, ymin), (weights, 100.0)],
            4,
            4,
            orange.stroke_width(1),
        ))
        .map_err(|e| plot_error(path, e))?
        .label("4x the int8 weight bytes")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], orange));
    let green = RGBColor(0, 140, 60);
    for (method, color, dx, dy) in [
        (Method::Kmeans, BLUE, -48, -4),
        (Method::Refit, RED, 8, -10),
        (Method::Learned, green, 8, 4),
    ] {
        let points: Vec<(f64, f64, String)> = rows
            .iter()
            .filter(|r| r.method == method)
            .map(|r| (r.table_bytes as f64, lut(r), format!("K{} V{}", r.k, r.v)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let series = chart.draw_series(points.iter().map(|(x, y, _)| {
            EmptyElement::at((*x, *y))
                + match method {
                    Method::Kmeans => Circle::new((0, 0), 4, color.filled()).into_dyn(),
                    Method::Refit => TriangleMarker::new((0, 0), 5, color.filled()).into_dyn(),
                    Method::Learned => {
                        Rectangle::new([(-4, -4), (4, 4)], color.filled()).into_dyn()
                    }
                }
        }));
        series
            .map_err(|e| plot_error(path, e))?
            .label(format!("LUT, {} (device = reference)", method.name()))
            .legend(move |(x, y)| match method {
                Method::Kmeans => Circle::new((x + 10, y), 4, color.filled()).into_dyn(),
                Method::Refit => TriangleMarker::new((x + 10, y), 5, color.filled()).into_dyn(),
                Method::Learned => {
                    Rectangle::new([(x + 6, y - 4), (x + 14, y + 4)], color.filled()).into_dyn()
                }
            });
        chart
            .draw_series(points.iter().map(|(x, y, text)| {
                EmptyElement::at((*x, *y))
                    + Text::new(
                        text.clone(),
                        (dx, dy),
                        ("sans-serif", 10).into_font().color(&color),
                    )
            }))
            .map_err(|e| plot_error(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}
