//! How bytes reach a device: a serial port, or a simulated device in this process.
//!
//! The [`Driver`](crate::driver::Driver) speaks the protocol over any
//! [`Transport`]; [`serial::SerialTransport`] opens a real port (a USB UART on
//! a dev board, or the pseudo-terminal of `lutgen board --sim`),
//! [`sim::SimTransport`] runs the Verilated device in-process with time in
//! simulated clock cycles, and [`fault::FaultyTransport`] damages traffic on
//! purpose for tests.

pub mod fault;
pub mod serial;
pub mod sim;

use std::time::Duration;
use thiserror::Error;

/// A link that failed, naming the port and what to do.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error(
        "serial port {port} does not exist; check the device is plugged in and the name \
         (for the simulated board, use the path `lutgen board --sim` printed)"
    )]
    NotFound { port: String },
    #[error(
        "permission denied opening serial port {port}; add yourself to the port's group \
         (usually `sudo usermod -aG dialout $USER`, then log in again)"
    )]
    PermissionDenied { port: String },
    #[error("cannot open serial port {port}: {message}")]
    Open { port: String, message: String },
    #[error("serial port {port} failed while {action}: {message}; check the cable and the device")]
    Io {
        port: String,
        action: &'static str,
        message: String,
    },
    #[error("cannot start the simulated device: {0}")]
    Sim(String),
}

/// A byte pipe to a device.
pub trait Transport {
    /// The port's name, for messages.
    fn name(&self) -> &str;
    /// Sends bytes (they may still be in flight when this returns).
    fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError>;
    /// Waits up to `timeout` for bytes; returns what arrived (nothing on timeout).
    fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError>;
    /// Seconds on the transport's own clock, for transports that simulate time
    /// (`None`: wall-clock time applies).
    fn simulated_seconds(&self) -> Option<f64> {
        None
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        (**self).write(bytes)
    }
    fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        (**self).read(timeout)
    }
    fn simulated_seconds(&self) -> Option<f64> {
        (**self).simulated_seconds()
    }
}

/// `--port`, `--baud`, `--timeout`, `--retries`: how a command reaches the device.
#[derive(clap::Args, Debug, Clone)]
pub struct PortArgs {
    /// Serial port of the board (e.g. /dev/ttyUSB0), or the path `lutgen board --sim` printed.
    #[arg(long, value_name = "PATH")]
    pub port: String,
    /// Baud rate; must match the bitstream (ignored by pseudo-terminals).
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Seconds to wait for a reply before resending.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Attempts per frame (and timeouts in a row) before giving up.
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
}

impl PortArgs {
    pub fn options(&self) -> crate::driver::DriverOptions {
        crate::driver::DriverOptions {
            timeout: Duration::from_secs_f64(self.timeout.max(0.001)),
            retries: self.retries.max(1),
            window_bytes: None,
        }
    }

    /// Opens the port and wraps it in a driver.
    pub fn open(&self) -> Result<crate::driver::Driver<serial::SerialTransport>, TransportError> {
        let port = serial::SerialTransport::open(&self.port, self.baud)?;
        Ok(crate::driver::Driver::new(port, self.options()))
    }
}
