//! `lutgen run`: stream activation vectors through the device and collect the results.

use crate::error::CommandError;
use crate::output::{print_json, progress_bar};
use crate::port::LinkArgs;
use crate::vectors;
use clap::Args;
use lutgen_core::{Image, Reference};
use lutgen_driver::Driver;
use lutgen_driver::{transport::serial::SerialTransport, Transport};
use lutgen_hdl::device::DeviceConfig;
use lutgen_sim::device::{DeviceSimOptions, Link};
use lutgen_sim::transport::SimTransport;
use std::path::PathBuf;
use std::time::Instant;

/// Run vectors through the device (pipelined), optionally checking every result.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Serial port of the board, or the path `lutgen board --sim` printed.
    #[arg(long, value_name = "PATH", required_unless_present = "sim")]
    pub port: Option<String>,
    /// Instead of a port: a simulated device in this process, built for the
    /// image's engine and loaded with it. Time is simulated clock cycles, so
    /// the throughput figures are the device's, not this machine's.
    #[arg(long, conflicts_with = "port")]
    pub sim: bool,
    /// Baud rate (of the port, or of the simulated device's wire).
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Clock of the simulated device, Hz.
    #[arg(long, default_value_t = 12_000_000, requires = "sim")]
    pub clock_hz: u32,
    /// Simulate the UART bit by bit (slower) instead of the byte-level shortcut.
    #[arg(long, requires = "sim")]
    pub bit_level: bool,
    #[command(flatten)]
    pub link: LinkArgs,
    /// The image on the device: its configuration must match the device's, and
    /// `--verify` checks results against it.
    #[arg(long, value_name = "IMAGE")]
    pub image: PathBuf,
    /// Load the image before running (always done with --sim).
    #[arg(long)]
    pub load: bool,
    /// Vectors: an integer .npy of shape (vectors, D).
    #[arg(long, value_name = "X.npy", required_unless_present = "random")]
    pub input: Option<PathBuf>,
    /// Instead of --input: COUNT random vectors.
    #[arg(long, value_name = "COUNT", conflicts_with = "input")]
    pub random: Option<usize>,
    /// Seed for --random.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the results as an int32 .npy of shape (vectors, N).
    #[arg(long, value_name = "Y.npy")]
    pub output: Option<PathBuf>,
    /// Check every result against the software reference; exit non-zero on a mismatch.
    #[arg(long)]
    pub verify: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    port: String,
    vectors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    mismatches: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_mismatch: Option<String>,
    seconds: f64,
    /// "simulated" (device clock cycles) or "wall".
    time_base: &'static str,
    inferences_per_second: f64,
    payload_efficiency: f64,
    /// Fraction of the run the busier wire direction carried bytes (simulated device only).
    #[serde(skip_serializing_if = "Option::is_none")]
    link_busy: Option<f64>,
    /// Fraction of the run's device cycles the simulator evaluated; the rest were skipped,
    /// the device being idle or proven to wait without change (simulated device only).
    #[serde(skip_serializing_if = "Option::is_none")]
    simulated_fraction: Option<f64>,
    baud: u32,
    bytes_sent: u64,
    bytes_received: u64,
    retransmissions: u64,
    corrupt_replies: u64,
    device_errors: u64,
    timeouts: u64,
}

pub fn run(args: &RunArgs) -> Result<bool, CommandError> {
    let image = Image::read_from(&args.image)?;
    let config = image.config().clone();
    let inputs = match (&args.input, args.random) {
        (Some(path), _) => vectors::read_npy(path, config.input_dim)?,
        (None, Some(count)) => vectors::random(&config, count, args.seed),
        (None, None) => unreachable!("clap requires --input or --random"),
    };
    let reference = Reference::new(&image);
    for (index, x) in inputs.iter().enumerate() {
        reference
            .check_input(x)
            .map_err(|source| crate::Error::Input { index, source })?;
    }
    if args.sim {
        let device = DeviceConfig {
            engine: config,
            clock_hz: args.clock_hz,
            baud: args.baud,
        };
        if !args.json {
            eprintln!("building the simulated device (cached after the first build)...");
        }
        let link = if args.bit_level {
            Link::Bit
        } else {
            Link::Byte
        };
        let transport = SimTransport::new(
            &device,
            &DeviceSimOptions {
                link,
                ..Default::default()
            },
        )?;
        let driver = Driver::new(transport, args.link.options());
        finish(args, driver, &image, &inputs, true, |t: &SimTransport| {
            let s = t.sim().stats();
            Some((
                s.busy_cycles_to_device,
                s.busy_cycles_to_host,
                t.sim().cycle(),
                t.sim().simulated_cycles(),
            ))
        })
    } else {
        let port = args
            .port
            .as_deref()
            .expect("clap requires --port without --sim");
        let driver = Driver::new(SerialTransport::open(port, args.baud)?, args.link.options());
        finish(
            args,
            driver,
            &image,
            &inputs,
            args.load,
            |_: &SerialTransport| None,
        )
    }
}

fn finish<T: Transport>(
    args: &RunArgs,
    mut driver: Driver<T>,
    image: &Image,
    inputs: &[Vec<i8>],
    load: bool,
    link_busy: impl Fn(&T) -> Option<(u64, u64, u64, u64)>,
) -> Result<bool, CommandError> {
    driver.check_image(image.config())?;
    if load {
        let bar = progress_bar(0, "loading", args.json);
        driver.load(image, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
    }
    driver.reset_stats();
    let wall = Instant::now();
    let t0 = driver.now(wall);
    let busy0 = link_busy(driver.transport());
    let bar = progress_bar(inputs.len(), "running", args.json);
    let results = driver.run(inputs, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let seconds = driver.now(wall) - t0;
    let stats = driver.stats();
    let (mismatches, first_mismatch) = if args.verify {
        let reference = Reference::new(image);
        let mut count = 0;
        let mut first = None;
        for (i, (x, got)) in inputs.iter().zip(&results).enumerate() {
            let want = reference.outputs(x).expect("inputs checked");
            for (n, (w, g)) in want.iter().zip(got).enumerate() {
                if w != g {
                    count += 1;
                    first.get_or_insert_with(|| {
                        format!("vector {i}, output {n}: reference {w}, device {g}")
                    });
                }
            }
        }
        (Some(count), first)
    } else {
        (None, None)
    };
    if let Some(path) = &args.output {
        vectors::write_npy(path, &results, image.config().outputs)?;
    }
    let report = Report {
        port: driver.transport().name().to_string(),
        vectors: inputs.len(),
        mismatches,
        first_mismatch,
        seconds,
        time_base: if driver.transport().simulated_seconds().is_some() {
            "simulated"
        } else {
            "wall"
        },
        inferences_per_second: if seconds > 0.0 {
            inputs.len() as f64 / seconds
        } else {
            0.0
        },
        payload_efficiency: stats.payload_efficiency(),
        link_busy: busy0.zip(link_busy(driver.transport())).map(
            |((a0, b0, c0, _), (a, b, c, _))| (a - a0).max(b - b0) as f64 / (c - c0).max(1) as f64,
        ),
        simulated_fraction: busy0
            .zip(link_busy(driver.transport()))
            .map(|((_, _, c0, s0), (_, _, c, s))| (s - s0) as f64 / (c - c0).max(1) as f64),
        baud: args.baud,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        retransmissions: stats.retransmissions,
        corrupt_replies: stats.corrupt_replies,
        device_errors: stats.device_errors,
        timeouts: stats.timeouts,
    };
    if args.json {
        print_json(&report);
    } else {
        println!(
            "{} vectors in {:.3} s ({} time): {:.1} inferences/s, payload efficiency {:.1}%",
            report.vectors,
            report.seconds,
            report.time_base,
            report.inferences_per_second,
            100.0 * report.payload_efficiency
        );
        if report.retransmissions + report.corrupt_replies + report.device_errors > 0 {
            println!(
                "link recovered: {} frames resent, {} damaged replies, {} device error replies, {} timeouts",
                report.retransmissions, report.corrupt_replies, report.device_errors, report.timeouts
            );
        }
        if let Some(m) = report.mismatches {
            println!("{m} mismatches against the reference");
            if let Some(f) = &report.first_mismatch {
                println!("first mismatch: {f}");
            }
        }
    }
    Ok(report.mismatches.unwrap_or(0) == 0)
}
