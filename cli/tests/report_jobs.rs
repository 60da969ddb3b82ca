//! `lutgen report` as independent jobs: the sweep written as one command
//! per point, run by GNU parallel, and merged with `--collect`, gives the
//! same table as the sweep run here, one build after another. The smallest
//! sweep that has both engines: one board, the `small` preset (two builds
//! each way, about a minute in all on two cores). GNU parallel is required,
//! not optional: scripts/setup.sh installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lutgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lutgen"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn jobs_run_by_gnu_parallel_and_collected_give_the_sequential_table() {
    let parallel = Command::new("parallel").arg("--version").output();
    assert!(
        parallel.is_ok_and(|o| o.status.success()),
        "GNU parallel is missing: run scripts/setup.sh (it installs the `parallel` package)"
    );
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lutgen-report-jobs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sweep = ["--boards", "hx8k-breakout", "--presets", "small"];

    // One build after another, here.
    let sequential = run(lutgen()
        .arg("report")
        .args(sweep)
        .args(["--jobs", "1", "--out"])
        .arg(dir.join("sequential"))
        .arg("--build-dir")
        .arg(dir.join("build-sequential")));

    // The same sweep as jobs, run by GNU parallel, then collected.
    let jobs = dir.join("jobs.txt");
    let results = dir.join("results");
    run(lutgen()
        .arg("report")
        .args(sweep)
        .arg("--write-jobs")
        .arg(&jobs)
        .arg("--results")
        .arg(&results)
        .arg("--build-dir")
        .arg(dir.join("build-jobs"))
        .args(["--job-program", env!("CARGO_BIN_EXE_lutgen")]));
    let lines = read(&jobs);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.contains("--point hx8k-breakout,small,lut"), "{lines}");
    run(Command::new("parallel")
        .args(["--jobs", "2", "--halt", "now,fail=1"])
        .stdin(std::fs::File::open(&jobs).unwrap()));
    let merged = run(lutgen()
        .arg("report")
        .args(sweep)
        .arg("--collect")
        .arg(&results)
        .arg("--out")
        .arg(dir.join("collected")));

    assert_eq!(merged, sequential);
    assert_eq!(
        read(&dir.join("collected/boards-report.md")),
        read(&dir.join("sequential/boards-report.md"))
    );
    assert!(
        sequential.contains("| hx8k-breakout | small | LUT |"),
        "{sequential}"
    );
    assert!(dir.join("collected/boards-report.svg").exists());

    // A result missing from the directory is named, with the job that makes it.
    std::fs::remove_file(results.join("hx8k-breakout-small-dense.json")).unwrap();
    let out = lutgen()
        .arg("report")
        .args(sweep)
        .arg("--collect")
        .arg(&results)
        .arg("--out")
        .arg(dir.join("partial"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no result for point hx8k-breakout,small,dense"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
