//! `lutgen run`: stream activation vectors through the device and collect the results.

use crate::device_file::DeviceFile;
use crate::error::CommandError;
use crate::output::{print_json, progress_bar};
use crate::port::LinkArgs;
use crate::vectors;
use clap::Args;
use lutgen_core::sequential::Schedule;
use lutgen_driver::Driver;
use lutgen_driver::{transport::serial::SerialTransport, Transport};
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
    /// The image on an engine device: its configuration must match the
    /// device's, and `--verify` checks results against it.
    #[arg(long, value_name = "IMAGE", required_unless_present = "network")]
    pub image: Option<PathBuf>,
    /// Instead of --image: the compiled network on a network device (`lutgen
    /// compile` output). Results are the last layer's outputs; `--verify`
    /// checks them against the whole integer pipeline.
    #[arg(long, value_name = "NET.lutnet", conflicts_with = "image")]
    pub network: Option<PathBuf>,
    /// With --sim --network: the simulated device's schedule, `dataflow` (one
    /// engine per layer) or `sequential` (one engine, the layers in turn).
    /// (On a port, the device's identify reply says which it is.)
    #[arg(long, default_value_t = Schedule::Dataflow, requires_all = ["sim", "network"])]
    pub schedule: Schedule,
    /// Load the image or network before running (always done with --sim).
    #[arg(long)]
    pub load: bool,
    /// Vectors: an integer .npy of shape (vectors, D). With --network, an
    /// int8 array is taken as quantized, anything else (float, raw pixels)
    /// is quantized as the compiler quantized its calibration data.
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
    /// With --network: write --output as float32, the outputs times the
    /// last layer's accumulator scale (the float model's logits, approximately).
    #[arg(long, requires_all = ["network", "output"])]
    pub dequantize: bool,
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
    /// Layers the device runs (1: an engine device).
    layers: usize,
    vectors: usize,
    /// With --network and real-valued input: values outside the range the
    /// network's input quantization covers, clipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    clipped_inputs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mismatches: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_mismatch: Option<String>,
    /// On a network device, for the first mismatching vector: the first
    /// layer and element where the device disagrees with the reference,
    /// read layer by layer with the `trace` command.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_divergence: Option<String>,
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
    let file = match (&args.image, &args.network) {
        (Some(path), _) => DeviceFile::read_expecting(path, false)?,
        (None, Some(path)) => DeviceFile::read_expecting(path, true)?,
        (None, None) => unreachable!("clap requires --image or --network"),
    };
    let first = file.layers()[0].clone();
    let mut clipped_inputs = None;
    let inputs = match (&args.input, args.random, &file) {
        (Some(path), _, DeviceFile::Network(network)) => {
            let quantization = network.input_quantization();
            let read = vectors::read_network_npy(
                path,
                network.input_dim(),
                first.activation_bits,
                &quantization,
            )?;
            if let Some(warning) = read.warning(&quantization) {
                eprintln!("{warning}");
            }
            clipped_inputs = Some(read.clipped);
            read.rows
        }
        (Some(path), _, DeviceFile::Image(_)) => vectors::read_npy(path, first.input_dim)?,
        // A convolution's vector is its whole input map.
        (None, Some(count), _) => vectors::random(&file.input_config(), count, args.seed),
        (None, None, _) => unreachable!("clap requires --input or --random"),
    };
    let reference = file.reference();
    for (index, x) in inputs.iter().enumerate() {
        reference(x).map_err(|source| crate::Error::Input { index, source })?;
    }
    if args.sim {
        let device = file.device(args.schedule, args.clock_hz, args.baud)?;
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
        let run = Run {
            file: &file,
            inputs: &inputs,
            load: true,
            clipped_inputs,
        };
        finish(args, driver, run, |t: &SimTransport| {
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
        let run = Run {
            file: &file,
            inputs: &inputs,
            load: args.load,
            clipped_inputs,
        };
        finish(args, driver, run, |_: &SerialTransport| None)
    }
}

/// What one `lutgen run` streams: the file on the device, the vectors, and
/// whether to load the file first.
struct Run<'a> {
    file: &'a DeviceFile,
    inputs: &'a [Vec<i8>],
    load: bool,
    clipped_inputs: Option<usize>,
}

fn finish<T: Transport>(
    args: &RunArgs,
    mut driver: Driver<T>,
    run: Run,
    link_busy: impl Fn(&T) -> Option<(u64, u64, u64, u64)>,
) -> Result<bool, CommandError> {
    let Run {
        file,
        inputs,
        load,
        clipped_inputs,
    } = run;
    file.check(&mut driver)?;
    if load {
        let bar = progress_bar(0, "loading", args.json);
        file.load(&mut driver, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
    } else {
        // Verifying against a file the device does not hold gives mismatches
        // that are not the device's fault: say so first.
        let status = driver.status()?;
        let crc = file.crc(&mut driver)?;
        if status.loaded() && status.image_crc != crc {
            eprintln!(
                "warning: the device holds another file (CRC {:#010x}) than the one given \
                 (CRC {crc:#010x}): results are the other file's; pass --load to load this one",
                status.image_crc
            );
        }
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
    let mut mismatched = None;
    let (mismatches, first_mismatch) = if args.verify {
        let reference = file.reference();
        let mut count = 0;
        let mut first = None;
        for (i, (x, got)) in inputs.iter().zip(&results).enumerate() {
            let want = reference(x).map_err(|source| crate::Error::Input { index: i, source })?;
            for (n, (w, g)) in want.iter().zip(got).enumerate() {
                if w != g {
                    count += 1;
                    mismatched.get_or_insert(i);
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
    let first_divergence = match (file, mismatched) {
        (DeviceFile::Network(network), Some(i)) => {
            Some(match driver.first_divergence(network, &inputs[i])? {
                Some(d) => format!("vector {i}: {d}"),
                None => format!("vector {i} agrees when traced alone"),
            })
        }
        _ => None,
    };
    match (&args.output, file) {
        (Some(path), DeviceFile::Network(network)) if args.dequantize => {
            let real: Vec<Vec<f32>> = results.iter().map(|r| network.dequantize(r)).collect();
            vectors::write_npy_f32(path, &real, file.outputs())?;
        }
        (Some(path), _) => vectors::write_npy(path, &results, file.outputs())?,
        (None, _) => {}
    }
    let report = Report {
        port: driver.transport().name().to_string(),
        layers: file.layers().len(),
        vectors: inputs.len(),
        clipped_inputs,
        mismatches,
        first_mismatch,
        first_divergence,
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
            if let Some(d) = &report.first_divergence {
                println!("first divergence: {d}");
            }
        }
    }
    Ok(report.mismatches.unwrap_or(0) == 0)
}
