//! The simulated board on a pseudo-terminal: any program that opens its path
//! as a serial port talks to the Verilated device, byte for byte as to a
//! board on `/dev/ttyUSB0` (`lutgen board --sim`).

use crate::device::DeviceSim;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How simulated time relates to wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Pace {
    /// Simulated time never runs ahead of the wall clock: bytes come and go
    /// at the modeled baud rate in real time (as fast as the simulator can,
    /// when it cannot keep up).
    Wall,
    /// As fast as the simulator runs; the wire is modeled in clock cycles only.
    Cycles,
}

/// The pseudo-terminal failed.
#[derive(Debug, Error)]
#[error("pseudo-terminal: {0}")]
pub struct PtyError(String);

impl From<nix::Error> for PtyError {
    fn from(e: nix::Error) -> Self {
        PtyError(e.to_string())
    }
}

impl From<std::io::Error> for PtyError {
    fn from(e: std::io::Error) -> Self {
        PtyError(e.to_string())
    }
}

/// A simulated device behind a raw pseudo-terminal.
pub struct PtyBoard {
    sim: DeviceSim,
    path: PathBuf,
    master: std::fs::File,
    // Our own handle on the serial end, kept open so the master never sees a
    // hang-up between clients.
    _slave: OwnedFd,
}

impl PtyBoard {
    /// Opens a raw pseudo-terminal for `sim`; clients open [`PtyBoard::path`].
    pub fn open(sim: DeviceSim) -> Result<Self, PtyError> {
        let pty = openpty(None, None)?;
        let mut termios = tcgetattr(&pty.slave)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &termios)?;
        let path = nix::unistd::ttyname(pty.slave.as_fd())?;
        let flags = fcntl(pty.master.as_raw_fd(), FcntlArg::F_GETFL)?;
        fcntl(
            pty.master.as_raw_fd(),
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )?;
        Ok(PtyBoard {
            sim,
            path,
            master: std::fs::File::from(pty.master),
            _slave: pty.slave,
        })
    }

    /// The serial end's path (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves the protocol until an I/O error (in practice, until the process is killed).
    pub fn serve(&mut self, pace: Pace) -> Result<(), PtyError> {
        let sim = &mut self.sim;
        let master = &mut self.master;
        let start = Instant::now();
        let start_cycle = sim.cycle();
        let clock = f64::from(sim.device().clock_hz);
        let mut buf = vec![0u8; 4096];
        // Simulate at most this many cycles between looks at the terminal.
        let slice = (sim.byte_cycles() * 16).max(10_000);
        // The cycle the wall clock has reached.
        let wall = || start_cycle + (start.elapsed().as_secs_f64() * clock) as u64;
        loop {
            // Block while there is nothing to simulate: the device is idle (until
            // the host writes), or, with wall pacing, ahead of the wall clock (for
            // as long as it is ahead, at most 10 ms, or until the host writes).
            let wait_ms = if sim.quiet() {
                50
            } else {
                match pace {
                    Pace::Wall if sim.cycle() >= wall() => {
                        let ahead = (sim.cycle() + 1 - wall()) as f64 / clock;
                        (ahead * 1000.0).ceil().clamp(1.0, 10.0) as u16
                    }
                    _ => 0,
                }
            };
            {
                let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(wait_ms));
            }
            if pace == Pace::Wall && sim.quiet() {
                // Bring an idle device up to the wall clock before it takes
                // new bytes, so they arrive at the device time they were written.
                sim.advance(wall().max(sim.cycle()), false);
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
                Err(e) => return Err(e.into()),
            }
            match pace {
                Pace::Cycles => {
                    if !sim.quiet() {
                        sim.advance(sim.cycle() + slice, false);
                    }
                }
                Pace::Wall => {
                    let target = wall();
                    if sim.cycle() < target {
                        // Idle time passes at once, so the device never falls behind
                        // the wall clock while it waits (and then races to catch up).
                        let until = if sim.quiet() {
                            target
                        } else {
                            target.min(sim.cycle() + slice)
                        };
                        sim.advance(until, false);
                    }
                }
            }
            let out = sim.receive();
            if !out.is_empty() {
                write_all(master, &out)?;
            }
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
