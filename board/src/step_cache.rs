//! The flow's step cache: one synthesis, one placement per distinct input.
//!
//! yosys, nextpnr and the packers are deterministic: a run is a function of
//! the program, its arguments and the files in its build directory. So
//! [`crate::flow::run_tool`] keys each run by a SHA-256 of exactly those
//! (the program's path, size and modification time; every argument; the
//! name and contents of every file in the directory except tool logs) and
//! keeps what the run wrote (the files it created or changed, its log) under
//! that key. The same step on the same inputs, in any build directory (a
//! report's sweep and its jobs, a rebuild, two tests), restores those files
//! instead of running the tool again; the step then says `cached`.
//!
//! The cache lives in `$LUTGEN_FLOW_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/lutgen/flow`, else `~/.cache/lutgen/flow`; an empty
//! `LUTGEN_FLOW_CACHE_DIR` turns it off (every tool runs). An entry is
//! written into a temporary directory and renamed into place, so concurrent
//! builds never see half an entry. A cache that cannot be read or written
//! never fails a build: the tool runs as if there were no cache.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Environment variable naming the cache directory (empty: no cache).
pub const FLOW_CACHE_ENV: &str = "LUTGEN_FLOW_CACHE_DIR";

/// Bumped when an entry's layout or the key's recipe changes.
const FORMAT: &str = "lutgen flow step cache v1";

/// The cache directory, or `None` when [`FLOW_CACHE_ENV`] is set but empty.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name);
    match var(FLOW_CACHE_ENV) {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let base = match (var("XDG_CACHE_HOME"), var("HOME")) {
                (Some(xdg), _) if !xdg.is_empty() => PathBuf::from(xdg),
                (_, Some(home)) if !home.is_empty() => Path::new(&home).join(".cache"),
                _ => std::env::temp_dir(),
            };
            Some(base.join("lutgen").join("flow"))
        }
    }
}

/// Every regular file of `dir`, by name.
fn files(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.insert(name, fs::read(entry.path())?);
        }
    }
    Ok(files)
}

/// Whether a file can be a tool's input: anything but a tool log (`*.log`),
/// which holds timings.
fn is_input(name: &str) -> bool {
    !name.ends_with(".log")
}

/// A tool run about to happen: its key, and the directory's files before it.
pub struct Pending {
    entry: PathBuf,
    before: BTreeMap<String, Vec<u8>>,
}

impl Pending {
    /// Keys the run of `program args` in `dir`, or `None` when there is no
    /// cache or the inputs cannot be read.
    pub fn new(
        cache: Option<PathBuf>,
        program: &Path,
        args: &[String],
        dir: &Path,
    ) -> Option<Self> {
        let cache = cache?;
        let meta = fs::metadata(program).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let before = files(dir).ok()?;
        let size = meta.len().to_le_bytes();
        let modified = modified.as_nanos().to_le_bytes();
        let count = (args.len() as u64).to_le_bytes();
        let mut parts: Vec<&[u8]> = vec![
            FORMAT.as_bytes(),
            program.as_os_str().as_encoded_bytes(),
            &size,
            &modified,
            &count,
        ];
        parts.extend(args.iter().map(|a| a.as_bytes()));
        for (name, contents) in before.iter().filter(|(name, _)| is_input(name)) {
            parts.push(name.as_bytes());
            parts.push(contents);
        }
        let key = lutgen_sim::cache_key(&parts);
        Some(Pending {
            entry: cache.join(key),
            before,
        })
    }

    /// Copies a stored run's files into `dir`; false (nothing done that
    /// matters) when there is no complete entry.
    pub fn restore(&self, dir: &Path) -> bool {
        let Ok(files) = fs::read_dir(&self.entry) else {
            return false;
        };
        files
            .into_iter()
            .all(|file| file.is_ok_and(|f| fs::copy(f.path(), dir.join(f.file_name())).is_ok()))
    }

    /// Stores what the successful run wrote into `dir`: every file created
    /// or changed, its log included. Errors are ignored (the build has its
    /// results; the next run simply runs the tool again).
    pub fn store(self, dir: &Path) {
        let Some(parent) = self.entry.parent() else {
            return;
        };
        let _ = fs::create_dir_all(parent);
        let Ok(staging) = tempfile::Builder::new().prefix(".step-").tempdir_in(parent) else {
            return;
        };
        let Ok(after) = files(dir) else {
            return;
        };
        for (name, contents) in &after {
            if self.before.get(name) != Some(contents)
                && fs::write(staging.path().join(name), contents).is_err()
            {
                return;
            }
        }
        // A concurrent run may have stored the same entry first: keep it.
        let staged = staging.keep();
        if fs::rename(&staged, &self.entry).is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
    }
}
