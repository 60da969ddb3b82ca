//! A sweep's builds as independent points (`lutgen report --jobs`,
//! `--write-jobs`, `--point`, `--collect`): each point is one board, one
//! preset and one engine, built on its own into its own directory, so the
//! points can run in parallel here, or as separate commands on other
//! machines (GNU parallel, a Slurm job array) whose JSON results are
//! collected into the same report. No scheduler of our own.

use crate::presets::{preset, preset_layer};
use crate::report::{build, BuildOptions, BuildReport, SIM_VECTORS};
use crate::top::{EngineKind, Top};
use crate::{Board, BoardError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One build of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub board: String,
    pub preset: String,
    pub engine: EngineKind,
}

impl Point {
    /// `board,preset,lut` or `board,preset,dense` (what `--point` takes).
    pub fn parse(text: &str) -> Result<Self, BoardError> {
        let parts: Vec<&str> = text.split(',').collect();
        let engine = match parts.get(2) {
            Some(&"lut") => EngineKind::Lut,
            Some(&"dense") => EngineKind::Dense,
            _ => {
                return Err(BoardError::Usage(format!(
                    "--point `{text}`: give BOARD,PRESET,ENGINE with ENGINE lut or dense, \
                     e.g. hx8k-breakout,default,lut"
                )))
            }
        };
        if parts.len() != 3 {
            return Err(BoardError::Usage(format!(
                "--point `{text}`: give exactly BOARD,PRESET,ENGINE"
            )));
        }
        Board::find(parts[0])?;
        preset(parts[1])?;
        Ok(Point {
            board: parts[0].to_string(),
            preset: parts[1].to_string(),
            engine,
        })
    }

    fn tag(&self) -> &'static str {
        match self.engine {
            EngineKind::Lut => "lut",
            EngineKind::Dense => "dense",
        }
    }

    /// The form [`parse`](Self::parse) reads.
    pub fn spec(&self) -> String {
        format!("{},{},{}", self.board, self.preset, self.tag())
    }

    /// `<board>-<preset>-<lut|dense>`: its build directory and result file name.
    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.board, self.preset, self.tag())
    }

    /// Builds the point out of context (engine against engine) into `build_dir/<name>`.
    pub fn build(&self, build_dir: &Path) -> Result<BuildReport, BoardError> {
        let board = Board::find(&self.board)?;
        let (config, conv) = preset_layer(&self.preset)?;
        let mut top = Top::for_board(self.engine, &config, None, true, 0, 0);
        if let Some(geometry) = conv {
            top = Top::conv(geometry, top)?;
        }
        eprintln!("building {} {} for {}", self.tag(), self.preset, board.name);
        let options = BuildOptions {
            out_dir: build_dir.join(self.name()),
            force: false,
            sim_vectors: SIM_VECTORS,
            seed: crate::flow::DEFAULT_SEED,
            more_seeds: 0,
        };
        build(&board, self.engine, &top, &options)
    }
}

/// Every point of a sweep, in report order: each board, each preset, the
/// LUT engine then the dense baseline. Unknown boards and presets are refused.
pub fn points(boards: &[String], presets: &[String]) -> Result<Vec<Point>, BoardError> {
    for board in boards {
        Board::find(board)?;
    }
    for name in presets {
        preset(name)?;
    }
    let mut points = Vec::new();
    for board in boards {
        for name in presets {
            for engine in [EngineKind::Lut, EngineKind::Dense] {
                points.push(Point {
                    board: board.clone(),
                    preset: name.clone(),
                    engine,
                });
            }
        }
    }
    Ok(points)
}

/// Builds every point, `jobs` at a time (threads; the tools are separate
/// processes), and returns the reports in the points' order; the first
/// failure, in that order, once every build has finished.
pub fn build_all(
    points: &[Point],
    build_dir: &Path,
    jobs: usize,
) -> Result<Vec<BuildReport>, BoardError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<BuildReport, BoardError>>>> =
        Mutex::new((0..points.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, points.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(point) = points.get(i) else { break };
                let result = point.build(build_dir);
                results.lock().expect("no build panics")[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("no build panics")
        .into_iter()
        .map(|r| r.expect("every point was built"))
        .collect()
}

/// One command per point, each building it and writing its report to
/// `results/<name>.json`: run them anywhere (GNU parallel, a Slurm job
/// array), then `--collect results`. `program` is how to call lutgen.
pub fn job_lines(points: &[Point], program: &str, build_dir: &Path, results: &Path) -> Vec<String> {
    points
        .iter()
        .map(|p| {
            format!(
                "{program} report --point {} --build-dir {} --point-out {}",
                p.spec(),
                build_dir.display(),
                result_path(results, p).display()
            )
        })
        .collect()
}

/// Where a point's job writes its report.
pub fn result_path(results: &Path, point: &Point) -> PathBuf {
    results.join(format!("{}.json", point.name()))
}

/// The reports the points' jobs wrote into `results`, in the points'
/// order. A missing or foreign result is refused, naming the point and the
/// command that makes it.
pub fn collect(points: &[Point], results: &Path) -> Result<Vec<BuildReport>, BoardError> {
    points
        .iter()
        .map(|point| {
            let path = result_path(results, point);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                BoardError::Usage(format!(
                    "no result for point {} ({}: {e}): run `lutgen report --point {} \
                     --point-out {}` first",
                    point.spec(),
                    path.display(),
                    point.spec(),
                    path.display()
                ))
            })?;
            let report: BuildReport = serde_json::from_str(&text).map_err(|e| {
                BoardError::Usage(format!("{} is not a build report: {e}", path.display()))
            })?;
            if report.board != point.board || report.engine != point.engine {
                return Err(BoardError::Usage(format!(
                    "{} holds a {:?} build for {}, not point {}",
                    path.display(),
                    report.engine,
                    report.board,
                    point.spec()
                )));
            }
            Ok(report)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_in_report_order_and_parse_back() {
        let boards = vec!["hx8k-breakout".to_string(), "ulx3s-85f".to_string()];
        let presets = vec!["small".to_string(), "default".to_string()];
        let all = points(&boards, &presets).unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(all[0].spec(), "hx8k-breakout,small,lut");
        assert_eq!(all[1].spec(), "hx8k-breakout,small,dense");
        assert_eq!(all[7].spec(), "ulx3s-85f,default,dense");
        for p in &all {
            assert_eq!(&Point::parse(&p.spec()).unwrap(), p);
        }
        let lines = job_lines(&all[..1], "lutgen", Path::new("b"), Path::new("r"));
        assert_eq!(
            lines,
            vec!["lutgen report --point hx8k-breakout,small,lut --build-dir b --point-out r/hx8k-breakout-small-lut.json"]
        );
    }

    #[test]
    fn bad_points_and_missing_results_are_refused() {
        for bad in [
            "hx8k-breakout,small",
            "hx8k-breakout,small,fast",
            "nowhere,small,lut",
            "hx8k-breakout,huge,lut",
            "a,b,lut,x",
        ] {
            assert!(Point::parse(bad).is_err(), "{bad}");
        }
        let point = Point::parse("hx8k-breakout,small,lut").unwrap();
        let dir = std::env::temp_dir().join(format!("lutgen-collect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = collect(std::slice::from_ref(&point), &dir)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no result for point hx8k-breakout,small,lut"),
            "{err}"
        );
        std::fs::write(result_path(&dir, &point), "{}").unwrap();
        let err = collect(std::slice::from_ref(&point), &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a build report"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
