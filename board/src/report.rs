//! A board build from start to finish, and its report (Markdown and JSON).

use super::dense_sim::{check_dense, random_vectors};
use super::fit::{self, FitReport};
use super::flow::{self, find_tool, run_tool, tools_for, Figures, Step};
use super::pll::Pll;
use super::top::{EngineKind, Top};
use super::{Board, BoardError, Family};
use lutgen_core::network::random_network;
use lutgen_core::{Image, Reference};
use lutgen_sim::whole_network::run_network_top;
use lutgen_sim::{Backpressure, EngineSim, SimOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Vectors simulated to measure cycles per inference (and check the engine).
pub const SIM_VECTORS: usize = 8;

/// What `lutgen build` reports.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct BuildReport {
    pub board: String,
    pub part: String,
    pub engine: EngineKind,
    /// What was synthesized.
    pub top: String,
    /// True when the top has board pins; false for an out-of-context engine.
    pub pinned: bool,
    /// The bitstream (only for a pinned top).
    pub bitstream: Option<PathBuf>,
    pub verilog: PathBuf,
    pub constraints: Option<PathBuf>,
    pub fmax_mhz: Option<f64>,
    /// nextpnr's placement seed (Fmax moves by several percent between seeds).
    pub seed: u64,
    /// Fmax at each seed placed and routed (`--seeds`): `seed` first, whose
    /// build is the one kept; one entry unless more were asked for, none
    /// when only synthesis ran.
    pub fmax_by_seed: Vec<SeedFmax>,
    /// The timing target given to nextpnr: the core clock when a PLL makes
    /// it, else the board's target.
    pub target_mhz: f64,
    pub board_clock_mhz: f64,
    /// The clock a device build runs at on the board: the PLL's output
    /// (`--clock-mhz`), else the oscillator; none out of context.
    pub core_clock_mhz: Option<f64>,
    /// The PLL that makes the core clock, with its dividers.
    pub pll: Option<Pll>,
    /// Fmax against the target (for a PLL build: the core clock it will run at).
    pub timing_met: Option<bool>,
    pub logic_cells: u64,
    pub logic_cells_available: u64,
    pub flip_flops: u64,
    pub block_rams: u64,
    pub block_rams_available: u64,
    pub dsps: u64,
    pub dsps_available: u64,
    pub cycles_per_inference: f64,
    pub bound_cycles_per_inference: usize,
    /// At Fmax (a PLL would provide it): `fmax / cycles_per_inference`.
    pub inferences_per_s: Option<f64>,
    /// At the board's oscillator.
    pub inferences_per_s_at_board_clock: f64,
    pub inferences_per_s_per_logic_cell: Option<f64>,
    pub fit: FitReport,
    pub steps: Vec<Step>,
    pub critical_path: Vec<String>,
    pub notes: Vec<String>,
}

/// One place-and-route run's Fmax.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SeedFmax {
    pub seed: u64,
    pub fmax_mhz: Option<f64>,
}

/// How to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub out_dir: PathBuf,
    /// Skip the fit check's refusal (still reported).
    pub force: bool,
    /// Vectors to simulate.
    pub sim_vectors: usize,
    /// nextpnr's placement seed ([`flow::DEFAULT_SEED`] unless asked).
    pub seed: u64,
    /// Place and route this many more times, at `seed + 1`, `seed + 2`, ...,
    /// for the spread of Fmax (the `seed` build stays the one reported).
    pub more_seeds: u64,
}

fn write(path: &Path, text: &str) -> Result<(), BoardError> {
    std::fs::write(path, text).map_err(|source| BoardError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Cycles per inference from the Verilator simulation (bit-exact checked),
/// and the bound: for a network device, the network top (every layer and
/// stage, as built) loaded with a random network of its layers, against
/// [`lutgen_core::Network::infer`]; its bound is the slowest layer's (the
/// layers work on consecutive vectors at once).
pub fn simulate(top: &Top, vectors: usize) -> Result<(f64, usize), BoardError> {
    if top.is_network() {
        return simulate_network(top.layers(), top.sequential_plan(), vectors);
    }
    if let Top::Conv(..) = top {
        return super::conv_sim::check_conv(
            top,
            vectors,
            Backpressure::none(),
            1,
            &SimOptions::default(),
        );
    }
    if let Top::Dense(config) = top {
        let run = check_dense(config, vectors, 0.0, 1, &SimOptions::default())?;
        return Ok((
            run.cycles_per_inference,
            config.bound_cycles_per_inference(),
        ));
    }
    match top.engine_config() {
        Some(config) => {
            let image = Image::random(config.clone(), 1)?;
            let mut sim = EngineSim::new(config, &SimOptions::default())?;
            sim.load(&image)?;
            let xs = random_vectors(vectors, config.input_dim, 2);
            let run = sim.run(&xs, Backpressure::none())?;
            let reference = Reference::new(&image);
            for (i, (x, got)) in xs.iter().zip(&run.outputs).enumerate() {
                let want = reference
                    .outputs(x)
                    .map_err(|e| BoardError::Usage(e.to_string()))?;
                if &want != got {
                    return Err(BoardError::Mismatch {
                        what: "LUT engine",
                        vector: i,
                        detail: format!("{got:?} != {want:?}"),
                    });
                }
            }
            Ok((
                run.cycles_per_inference,
                config.bound_cycles_per_inference(),
            ))
        }
        None => Err(BoardError::Usage(format!(
            "{} has no engine to simulate",
            top.describe()
        ))),
    }
}

/// The network top for `layers`, loaded with a random network of them, on
/// `vectors` random inputs: cycles per inference, checked bit-exact
/// against the reference.
fn simulate_network(
    layers: &[lutgen_core::EngineConfig],
    plan: Option<lutgen_core::sequential::SequentialPlan>,
    vectors: usize,
) -> Result<(f64, usize), BoardError> {
    let network = random_network(layers, 1).map_err(|e| BoardError::Usage(e.to_string()))?;
    let xs = random_vectors(vectors, network.input_dim(), 2);
    let options = SimOptions {
        schedule: if plan.is_some() {
            lutgen_core::sequential::Schedule::Sequential
        } else {
            lutgen_core::sequential::Schedule::Dataflow
        },
        ..SimOptions::default()
    };
    let run = run_network_top(&network, &xs, &options, Backpressure::none())?;
    for (i, (x, got)) in xs.iter().zip(&run.outputs).enumerate() {
        let want = network
            .infer(x)
            .map_err(|e| BoardError::Usage(e.to_string()))?
            .outputs;
        if &want != got {
            return Err(BoardError::Mismatch {
                what: "network top",
                vector: i,
                detail: format!("{got:?} != {want:?}"),
            });
        }
    }
    if run.outputs.len() != xs.len() {
        return Err(BoardError::Mismatch {
            what: "network top",
            vector: run.outputs.len(),
            detail: format!("{} results for {} vectors", run.outputs.len(), xs.len()),
        });
    }
    let bound = match &plan {
        Some(plan) => plan.bound_cycles_per_inference(),
        None => layers
            .iter()
            .map(|l| l.bound_cycles_per_inference())
            .max()
            .unwrap_or(0),
    };
    Ok((run.cycles_per_inference[0], bound))
}

/// Generates the files, checks the fit, runs the tools and simulates.
pub fn build(
    board: &Board,
    engine: EngineKind,
    top: &Top,
    options: &BuildOptions,
) -> Result<BuildReport, BoardError> {
    let fit = if options.force {
        fit::check(top, board)
    } else {
        require_fit(top, board)?
    };
    let dir = &options.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| BoardError::Write {
        path: dir.clone(),
        source,
    })?;
    let verilog_path = dir.join("top.v");
    write(&verilog_path, &top.verilog()?)?;
    let mut notes = Vec::new();
    // With a PLL, the oscillator pin is constrained to its own frequency and
    // nextpnr derives the core clock's from the PLL's dividers (and `--freq`
    // says the same); without, the pin is constrained to the board's target
    // to measure Fmax.
    let target_mhz = top.pll().map_or(board.target_mhz, |p| p.output_mhz);
    let core_clock_mhz = match top {
        Top::Device(d, _) => Some(f64::from(d.clock_hz) / 1e6),
        _ => None,
    };
    let constraints = if top.pinned() {
        let path = dir.join(board.constraint_file_name());
        let pin_mhz = if top.pll().is_some() {
            board.clock_mhz
        } else {
            board.target_mhz
        };
        write(&path, &board.constraints(pin_mhz))?;
        if let Top::Device(d, pll) = top {
            // A vector's bytes in (the first layer's input), its results out
            // (4 bytes per output of the last layer); the link is full
            // duplex, so the longer of the two sets the rate.
            let (in_bytes, out_bytes) = (d.first().input_dim, 4 * d.last().outputs);
            let link = f64::from(d.baud) / 10.0 / in_bytes.max(out_bytes) as f64;
            let clock = match pll {
                Some(p) => format!(
                    "The device runs at {} MHz, made from the board's {} MHz oscillator by the \
                     PLL ({p}); one clock domain: its UART divides that clock to {} baud \
                     ({} clocks per bit).",
                    super::pll::mhz(p.output_mhz),
                    board.clock_mhz,
                    d.baud,
                    d.clocks_per_bit()
                ),
                None => format!(
                    "The device runs at the {} MHz board clock (no PLL: `--clock-mhz F` runs \
                     it from the board's PLL at F MHz).",
                    board.clock_mhz
                ),
            };
            let what = if d.is_network() { "network" } else { "engine" };
            notes.push(format!(
                "{clock} The {what} figures are the {what}'s own rate. Over the {} baud serial \
                 link (8N1, one vector's {in_bytes} bytes in and {out_bytes} bytes out per \
                 inference, frame overhead aside) it sustains at most {link:.0} inferences/s.",
                d.baud,
            ));
        }
        Some(path)
    } else {
        notes.push(format!(
            "Out of context: the {} has {} I/O bits and no board pins; place and route put them \
             anywhere, so the figures are resources and Fmax, and no bitstream is written. \
             A flashable build is the device top (`lutgen build` without --out-of-context).",
            top.module(),
            top.io_bits()
        ));
        None
    };

    let mut report = BuildReport {
        board: board.name.clone(),
        part: board.part.clone(),
        engine,
        top: top.describe(),
        pinned: top.pinned(),
        bitstream: None,
        verilog: verilog_path,
        constraints: constraints.clone(),
        fmax_mhz: None,
        seed: options.seed,
        fmax_by_seed: Vec::new(),
        target_mhz,
        board_clock_mhz: board.clock_mhz,
        core_clock_mhz,
        pll: top.pll().cloned(),
        timing_met: None,
        logic_cells: 0,
        logic_cells_available: board.resources.logic_cells,
        flip_flops: 0,
        block_rams: 0,
        block_rams_available: board.resources.block_rams,
        dsps: 0,
        dsps_available: board.resources.dsps,
        cycles_per_inference: 0.0,
        bound_cycles_per_inference: 0,
        inferences_per_s: None,
        inferences_per_s_at_board_clock: 0.0,
        inferences_per_s_per_logic_cell: None,
        fit,
        steps: Vec::new(),
        critical_path: Vec::new(),
        notes,
    };

    // The tools (none for Xilinx: Vivado is not run).
    let Some(specs) = tools_for(board.family) else {
        report.notes.push(format!(
            "{} needs Vivado, which lutgen does not run: the Verilog and the .xdc are written; \
             no synthesis figures.",
            board.part
        ));
        if let Some(c) = &constraints {
            write(c, &board.constraints(board.clock_mhz))?;
        } else {
            let path = dir.join(board.constraint_file_name());
            write(&path, &board.constraints(board.clock_mhz))?;
            report.constraints = Some(path);
        }
        let (cycles, bound) = simulate(top, options.sim_vectors)?;
        finish_rates(&mut report, cycles, bound);
        write(&dir.join("report.json"), &to_json(&report))?;
        write(&dir.join("report.md"), &markdown(&report))?;
        return Ok(report);
    };
    let programs = specs.iter().map(find_tool).collect::<Result<Vec<_>, _>>()?;
    if !top.pinned() && top.io_bits() > board.resources.user_io {
        // Synthesis alone still gives the resource figures.
        report.notes.push(format!(
            "The {} package has {} user pins, fewer than the {} I/O bits of the out-of-context \
             top: only synthesis ran (no place and route, no Fmax).",
            board.package,
            board.resources.user_io,
            top.io_bits()
        ));
    }
    let dsp = report.fit.dsp_multipliers;
    let script = flow::yosys_script(board.family, top.module(), "top.v", "synth.json", dsp);
    report.steps.push(run_tool(
        &programs[0],
        &["-q".into(), "-p".into(), script],
        dir,
        "yosys.log",
    )?);
    let stat = std::fs::read_to_string(dir.join("synth_stat.txt")).unwrap_or_default();
    let (ffs, luts) = flow::yosys_cells(&stat);
    report.flip_flops = ffs;
    let placeable = top.pinned() || top.io_bits() <= board.resources.user_io;
    let figures = if placeable {
        let out = if board.family == Family::Ice40 {
            "top.asc"
        } else {
            "top.config"
        };
        let constraint_name = constraints
            .as_ref()
            .and_then(|c| c.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let constraint_name = constraint_name.as_deref();
        let args = flow::nextpnr_args(
            board,
            constraint_name,
            out,
            target_mhz,
            options.seed,
            PNR_REPORT,
        );
        report
            .steps
            .push(run_tool(&programs[1], &args, dir, "nextpnr.log")?);
        let figures = read_nextpnr_report(&dir.join(PNR_REPORT), board.family)?;
        report.fmax_by_seed.push(SeedFmax {
            seed: options.seed,
            fmax_mhz: figures.fmax_mhz,
        });
        // The spread: the same netlist placed at the following seeds, each
        // into its own files (the first build's stay as they are).
        for seed in (1..=options.more_seeds).map(|i| options.seed + i) {
            let extension = if board.family == Family::Ice40 {
                "asc"
            } else {
                "config"
            };
            let placed = format!("seed{seed}.{extension}");
            let pnr_report = format!("pnr_report_seed{seed}.json");
            let args = flow::nextpnr_args(
                board,
                constraint_name,
                &placed,
                target_mhz,
                seed,
                &pnr_report,
            );
            let log = format!("nextpnr_seed{seed}.log");
            report.steps.push(run_tool(&programs[1], &args, dir, &log)?);
            let more = read_nextpnr_report(&dir.join(&pnr_report), board.family)?;
            report.fmax_by_seed.push(SeedFmax {
                seed,
                fmax_mhz: more.fmax_mhz,
            });
        }
        if top.pinned() {
            let bit = if board.family == Family::Ice40 {
                "top.bin"
            } else {
                "top.bit"
            };
            report.steps.push(run_tool(
                &programs[2],
                &[out.to_string(), bit.to_string()],
                dir,
                "pack.log",
            )?);
            report.bitstream = Some(dir.join(bit));
        }
        figures
    } else {
        Figures {
            logic_cells: luts,
            block_rams: count_cells(&stat, &["SB_RAM40_4K", "DP16KD"]),
            dsps: count_cells(&stat, &["SB_MAC16", "MULT18X18D"]),
            ..Figures::default()
        }
    };
    report.fmax_mhz = figures.fmax_mhz;
    report.timing_met = figures.fmax_mhz.map(|f| f >= target_mhz);
    if let (Some(pll), Some(fmax)) = (top.pll(), figures.fmax_mhz) {
        if fmax < pll.output_mhz {
            report.notes.push(format!(
                "TIMING NOT MET: nextpnr's Fmax, {fmax:.2} MHz, is below the {} MHz core clock \
                 the PLL makes. The bitstream is written, but the device may fail on the board: \
                 build with a --clock-mhz at or below the Fmax (or try other --seed values).",
                super::pll::mhz(pll.output_mhz)
            ));
        }
    }
    report.logic_cells = figures.logic_cells;
    report.block_rams = figures.block_rams;
    report.dsps = figures.dsps;
    report.critical_path = figures.critical_path;

    let (cycles, bound) = simulate(top, options.sim_vectors)?;
    finish_rates(&mut report, cycles, bound);
    write(&dir.join("report.json"), &to_json(&report))?;
    write(&dir.join("report.md"), &markdown(&report))?;
    Ok(report)
}

/// `seed 1: 202.7, seed 2: 204.8 MHz (min 202.7, mean 203.8)`, or the one
/// seed.
fn fmax_by_seed(runs: &[SeedFmax]) -> String {
    if runs.is_empty() {
        return "n/a (not placed)".to_string();
    }
    let each: Vec<String> = runs
        .iter()
        .map(|r| format!("seed {}: {}", r.seed, opt(r.fmax_mhz, 1)))
        .collect();
    let fmax: Vec<f64> = runs.iter().filter_map(|r| r.fmax_mhz).collect();
    if fmax.len() < 2 {
        return format!("{} MHz (`--seeds N` for the spread)", each.join(", "));
    }
    let min = fmax.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = fmax.iter().sum::<f64>() / fmax.len() as f64;
    format!("{} MHz (min {min:.1}, mean {mean:.1})", each.join(", "))
}

/// nextpnr's JSON report of the first placement.
const PNR_REPORT: &str = "pnr_report.json";

fn read_nextpnr_report(path: &Path, family: Family) -> Result<Figures, BoardError> {
    let json = std::fs::read_to_string(path).map_err(|e| BoardError::ToolOutput {
        tool: "nextpnr".into(),
        message: format!("{}: {e}", path.display()),
    })?;
    flow::parse_nextpnr_report(&json, family).map_err(|message| BoardError::ToolOutput {
        tool: "nextpnr".into(),
        message,
    })
}

fn count_cells(stat: &str, names: &[&str]) -> u64 {
    stat.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            match (it.next(), it.next()) {
                (Some(n), Some(c)) if names.contains(&n) => c.parse::<u64>().ok(),
                _ => None,
            }
        })
        .sum()
}

fn finish_rates(report: &mut BuildReport, cycles: f64, bound: usize) {
    report.cycles_per_inference = cycles;
    report.bound_cycles_per_inference = bound;
    report.inferences_per_s_at_board_clock = report.board_clock_mhz * 1e6 / cycles;
    report.inferences_per_s = report.fmax_mhz.map(|f| f * 1e6 / cycles);
    if report.logic_cells > 0 {
        report.inferences_per_s_per_logic_cell = report
            .inferences_per_s
            .map(|r| r / report.logic_cells as f64);
    }
}

/// The report as one JSON object.
pub fn to_json(report: &BuildReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.digits$}"))
}

/// The report as Markdown.
pub fn markdown(r: &BuildReport) -> String {
    let mut s = format!(
        "# lutgen build: {} ({})\n\n{}\n\n| figure | value |\n|---|---|\n",
        r.board, r.part, r.top
    );
    let rows = [
        (
            "bitstream",
            r.bitstream
                .as_ref()
                .map_or("none (out of context)".to_string(), |p| {
                    p.display().to_string()
                }),
        ),
        (
            "Fmax",
            format!(
                "{} MHz (target {} MHz{})",
                opt(r.fmax_mhz, 2),
                r.target_mhz,
                match r.timing_met {
                    Some(true) => ", met",
                    Some(false) => ", missed",
                    None => "",
                }
            ),
        ),
        ("Fmax by seed", fmax_by_seed(&r.fmax_by_seed)),
        ("board clock", format!("{} MHz", r.board_clock_mhz)),
        (
            "core clock",
            match (&r.pll, r.core_clock_mhz) {
                (Some(p), _) => format!("{} MHz from the PLL: {p}", super::pll::mhz(p.output_mhz)),
                (None, Some(c)) => format!("{c} MHz (the oscillator, no PLL)"),
                (None, None) => "n/a (out of context)".to_string(),
            },
        ),
        (
            "logic cells",
            format!("{} of {}", r.logic_cells, r.logic_cells_available),
        ),
        ("flip-flops", r.flip_flops.to_string()),
        (
            "block RAMs",
            format!("{} of {}", r.block_rams, r.block_rams_available),
        ),
        ("DSPs", format!("{} of {}", r.dsps, r.dsps_available)),
        (
            "cycles per inference",
            format!(
                "{:.2} (bound {})",
                r.cycles_per_inference, r.bound_cycles_per_inference
            ),
        ),
        ("inferences/s at Fmax", opt(r.inferences_per_s, 0)),
        (
            "inferences/s at the board clock",
            format!("{:.0}", r.inferences_per_s_at_board_clock),
        ),
        (
            "inferences/s per logic cell (at Fmax)",
            opt(r.inferences_per_s_per_logic_cell, 2),
        ),
    ];
    for (k, v) in rows {
        s.push_str(&format!("| {k} | {v} |\n"));
    }
    s.push_str(&format!("\n## Fit check\n\n```\n{}\n```\n", r.fit));
    if !r.steps.is_empty() {
        s.push_str("\n## Tools\n\n");
        for step in &r.steps {
            s.push_str(&format!(
                "- {}: {:.1} s ({}log: {})\n",
                step.tool,
                step.seconds,
                if step.cached {
                    "restored from the step cache; "
                } else {
                    ""
                },
                step.log.display()
            ));
        }
    }
    if !r.critical_path.is_empty() {
        s.push_str("\n## Critical path (nextpnr)\n\n```\n");
        for line in &r.critical_path {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("```\n");
    }
    for n in &r.notes {
        s.push_str(&format!("\n> {n}\n"));
    }
    s
}

/// Like [`fit::check`], but an error when it does not fit.
fn require_fit(top: &Top, board: &Board) -> Result<FitReport, BoardError> {
    let report = fit::check(top, board);
    if report.fits {
        Ok(report)
    } else {
        Err(BoardError::DoesNotFit(Box::new(report)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(fmax: &[Option<f64>]) -> Vec<SeedFmax> {
        fmax.iter()
            .zip(1..)
            .map(|(&fmax_mhz, seed)| SeedFmax { seed, fmax_mhz })
            .collect()
    }

    #[test]
    fn fmax_by_seed_gives_each_seed_then_min_and_mean() {
        assert_eq!(
            fmax_by_seed(&runs(&[Some(202.7), Some(204.8), Some(189.7)])),
            "seed 1: 202.7, seed 2: 204.8, seed 3: 189.7 MHz (min 189.7, mean 199.1)"
        );
        assert_eq!(
            fmax_by_seed(&runs(&[Some(128.9)])),
            "seed 1: 128.9 MHz (`--seeds N` for the spread)"
        );
        assert_eq!(fmax_by_seed(&[]), "n/a (not placed)");
    }

    #[test]
    fn too_big_says_by_how_much_and_what_fits() {
        let board = Board::find("icebreaker").unwrap();
        let config = lutgen_core::EngineConfig {
            centroids: 64,
            ..lutgen_core::EngineConfig::default()
        };
        let top = Top::Engine(config);
        let err = require_fit(&top, &board).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BoardError::DoesNotFit(_)));
        assert!(text.contains("over"), "{text}");
        assert!(
            text.contains("largest configuration that fits: --input-dim 64 --outputs 16"),
            "{text}"
        );
        let BoardError::DoesNotFit(report) = err else {
            unreachable!()
        };
        let flags = report.largest_fitting.unwrap();
        let k: usize = flags
            .split("--centroids ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(k < 64);
    }
}
