//! The fidelity suite (issue 21): many models x methods x seeds at one table
//! budget, the gap between float and device accuracy, and its mean and worst
//! per method; as a table, Markdown and a plot. `lutgen suite` runs it.

use crate::error::CompileError;
use crate::eval::{device_sentence, method_color, method_marker, pct, plot_error};
use crate::options::{LayerShape, Method};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `suite.json` as `scripts/models/train_suite.py` writes it (the fields lutgen reads).
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub data: ManifestData,
    pub models: Vec<ManifestModel>,
}

/// The data of a suite: paths relative to the manifest's directory.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestData {
    pub train_x: String,
    pub train_y: String,
    pub test_x: String,
    pub test_y: String,
    pub validation_rule: String,
    /// Rows of the training split held apart: neither calibration nor training.
    pub validation_rows: Vec<usize>,
}

/// One model of a suite.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ManifestModel {
    pub name: String,
    /// The ONNX file, relative to the manifest's directory.
    pub file: String,
    pub architecture: String,
    pub seed: u64,
    pub float_validation_accuracy: f64,
    pub float_test_accuracy: f64,
}

/// The codebook shape a table budget allows: tables at most `budget` times
/// the int8 weight bytes.
///
/// A layer of D inputs and N outputs has D N int8 weights and `(D / V) K N`
/// table entries, `K / V` times as many, whatever D and N: so V is fixed
/// (`sub_vector_len`) and K is the largest power of two (at least 2) with
/// `K / V <= budget`. The same (K, V) fits every model whose layer inputs V
/// divides. Returns `None` when even K = 2 is over the budget.
pub fn budget_shape(budget: f64, sub_vector_len: usize) -> Option<(usize, usize)> {
    let most = budget * sub_vector_len as f64;
    if sub_vector_len == 0 || most < 2.0 {
        return None;
    }
    let mut k = 2usize;
    while ((2 * k) as f64) <= most && 2 * k <= 4096 {
        k *= 2;
    }
    Some((k, sub_vector_len))
}

/// Table entries over int8 weights of a network of layers `dims` (inputs,
/// outputs) with per-layer `shapes`: `sum (D / V) K N / sum D N`.
pub fn shapes_ratio(dims: &[(usize, usize)], shapes: &[LayerShape]) -> f64 {
    let tables: usize = dims
        .iter()
        .zip(shapes)
        .map(|(&(d, n), s)| (d / s.v.max(1)) * s.k * n)
        .sum();
    let weights: usize = dims.iter().map(|&(d, n)| d * n).sum();
    tables as f64 / weights.max(1) as f64
}

/// Checks per-layer `shapes` for layers `dims` (inputs, outputs): one per
/// layer, each V dividing its layer's inputs, K at least 2, and the whole
/// network's tables within `budget` times its int8 weights.
pub fn check_shapes(
    dims: &[(usize, usize)],
    shapes: &[LayerShape],
    budget: f64,
) -> Result<(), String> {
    if shapes.len() != dims.len() {
        return Err(format!(
            "{} layer shapes for a network of {} layers: give one KxV per layer",
            shapes.len(),
            dims.len()
        ));
    }
    for (l, (&(d, _), s)) in dims.iter().zip(shapes).enumerate() {
        if s.k < 2 || s.v == 0 || !d.is_multiple_of(s.v) {
            return Err(format!(
                "layer {l} ({d} inputs): {s} is not a shape for it (K at least 2, V dividing {d})"
            ));
        }
    }
    let ratio = shapes_ratio(dims, shapes);
    if ratio > budget + 1e-9 {
        let list: Vec<String> = shapes.iter().map(LayerShape::to_string).collect();
        return Err(format!(
            "shapes {} make tables {ratio:.2} x the int8 weights, over the budget of {budget}",
            list.join(",")
        ));
    }
    Ok(())
}

/// The shapes a layer of `d` inputs may take in an allocation: K in 8..=64
/// and V in 1..=16 (powers of two, V dividing `d`) with K / V from 2 to 16.
pub fn candidate_shapes(d: usize) -> Vec<LayerShape> {
    let mut out = Vec::new();
    for v in [1usize, 2, 4, 8, 16] {
        for k in [8usize, 16, 32, 64] {
            let r = k / v;
            if d.is_multiple_of(v) && k.is_multiple_of(v) && (2..=16).contains(&r) {
                out.push(LayerShape { k, v });
            }
        }
    }
    out
}

/// The per-layer shapes of least total cost within `budget`: `costs[l]` lists
/// layer l's candidates with their cost (e.g. the validation loss with that
/// layer changed alone); the costs of layers are added. Exhaustive over the
/// candidates' product; ties: the first in order. `None` when no
/// combination fits.
pub fn best_allocation(
    dims: &[(usize, usize)],
    costs: &[Vec<(LayerShape, f64)>],
    budget: f64,
) -> Option<Vec<LayerShape>> {
    let mut best: Option<(f64, Vec<LayerShape>)> = None;
    let mut index = vec![0usize; costs.len()];
    if costs.iter().any(Vec::is_empty) || costs.len() != dims.len() {
        return None;
    }
    loop {
        let shapes: Vec<LayerShape> = index.iter().zip(costs).map(|(&i, c)| c[i].0).collect();
        let cost: f64 = index.iter().zip(costs).map(|(&i, c)| c[i].1).sum();
        if check_shapes(dims, &shapes, budget).is_ok() && best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, shapes));
        }
        // The next index in mixed radix.
        let mut l = 0;
        loop {
            if l == index.len() {
                return best.map(|(_, s)| s);
            }
            index[l] += 1;
            if index[l] < costs[l].len() {
                break;
            }
            index[l] = 0;
            l += 1;
        }
    }
}

/// One model x method x seed.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteRow {
    pub model: String,
    pub method: Method,
    pub seed: u64,
    pub k: usize,
    pub v: usize,
    /// Each layer's KxV, comma-separated (K and V above are the first layer's).
    pub shapes: String,
    /// Engine lanes of every layer: the fewest (a power of two) that fit its tables.
    pub lanes: usize,
    pub table_bytes: usize,
    pub weight_bytes_int8: usize,
    /// `table_bytes / weight_bytes_int8`.
    pub table_ratio: f64,
    /// The float model (the ONNX graph, run by tract) on the test split.
    pub accuracy_float: f64,
    /// The lookup network in the integer reference, on the whole test split.
    pub accuracy_reference: Option<f64>,
    /// The simulated network top, on the first `device_vectors` test vectors.
    pub accuracy_device: Option<f64>,
    pub device_vectors: usize,
    /// The device's outputs equal the reference's on every vector it ran.
    pub device_matches_reference: bool,
    /// The lookup network in the integer reference on the validation rows.
    pub accuracy_reference_validation: Option<f64>,
    /// `100 * (accuracy_float - accuracy_device)`, in points, over the whole
    /// test split: the device's accuracy when it ran every test vector, else
    /// the reference's (equal to the device's bit for bit on those it ran).
    pub gap_points: Option<f64>,
    /// `device` or `reference`: which accuracy `gap_points` uses.
    pub gap_of: &'static str,
    /// Why the compiler refused this method on this model (no accuracies then).
    pub refused: Option<String>,
    pub compile_seconds: f64,
    pub device_seconds: f64,
}

/// One model's float figures, beside its rows.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteModel {
    pub name: String,
    pub architecture: String,
    /// Widths, as `64-128-64-10 MLP`.
    pub shape: String,
    /// The seed the model was trained with.
    pub training_seed: u64,
    pub weight_bytes_int8: usize,
    /// The ONNX graph's own test accuracy (tract).
    pub accuracy_float: f64,
    /// PyTorch's, from the manifest (must equal the graph's).
    pub accuracy_float_pytorch: f64,
    pub accuracy_float_validation: f64,
    /// The int8 dense baseline (same input quantization and requantization).
    pub accuracy_int8: f64,
}

/// The gaps of one method over the suite.
#[derive(Clone, Debug, Serialize)]
pub struct MethodSummary {
    pub method: Method,
    /// Model x seed rows with a gap.
    pub rows: usize,
    /// Rows the compiler refused (e.g. `learned` on a non-ReLU model).
    pub refused: usize,
    pub mean_gap_points: Option<f64>,
    pub worst_gap_points: Option<f64>,
    /// The model and seed of the worst gap.
    pub worst_model: Option<String>,
    pub worst_seed: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub command: String,
    pub budget: f64,
    pub k: usize,
    pub v: usize,
    /// `--layer-shapes`: `uniform`, `auto` or a list (each row has its own shapes).
    pub layer_shapes: String,
    pub table_bits: u32,
    pub group_inputs: bool,
    pub seeds: Vec<u64>,
    pub test_vectors: usize,
    pub calibration_vectors: usize,
    pub validation_vectors: usize,
    pub validation_rule: String,
    pub plot_link: Option<String>,
    pub seconds: f64,
    pub note: &'static str,
    pub models: Vec<SuiteModel>,
    pub rows: Vec<SuiteRow>,
    pub summary: Vec<MethodSummary>,
}

/// The mean and worst gap of each of `methods` over `rows`.
pub fn summarize(rows: &[SuiteRow], methods: &[Method]) -> Vec<MethodSummary> {
    methods
        .iter()
        .map(|&method| {
            let of: Vec<&SuiteRow> = rows.iter().filter(|r| r.method == method).collect();
            let gaps: Vec<(&SuiteRow, f64)> = of
                .iter()
                .filter_map(|r| r.gap_points.map(|g| (*r, g)))
                .collect();
            let worst = gaps
                .iter()
                .copied()
                .fold(None::<(&SuiteRow, f64)>, |best, (r, g)| match best {
                    Some((_, b)) if b >= g => best,
                    _ => Some((r, g)),
                });
            MethodSummary {
                method,
                rows: gaps.len(),
                refused: of.iter().filter(|r| r.refused.is_some()).count(),
                mean_gap_points: (!gaps.is_empty())
                    .then(|| gaps.iter().map(|(_, g)| g).sum::<f64>() / gaps.len() as f64),
                worst_gap_points: worst.map(|(_, g)| g),
                worst_model: worst.map(|(r, _)| r.model.clone()),
                worst_seed: worst.map(|(r, _)| r.seed),
            }
        })
        .collect()
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("-".into(), pct)
}

fn opt_points(x: Option<f64>) -> String {
    x.map_or("-".into(), |g| format!("{g:.2}"))
}

/// The per-method summary as a Markdown table.
pub fn summary_table(report: &SuiteReport) -> String {
    let mut s = String::from(
        "| method | rows | refused | mean gap (points) | worst gap (points) | worst at |\n\
         | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for m in &report.summary {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            m.method.name(),
            m.rows,
            m.refused,
            opt_points(m.mean_gap_points),
            opt_points(m.worst_gap_points),
            match (&m.worst_model, m.worst_seed) {
                (Some(model), Some(seed)) => format!("{model}, seed {seed}"),
                _ => "-".into(),
            }
        );
    }
    s
}

/// Every row as a Markdown table (accuracies in percent, gaps in points).
pub fn rows_table(report: &SuiteReport) -> String {
    let mut s = String::from(
        "| model | method | seed | KxV per layer | x int8 weights | float % | reference % | device % | gap (points) |\n\
         | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in &report.rows {
        let device = match r.accuracy_device {
            Some(a) if r.device_vectors == report.test_vectors => pct(a),
            Some(a) => format!("{} (first {})", pct(a), r.device_vectors),
            None if r.refused.is_some() => "-".into(),
            None => "not run".into(),
        };
        let gap = match (&r.refused, r.gap_points) {
            (Some(_), _) => "refused".into(),
            (None, Some(g)) if r.gap_of == "reference" => format!("{g:.2} (ref.)"),
            (None, g) => opt_points(g),
        };
        let ratio = if r.refused.is_some() {
            "-".into()
        } else {
            format!("{:.2}", r.table_ratio)
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.model,
            r.method.name(),
            r.seed,
            r.shapes,
            ratio,
            pct(r.accuracy_float),
            opt_pct(r.accuracy_reference),
            device,
            gap
        );
    }
    s
}

/// The models as a Markdown table.
pub fn models_table(report: &SuiteReport) -> String {
    let mut s = String::from(
        "| model | architecture | int8 weight bytes | float % (tract) | float % (PyTorch) | float validation % | int8 dense % |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for m in &report.models {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            m.name,
            m.architecture,
            m.weight_bytes_int8,
            pct(m.accuracy_float),
            pct(m.accuracy_float_pytorch),
            pct(m.accuracy_float_validation),
            pct(m.accuracy_int8)
        );
    }
    s
}

/// What the command prints: the summary, then every row.
pub fn table(report: &SuiteReport) -> String {
    format!("{}\n{}", summary_table(report), rows_table(report))
}

/// The report as a Markdown page.
pub fn markdown(report: &SuiteReport) -> String {
    let all_match = report.rows.iter().all(|r| r.device_matches_reference);
    let device_rows = report.rows.iter().filter(|r| r.device_vectors > 0).count();
    let compiled = report.rows.iter().filter(|r| r.refused.is_none()).count();
    let plot = report.plot_link.as_ref().map_or(String::new(), |link| {
        format!("\n![gap between float and device accuracy per model]({link})\n")
    });
    let seeds: Vec<String> = report.seeds.iter().map(u64::to_string).collect();
    format!(
        "# Fidelity over the model suite\n\n\
         Generated by `{}` in {:.0} s (see [compiler.md](compiler.md#the-fidelity-suite-lutgen-suite)). \
         Every model of `{}` is compiled with every method at seeds {} and a table budget of \
         {} x the int8 weight bytes: {} (a layer's tables are K / V times its int8 \
         weights), {}-bit tables{}. Tables are calibrated and trained on the {} training rows of the training split; \
         the {} validation rows ({}) are held apart; {} test vectors (one is {:.2} points).\n\n\
         The gap is float minus device accuracy on the test split, in points. {}. {}.\n\n\
         ## Gap per method\n\n{}\n\
         ## Models\n\n{}\n\
         ## Every row\n\n{}{plot}",
        report.command,
        report.seconds,
        report.suite,
        seeds.join(", "),
        report.budget,
        match report.layer_shapes.as_str() {
            "uniform" => format!("K = {}, V = {} in every layer", report.k, report.v),
            "auto" => "each layer's K and V chosen per model on the validation rows \
                       (`--layer-shapes auto`; the rows give them)"
                .to_string(),
            list => format!("K x V per layer {list}"),
        },
        report.table_bits,
        if report.group_inputs {
            ", hidden units grouped by correlation for the next layer's codebooks (`--group-inputs`)"
        } else {
            ""
        },
        report.calibration_vectors,
        report.validation_vectors,
        report.validation_rule,
        report.test_vectors,
        100.0 / report.test_vectors.max(1) as f64,
        report.note,
        device_sentence(device_rows, compiled, all_match, "compiled rows"),
        summary_table(report),
        models_table(report),
        rows_table(report),
    )
}

/// The markers around a section `name` of a Markdown page (`lutgen suite --section`).
fn section_markers(name: &str) -> (String, String) {
    (
        format!("<!-- lutgen suite section {name} -->"),
        format!("<!-- end of lutgen suite section {name} -->"),
    )
}

/// The sections (`--section`) of an existing page, in order: each with its markers.
pub fn sections_of(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<!-- lutgen suite section ") {
        let after = &rest[start + "<!-- lutgen suite section ".len()..];
        let Some(close) = after.find(" -->") else {
            break;
        };
        let name = after[..close].to_string();
        let (_, end) = section_markers(&name);
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        out.push((name, rest[start..stop].to_string()));
        rest = &rest[stop..];
    }
    out
}

/// `report` as section `name` of a page: its headings one level down, between markers.
pub fn markdown_section(report: &SuiteReport, name: &str) -> String {
    let (start, end) = section_markers(name);
    let body: String = markdown(report)
        .lines()
        .map(|l| {
            if l == "# Fidelity over the model suite" {
                format!("## Fidelity over the model suite: {name}\n")
            } else if l.starts_with('#') {
                format!("#{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    format!("{start}\n{}{end}", body.trim_end().to_string() + "\n")
}

/// The page `page` (what a run writes) with `section` (name, text) in place
/// of the section of that name, or after the page when it has none.
pub fn with_section(page: &str, name: &str, section: &str) -> String {
    match sections_of(page).into_iter().find(|(n, _)| n == name) {
        Some((_, old)) => page.replacen(&old, section, 1),
        None => format!("{}\n\n{section}\n", page.trim_end()),
    }
}

/// The note every suite report carries.
pub const NOTE: &str = "The device is the Verilated network top (one engine per layer, \
                        requantization and activation tables in hardware); `learned` trains \
                        through every activation (the device's requantization and table \
                        forward, the float activation's slope backward)";

/// The gap of every row against its model, one marker per seed, methods side
/// by side, with the 1-point line of the goal.
pub fn plot(path: &Path, report: &SuiteReport) -> Result<(), CompileError> {
    use plotters::prelude::*;
    let names: Vec<&str> = report.models.iter().map(|m| m.name.as_str()).collect();
    let gaps: Vec<f64> = report.rows.iter().filter_map(|r| r.gap_points).collect();
    if names.is_empty() || gaps.is_empty() {
        return Ok(());
    }
    // Room above the highest point for the legend.
    let ymax = gaps.iter().copied().fold(1.5f64, f64::max).ceil() + 2.0;
    let ymin = gaps.iter().copied().fold(0.0f64, f64::min).floor() - 0.5;
    let n = names.len() as f64;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "float - device accuracy at tables <= {}x the int8 weights (K = {}, V = {})",
                report.budget, report.k, report.v
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..n - 0.5, ymin..ymax)
        .map_err(|e| plot_error(path, e))?;
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].to_string()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_labels(names.len() * 2 + 1)
        .x_label_formatter(&label)
        .x_desc("model")
        .y_desc("gap (points of test accuracy)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let orange = RGBColor(230, 140, 0);
    chart
        .draw_series(DashedLineSeries::new(
            [(-0.5, 1.0), (n - 0.5, 1.0)],
            6,
            4,
            orange.stroke_width(1),
        ))
        .map_err(|e| plot_error(path, e))?
        .label("1 point (the goal for learned)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], orange));
    chart
        .draw_series(LineSeries::new(
            [(-0.5, 0.0), (n - 0.5, 0.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| plot_error(path, e))?;
    let methods: Vec<Method> = report.summary.iter().map(|s| s.method).collect();
    let width = 0.6 / methods.len().max(1) as f64;
    for (mi, summary) in report.summary.iter().enumerate() {
        let method = summary.method;
        let color = method_color(method);
        let offset = (mi as f64 - (methods.len() as f64 - 1.0) / 2.0) * width;
        let points: Vec<(f64, f64)> = report
            .rows
            .iter()
            .filter(|r| r.method == method)
            .filter_map(|r| {
                let i = names.iter().position(|n| *n == r.model)?;
                Some((i as f64 + offset, r.gap_points?))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        // The mean over seeds per model, as a short bar.
        for (i, _) in names.iter().enumerate() {
            let x = i as f64 + offset;
            let of: Vec<f64> = points
                .iter()
                .filter(|(px, _)| (px - x).abs() < 1e-9)
                .map(|p| p.1)
                .collect();
            if of.is_empty() {
                continue;
            }
            let mean = of.iter().sum::<f64>() / of.len() as f64;
            chart
                .draw_series(LineSeries::new(
                    [(x - width * 0.45, mean), (x + width * 0.45, mean)],
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_error(path, e))?;
        }
        let series = chart.draw_series(
            points
                .iter()
                .map(|&(x, y)| EmptyElement::at((x, y)) + method_marker(method, (0, 0), 3)),
        );
        series
            .map_err(|e| plot_error(path, e))?
            .label(format!(
                "{}: mean {} points, worst {} (bar: mean over seeds)",
                method.name(),
                opt_points(summary.mean_gap_points),
                opt_points(summary.worst_gap_points)
            ))
            .legend(move |(x, y)| method_marker(method, (x + 10, y), 3));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_fixes_k_over_v() {
        assert_eq!(budget_shape(4.0, 4), Some((16, 4)));
        assert_eq!(budget_shape(4.0, 2), Some((8, 2)));
        assert_eq!(budget_shape(3.0, 4), Some((8, 4)));
        assert_eq!(budget_shape(0.5, 4), Some((2, 4)));
        assert_eq!(budget_shape(0.25, 4), None);
    }

    fn sh(k: usize, v: usize) -> LayerShape {
        LayerShape { k, v }
    }

    #[test]
    fn per_layer_shapes_are_checked_against_the_layers_and_the_budget() {
        let dims = [(64, 128), (128, 10)];
        assert!(check_shapes(&dims, &[sh(16, 4), sh(16, 4)], 4.0).is_ok());
        assert!((shapes_ratio(&dims, &[sh(16, 4), sh(64, 4)]) - 5.62).abs() < 0.01);
        // Over the budget: refused, naming the ratio.
        let err = check_shapes(&dims, &[sh(16, 4), sh(64, 4)], 4.0).unwrap_err();
        assert!(
            err.contains("5.62 x") && err.contains("over the budget"),
            "{err}"
        );
        // A V that does not divide the layer's inputs.
        let err = check_shapes(&[(64, 10), (12, 10)], &[sh(16, 4), sh(40, 8)], 4.0).unwrap_err();
        assert!(err.contains("layer 1 (12 inputs): 40x8"), "{err}");
        // One shape per layer.
        assert!(check_shapes(&dims, &[sh(16, 4)], 4.0).is_err());
        // K below 2.
        assert!(check_shapes(&dims, &[sh(1, 1), sh(16, 4)], 4.0).is_err());
    }

    #[test]
    fn sections_are_kept_and_replaced() {
        let page = "# Page\n\ntext\n";
        let one = format!(
            "{}\nbody 1\n{}",
            section_markers("4-bit").0,
            section_markers("4-bit").1
        );
        let a = with_section(page, "4-bit", &one);
        assert_eq!(sections_of(&a), vec![("4-bit".to_string(), one.clone())]);
        assert!(a.starts_with("# Page\n\ntext\n\n<!--"));
        // Replaced in place, once.
        let two = one.replace("body 1", "body 2");
        let b = with_section(&a, "4-bit", &two);
        assert!(b.contains("body 2") && !b.contains("body 1"), "{b}");
        assert_eq!(sections_of(&b).len(), 1);
        // A new page keeps the old page's sections when they are carried over.
        let fresh = "# Page\n\nnew text\n";
        let c = sections_of(&b)
            .iter()
            .fold(fresh.to_string(), |p, (n, t)| with_section(&p, n, t));
        assert!(c.contains("new text") && c.contains("body 2"), "{c}");
    }

    #[test]
    fn layer_shapes_parse_and_refuse_nonsense() {
        assert_eq!("32x8".parse::<LayerShape>(), Ok(sh(32, 8)));
        for bad in ["32", "x8", "1x4", "16x0", "16x-1", "axb"] {
            assert!(bad.parse::<LayerShape>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allocation_spends_the_budget_where_it_lowers_the_cost() {
        // A large first layer and a small last one: the last can take 16x
        // while the first drops to 2x, if that lowers the summed cost.
        let dims = [(64, 128), (128, 10)];
        let costs = vec![
            vec![(sh(16, 4), 1.0), (sh(8, 4), 1.1)],
            vec![(sh(16, 4), 1.0), (sh(64, 4), 0.5)],
        ];
        assert_eq!(
            best_allocation(&dims, &costs, 4.0),
            Some(vec![sh(8, 4), sh(64, 4)])
        );
        // Nothing fits: None.
        let costs = vec![vec![(sh(64, 4), 0.0)], vec![(sh(64, 4), 0.0)]];
        assert_eq!(best_allocation(&dims, &costs, 4.0), None);
        // Candidates: V divides the layer, K / V from 2 to 16.
        let c = candidate_shapes(12);
        assert!(c.contains(&sh(16, 4)) && c.contains(&sh(16, 1)) && !c.contains(&sh(64, 8)));
        assert!(!c.contains(&sh(8, 8)) && !c.contains(&sh(64, 2)));
    }

    fn row(model: &str, method: Method, seed: u64, gap: Option<f64>) -> SuiteRow {
        SuiteRow {
            model: model.into(),
            method,
            seed,
            k: 16,
            v: 4,
            shapes: "16x4".into(),
            lanes: 1,
            table_bytes: 4,
            weight_bytes_int8: 1,
            table_ratio: 4.0,
            accuracy_float: 0.9,
            accuracy_reference: gap.map(|g| 0.9 - g / 100.0),
            accuracy_device: None,
            device_vectors: 0,
            device_matches_reference: true,
            accuracy_reference_validation: None,
            gap_points: gap,
            gap_of: "reference",
            refused: gap.is_none().then(|| "no".to_string()),
            compile_seconds: 0.0,
            device_seconds: 0.0,
        }
    }

    #[test]
    fn the_summary_takes_the_mean_and_the_worst_and_counts_refusals() {
        let rows = [
            row("a", Method::Kmeans, 0, Some(1.0)),
            row("b", Method::Kmeans, 1, Some(3.0)),
            row("a", Method::Learned, 0, Some(0.5)),
            row("b", Method::Learned, 0, None),
        ];
        let s = summarize(&rows, &[Method::Kmeans, Method::Refit, Method::Learned]);
        assert_eq!(s[0].mean_gap_points, Some(2.0));
        assert_eq!(s[0].worst_gap_points, Some(3.0));
        assert_eq!(s[0].worst_model.as_deref(), Some("b"));
        assert_eq!(s[0].worst_seed, Some(1));
        assert_eq!((s[1].rows, s[1].mean_gap_points), (0, None));
        assert_eq!((s[2].rows, s[2].refused), (1, 1));
        assert_eq!(s[2].mean_gap_points, Some(0.5));
    }
}
