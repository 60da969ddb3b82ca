//! `lutgen board --sim`: the simulated board behind a pseudo-terminal.
//!
//! Builds the device in Verilator, opens a pseudo-terminal, prints the path
//! of its serial end (first line of stdout, or `{"port": ...}` with `--json`)
//! and serves the protocol there until killed. Any program that opens that
//! path as a serial port talks to the simulated device, byte for byte as to
//! a board on /dev/ttyUSB0.

use crate::driver::CommandError;
use crate::engine_args::EngineArgs;
use clap::{Args, ValueEnum};
use lutgen_core::Image;
use lutgen_hdl::device::DeviceConfig;
use lutgen_sim::device::{DeviceSim, DeviceSimOptions, Link};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How simulated time relates to wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Pace {
    /// Simulated time never runs ahead of the wall clock: bytes come and go
    /// at the modeled baud rate in real time (as fast as the simulator can,
    /// when it cannot keep up).
    Wall,
    /// As fast as the simulator runs; the wire is modeled in clock cycles only.
    Cycles,
}

/// Serve a simulated board on a pseudo-terminal until killed.
#[derive(Args, Debug)]
pub struct BoardArgs {
    /// Simulate the board in Verilator (the only kind of board this command serves).
    #[arg(long, required = true)]
    pub sim: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Build the device for this image's engine (instead of the engine flags). It is not loaded.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    /// Baud rate of the modeled wire.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Clock of the simulated device, Hz.
    #[arg(long, default_value_t = 12_000_000)]
    pub clock_hz: u32,
    /// Wall-clock pacing, or simulated cycles only.
    #[arg(long, value_enum, default_value_t = Pace::Wall)]
    pub pace: Pace,
    /// Simulate the UART bit by bit instead of the byte-level shortcut.
    #[arg(long)]
    pub bit_level: bool,
    /// Print `{"port": PATH, ...}` instead of the bare path.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BoardArgs) -> Result<bool, CommandError> {
    let engine = match &args.image {
        Some(path) => Image::read_from(path)?.config().clone(),
        None => args.engine.resolve()?,
    };
    let device = DeviceConfig {
        engine,
        clock_hz: args.clock_hz,
        baud: args.baud,
    };
    let link = if args.bit_level {
        Link::Bit
    } else {
        Link::Byte
    };
    let mut sim = DeviceSim::new(
        &device,
        &DeviceSimOptions {
            link,
            cache_dir: None,
        },
    )
    .map_err(|e| CommandError::Board(e.to_string()))?;
    let board = |e: nix::Error| CommandError::Board(format!("pseudo-terminal: {e}"));
    let pty = openpty(None, None).map_err(board)?;
    let mut termios = tcgetattr(&pty.slave).map_err(board)?;
    cfmakeraw(&mut termios);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &termios).map_err(board)?;
    let path = nix::unistd::ttyname(pty.slave.as_fd()).map_err(board)?;
    let flags = fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&pty.master),
        FcntlArg::F_GETFL,
    )
    .map_err(board)?;
    fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&pty.master),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(board)?;
    if args.json {
        crate::driver::print_json(&serde_json::json!({
            "port": path,
            "baud": args.baud,
            "clock_hz": args.clock_hz,
            "pace": format!("{:?}", args.pace).to_lowercase(),
            "link": if args.bit_level { "bit" } else { "byte" },
            "config_hash": format!("{:#010x}", lutgen_core::protocol::config_hash(&device.engine)),
        }));
    } else {
        println!("{}", path.display());
    }
    std::io::stdout().flush().ok();
    // Keep our own handle on the serial end open, so the master never sees a
    // hang-up between clients.
    let _slave = pty.slave;
    let mut master = std::fs::File::from(pty.master);
    serve(&mut sim, &mut master, args.pace)
}

fn serve(
    sim: &mut DeviceSim,
    master: &mut std::fs::File,
    pace: Pace,
) -> Result<bool, CommandError> {
    let io = |e: std::io::Error| CommandError::Board(format!("pseudo-terminal: {e}"));
    let start = Instant::now();
    let start_cycle = sim.cycle();
    let clock = f64::from(sim.device().clock_hz);
    let mut buf = vec![0u8; 4096];
    // Simulate at most this many cycles between looks at the terminal.
    let slice = (sim.byte_cycles() * 16).max(10_000);
    loop {
        let wait = if sim.quiet() { 50 } else { 0 };
        {
            let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(wait as u16));
        }
        match master.read(&mut buf) {
            Ok(n) if n > 0 => sim.send(&buf[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO: no client has the port open right now.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(io(e)),
        }
        match pace {
            Pace::Cycles => {
                let until = sim.cycle() + slice;
                if !sim.quiet() {
                    sim.advance(until, false);
                }
            }
            Pace::Wall => {
                let target = start_cycle + (start.elapsed().as_secs_f64() * clock) as u64;
                if sim.cycle() < target {
                    sim.advance(target.min(sim.cycle() + slice), false);
                } else if !sim.quiet() {
                    let ahead = (sim.cycle() - target) as f64 / clock;
                    std::thread::sleep(Duration::from_secs_f64(ahead.min(0.01)));
                }
            }
        }
        let out = sim.receive();
        if !out.is_empty() {
            write_all(master, &out).map_err(io)?;
        }
    }
}

/// Writes everything to the non-blocking master, waiting while the terminal is full.
fn write_all(master: &mut std::fs::File, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match master.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
