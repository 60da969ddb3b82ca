//! The layers of a compiled network as a sweep (`lutgen report --network`):
//! each layer's shape (D, C, K, N and widths, from the network file) built
//! with every candidate encoder and table entries per read R, beside the
//! dense baseline of the same layer reading R weights per cycle with R
//! multipliers; per board and layer, the best of each (the highest
//! inferences/s per logic cell at Fmax) side by side.
//!
//! A convolution layer is built whole, out of context: the window generator
//! (its line buffers) in front of each candidate engine for the patch shape
//! `D = C * k * k`, and in front of the dense baseline alike
//! ([`Top::Conv`]), so an inference is one input map (every output pixel)
//! and the comparison counts the same line buffers on both sides.
//!
//! The builds are ordinary sweep points ([`crate::jobs::Point`]) whose
//! preset is the candidate spelled out ([`crate::presets::spec`]), so
//! `--jobs`, `--write-jobs` and `--collect` work as for any sweep and a
//! job needs no network file. A candidate that the fit check says does not
//! fit a board is not built and is listed with the reason.

use crate::fit;
use crate::jobs::Point;
use crate::presets::{conv_spec, spec};
use crate::report::BuildReport;
use crate::sweep;
use crate::top::{dense_for, EngineKind, Top};
use crate::{Board, BoardError, Family};
use lutgen_core::conv::ConvGeometry;
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::dense::WEIGHTS_PER_READ;
use serde::Serialize;
use std::path::Path;

/// The encoders tried by default: all of them.
pub const ENCODERS: [EncoderKind; 5] = EncoderKind::ALL;

/// One board and one layer of the network: the candidates built for it.
#[derive(Clone, Debug)]
pub struct Group {
    pub board: String,
    /// The layer's index in the network.
    pub layer: usize,
    /// The layer as compiled (its encoder, R = 1).
    pub config: EngineConfig,
    /// A convolution layer's geometry (its engine runs once per output pixel).
    pub conv: Option<ConvGeometry>,
    /// Indexes into the sweep's points: the LUT candidates, then the dense ones.
    pub lut: Vec<usize>,
    pub dense: Vec<usize>,
    /// Candidates not built, each with why.
    pub skipped: Vec<String>,
}

/// A network's layers as a sweep: its points and how they group.
#[derive(Clone, Debug)]
pub struct LayerSweep {
    pub points: Vec<Point>,
    pub groups: Vec<Group>,
}

/// `D->N (C=.., K=.., V=.., table bits ..)`, or for a convolution
/// `HxWxC kxk/s -> HoxWoxN (...)`.
pub fn shape(c: &EngineConfig, conv: Option<&ConvGeometry>) -> String {
    if let Some(g) = conv {
        return format!(
            "conv {}x{}x{} {k}x{k}/{} -> {}x{}x{} (C={} K={} V={}, {}-bit tables)",
            g.in_height,
            g.in_width,
            g.in_channels,
            g.stride,
            g.out_height(),
            g.out_width(),
            c.outputs,
            c.codebooks,
            c.centroids,
            c.sub_vector_len(),
            c.table_bits,
            k = g.kernel
        );
    }
    format!(
        "{}->{} (C={} K={} V={}, {}-bit tables)",
        c.input_dim,
        c.outputs,
        c.codebooks,
        c.centroids,
        c.sub_vector_len(),
        c.table_bits
    )
}

/// The sweep for `layers` (a network's [`configs`](lutgen_core::Network::configs),
/// with `convs[i]` the geometry of layer `i` if it is a convolution; empty
/// for a network of dense layers) on `boards`: per board and layer, a LUT point for every encoder in
/// `encoders` and R in `entries_per_read` that the engine can build and the
/// board holds, and a dense point per R (none where no LUT candidate fits:
/// nothing to compare it with). Refused, naming it: an unknown
/// board, an R the dense engine cannot read (not 1, 2 or 4) or no layer's
/// table word can hold, an encoder no layer can be built with, and a
/// network of which no layer fits any board.
pub fn layer_sweep(
    layers: &[EngineConfig],
    convs: &[Option<ConvGeometry>],
    boards: &[String],
    encoders: &[EncoderKind],
    entries_per_read: &[usize],
) -> Result<LayerSweep, BoardError> {
    if layers.is_empty() {
        return Err(BoardError::Usage("the network has no layers".into()));
    }
    if !convs.is_empty() && convs.len() != layers.len() {
        return Err(BoardError::Usage(format!(
            "{} convolution geometries for {} layers",
            convs.len(),
            layers.len()
        )));
    }
    let conv_of = |i: usize| convs.get(i).copied().flatten();
    // The top a candidate is built as: the engine alone, or the convolution layer around it.
    let layer_top = |i: usize, engine: Top| match conv_of(i) {
        Some(g) => Top::conv(g, engine),
        None => Ok(engine),
    };
    let name = |i: usize, c: &EngineConfig| match conv_of(i) {
        Some(g) => conv_spec(c, &g),
        None => spec(c),
    };
    if encoders.is_empty() || entries_per_read.is_empty() {
        return Err(BoardError::Usage(
            "give at least one encoder and one entries-per-read value".into(),
        ));
    }
    let boards: Vec<Board> = boards
        .iter()
        .map(|b| Board::find(b))
        .collect::<Result<_, _>>()?;
    let candidate = |layer: &EngineConfig, encoder: EncoderKind, r: usize| EngineConfig {
        encoder,
        entries_per_read: r,
        ..layer.clone()
    };
    for &r in entries_per_read {
        if !WEIGHTS_PER_READ.contains(&r) {
            return Err(BoardError::Usage(format!(
                "entries per read {r} does not fit: the dense baseline reads 1, 2 or 4 weights \
                 a cycle (one 32-bit load word), so it cannot be given the same treatment"
            )));
        }
        if layers
            .iter()
            .all(|l| candidate(l, l.encoder, r).validate().is_err())
        {
            let e = candidate(&layers[0], layers[0].encoder, r)
                .validate()
                .unwrap_err();
            return Err(BoardError::Usage(format!(
                "entries per read {r} does not fit any layer of the network: {e}"
            )));
        }
    }
    for &encoder in encoders {
        if layers
            .iter()
            .all(|l| candidate(l, encoder, 1).validate().is_err())
        {
            let e = candidate(&layers[0], encoder, 1).validate().unwrap_err();
            return Err(BoardError::Usage(format!(
                "encoder `{encoder}` cannot build any layer of the network: {e}"
            )));
        }
    }
    let mut points = Vec::new();
    let mut groups = Vec::new();
    for board in &boards {
        for (index, layer) in layers.iter().enumerate() {
            let mut group = Group {
                board: board.name.clone(),
                layer: index,
                config: layer.clone(),
                conv: conv_of(index),
                lut: Vec::new(),
                dense: Vec::new(),
                skipped: Vec::new(),
            };
            for &encoder in encoders {
                for &r in entries_per_read {
                    let c = candidate(layer, encoder, r);
                    if let Err(e) = c.validate() {
                        group.skipped.push(format!("LUT `{encoder}` R={r}: {e}"));
                        continue;
                    }
                    let report = fit::check(&layer_top(index, Top::Engine(c.clone()))?, board);
                    if !report.fits {
                        group.skipped.push(format!(
                            "LUT `{encoder}` R={r}: does not fit ({})",
                            need(&report)
                        ));
                        continue;
                    }
                    group.lut.push(points.len());
                    points.push(Point {
                        board: board.name.clone(),
                        preset: name(index, &c),
                        engine: EngineKind::Lut,
                    });
                }
            }
            if group.lut.is_empty() {
                // Nothing to compare the dense engine with.
                group.skipped.push(
                    "dense: not built, no LUT candidate fits this board to compare it with".into(),
                );
                groups.push(group);
                continue;
            }
            for &r in entries_per_read {
                let c = candidate(layer, layer.encoder, r);
                let dense = dense_for(&c, None);
                if let Err(e) = dense.validate() {
                    group.skipped.push(format!("dense R={r}: {e}"));
                    continue;
                }
                let report = fit::check(&layer_top(index, Top::Dense(dense))?, board);
                if !report.fits {
                    group
                        .skipped
                        .push(format!("dense R={r}: does not fit ({})", need(&report)));
                    continue;
                }
                group.dense.push(points.len());
                points.push(Point {
                    board: board.name.clone(),
                    preset: name(index, &c),
                    engine: EngineKind::Dense,
                });
            }
            groups.push(group);
        }
    }
    if groups.iter().all(|g| g.lut.is_empty()) {
        let why: Vec<String> = groups
            .iter()
            .flat_map(|g| {
                g.skipped
                    .iter()
                    .map(move |s| format!("{} layer {}: {s}", g.board, g.layer))
            })
            .collect();
        return Err(BoardError::Usage(format!(
            "no layer of the network can be built on {} with the encoders and R given: {}",
            boards
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            why.join("; ")
        )));
    }
    Ok(LayerSweep { points, groups })
}

/// `block RAMs 40 of 32, logic cells about 2,100 of 7,680`.
fn need(r: &fit::FitReport) -> String {
    format!(
        "{} block RAMs of {}, logic about {} of {}",
        r.block_rams, r.block_rams_available, r.logic_estimate, r.logic_available
    )
}

/// One candidate's build.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub preset: String,
    pub encoder: EncoderKind,
    pub entries_per_read: usize,
    pub report: BuildReport,
    /// Inferences/s at Fmax per block RAM (none without Fmax or block RAM).
    pub inferences_per_s_per_block_ram: Option<f64>,
    /// Block RAMs the table memories take at this R, by the fit check's count.
    pub table_block_rams: usize,
}

/// A board and a layer: every candidate's figures, the best of each engine
/// and their ratios.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct LayerRow {
    pub board: String,
    pub layer: usize,
    pub shape: String,
    /// The layer's own encoder in the network file.
    pub compiled_encoder: EncoderKind,
    /// Block RAMs the tables' bits fill at the least (C x K x N x table bits
    /// over the block's bits).
    pub table_bits_block_rams: usize,
    pub lut: Vec<Candidate>,
    pub dense: Vec<Candidate>,
    /// Indexes into `lut` and `dense`: the highest inferences/s per logic cell.
    pub best_lut: Option<usize>,
    pub best_dense: Option<usize>,
    pub advantage_per_cell: Option<f64>,
    pub advantage_per_block_ram: Option<f64>,
    pub skipped: Vec<String>,
}

fn candidate(point: &Point, report: BuildReport) -> Result<Candidate, BoardError> {
    let config = crate::presets::preset(&point.preset)?;
    let table_block_rams = report
        .fit
        .memories
        .iter()
        .filter(|(m, _)| m.what == "tables" || m.what == "weights")
        .map(|(m, blocks)| m.count * blocks)
        .sum();
    Ok(Candidate {
        preset: point.preset.clone(),
        encoder: config.encoder,
        entries_per_read: config.entries_per_read,
        inferences_per_s_per_block_ram: match (report.inferences_per_s, report.block_rams) {
            (Some(rate), blocks) if blocks > 0 => Some(rate / blocks as f64),
            _ => None,
        },
        table_block_rams,
        report,
    })
}

fn best(candidates: &[Candidate]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.report.inferences_per_s_per_logic_cell.map(|v| (i, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The rows of a layer sweep from its points' reports (in the points' order).
pub fn layer_rows(
    sweep: &LayerSweep,
    reports: Vec<BuildReport>,
) -> Result<Vec<LayerRow>, BoardError> {
    if reports.len() != sweep.points.len() {
        return Err(BoardError::Usage(format!(
            "{} reports for the {} points of the layer sweep",
            reports.len(),
            sweep.points.len()
        )));
    }
    let mut reports: Vec<Option<BuildReport>> = reports.into_iter().map(Some).collect();
    let mut take = |i: usize| -> Result<Candidate, BoardError> {
        let report = reports[i].take().expect("each point is in one group");
        candidate(&sweep.points[i], report)
    };
    let mut rows = Vec::new();
    for g in &sweep.groups {
        let board = Board::find(&g.board)?;
        let lut = g
            .lut
            .iter()
            .map(|&i| take(i))
            .collect::<Result<Vec<_>, _>>()?;
        let dense = g
            .dense
            .iter()
            .map(|&i| take(i))
            .collect::<Result<Vec<_>, _>>()?;
        let (best_lut, best_dense) = (best(&lut), best(&dense));
        let pick = |c: &[Candidate], i: Option<usize>, f: fn(&Candidate) -> Option<f64>| {
            i.and_then(|i| f(&c[i]))
        };
        let per_cell = |c: &Candidate| c.report.inferences_per_s_per_logic_cell;
        let per_block = |c: &Candidate| c.inferences_per_s_per_block_ram;
        let c = &g.config;
        let bits = (c.codebooks * c.centroids * c.outputs) as u64 * u64::from(c.table_bits);
        rows.push(LayerRow {
            board: g.board.clone(),
            layer: g.layer,
            shape: shape(c, g.conv.as_ref()),
            compiled_encoder: c.encoder,
            table_bits_block_rams: bits.div_ceil(block_bits(board.family)) as usize,
            advantage_per_cell: ratio(
                pick(&lut, best_lut, per_cell),
                pick(&dense, best_dense, per_cell),
            ),
            advantage_per_block_ram: ratio(
                pick(&lut, best_lut, per_block),
                pick(&dense, best_dense, per_block),
            ),
            lut,
            dense,
            best_lut,
            best_dense,
            skipped: g.skipped.clone(),
        });
    }
    Ok(rows)
}

/// Bits of one block RAM.
fn block_bits(family: Family) -> u64 {
    match family {
        Family::Ice40 => 4096,
        Family::Ecp5 | Family::Xilinx7 => 18432,
    }
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.digits$}"))
}

fn engine_cell(kind: &str, c: &Candidate) -> String {
    match kind {
        "LUT" => format!("LUT `{}` R={}", c.encoder, c.entries_per_read),
        _ => format!(
            "dense R={} ({} multiplier{})",
            c.entries_per_read,
            c.entries_per_read,
            if c.entries_per_read == 1 { "" } else { "s" }
        ),
    }
}

fn candidate_line(row: &LayerRow, kind: &str, c: &Candidate, best: bool, ratio: String) -> String {
    let b = &c.report;
    format!(
        "| {} | {} {} | {}{} | {} ({}) | {} | {} ({}) | {} | {:.1} ({}) | {} | {} | {} |\n",
        row.board,
        row.layer,
        row.shape,
        engine_cell(kind, c),
        if best { " **best**" } else { "" },
        f(b.fmax_mhz, 1),
        b.target_mhz,
        b.logic_cells,
        b.block_rams,
        c.table_block_rams,
        b.dsps,
        b.cycles_per_inference,
        b.bound_cycles_per_inference,
        f(b.inferences_per_s_per_logic_cell, 1),
        f(c.inferences_per_s_per_block_ram, 0),
        ratio,
    )
}

const HEADER: &str = "| board | layer | engine | Fmax MHz (target) | logic cells | BRAMs (tables' or weights') | DSPs | cycles/inf (bound) | inf/s per cell | inf/s per BRAM | LUT/dense per cell, per BRAM |\n\
                      |---|---|---|---|---|---|---|---|---|---|---|\n";

/// The comparison (Markdown): per board and layer the best LUT candidate
/// beside the best dense one, then every candidate, then what was not built.
pub fn layer_table(rows: &[LayerRow], command: &str) -> String {
    let mut s = format!(
        "<!-- generated by `{command}`; do not edit -->\n\n\
         Per board and layer: the best LUT engine (the highest inferences/s per logic cell \
         at Fmax over the encoders and entries per read R tried) beside the best dense \
         int8 baseline (R weights per read, R multipliers). BRAMs: all the engine's; in \
         brackets the table memories' (LUT) or weight memories' (dense) share. A \
         convolution layer (`conv` HxWxC kxk/stride) is built with its window generator \
         in front of either engine, so an inference is one input map and its line buffers \
         count on both sides.\n\n{HEADER}"
    );
    for row in rows {
        let ratios = format!(
            "**{}x**, {}x",
            f(row.advantage_per_cell, 2),
            f(row.advantage_per_block_ram, 2)
        );
        match (row.best_lut, row.best_dense) {
            (Some(l), Some(d)) => {
                s.push_str(&candidate_line(row, "LUT", &row.lut[l], false, ratios));
                s.push_str(&candidate_line(
                    row,
                    "dense",
                    &row.dense[d],
                    false,
                    String::new(),
                ));
            }
            _ => s.push_str(&format!(
                "| {} | {} {} | no LUT and dense pair built | | | | | | | | {} |\n",
                row.board,
                row.layer,
                row.shape,
                if row.lut.is_empty() {
                    "no LUT candidate fits"
                } else {
                    "no dense candidate fits"
                }
            )),
        }
    }
    s.push_str(&format!("\n## Every candidate\n\n{HEADER}"));
    for row in rows {
        let dense_best = row
            .best_dense
            .and_then(|d| row.dense[d].report.inferences_per_s_per_logic_cell);
        for (i, c) in row.lut.iter().enumerate() {
            let r = ratio(c.report.inferences_per_s_per_logic_cell, dense_best);
            s.push_str(&candidate_line(
                row,
                "LUT",
                c,
                row.best_lut == Some(i),
                format!("{}x", f(r, 2)),
            ));
        }
        for (i, c) in row.dense.iter().enumerate() {
            s.push_str(&candidate_line(
                row,
                "dense",
                c,
                row.best_dense == Some(i),
                String::new(),
            ));
        }
    }
    let skipped: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.skipped
                .iter()
                .map(move |s| format!("- {} layer {} {}: {s}\n", r.board, r.layer, r.shape))
        })
        .collect();
    if !skipped.is_empty() {
        s.push_str("\n## Not built\n\n");
        s.push_str(&skipped.concat());
    }
    s
}

/// Writes `layers-report.json`, `layers-report.md` (the [`layer_table`]) and
/// `layers-report.svg` (the best pairs, plotted as [`sweep::plot`] does) into `out`.
pub fn write_layer_report(out: &Path, rows: &[LayerRow], command: &str) -> Result<(), BoardError> {
    sweep::write_json_and_markdown(out, "layers-report", rows, layer_table(rows, command))?;
    let pairs: Vec<sweep::Row> = rows
        .iter()
        .filter_map(|r| {
            let (l, d) = (&r.lut[r.best_lut?], &r.dense[r.best_dense?]);
            Some(sweep::Row {
                board: r.board.clone(),
                preset: format!("layer {} `{}` R={}", r.layer, l.encoder, l.entries_per_read),
                lut: l.report.clone(),
                dense: d.report.clone(),
                advantage_per_cell: r.advantage_per_cell,
            })
        })
        .collect();
    sweep::plot(&out.join("layers-report.svg"), &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SeedFmax;

    fn layer(outputs: usize) -> EngineConfig {
        EngineConfig {
            outputs,
            ..EngineConfig::default()
        }
    }

    fn boards() -> Vec<String> {
        vec!["hx8k-breakout".into(), "ulx3s-85f".into()]
    }

    #[test]
    fn the_digits_layers_become_points_and_what_does_not_fit_is_named() {
        // The digits MLP's layers: 64->64 and 64->10.
        let layers = [layer(64), layer(10)];
        let sweep = layer_sweep(&layers, &[], &boards(), &ENCODERS, &[1, 2, 4]).unwrap();
        assert_eq!(sweep.groups.len(), 4);
        let hx_first = &sweep.groups[0];
        // 64->64 has 16 KB of 8-bit tables: the HX8K's 32 blocks cannot hold them.
        assert!(hx_first.lut.is_empty(), "{hx_first:?}");
        assert!(hx_first.skipped[0].contains("does not fit"), "{hx_first:?}");
        // Then the dense engine has nothing to be compared with.
        assert!(hx_first.dense.is_empty(), "{hx_first:?}");
        assert!(
            hx_first
                .skipped
                .last()
                .unwrap()
                .contains("dense: not built"),
            "{hx_first:?}"
        );
        // 64->10: on the HX8K, `l2` at R = 2 must search 16 centroids at
        // once to keep pace with the table read, 16 units with their
        // memories and tables of squares: too many blocks.
        let hx_last = &sweep.groups[1];
        assert!(
            hx_last
                .skipped
                .iter()
                .any(|s| s.starts_with("LUT `l2` R=2: does not fit")),
            "{hx_last:?}"
        );
        assert_eq!(hx_last.dense.len(), 3);
        let ecp5_last = &sweep.groups[3];
        assert_eq!(
            (ecp5_last.board.as_str(), ecp5_last.layer),
            ("ulx3s-85f", 1)
        );
        assert!(ecp5_last.lut.len() >= 9, "{ecp5_last:?}");
        // Every point reads back, and is in exactly one group.
        let mut seen = vec![0; sweep.points.len()];
        for g in &sweep.groups {
            for &i in g.lut.iter().chain(&g.dense) {
                seen[i] += 1;
                assert_eq!(
                    Point::parse(&sweep.points[i].spec()).unwrap(),
                    sweep.points[i]
                );
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        let specs: Vec<String> = sweep.points.iter().map(Point::spec).collect();
        for spec in [
            "hx8k-breakout,tree.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16,lut",
            "ulx3s-85f,sign.d64.c16.k16.n64.l1.r4.a8.p8.t8.b16,lut",
            "ulx3s-85f,l2.d64.c16.k16.n64.l1.r4.a8.p8.t8.b16,dense",
        ] {
            assert!(specs.iter().any(|s| s == spec), "{spec}: {specs:?}");
        }
    }

    /// The CNN fixture's layers (tests/data/onnx/cnn.onnx compiled with
    /// K = 16): two 3x3 convolutions (V = 9, one codebook per input
    /// channel), then the dense classifier.
    fn cnn() -> (Vec<EngineConfig>, Vec<Option<ConvGeometry>>) {
        let conv = |c: usize, n: usize| EngineConfig {
            input_dim: 9 * c,
            codebooks: c,
            outputs: n,
            ..EngineConfig::default()
        };
        let geometry = |h: usize, c: usize, stride: usize| ConvGeometry {
            in_height: h,
            in_width: h,
            in_channels: c,
            kernel: 3,
            stride,
            padding: lutgen_core::conv::Padding::uniform(1),
        };
        (
            vec![conv(1, 8), conv(8, 16), layer(10)],
            vec![Some(geometry(8, 1, 1)), Some(geometry(8, 8, 2)), None],
        )
    }

    #[test]
    fn convolution_layers_are_built_with_their_window_generator() {
        let (layers, convs) = cnn();
        let boards = vec!["ulx3s-85f".to_string()];
        let sweep = layer_sweep(
            &layers,
            &convs,
            &boards,
            &[EncoderKind::L2, EncoderKind::Tree],
            &[1],
        )
        .unwrap();
        assert_eq!(sweep.groups.len(), 3);
        let second = &sweep.groups[1];
        assert_eq!(second.conv, convs[1]);
        assert_eq!((second.lut.len(), second.dense.len()), (2, 1), "{second:?}");
        let specs: Vec<String> = sweep.points.iter().map(Point::spec).collect();
        for spec in [
            "ulx3s-85f,tree.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16.conv8-8-8-3-2-1-1-1-1,lut",
            "ulx3s-85f,l2.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16.conv8-8-8-3-2-1-1-1-1,dense",
            "ulx3s-85f,l2.d64.c16.k16.n10.l1.r1.a8.p8.t8.b16,dense",
        ] {
            assert!(specs.iter().any(|s| s == spec), "{spec}: {specs:?}");
        }
        // Every point reads back as the convolution layer it was made for.
        for point in &sweep.points {
            assert_eq!(Point::parse(&point.spec()).unwrap(), *point);
        }
        let (_, g) = crate::presets::preset_layer(&sweep.points[second.lut[0]].preset).unwrap();
        assert_eq!(g, convs[1]);
        assert_eq!(
            shape(&layers[1], convs[1].as_ref()),
            "conv 8x8x8 3x3/2 -> 4x4x16 (C=8 K=16 V=9, 8-bit tables)"
        );
        // Geometries for another number of layers are refused.
        let e = layer_sweep(&layers, &convs[..2], &boards, &[EncoderKind::L2], &[1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 convolution geometries for 3 layers"), "{e}");
    }

    #[test]
    fn refusals_name_what_is_refused() {
        let layers = [layer(10)];
        let err = |e: &[EncoderKind], r: &[usize], layers: &[EngineConfig]| {
            layer_sweep(layers, &[], &boards(), e, r)
                .unwrap_err()
                .to_string()
        };
        let e = err(&ENCODERS, &[1, 8], &layers);
        assert!(e.contains("entries per read 8 does not fit"), "{e}");
        let e = err(&ENCODERS, &[3], &layers);
        assert!(e.contains("entries per read 3 does not fit"), "{e}");
        // 4-bit tables take R = 8 in a 32-bit word, but the dense engine does not.
        let narrow = [EngineConfig {
            table_bits: 4,
            ..layer(10)
        }];
        let e = err(&ENCODERS, &[8], &narrow);
        assert!(e.contains("dense baseline reads 1, 2 or 4"), "{e}");
        // Sign hashing takes at most 10 bits a sub-vector: V = 16 is refused.
        let long = [EngineConfig {
            codebooks: 4,
            ..layer(10)
        }];
        let e = err(&[EncoderKind::Sign], &[1], &long);
        assert!(e.contains("encoder `sign` cannot build any layer"), "{e}");
        // Tables far past either board's block RAM.
        let huge = [EngineConfig {
            centroids: 256,
            outputs: 1024,
            lanes: 64,
            ..layer(10)
        }];
        let e = err(&[EncoderKind::L2], &[1], &huge);
        assert!(e.contains("no layer of the network can be built"), "{e}");
        assert!(e.contains("does not fit"), "{e}");
        assert!(err(&ENCODERS, &[1], &[]).contains("no layers"));
    }

    fn fake(point: &Point, cells: u64, block_rams: u64, fmax: f64, cycles: f64) -> BuildReport {
        let board = Board::find(&point.board).unwrap();
        let config = crate::presets::preset(&point.preset).unwrap();
        let top = Top::for_board(point.engine, &config, None, true, 0, 0);
        let rate = fmax * 1e6 / cycles;
        BuildReport {
            board: board.name.clone(),
            part: board.part.clone(),
            engine: point.engine,
            top: top.describe(),
            pinned: false,
            bitstream: None,
            verilog: "top.v".into(),
            constraints: None,
            fmax_mhz: Some(fmax),
            seed: 1,
            fmax_by_seed: vec![SeedFmax {
                seed: 1,
                fmax_mhz: Some(fmax),
            }],
            target_mhz: board.target_mhz,
            board_clock_mhz: board.clock_mhz,
            core_clock_mhz: None,
            pll: None,
            timing_met: Some(fmax >= board.target_mhz),
            logic_cells: cells,
            logic_cells_available: board.resources.logic_cells,
            flip_flops: cells,
            block_rams,
            block_rams_available: board.resources.block_rams,
            dsps: 0,
            dsps_available: board.resources.dsps,
            cycles_per_inference: cycles,
            bound_cycles_per_inference: cycles as usize,
            inferences_per_s: Some(rate),
            inferences_per_s_at_board_clock: 0.0,
            inferences_per_s_per_logic_cell: Some(rate / cells as f64),
            fit: fit::check(&top, &board),
            steps: Vec::new(),
            critical_path: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn rows_pick_the_best_per_cell_and_render() {
        let layers = [layer(10)];
        let boards = vec!["ulx3s-85f".to_string()];
        let sweep = layer_sweep(
            &layers,
            &[],
            &boards,
            &[EncoderKind::L2, EncoderKind::Tree],
            &[1, 2],
        )
        .unwrap();
        // l2 R=1, l2 R=2, tree R=1, tree R=2, dense R=1, dense R=2.
        assert_eq!(sweep.points.len(), 6);
        let figures = [
            (1000, 10, 200.0, 160.0),
            (1100, 10, 200.0, 80.0),
            (800, 9, 180.0, 160.0),
            (900, 9, 190.0, 80.0), // the best LUT: 2,639 per cell
            (500, 1, 200.0, 640.0),
            (700, 2, 200.0, 320.0), // the best dense: 893 per cell
        ];
        let reports = sweep
            .points
            .iter()
            .zip(figures)
            .map(|(p, (c, b, f, y))| fake(p, c, b, f, y))
            .collect();
        let rows = layer_rows(&sweep, reports).unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.best_lut, row.best_dense), (Some(3), Some(1)));
        assert_eq!(row.lut[3].encoder, EncoderKind::Tree);
        assert_eq!(row.lut[3].entries_per_read, 2);
        let per_cell = (190e6 / 80.0 / 900.0) / (200e6 / 320.0 / 700.0);
        assert!((row.advantage_per_cell.unwrap() - per_cell).abs() < 1e-9);
        let per_block = (190e6 / 80.0 / 9.0) / (200e6 / 320.0 / 2.0);
        assert!((row.advantage_per_block_ram.unwrap() - per_block).abs() < 1e-9);
        // 16 x 16 x 10 entries of 8 bits fill 2 of the ECP5's 18-kbit blocks.
        assert_eq!(row.table_bits_block_rams, 2);
        let text = layer_table(&rows, "lutgen report --network x");
        assert!(
            text.contains(
                "| ulx3s-85f | 0 64->10 (C=16 K=16 V=4, 8-bit tables) | LUT `tree` R=2 |"
            ),
            "{text}"
        );
        assert!(text.contains("LUT `tree` R=2 **best**"), "{text}");
        assert!(text.contains("**2.96x**, 0.84x"), "{text}");
        // The reports must be the sweep's.
        assert!(layer_rows(&sweep, Vec::new()).is_err());
    }
}
