//! `lutgen eval`: what the lookups cost in accuracy, from float to the simulated device.
//!
//! For each K, V and method: compile the model on the training split, then on
//! the test split measure the float model, the int8 dense baseline, the
//! lookup-table network in the integer reference, and the same network on
//! the Verilated network top (every layer on the device, requantization and
//! ReLU in hardware). The device's outputs must equal the reference's bit for
//! bit; any difference fails the command.

use super::dataset::{score, Dataset, DatasetArgs, DeviceScore};
use crate::error::Error;
use crate::learn_args::LearnArgs;
use crate::output::task_bar;
use crate::port::LinkArgs;
use crate::vectors::NetworkInputs;
use clap::Args;
use lutgen_compile::dense::DenseInt8;
use lutgen_compile::eval::{markdown, plot, table, Report, Row, NOTE};
use lutgen_compile::{self as compile, accuracy, mlp, CompileOptions, Method};
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
    #[command(flatten)]
    pub learn: LearnArgs,
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
    /// Score a compiled network file (`lutgen compile`'s output) on
    /// `--test-x`/`--test-y`, in the reference and on the simulated device,
    /// without recompiling; `--weights` adds the float model's accuracy.
    #[arg(long, value_name = "FILE.lutnet", conflicts_with_all = [
        "centroids", "sub_vector_lens", "methods", "learned", "epochs", "learning_rate",
        "distill", "mixup", "free_tables", "seed", "ridge", "plot", "calibration_labels"
    ])]
    pub network: Option<PathBuf>,
    /// With --network: take the device column from a board running the
    /// network device for the file's layers (or the pseudo-terminal of
    /// `lutgen board --sim --network`) instead of the simulated network top.
    #[arg(long, value_name = "PATH", requires = "network")]
    pub port: Option<String>,
    /// Baud rate of --port (must match the bitstream).
    #[arg(long, default_value_t = 115_200, requires = "port")]
    pub baud: u32,
    /// How hard to try for each reply from --port (default: as `lutgen run`).
    #[command(flatten)]
    pub link: Option<LinkArgs>,
    /// Load the network file into the board first.
    #[arg(long, requires = "port")]
    pub load: bool,
}

impl EvalArgs {
    /// Refuses `--timeout`/`--retries` without the board they are for.
    pub fn check_link(&self) -> Result<(), Error> {
        if self.link.is_some() && self.port.is_none() {
            return Err(Error::Usage(
                "--timeout and --retries are for a board's replies: add --network FILE.lutnet \
                 --port PATH, or drop them"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The command line as typed, for the reports to say how they were made.
pub fn command_line() -> String {
    let mut words = vec!["lutgen".to_string()];
    // An argument with a space (`--section "4-bit tables"`) quoted, so the line runs as written.
    words.extend(std::env::args().skip(1).map(|a| {
        if a.contains(char::is_whitespace) {
            format!("\"{a}\"")
        } else {
            a
        }
    }));
    words.join(" ")
}

/// `plot` as the Markdown file at `markdown` links it: relative to the
/// Markdown file's directory.
pub fn plot_link(markdown: &Path, plot: &Path) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = absolute(markdown)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    pathdiff::diff_paths(absolute(plot), dir)
        .unwrap_or_else(|| plot.to_path_buf())
        .display()
        .to_string()
}

/// The sweep (`lutgen eval` without `--network`; see `eval_network` for a compiled file).
pub fn run(args: &EvalArgs) -> Result<bool, Error> {
    args.check_link()?;
    let data = args.data.load()?;
    let accuracy_float = data.float_accuracy()?;
    let Dataset {
        source,
        calibration,
        test,
        labels,
    } = &data;
    let model = &source.mlp;
    // The test split is quantized with the calibration set's range: say so
    // when much of it falls outside (the two splits are scaled differently).
    let input = compile::input_quantization(calibration);
    let clipped: usize = test.iter().map(|x| input.clipped(x)).sum();
    let values = test.iter().map(Vec::len).sum::<usize>();
    if clipped as f64 > NetworkInputs::CLIPPED_WARNING * values as f64 {
        eprintln!(
            "warning: {clipped} of {values} test input values lie outside the calibration \
             set's range and are clipped: scale the test inputs as the calibration inputs"
        );
    }
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
    let overall = task_bar(false);
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
            learn: args.learn.options(train_labels.clone()),
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
        let score = score(&data, &network, device_vectors)?;
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
        model: format!(
            "{} ({})",
            model.shape_name(),
            args.data
                .weights
                .as_deref()
                .unwrap_or(Path::new(super::dataset::DEFAULT_MODEL))
                .display()
        ),
        command: command_line(),
        plot_link: match (&args.markdown, &args.plot) {
            (Some(md), Some(plot)) => Some(plot_link(md, plot)),
            _ => None,
        },
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
        crate::output::print_json(&report);
    } else {
        print!("{}", table(&report));
    }
    Ok(all_match)
}

pub fn write(path: &Path, text: String) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
