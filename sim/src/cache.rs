//! The on-disk cache of built models: one directory per content hash.
//!
//! An entry is built in a private temporary directory next to it and renamed into place in
//! one step, so concurrent builders (parallel test binaries) never see a half-built entry;
//! when two race, the loser's rename fails and it uses the winner's entry. A per-key lock
//! file (`<sha256>.lock`) makes such races rare: the second builder of a key waits for the
//! first and loads its entry.
//!
//! Besides model entries (`<sha256>/`), the cache keeps Verilator's compiled run time
//! (`runtime-<sha256>/verilated*.o`), which takes most of a small model's build time and is
//! the same for every model built with one Verilator, flag set and trace setting.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::shim::LIBRARY;
use crate::SimError;

/// Environment variable that overrides the default cache directory.
pub const CACHE_DIR_ENV: &str = "LUTGEN_CACHE_DIR";

/// Bumped when the layout of an entry or the build recipe changes in a way the key misses.
const FORMAT: &str = "lutgen-sim cache v1";

/// Where built models are kept unless [`crate::ModelBuilder::cache_dir`] says otherwise:
/// `$LUTGEN_CACHE_DIR`, else `$XDG_CACHE_HOME/lutgen/models`, else
/// `~/.cache/lutgen/models` (falling back to the system temp dir without a home).
pub fn default_cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`default_cache_dir`] with the environment passed in, so it can be tested.
fn cache_dir_from(env: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(CACHE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("lutgen").join("models");
    }
    match non_empty("HOME") {
        Some(home) => PathBuf::from(home)
            .join(".cache")
            .join("lutgen")
            .join("models"),
        None => std::env::temp_dir().join("lutgen").join("models"),
    }
}

/// Hex SHA-256 over the given parts, each length-prefixed so boundaries cannot shift
/// (the cache's format string first). Also the key of the board flow's step cache.
pub fn cache_key(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FORMAT.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The shared library of a complete entry, if there is one.
pub(crate) fn lookup(entry: &Path) -> Option<PathBuf> {
    let lib = entry.join(LIBRARY);
    lib.is_file().then_some(lib)
}

/// Waits for, then holds, the build lock of `key`: a zero-byte `<key>.lock` file beside
/// the entry, locked exclusively until the returned file is dropped. Lock files stay in
/// the cache (removing one while another process waits on it would let a third build).
pub(crate) fn lock(cache_dir: &Path, key: &str) -> Result<fs::File, SimError> {
    let path = cache_dir.join(format!("{key}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SimError::io(&path, e))?;
    file.lock().map_err(|e| SimError::io(&path, e))?;
    Ok(file)
}

/// Moves a finished entry directory into place. Losing a race to another builder of the
/// same key is not an error: its entry is just as good.
pub(crate) fn install(built: &Path, entry: &Path) -> Result<(), SimError> {
    match fs::rename(built, entry) {
        Ok(()) => Ok(()),
        Err(_) if entry.is_dir() => Ok(()),
        Err(err) => Err(SimError::io(entry, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_part_and_on_boundaries() {
        let k = cache_key(&[b"ab", b"c"]);
        assert_eq!(k.len(), 64);
        assert_eq!(k, cache_key(&[b"ab", b"c"]));
        assert_ne!(k, cache_key(&[b"a", b"bc"]));
        assert_ne!(k, cache_key(&[b"ab", b"d"]));
    }

    #[test]
    fn cache_dir_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        const ALL: &[(&str, &str)] = &[
            ("LUTGEN_CACHE_DIR", "/lc"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(cache_dir_from(env(ALL)), PathBuf::from("/lc"));
        assert_eq!(
            cache_dir_from(env(&ALL[1..])),
            PathBuf::from("/xdg/lutgen/models")
        );
        assert_eq!(
            cache_dir_from(env(&[("XDG_CACHE_HOME", ""), ("HOME", "/home/u")])),
            PathBuf::from("/home/u/.cache/lutgen/models")
        );
        assert_eq!(
            cache_dir_from(env(&[])),
            std::env::temp_dir().join("lutgen").join("models")
        );
    }

    #[test]
    fn install_tolerates_a_lost_race() {
        let root = tempfile::tempdir().unwrap();
        let entry = root.path().join("key");
        for winner in [true, false] {
            let built = root.path().join(format!("built-{winner}"));
            fs::create_dir(&built).unwrap();
            fs::write(built.join(LIBRARY), "x").unwrap();
            install(&built, &entry).unwrap();
            assert_eq!(lookup(&entry), Some(entry.join(LIBRARY)));
            // The loser's directory stays where it was, for its temp dir to clean up.
            assert_eq!(built.exists(), !winner);
        }
    }
}
