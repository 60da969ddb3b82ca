//! A sweep of configurations on several boards (`lutgen report`): the LUT
//! engine beside the dense baseline, rendered as a table, JSON and a plot.

use crate::report::{build, BuildOptions, BuildReport, SIM_VECTORS};
use crate::top::{EngineKind, Top};
use crate::{Board, BoardError};
use lutgen_core::EngineConfig;
use serde::Serialize;
use std::path::Path;

/// The configurations `lutgen report` knows by name.
pub fn preset(name: &str) -> Result<EngineConfig, BoardError> {
    let d = EngineConfig::default();
    let config = match name {
        "small" => EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 4,
            outputs: 4,
            ..d
        },
        "default" => d,
        "lanes4" => EngineConfig { lanes: 4, ..d },
        "k8" => EngineConfig { centroids: 8, ..d },
        // Twice the outputs: the search is shared by more table reads.
        "wide" => EngineConfig { outputs: 32, ..d },
        // The default shape with another encoder: a hardware row per encoder.
        "l1" | "two-level" | "tree" | "sign" => EngineConfig {
            encoder: name.parse().map_err(BoardError::Usage)?,
            ..d
        },
        _ => {
            return Err(BoardError::Usage(format!(
                "unknown preset `{name}`; known: small, default, lanes4, k8, wide (N = 32), \
                 and the default shape with another encoder: l1, two-level, tree, sign"
            )))
        }
    };
    config.validate()?;
    Ok(config)
}

/// One row: a board, a configuration, both engines.
#[derive(Debug, Serialize)]
pub struct Row {
    pub board: String,
    pub preset: String,
    pub lut: BuildReport,
    pub dense: BuildReport,
    /// LUT inferences/s per logic cell over dense's (at each one's Fmax).
    pub advantage_per_cell: Option<f64>,
}

/// Builds every preset on every board, the LUT engine and the dense baseline
/// each out of context, into `build_dir/<board>-<preset>-<lut|dense>`.
pub fn sweep(
    boards: &[String],
    presets: &[String],
    build_dir: &Path,
) -> Result<Vec<Row>, BoardError> {
    let boards = boards
        .iter()
        .map(|b| Board::find(b))
        .collect::<Result<Vec<_>, _>>()?;
    let presets = presets
        .iter()
        .map(|p| preset(p).map(|c| (p.clone(), c)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for board in &boards {
        for (name, config) in &presets {
            let mut pair = Vec::new();
            for engine in [EngineKind::Lut, EngineKind::Dense] {
                // Engine against engine: both out of context.
                let top = Top::for_board(engine, config, None, true, 0, 0);
                let tag = if engine == EngineKind::Lut {
                    "lut"
                } else {
                    "dense"
                };
                eprintln!("building {tag} {name} for {}", board.name);
                let options = BuildOptions {
                    out_dir: build_dir.join(format!("{}-{name}-{tag}", board.name)),
                    force: false,
                    sim_vectors: SIM_VECTORS,
                    seed: crate::flow::DEFAULT_SEED,
                    more_seeds: 0,
                };
                pair.push(build(board, engine, &top, &options)?);
            }
            let dense = pair.pop().expect("two builds");
            let lut = pair.pop().expect("two builds");
            let advantage_per_cell = match (
                lut.inferences_per_s_per_logic_cell,
                dense.inferences_per_s_per_logic_cell,
            ) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            rows.push(Row {
                board: board.name.clone(),
                preset: name.clone(),
                lut,
                dense,
                advantage_per_cell,
            });
        }
    }
    Ok(rows)
}

/// Writes `boards-report.json`, `boards-report.md` (the [`table`]) and `boards-report.svg` (the [`plot`]) into `out`.
pub fn write_report(
    out: &Path,
    rows: &[Row],
    boards: &[String],
    presets: &[String],
) -> Result<(), BoardError> {
    std::fs::create_dir_all(out).map_err(|source| BoardError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| BoardError::Write { path, source })
    };
    write(
        "boards-report.json",
        serde_json::to_string_pretty(rows).expect("serializes"),
    )?;
    write("boards-report.md", table(rows, boards, presets))?;
    plot(&out.join("boards-report.svg"), rows)
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.digits$}"))
}

/// The comparison table (Markdown).
pub fn table(rows: &[Row], boards: &[String], presets: &[String]) -> String {
    let mut s = format!(
        "<!-- generated by `lutgen report --boards {} --presets {}`; do not edit -->\n\n\
         | board | config | engine | Fmax MHz (target) | logic cells | FFs | BRAMs | DSPs | cycles/inf | inf/s at Fmax | inf/s per cell | LUT/dense per cell |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        boards.join(","),
        presets.join(",")
    );
    for r in rows {
        for (name, b) in [("LUT", &r.lut), ("dense", &r.dense)] {
            s.push_str(&format!(
                "| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
                r.board,
                r.preset,
                name,
                f(b.fmax_mhz, 1),
                b.target_mhz,
                b.logic_cells,
                b.flip_flops,
                b.block_rams,
                b.dsps,
                b.cycles_per_inference,
                f(b.inferences_per_s, 0),
                f(b.inferences_per_s_per_logic_cell, 1),
                if name == "LUT" {
                    f(r.advantage_per_cell, 2) + "x"
                } else {
                    String::new()
                },
            ));
        }
    }
    s
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> BoardError {
    BoardError::Usage(format!("cannot draw {}: {e}", path.display()))
}

/// Inferences/s per logic cell, LUT against dense, one column per board and configuration.
pub fn plot(path: &Path, rows: &[Row]) -> Result<(), BoardError> {
    use plotters::prelude::*;
    let points: Vec<(usize, Option<f64>, Option<f64>)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                i,
                r.lut.inferences_per_s_per_logic_cell,
                r.dense.inferences_per_s_per_logic_cell,
            )
        })
        .collect();
    let values: Vec<f64> = points
        .iter()
        .flat_map(|(_, a, b)| [*a, *b])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "throughput per logic cell: LUT engine vs dense int8 MAC",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(
            -0.5..rows.len() as f64 - 0.5,
            (lo / 2.0..hi * 2.0).log_scale(),
        )
        .map_err(|e| plot_error(path, e))?;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.board, r.preset))
        .collect();
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("inferences/s per logic cell at Fmax (log)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (name, color, pick, offset) in [
        ("LUT engine", BLUE, 0usize, -0.1),
        ("dense int8 MAC", RED, 1usize, 0.1),
    ] {
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|(i, a, b)| {
                let v = if pick == 0 { *a } else { *b };
                v.map(|v| (*i as f64 + offset, v))
            })
            .collect();
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 6, color.filled())),
            )
            .map_err(|e| plot_error(path, e))?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
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
    fn unknown_preset_is_refused() {
        assert!(matches!(preset("huge"), Err(BoardError::Usage(_))));
        assert_eq!(preset("default").unwrap(), EngineConfig::default());
        assert_eq!(
            preset("tree").unwrap().encoder,
            lutgen_core::EncoderKind::Tree
        );
        assert_eq!(preset("two-level").unwrap().clusters(), 4);
    }
}
