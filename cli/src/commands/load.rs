//! `lutgen load`: write a table image (engine device) or a compiled network
//! (network device) into the device.

use crate::device_file::DeviceFile;
use crate::error::CommandError;
use crate::output::{print_json, progress_bar};
use crate::port::PortArgs;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Load a table image (centroids, tables, bias) into an engine device, or a
/// compiled network (every layer's image, requantization and activation) into
/// a network device. A file for another device is refused before any data moves.
#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// The image or network file (from `lutgen image` or `lutgen compile`).
    #[arg(value_name = "FILE")]
    pub image: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    image: PathBuf,
    frames: u64,
    bytes_sent: u64,
    retransmissions: u64,
    seconds: f64,
}

pub fn run(args: &LoadArgs) -> Result<bool, CommandError> {
    let file = DeviceFile::read(&args.image)?;
    let mut driver = args.port.open()?;
    file.check(&mut driver)?;
    let start = Instant::now();
    let bar = progress_bar(0, "loading", args.json);
    file.load(&mut driver, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let stats = driver.stats();
    let report = Report {
        image: args.image.clone(),
        frames: stats.frames_sent,
        bytes_sent: stats.bytes_sent,
        retransmissions: stats.retransmissions,
        seconds: driver.now(start),
    };
    if args.json {
        print_json(&report);
    } else {
        println!(
            "loaded {} into {}: {} bytes in {} frames, {:.2} s ({} resent)",
            args.image.display(),
            args.port.port,
            report.bytes_sent,
            report.frames,
            report.seconds,
            report.retransmissions
        );
    }
    Ok(true)
}
