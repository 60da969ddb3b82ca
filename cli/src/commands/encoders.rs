//! `lutgen encoders`: every encoder on the same model, side by side.
//!
//! For each encoder: compile the model with that encoder in every layer,
//! then measure on the test split the accuracy in the integer reference and
//! on the Verilated engine (which must agree bit for bit), the engine cycles
//! per inference, the search work the encoder does per inference, and,
//! with `--board`, logic cells and Fmax of the last layer's engine (64 inputs, 10 outputs on the digits model, small enough for an iCE40) from the
//! open synthesis and place-and-route flow.

use super::dataset::{score, score_latency, Dataset, DatasetArgs};
use crate::engine_args::parse_encoder;
use crate::error::Error;
use crate::output::task_bar;
use clap::Args;
use lutgen_board::report::{build, BuildOptions};
use lutgen_board::top::{EngineKind, Top};
use lutgen_board::Board;
use lutgen_compile::soft::{soft_sign_accuracy, SoftSignResult};
use lutgen_compile::{self as compile, CompileOptions, Method};
use lutgen_core::{EncoderKind, EngineConfig, Network};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Compare the encoders (accuracy, table bytes, cycles, search work, and optionally logic and Fmax) on one model.
#[derive(Args, Debug)]
pub struct EncodersArgs {
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Encoders to compare.
    #[arg(long, value_delimiter = ',', default_value = "l2,l1,two-level,tree,sign", value_parser = parse_encoder)]
    pub encoders: Vec<EncoderKind>,
    /// Centroids per codebook K of `l2`, `l1` and `two-level` (`tree` has 16 leaves, `sign` 2^V rows).
    #[arg(short = 'k', long, default_value_t = 16)]
    pub centroids: usize,
    /// Sub-vector length V.
    #[arg(short = 'v', long = "sub-vector", default_value_t = 4)]
    pub sub_vector_len: usize,
    /// How tables are made.
    #[arg(long, value_enum, default_value_t = Method::Refit)]
    pub method: Method,
    /// Engine lanes per layer (large K needs more: each lane's table memory holds at most 65,536 words).
    #[arg(long, default_value_t = 1)]
    pub lanes: usize,
    /// Run only the first N test vectors on the simulated device (0: no device run).
    #[arg(long, value_name = "N")]
    pub device_limit: Option<usize>,
    /// Also synthesize, place and route the last layer's engine for this board (slow: minutes per encoder).
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// Where the board builds go.
    #[arg(long, default_value = "build/encoders")]
    pub build_dir: PathBuf,
    /// Write the results as Markdown to this file.
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One encoder's results.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderRow {
    pub encoder: EncoderKind,
    /// Rows per codebook.
    pub k: usize,
    pub v: usize,
    /// `two-level`: cluster centres per codebook (1 otherwise).
    pub clusters: usize,
    pub table_bytes: usize,
    /// Centroids, centres, weights, split dimensions and thresholds.
    pub encoder_bytes: usize,
    pub accuracy_lut_reference: f64,
    pub accuracy_lut_device: Option<f64>,
    pub device_vectors: usize,
    pub device_matches_reference: bool,
    /// Steady-state cycles per inference on the network top (both layers in hardware).
    pub cycles_per_inference: Option<f64>,
    /// Cycles from a lone vector's first input to its last output on the network top.
    pub latency_cycles: Option<u64>,
    /// Distance computations per inference (all layers): C * K for `l2`/`l1`,
    /// C * (G + K/G) for `two-level`, none for `tree` and `sign`.
    pub distances_per_inference: usize,
    /// Distance units in the hardware (all layers).
    pub distance_units: usize,
    /// Threshold comparisons per inference (`tree`: 4 per codebook).
    pub comparisons_per_inference: usize,
    pub board: Option<String>,
    pub logic_cells: Option<u64>,
    pub block_rams: Option<u64>,
    pub fmax_mhz: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct EncodersReport {
    pub test_vectors: usize,
    pub calibration_vectors: usize,
    pub accuracy_float: f64,
    pub method: Method,
    pub rows: Vec<EncoderRow>,
    /// MemoryFormer's soft weighting of sign-hash rows, measured in software.
    pub soft_sign: Option<SoftSignResult>,
}

/// Bytes of everything an encoder stores besides the tables.
fn encoder_bytes(network: &Network) -> usize {
    network
        .layers()
        .iter()
        .map(|l| {
            let p = l.image.params();
            l.image.centroids().len()
                + p.centres.len()
                + p.weights.len()
                + p.split_dims.len()
                + p.thresholds.len()
        })
        .sum()
}

fn search_work(config: &EngineConfig) -> (usize, usize, usize) {
    let c = config.codebooks;
    let comparisons = match config.encoder {
        EncoderKind::Tree => c * lutgen_core::config::TREE_DEPTH,
        _ => 0,
    };
    (
        c * config.distances_per_codebook(),
        config.distance_units(),
        comparisons,
    )
}

pub fn run(args: &EncodersArgs) -> Result<bool, Error> {
    let data = args.data.load()?;
    let accuracy_float = data.float_accuracy()?;
    let Dataset {
        source,
        calibration,
        test,
        labels,
    } = &data;
    let model = &source.mlp;
    let board = args
        .board
        .as_deref()
        .map(Board::find)
        .transpose()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let device_vectors = args.device_limit.unwrap_or(test.len()).min(test.len());

    let overall = task_bar(args.json);
    overall.set_length(args.encoders.len() as u64);
    let mut rows = Vec::new();
    let mut all_match = true;
    for &encoder in &args.encoders {
        overall.set_message(format!("{encoder}: compiling"));
        let options = CompileOptions {
            centroids: args.centroids,
            sub_vector_len: args.sub_vector_len,
            method: args.method,
            encoders: vec![encoder],
            lanes: args.lanes,
            ..CompileOptions::default()
        };
        let network = compile::compile(
            model,
            calibration,
            &options,
            &indicatif::ProgressBar::hidden(),
        )?;
        overall.set_message(format!(
            "{encoder}: {device_vectors} vectors on the simulated device"
        ));
        let score = score(&data, &network, device_vectors)?;
        let first = network.layers()[0].image.config();
        let last = network.layers()[network.layers().len() - 1].image.config();
        let (mut distances, mut units, mut comparisons) = (0, 0, 0);
        for layer in network.layers() {
            let (dist, unit, comp) = search_work(layer.image.config());
            distances += dist;
            units += unit;
            comparisons += comp;
        }
        let mut row = EncoderRow {
            encoder,
            k: first.centroids,
            v: first.sub_vector_len(),
            clusters: first.clusters(),
            table_bytes: network.table_bytes(),
            encoder_bytes: encoder_bytes(&network),
            accuracy_lut_reference: score.accuracy_reference,
            accuracy_lut_device: None,
            device_vectors,
            device_matches_reference: true,
            cycles_per_inference: None,
            latency_cycles: None,
            distances_per_inference: distances,
            distance_units: units,
            comparisons_per_inference: comparisons,
            board: None,
            logic_cells: None,
            block_rams: None,
            fmax_mhz: None,
        };
        if let Some(d) = &score.device {
            row.device_matches_reference = d.matches();
            if !d.matches() {
                all_match = false;
                overall.println(format!(
                    "{encoder}: the device disagrees with the reference on {} of {} vectors",
                    d.mismatched, d.vectors
                ));
            }
            row.accuracy_lut_device = Some(d.accuracy);
            row.cycles_per_inference = Some(d.cycles_per_inference);
            let lone = score_latency(&data, &network)?;
            row.latency_cycles = Some(lone);
        }
        if let Some(board) = &board {
            overall.set_message(format!(
                "{encoder}: synthesis, place and route on {}",
                board.name
            ));
            let out_dir = args
                .build_dir
                .join(board.name.as_str())
                .join(encoder.name());
            let report = build(
                board,
                EngineKind::Lut,
                &Top::Engine(last.clone()),
                &BuildOptions {
                    out_dir,
                    force: true,
                    sim_vectors: 8,
                    seed: lutgen_board::flow::DEFAULT_SEED,
                    more_seeds: 0,
                },
            )
            .map_err(|e| Error::Usage(e.to_string()))?;
            row.board = Some(board.name.clone());
            row.logic_cells = Some(report.logic_cells);
            row.block_rams = Some(report.block_rams);
            row.fmax_mhz = report.fmax_mhz;
        }
        rows.push(row);
        overall.inc(1);
    }
    let soft_sign = if args.encoders.contains(&EncoderKind::Sign) {
        overall.set_message("sign: soft weighting (software)");
        Some(soft_sign_accuracy(
            model,
            calibration,
            test,
            labels,
            args.sub_vector_len,
        ))
    } else {
        None
    };
    overall.finish_and_clear();
    let report = EncodersReport {
        test_vectors: test.len(),
        calibration_vectors: calibration.len(),
        accuracy_float,
        method: args.method,
        rows,
        soft_sign,
    };
    if let Some(path) = &args.markdown {
        write(path, &markdown(&report))?;
    }
    if args.json {
        crate::output::print_json(&report);
    } else {
        print!("{}", table(&report));
        if let Some(soft) = &report.soft_sign {
            println!("\n{}", soft.describe());
        }
    }
    Ok(all_match)
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

fn or_dash<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or_else(|| "-".into(), |x| x.to_string())
}

/// The comparison as a Markdown table.
pub fn table(report: &EncodersReport) -> String {
    let mut s = String::from(
        "| encoder | K | V | table bytes | encoder bytes | LUT reference % | LUT device % | cycles / inference | latency cycles | distances / inference | distance units | comparisons / inference | logic cells | BRAM | Fmax MHz |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in &report.rows {
        let device = match r.accuracy_lut_device {
            Some(a) if r.device_vectors == report.test_vectors => pct(a),
            Some(a) => format!("{} (first {})", pct(a), r.device_vectors),
            None => "not run".into(),
        };
        let name = match r.encoder {
            EncoderKind::TwoLevel => format!("two-level (G = {})", r.clusters),
            e => e.name().to_string(),
        };
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} | {device} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.k,
            r.v,
            r.table_bytes,
            r.encoder_bytes,
            pct(r.accuracy_lut_reference),
            or_dash(r.cycles_per_inference.map(|c| format!("{c:.0}"))),
            or_dash(r.latency_cycles),
            r.distances_per_inference,
            r.distance_units,
            r.comparisons_per_inference,
            or_dash(r.logic_cells),
            or_dash(r.block_rams),
            or_dash(r.fmax_mhz.map(|f| format!("{f:.1}"))),
        );
    }
    s
}

fn markdown(report: &EncodersReport) -> String {
    let all_match = report.rows.iter().all(|r| r.device_matches_reference);
    let mut s = format!(
        "# Encoders compared on the digits model\n\n\
         Generated by `lutgen encoders --markdown docs/encoders.md{}` (see \
         [compiler.md](compiler.md#encoders)). 64-64-10 MLP, float accuracy {}%; every layer \
         uses the encoder of its row, tables by the `{}` method; {} test images (one image is \
         {:.2} points), calibrated on {} training images. Cycles are the Verilated network top's \
         (both layers in hardware, overlapped; steady state per inference, and the latency of one \
         vector alone); hardware columns \
         are the last layer's engine (64 inputs, 10 outputs) out of context, the layer that fits \
         an iCE40-HX8K's block RAM. {}.\n\n{}",
        report
            .rows
            .iter()
            .find_map(|r| r.board.as_ref())
            .map_or(String::new(), |b| format!(" --board {b}")),
        pct(report.accuracy_float),
        report.method.name(),
        report.test_vectors,
        100.0 / report.test_vectors.max(1) as f64,
        report.calibration_vectors,
        if all_match {
            "On every row the device's outputs equal the reference's bit for bit"
        } else {
            "SOME ROWS DISAGREE WITH THE REFERENCE (see device_matches_reference)"
        },
        table(report)
    );
    if let Some(soft) = &report.soft_sign {
        s += &format!(
            "\n## MemoryFormer's soft weighting (software only)\n\n{}\n",
            soft.describe()
        );
    }
    s
}
