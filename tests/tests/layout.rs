//! The workspace's shape, checked: no two source files import each other,
//! and the driver crate pulls in no hardware generator, simulator, compiler
//! or plotting library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every member crate's folder, from the workspace's `Cargo.toml`.
fn members() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let root: toml::Table = text.parse().unwrap();
    root["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// A crate's modules: module path (`["board", "fit"]`, `[]` for the root) -> file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The file's code without comments and without its `#[cfg(test)] mod tests`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::b::c` paths that start with `start` (`crate`, `super` or a module name).
fn paths_from(code: &str, start: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pattern = format!("{start}::");
    let mut from = 0;
    while let Some(at) = code[from..].find(&pattern) {
        let begin = from + at;
        from = begin + pattern.len();
        let before = code[..begin].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c}`: the first name of each item.
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(vec![name]);
                }
            }
            continue;
        }
        let mut segments = Vec::new();
        let mut rest = rest;
        loop {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() {
                break;
            }
            rest = &rest[ident.len()..];
            segments.push(ident);
            match rest.strip_prefix("::") {
                Some(r) if !r.starts_with('{') => rest = r,
                _ => break,
            }
        }
        if !segments.is_empty() {
            out.push(segments);
        }
    }
    out
}

/// The file that defines what `path` names: the deepest module it reaches,
/// or, for an item that module re-exports with `pub use child::...`, the child.
fn resolve(mods: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<PathBuf> {
    for n in (0..=path.len()).rev() {
        let Some(file) = mods.get(&path[..n]) else {
            continue;
        };
        if let Some(item) = path.get(n) {
            for line in code(file).lines() {
                let Some(rest) = line.trim().strip_prefix("pub use ") else {
                    continue;
                };
                let child = rest.split("::").next().unwrap_or("");
                let names: Vec<&str> = rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .collect();
                let mut target = path[..n].to_vec();
                target.push(child.to_string());
                if names.contains(&item.as_str()) && mods.contains_key(&target) {
                    return Some(mods[&target].clone());
                }
            }
        }
        return Some(file.clone());
    }
    None
}

#[test]
fn no_two_source_files_import_each_other() {
    let mut circles = Vec::new();
    for member in members() {
        let src = workspace().join(&member).join("src");
        if !src.is_dir() {
            continue;
        }
        let mods = modules(&src);
        let mut edges = BTreeSet::new();
        for (module, file) in &mods {
            let text = code(file);
            let mut targets = Vec::new();
            for path in paths_from(&text, "crate") {
                targets.push(path);
            }
            let parent = &module[..module.len().saturating_sub(1)];
            let own = if file.ends_with("mod.rs") || file.ends_with("lib.rs") {
                &module[..]
            } else {
                parent
            };
            for path in paths_from(&text, "super") {
                let base = if file.ends_with("mod.rs") {
                    parent
                } else {
                    own
                };
                targets.push([base, &path[..]].concat());
            }
            // Child modules named by relative paths (`fit::FitReport`, `pub use mlp::Mlp`).
            for line in text.lines() {
                let line = line.trim();
                let decl = line
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                if let Some(child) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    if !paths_from(&text, child).is_empty() {
                        targets.push([own, &[child.to_string()][..]].concat());
                    }
                }
            }
            for path in targets {
                if let Some(to) = resolve(&mods, &path) {
                    if &to != file {
                        edges.insert((file.clone(), to));
                    }
                }
            }
        }
        for (a, b) in &edges {
            if a < b && edges.contains(&(b.clone(), a.clone())) {
                circles.push(format!("{} <-> {}", a.display(), b.display()));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files that import each other (move the shared item where it belongs):\n{}",
        circles.join("\n")
    );
}

/// Every crate `name` depends on, through normal dependencies only: a
/// workspace member's from its `Cargo.toml` (so its dev-dependencies do not
/// count), every other crate's from `Cargo.lock`.
fn dependency_closure(name: &str) -> BTreeSet<String> {
    let lock: toml::Table = std::fs::read_to_string(workspace().join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let mut locked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock["package"].as_array().unwrap() {
        let deps: Vec<String> = package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                d.iter()
                    .map(|x| x.as_str().unwrap().split(' ').next().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        locked
            .entry(package["name"].as_str().unwrap().to_string())
            .or_default()
            .extend(deps);
    }
    let mut local: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for member in members() {
        let manifest: toml::Table =
            std::fs::read_to_string(workspace().join(&member).join("Cargo.toml"))
                .unwrap()
                .parse()
                .unwrap();
        let package = manifest["package"]["name"].as_str().unwrap().to_string();
        let deps = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        local.insert(package, deps);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(next) = todo.pop() {
        if !seen.insert(next.clone()) {
            continue;
        }
        let deps = local.get(&next).or_else(|| locked.get(&next));
        todo.extend(deps.into_iter().flatten().cloned());
    }
    seen
}

#[test]
fn the_driver_needs_no_generator_simulator_compiler_or_plotting() {
    let closure = dependency_closure("lutgen-driver");
    assert!(closure.contains("serialport"), "{closure:?}");
    for banned in [
        "rust-hdl",
        "candle-core",
        "nalgebra",
        "plotters",
        "lutgen-hdl",
        "lutgen-sim",
        "lutgen-compile",
    ] {
        assert!(
            !closure.contains(banned),
            "lutgen-driver depends on {banned}: {closure:?}"
        );
    }
    // The compiler is the only crate with candle.
    for member in ["lutgen-core", "lutgen-hdl", "lutgen-sim", "lutgen-board"] {
        assert!(
            !dependency_closure(member).contains("candle-core"),
            "{member} depends on candle-core"
        );
    }
}
