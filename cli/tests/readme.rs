//! The README's examples are a contract: every `lutgen` line of a block the
//! README marks as tested runs here, in order, in the repository root (with
//! the files it writes kept out of the tree), and must succeed.

use std::path::{Path, PathBuf};
use std::process::Command;

const MARK: &str = "<!-- cli/tests/readme.rs runs every line of this block -->";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The command lines of every marked block, comments dropped.
fn marked_blocks(readme: &str) -> Vec<Vec<String>> {
    readme
        .split(MARK)
        .skip(1)
        .map(|after| {
            let block = after
                .split_once("```sh\n")
                .expect("a sh block follows the mark")
                .1;
            let block = block.split_once("```").expect("the block ends").0;
            block
                .lines()
                .map(|l| l.split_once(" #").map_or(l, |(cmd, _)| cmd).trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_model_example_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = marked_blocks(&readme);
    assert!(!blocks.is_empty(), "the README marks no block");
    let out = std::env::temp_dir().join(format!("lutgen-readme-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut outputs = Vec::new();
    for line in blocks.iter().flatten() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "lutgen", "{line}: a tested line runs lutgen");
        // Files the example writes (file names outside tests/) go to the
        // scratch directory, as if run from a clean checkout.
        let args: Vec<PathBuf> = words[1..]
            .iter()
            .map(|w| {
                if w.contains('.') && !w.starts_with('-') && !w.starts_with("tests/") {
                    out.join(w)
                } else {
                    PathBuf::from(w)
                }
            })
            .collect();
        let run = Command::new(env!("CARGO_BIN_EXE_lutgen"))
            .current_dir(root())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{line}\n{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        outputs.push(String::from_utf8_lossy(&run.stdout).into_owned());
    }
    // The simulated network device's rate (simulated time: the same on any machine).
    let run = outputs
        .iter()
        .find(|o| o.contains("inferences/s"))
        .expect("the block runs the simulated board");
    assert!(
        run.contains("360 vectors") && run.contains("4528.9 inferences/s"),
        "{run}"
    );
    assert!(
        readme.contains("4,529 inferences/s"),
        "the README's rate changed"
    );
    // The figures the README quotes for the eval line are the ones it prints.
    let eval = outputs.last().unwrap();
    assert!(eval.contains("| 97.78 | 96.94 | 96.94 | 0 |"), "{eval}");
    assert!(
        readme.contains("float 97.78%")
            && readme.contains("lookup reference 96.94%")
            && readme.contains("network top 96.94% with 0 mismatches"),
        "the README's figures changed"
    );
    let _ = std::fs::remove_dir_all(&out);
}
