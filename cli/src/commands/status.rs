//! `lutgen status`: the device's counters.

use crate::error::CommandError;
use crate::output::print_json;
use crate::port::PortArgs;
use clap::Args;

/// Print the device's frame and vector counters and its flags.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// Empty the engine pipeline and clear the counters first.
    #[arg(long)]
    pub reset: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    frames_received: u32,
    frames_rejected: u32,
    vectors_processed: u32,
    fault: bool,
    loaded: bool,
    loading: bool,
    /// Payload CRC of the loaded image (its file's bytes 56..60), 0 when none.
    image_crc: u32,
    /// The image byte a load in progress expects next (the image length once loaded).
    load_offset: u32,
}

pub fn run(args: &StatusArgs) -> Result<bool, CommandError> {
    let mut driver = args.port.open()?;
    if args.reset {
        driver.reset()?;
    }
    let s = driver.status()?;
    let report = Report {
        frames_received: s.frames_received,
        frames_rejected: s.frames_rejected,
        vectors_processed: s.vectors_processed,
        fault: s.fault(),
        loaded: s.loaded(),
        loading: s.loading(),
        image_crc: s.image_crc,
        load_offset: s.load_offset,
    };
    if args.json {
        print_json(&report);
    } else {
        let image = if report.loaded {
            format!("yes (payload CRC {:#010x})", report.image_crc)
        } else if report.loading {
            format!("no (a load is at byte {})", report.load_offset)
        } else {
            "no".to_string()
        };
        println!(
            "frames received {}, rejected {}; vectors processed {}; image loaded: {image}; engine fault: {}",
            report.frames_received,
            report.frames_rejected,
            report.vectors_processed,
            if report.fault { "YES" } else { "no" }
        );
    }
    Ok(!report.fault)
}
