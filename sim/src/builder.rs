//! Turning Verilog text into a loaded [`Model`]: Verilator, make/g++, and the cache.
//!
//! A cache miss runs, in a private temporary directory inside the cache directory:
//!
//! ```text
//! verilator --cc --prefix Vlutgen --top-module TOP -Mdir obj [--trace] -CFLAGS -fPIC TOP.v
//! (cd obj && make -f lutgen.mk -jN OPT_FAST=-O2 OPT_GLOBAL=-O2 liblutgen_model.so)
//!                                   (OPT_FAST=-O1 above LARGE_VERILOG_BYTES of Verilog)
//! ```
//!
//! (`lutgen.mk` includes Verilator's makefile and links model, run time and shim with
//! `g++ -shared`), then renames the result into `<cache>/<sha256>/`. Verilator's compiled
//! run time is cached separately and reused by later models.
//!
//! No lint warning is waived: Verilator's default warnings (WIDTH, CASEINCOMPLETE, ...) are
//! fatal unless the Verilog itself carries a `/* verilator lint_off ... */` comment, because
//! lutgen's generated Verilog is meant to be lint clean.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cache;
use crate::port::{Direction, PortSpec};
use crate::shim::{self, HeaderPort, RisingEdge, RootMember, StateWatch};
use crate::{Model, SimError};

/// Environment variable naming the Verilator binary (default: `verilator` on `PATH`).
pub const VERILATOR_ENV: &str = "LUTGEN_VERILATOR";

/// Verilog larger than this compiles its model C++ with `-O1` instead of `-O2`.
///
/// g++ `-O2` is far worse than linear on the very large functions Verilator
/// writes for big designs: the unfolded K = 256 engine (4.4 MB of Verilog)
/// compiles in 27 s at `-O1` and took over 5 minutes at `-O2` on the 2-core
/// machine. Below the threshold (the default engine is 0.24 MB) models keep
/// `-O2`, which the simulation benchmarks are measured with.
pub const LARGE_VERILOG_BYTES: usize = 1 << 20;

/// Optimisation flags for the model and run-time C++ of `verilog` (Verilator's defaults are `-Os`).
fn make_opt(verilog: &str) -> [&'static str; 2] {
    if verilog.len() > LARGE_VERILOG_BYTES {
        ["OPT_FAST=-O1", "OPT_GLOBAL=-O2"]
    } else {
        ["OPT_FAST=-O2", "OPT_GLOBAL=-O2"]
    }
}
/// The Verilator and make output of a build, kept in its cache entry.
pub(crate) const BUILD_LOG: &str = "build.log";
/// Most diagnostic lines kept in an error message.
const MAX_LINES: usize = 120;

/// Configures and builds a [`Model`] from Verilog source at run time.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    verilog: String,
    top: String,
    ports: Vec<PortSpec>,
    trace: bool,
    cache_dir: Option<PathBuf>,
    verilator: Option<PathBuf>,
    /// Time counters, when the model watches its state ([`ModelBuilder::watch_state`]).
    counters: Option<Vec<String>>,
    /// Ticks evaluate the rising edge alone ([`ModelBuilder::rising_edge_only`]).
    rising_edge: bool,
}

impl ModelBuilder {
    /// A builder for module `top_module` of `verilog_source`, driven through `ports`
    /// (in this order; [`crate::PortId`]s are indices into this list).
    pub fn new(verilog_source: &str, top_module: &str, ports: Vec<PortSpec>) -> Self {
        ModelBuilder {
            verilog: verilog_source.to_string(),
            top: top_module.to_string(),
            ports,
            trace: false,
            cache_dir: None,
            verilator: None,
            counters: None,
            rising_edge: false,
        }
    }

    /// The design acts on the rising edge of its clock only: no process is sensitive to a
    /// falling edge or reads the clock's level (true of everything rust-hdl writes). Then a
    /// tick can evaluate the model once, at the rising edge, instead of twice (about 15% of
    /// a tick of the lutgen device), with the same results: Verilator 5.006 finds an edge by
    /// comparing the clock with its value at the last evaluation, which the shim sets low
    /// before it raises the clock. Where a Verilator keeps that value under another name,
    /// ticks evaluate both edges as before ([`Model::rising_edge_only`] says which); so do
    /// ticks while a trace is open.
    pub fn rising_edge_only(mut self, on: bool) -> Self {
        self.rising_edge = on;
        self
    }

    /// Let the model tell when a cycle changed nothing, so that cycles can be skipped
    /// ([`Model::tick_watched`], [`Model::skip`]). `counters` are the registers that count
    /// time (Verilog paths below any instance, e.g. `receiver.silence$q`): they are left out
    /// of the comparison, and a skip advances each by its last per-cycle change. Each must
    /// name exactly one signal of the Verilated model, or the build fails. A counter's value
    /// must matter to the rest of the design only through comparisons the caller keeps out
    /// of reach when skipping (see [`Model::counter`]).
    pub fn watch_state(mut self, counters: &[&str]) -> Self {
        self.counters = Some(counters.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Build with `--trace`, so [`Model::open_trace`] can write a VCD (slower simulation).
    pub fn trace(mut self, enabled: bool) -> Self {
        self.trace = enabled;
        self
    }

    /// Keep built models here instead of [`crate::default_cache_dir`].
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Use this Verilator binary instead of `$LUTGEN_VERILATOR` or `verilator` on `PATH`.
    pub fn verilator(mut self, program: impl Into<PathBuf>) -> Self {
        self.verilator = Some(program.into());
        self
    }

    /// Builds (or fetches from the cache) and loads the model.
    ///
    /// A cache miss takes seconds (about 6 s for a tiny design when Verilator's run time is
    /// not cached yet, under 2 s when it is); a hit takes tens of milliseconds. Fails with
    /// [`SimError::Verilator`] on any Verilator error or unwaived lint warning.
    pub fn build(&self) -> Result<Model, SimError> {
        let mut seen = std::collections::HashSet::new();
        for port in &self.ports {
            port.validate()?;
            if !seen.insert(port.name.as_str()) {
                return Err(SimError::PortMismatch {
                    name: port.name.clone(),
                    reason: "listed twice in the port list".into(),
                });
            }
        }

        let verilator = self.verilator_program();
        let version = verilator_version(&verilator)?;
        // The shim as it is before Verilator may rename a port that is a C++ keyword; the
        // one compiled is a function of the key's other parts.
        let default_members: Vec<String> = self.ports.iter().map(PortSpec::cpp_name).collect();
        // (The watched members follow from the Verilog too; the counters named are what the
        // key needs.)
        let watch_key = self.counters.as_ref().map(|counters| StateWatch {
            compared: Vec::new(),
            counters: counters.iter().map(|c| (c.clone(), 0)).collect(),
        });
        let edges_key = self.rising_edge.then_some(&[][..]);
        let shim_cpp =
            shim::shim_source(&self.ports, &default_members, watch_key.as_ref(), edges_key);
        let makefile = shim::makefile();
        let exports = shim::exports_map();
        let port_list: String = self
            .ports
            .iter()
            .map(|p| format!("{}:{}:{:?};", p.name, p.width, p.direction))
            .collect();
        let key = cache::cache_key(&[
            self.verilog.as_bytes(),
            self.top.as_bytes(),
            port_list.as_bytes(),
            &[u8::from(self.trace)],
            shim_cpp.as_bytes(),
            makefile.as_bytes(),
            exports.as_bytes(),
            make_opt(&self.verilog).join(" ").as_bytes(),
            version.as_bytes(),
        ]);

        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(cache::default_cache_dir);
        let entry = cache_dir.join(&key);
        if let Some(lib) = cache::lookup(&entry) {
            return Model::load(&lib, self.ports.clone(), self.trace, true, self.rising_edge);
        }
        let runtime = cache_dir.join(format!(
            "runtime-{}",
            cache::cache_key(&[
                b"verilator run time",
                &[u8::from(self.trace)],
                makefile.as_bytes(),
                make_opt(&self.verilog).join(" ").as_bytes(),
                version.as_bytes(),
            ])
        ));

        fs::create_dir_all(&cache_dir).map_err(|e| SimError::io(&cache_dir, e))?;
        // One builder per key at a time: a second process wanting the same model (parallel
        // test binaries, two `lutgen` commands) waits for the first and loads its entry
        // instead of building it again. The lock is released when `_lock` drops.
        let _lock = cache::lock(&cache_dir, &key)?;
        if let Some(lib) = cache::lookup(&entry) {
            return Model::load(&lib, self.ports.clone(), self.trace, true, self.rising_edge);
        }
        let tmp = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(&cache_dir)
            .map_err(|e| SimError::io(&cache_dir, e))?;
        let sources = Sources {
            makefile: &makefile,
            exports: &exports,
        };
        let built = self.build_in(tmp.path(), &verilator, &sources, &runtime)?;
        cache::install(&built, &entry)?;
        Model::load(
            &entry.join(shim::LIBRARY),
            self.ports.clone(),
            self.trace,
            false,
            self.rising_edge,
        )
    }

    fn verilator_program(&self) -> PathBuf {
        self.verilator
            .clone()
            .or_else(|| std::env::var_os(VERILATOR_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("verilator"))
    }

    /// Runs Verilator and make in `dir`, reusing (or filling) the run-time cache entry
    /// `runtime`; returns the finished model entry directory `dir/entry`.
    fn build_in(
        &self,
        dir: &Path,
        verilator: &Path,
        sources: &Sources<'_>,
        runtime: &Path,
    ) -> Result<PathBuf, SimError> {
        let file_name = if self
            .top
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            format!("{}.v", self.top)
        } else {
            "design.v".to_string()
        };
        write(&dir.join(&file_name), &self.verilog)?;

        let obj = dir.join("obj");
        let mut cmd = Command::new(verilator);
        cmd.current_dir(dir)
            .args(["--cc", "--prefix", shim::PREFIX, "--top-module", &self.top])
            .args(["-Mdir", "obj"]);
        if self.trace {
            cmd.arg("--trace");
        }
        cmd.args(["-CFLAGS", "-fPIC"]).arg(&file_name);
        let out = run(&mut cmd, || SimError::VerilatorNotFound {
            program: verilator.to_path_buf(),
        })?;
        let mut log = format!("$ {}\n{}", describe(&cmd), combined(&out));
        if !out.status.success() {
            return Err(SimError::Verilator {
                top: self.top.clone(),
                command: describe(&cmd),
                diagnostics: verilator_diagnostics(&combined(&out)),
            });
        }

        let header_path = obj.join(format!("{}.h", shim::PREFIX));
        let header = fs::read_to_string(&header_path).map_err(|e| SimError::io(&header_path, e))?;
        let members = check_ports(&self.ports, &shim::parse_header_ports(&header), &self.top)?;
        let root = if self.counters.is_some() || self.rising_edge {
            let root_path = obj.join(format!("{}___024root.h", shim::PREFIX));
            let root = fs::read_to_string(&root_path).map_err(|e| SimError::io(&root_path, e))?;
            shim::parse_root_members(&root)
        } else {
            Vec::new()
        };
        let watch = match &self.counters {
            Some(counters) => Some(state_watch(&root, counters)?),
            None => None,
        };
        let edges = self
            .rising_edge
            .then(|| rising_edges(&self.ports, &members, &root));

        write(
            &obj.join(shim::SHIM_CPP),
            &shim::shim_source(&self.ports, &members, watch.as_ref(), edges.as_deref()),
        )?;
        write(&obj.join(shim::MAKEFILE), sources.makefile)?;
        write(&obj.join(shim::EXPORTS_MAP), sources.exports)?;
        // Fresh copies of cached run-time objects are newer than everything make checks
        // them against, so it links them instead of recompiling.
        let have_runtime = runtime.is_dir();
        if have_runtime {
            for object in runtime_objects(runtime)? {
                let to = obj.join(object.file_name().unwrap_or_default());
                fs::copy(&object, &to).map_err(|e| SimError::io(&object, e))?;
            }
        }

        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut cmd = Command::new("make");
        cmd.current_dir(&obj)
            .args(["-f", shim::MAKEFILE, &format!("-j{jobs}")])
            .args(make_opt(&self.verilog))
            .arg(shim::LIBRARY);
        let out = run(&mut cmd, || SimError::ToolNotFound {
            tool: "make".into(),
        })?;
        let make_log = combined(&out);
        if !out.status.success() {
            return Err(SimError::Compile {
                command: describe(&cmd),
                output: compiler_errors(&make_log),
            });
        }
        log.push_str(&format!("$ {}\n{make_log}", describe(&cmd)));

        if !have_runtime {
            let objects = runtime_objects(&obj)?;
            if !objects.is_empty() {
                let staged = dir.join("runtime");
                fs::create_dir(&staged).map_err(|e| SimError::io(&staged, e))?;
                for object in objects {
                    let to = staged.join(object.file_name().unwrap_or_default());
                    fs::rename(&object, &to).map_err(|e| SimError::io(&object, e))?;
                }
                cache::install(&staged, runtime)?;
            }
        }

        // The entry keeps the library plus its sources and build log, for debugging.
        let entry = dir.join("entry");
        fs::create_dir(&entry).map_err(|e| SimError::io(&entry, e))?;
        for (from, name) in [
            (obj.join(shim::LIBRARY), shim::LIBRARY),
            (dir.join(&file_name), file_name.as_str()),
            (obj.join(shim::SHIM_CPP), shim::SHIM_CPP),
        ] {
            let to = entry.join(name);
            fs::rename(&from, &to).map_err(|e| SimError::io(&from, e))?;
        }
        write(&entry.join(BUILD_LOG), &log)?;
        Ok(entry)
    }
}

/// The generated build files (part of the cache key) that do not depend on the design.
struct Sources<'a> {
    makefile: &'a str,
    exports: &'a str,
}

/// Verilator's compiled run-time objects in `dir` (`verilated*.o`, i.e. `VK_GLOBAL_OBJS`).
fn runtime_objects(dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    let mut objects = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| SimError::io(dir, e))? {
        let path = item.map_err(|e| SimError::io(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("verilated") && name.ends_with(".o") {
            objects.push(path);
        }
    }
    Ok(objects)
}

/// The first line of `verilator --version`, after checking it is a 5.x or later release.
pub(crate) fn verilator_version(program: &Path) -> Result<String, SimError> {
    let mut cmd = Command::new(program);
    cmd.arg("--version");
    let out = run(&mut cmd, || SimError::VerilatorNotFound {
        program: program.to_path_buf(),
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    let major = line
        .strip_prefix("Verilator ")
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 5 && out.status.success() => Ok(line),
        _ => Err(SimError::UnsupportedVerilator {
            version: if line.is_empty() {
                combined(&out).trim().to_string()
            } else {
                line
            },
        }),
    }
}

/// Checks each listed port against the generated header and returns the ports' C++ member
/// names. (Checks are skipped if the header format is unrecognised; the shim's
/// `static_assert`s still guard the storage sizes then.)
fn check_ports(
    ports: &[PortSpec],
    header: &[HeaderPort],
    top: &str,
) -> Result<Vec<String>, SimError> {
    let mut members = Vec::with_capacity(ports.len());
    for port in ports {
        let cpp = port.cpp_name();
        if header.is_empty() {
            members.push(cpp);
            continue;
        }
        // Verilator prefixes names that are C++ keywords (SYMRSVDWORD) with `__SYM__`.
        let keyword = format!("__SYM__{cpp}");
        let Some(found) = header.iter().find(|h| h.name == cpp || h.name == keyword) else {
            let known: Vec<&str> = header.iter().map(|h| h.name.as_str()).collect();
            return Err(SimError::PortMismatch {
                name: port.name.clone(),
                reason: format!(
                    "module `{top}` has no such port (looked for C++ member `{cpp}`; \
                     it has: {})",
                    known.join(", ")
                ),
            });
        };
        if found.width != port.width {
            return Err(SimError::PortMismatch {
                name: port.name.clone(),
                reason: format!(
                    "the port list says {} bits, module `{top}` declares {}",
                    port.width, found.width
                ),
            });
        }
        if found.direction != Some(port.direction) {
            let actual = found
                .direction
                .map_or("inout".to_string(), |d| format!("{d:?}").to_lowercase());
            return Err(SimError::PortMismatch {
                name: port.name.clone(),
                reason: format!(
                    "the port list says {:?}, module `{top}` declares it {actual}",
                    port.direction
                ),
            });
        }
        members.push(found.name.clone());
    }
    Ok(members)
}

/// The 1-bit inputs whose previous value the root keeps under the name Verilator 5.006 gives
/// it (a clock; see [`ModelBuilder::rising_edge_only`]).
fn rising_edges(ports: &[PortSpec], members: &[String], root: &[RootMember]) -> Vec<RisingEdge> {
    ports
        .iter()
        .zip(members)
        .enumerate()
        .filter(|(_, (port, _))| port.direction == Direction::Input && port.width == 1)
        .filter_map(|(i, (_, member))| {
            let previous = shim::previous_value_member(member);
            root.iter()
                .any(|m| m.name == previous && !m.array && m.width == Some(1))
                .then_some(RisingEdge { port: i, previous })
        })
        .collect()
}

/// What the shim compares from cycle to cycle: every signal of the root but its memories,
/// and the time counters (each exactly one member).
fn state_watch(root: &[RootMember], counters: &[String]) -> Result<StateWatch, SimError> {
    let mut watch = StateWatch {
        compared: root
            .iter()
            .filter(|m| !m.array)
            .map(|m| m.name.clone())
            .collect(),
        counters: Vec::new(),
    };
    for path in counters {
        let suffix = shim::member_suffix(path);
        let found: Vec<&RootMember> = root.iter().filter(|m| m.name.ends_with(&suffix)).collect();
        let member = match found[..] {
            [one] => one,
            [] => {
                return Err(SimError::Counter {
                    path: path.clone(),
                    reason: format!(
                        "no signal of the Verilated model ends with `{suffix}` \
                         (optimised away, or named differently by this Verilator)"
                    ),
                })
            }
            _ => {
                let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
                return Err(SimError::Counter {
                    path: path.clone(),
                    reason: format!("names {} signals: {}", found.len(), names.join(", ")),
                });
            }
        };
        let width = match (member.array, member.width) {
            (false, Some(width)) if width <= 64 => width,
            _ => {
                return Err(SimError::Counter {
                    path: path.clone(),
                    reason: format!("`{}` is not a register of 64 bits or fewer", member.name),
                })
            }
        };
        watch.counters.push((member.name.clone(), width));
    }
    Ok(watch)
}

fn write(path: &Path, text: &str) -> Result<(), SimError> {
    fs::write(path, text).map_err(|e| SimError::io(path, e))
}

/// Runs a command to completion, mapping "program not found" to `missing()`.
fn run(cmd: &mut Command, missing: impl FnOnce() -> SimError) -> Result<Output, SimError> {
    cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            missing()
        } else {
            SimError::io(PathBuf::from(cmd.get_program()), e)
        }
    })
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

fn combined(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// Verilator's `%Error`/`%Warning` lines with their indented context lines.
pub(crate) fn verilator_diagnostics(output: &str) -> String {
    let mut kept = Vec::new();
    let mut in_diagnostic = false;
    for line in output.lines() {
        if line.starts_with('%') {
            in_diagnostic = true;
            kept.push(line);
        } else if in_diagnostic && line.starts_with([' ', '\t']) {
            kept.push(line);
        } else {
            in_diagnostic = false;
        }
    }
    if kept.is_empty() {
        tail(output)
    } else {
        cap(kept)
    }
}

/// The compiler's and linker's error lines (falling back to the tail of the output).
pub(crate) fn compiler_errors(output: &str) -> String {
    let kept: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("error") || l.contains("Error") || l.contains("undefined reference"))
        .collect();
    if kept.is_empty() {
        tail(output)
    } else {
        cap(kept)
    }
}

fn cap(mut lines: Vec<&str>) -> String {
    let total = lines.len();
    lines.truncate(MAX_LINES);
    let mut s = lines.join("\n");
    if total > MAX_LINES {
        s.push_str(&format!("\n... ({} more lines)", total - MAX_LINES));
    }
    s
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_designs::{counter_ports, shared_cache, wide_ports, COUNTER, WIDE};
    use crate::PortSpec;

    /// A `verilator` wrapper that logs its arguments, to see what a build ran.
    fn logging_verilator(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let log = dir.join("calls.log");
        let script = dir.join("verilator-wrapper");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nexec verilator \"$@\"\n",
                log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        (script, log)
    }

    #[test]
    fn second_build_is_a_cache_hit_and_the_run_time_is_reused() {
        let cache = tempfile::tempdir().unwrap();
        let (verilator, calls) = logging_verilator(cache.path());
        let builder = ModelBuilder::new(COUNTER, "counter", counter_ports())
            .cache_dir(cache.path().join("models"))
            .verilator(&verilator);

        // Two builders of one key at once: the second waits on the key's lock and loads
        // the first's entry (one Verilator run, below).
        let (first, racer) = std::thread::scope(|s| {
            let racer = s.spawn(|| builder.build().unwrap());
            (builder.build().unwrap(), racer.join().unwrap())
        });
        let (first, racer) = if first.was_cached() {
            (racer, first)
        } else {
            (first, racer)
        };
        assert!(!first.was_cached() && racer.was_cached());
        drop(racer);
        let lib = first.library_path().to_path_buf();
        assert!(lib.starts_with(cache.path().join("models")));
        let built_at = fs::metadata(&lib).unwrap().modified().unwrap();
        let log = fs::read_to_string(lib.with_file_name(BUILD_LOG)).unwrap();
        assert!(
            log.contains("verilated.cpp"),
            "first build compiles the run time: {log}"
        );
        let runs = fs::read_to_string(&calls).unwrap();
        assert_eq!(runs.lines().filter(|l| l.contains("--cc")).count(), 1);

        let second = builder.build().unwrap();
        assert!(second.was_cached());
        assert_eq!(second.library_path(), lib);
        assert_eq!(fs::metadata(&lib).unwrap().modified().unwrap(), built_at);
        let runs = fs::read_to_string(&calls).unwrap();
        assert_eq!(
            runs.lines().filter(|l| l.contains("--cc")).count(),
            1,
            "a cache hit only asks for the version: {runs}"
        );
        // No leftover build directories.
        let names: Vec<String> = fs::read_dir(cache.path().join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".build-")), "{names:?}");

        // Anything in the key changes the entry: here the trace flag.
        let traced = builder.clone().trace(true).build().unwrap();
        assert!(!traced.was_cached());
        assert_ne!(traced.library_path(), lib);

        // A different design reuses the compiled run time.
        let wide = ModelBuilder::new(WIDE, "wide", wide_ports())
            .cache_dir(cache.path().join("models"))
            .build()
            .unwrap();
        assert!(!wide.was_cached());
        let log = fs::read_to_string(wide.library_path().with_file_name(BUILD_LOG)).unwrap();
        assert!(
            !log.contains("verilated.cpp"),
            "run time was recompiled: {log}"
        );
    }

    #[test]
    fn syntax_error_is_a_verilator_error_with_the_offending_line() {
        let broken = "module broken(input wire a, output wire y);\n  assign y = a\nendmodule\n";
        let err = ModelBuilder::new(broken, "broken", vec![PortSpec::input("a", 1)])
            .cache_dir(shared_cache().path())
            .build()
            .unwrap_err();
        let SimError::Verilator {
            diagnostics, top, ..
        } = &err
        else {
            panic!("expected a Verilator error, got {err}");
        };
        assert_eq!(top, "broken");
        assert!(
            diagnostics.starts_with("%Error: broken.v:3:1: syntax error"),
            "{diagnostics}"
        );
        assert!(err.to_string().contains("broken.v:3"), "{err}");
    }

    /// Lint warnings are fatal (we never pass `-Wno-fatal`/`-Wno-lint`); a waiver in the
    /// source is the way to accept one.
    #[test]
    fn lint_warnings_are_fatal_unless_waived_in_the_source() {
        let truncating = "module trunc(input wire [7:0] a, output wire [3:0] y);\n  \
                          assign y = a;\nendmodule\n";
        let ports = vec![PortSpec::input("a", 8), PortSpec::output("y", 4)];
        let cache = shared_cache();
        let err = ModelBuilder::new(truncating, "trunc", ports.clone())
            .cache_dir(cache.path())
            .build()
            .unwrap_err();
        let SimError::Verilator { diagnostics, .. } = &err else {
            panic!("expected a Verilator error, got {err}");
        };
        assert!(
            diagnostics.starts_with("%Warning-WIDTH: trunc.v:2:"),
            "{diagnostics}"
        );
        assert!(
            diagnostics.contains("%Error: Exiting due to"),
            "{diagnostics}"
        );

        let waived = "module trunc(input wire [7:0] a, output wire [3:0] y);\n  \
                      /* verilator lint_off WIDTH */\n  assign y = a;\n  \
                      /* verilator lint_on WIDTH */\nendmodule\n";
        let mut m = ModelBuilder::new(waived, "trunc", ports)
            .cache_dir(cache.path())
            .build()
            .unwrap();
        m.set_by_name("a", 0xab).unwrap();
        m.eval();
        assert_eq!(m.get_by_name("y").unwrap(), 0xb);
    }

    #[test]
    fn port_list_is_checked_against_the_design() {
        let cache = shared_cache();
        let check = |ports: Vec<PortSpec>| {
            ModelBuilder::new(COUNTER, "counter", ports)
                .cache_dir(cache.path())
                .build()
                .unwrap_err()
        };
        let wrong_width = check(vec![PortSpec::output("q", 9)]);
        assert_eq!(
            wrong_width.to_string(),
            "port `q`: the port list says 9 bits, module `counter` declares 8"
        );
        let wrong_dir = check(vec![PortSpec::input("q", 8)]);
        assert!(
            wrong_dir.to_string().contains("declares it output"),
            "{wrong_dir}"
        );
        let missing = check(vec![PortSpec::input("reset", 1)]);
        assert!(
            missing.to_string().contains(
                "has no such port (looked for C++ member `reset`; it has: clk, rst, en, q)"
            ),
            "{missing}"
        );
        let twice = check(vec![PortSpec::input("en", 1), PortSpec::input("en", 1)]);
        assert!(matches!(twice, SimError::PortMismatch { .. }), "{twice}");
        let too_wide = check(vec![PortSpec::input("q", 65)]);
        assert!(matches!(too_wide, SimError::PortTooWide { width: 65, .. }));
        assert_eq!(
            too_wide.to_string(),
            "port `q` is 65 bits wide; lutgen-sim supports ports of 1 to 64 bits"
        );
    }

    #[test]
    fn missing_verilator_says_how_to_install_it() {
        let err = ModelBuilder::new(COUNTER, "counter", counter_ports())
            .cache_dir(shared_cache().path())
            .verilator("/nonexistent/bin/verilator")
            .build()
            .unwrap_err();
        assert!(matches!(err, SimError::VerilatorNotFound { .. }));
        assert!(
            err.to_string().contains("apt-get install verilator"),
            "{err}"
        );
    }

    #[test]
    fn diagnostics_keep_percent_lines_and_context() {
        let out = "noise\n%Warning-WIDTH: a.v:3:14: too wide\n   3 | assign y = b;\n     |   ^\n\
                   make stuff\n%Error: Exiting due to 1 warning(s)\n";
        assert_eq!(
            verilator_diagnostics(out),
            "%Warning-WIDTH: a.v:3:14: too wide\n   3 | assign y = b;\n     |   ^\n\
             %Error: Exiting due to 1 warning(s)"
        );
        assert_eq!(verilator_diagnostics("just\nthis"), "just\nthis");
        assert_eq!(
            compiler_errors("g++ -c x.cpp\nx.cpp:1:1: error: nope\nmake: *** [x.o] Error 1\n"),
            "x.cpp:1:1: error: nope\nmake: *** [x.o] Error 1"
        );
    }
}
