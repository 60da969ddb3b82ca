//! How bytes reach a device: a serial port, a pseudo-terminal, or a simulated device in a process.
//!
//! The [`Driver`](crate::Driver) speaks the protocol over any
//! [`Transport`]; [`serial::SerialTransport`] opens a real port (a USB UART on
//! a dev board, or the pseudo-terminal of `lutgen board --sim`) and
//! [`fault::FaultyTransport`] damages traffic on purpose for tests. The
//! Verilated device in this process (`lutgen_sim::transport::SimTransport`,
//! time in simulated clock cycles) implements the same trait.

pub mod fault;
pub mod serial;

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
