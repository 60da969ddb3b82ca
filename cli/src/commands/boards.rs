//! `lutgen boards`: the boards lutgen knows, from `constraints/*.toml`.

use clap::Args;
use lutgen_board::{Board, BoardError};
use std::path::PathBuf;

/// List the boards (device, clock, resources, flow).
#[derive(Args, Debug)]
pub struct BoardsArgs {
    /// Print one JSON array on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write every board's constraint file (.pcf, .lpf, .xdc) into DIR.
    #[arg(long, value_name = "DIR")]
    pub write_constraints: Option<PathBuf>,
}

pub fn run(args: &BoardsArgs) -> Result<(), BoardError> {
    let boards = Board::all();
    if let Some(dir) = &args.write_constraints {
        std::fs::create_dir_all(dir).map_err(|source| BoardError::Write {
            path: dir.clone(),
            source,
        })?;
        for b in &boards {
            let path = dir.join(b.constraint_file_name());
            std::fs::write(&path, b.constraints(b.clock_mhz))
                .map_err(|source| BoardError::Write { path, source })?;
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&boards).expect("boards serialize")
        );
        return Ok(());
    }
    println!(
        "{:<14} {:<20} {:>7} {:>8} {:>6} {:>5}  flow",
        "board", "part", "clock", "cells", "BRAMs", "DSPs"
    );
    for b in &boards {
        println!(
            "{:<14} {:<20} {:>4} MHz {:>8} {:>6} {:>5}  {}",
            b.name,
            b.part,
            b.clock_mhz,
            b.resources.logic_cells,
            b.resources.block_rams,
            b.resources.dsps,
            if b.has_open_flow() {
                format!("{} (yosys, nextpnr)", b.family)
            } else {
                "Vivado (files only; lutgen does not run it)".to_string()
            }
        );
    }
    Ok(())
}
