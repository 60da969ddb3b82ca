//! `--port` and the link options every device command takes.

use lutgen_driver::transport::serial::SerialTransport;
use lutgen_driver::{Driver, DriverOptions, TransportError};
use std::time::Duration;

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
    pub fn options(&self) -> DriverOptions {
        DriverOptions {
            timeout: Duration::from_secs_f64(self.timeout.max(0.001)),
            retries: self.retries.max(1),
            window_bytes: None,
        }
    }

    /// Opens the port and wraps it in a driver.
    pub fn open(&self) -> Result<Driver<SerialTransport>, TransportError> {
        let port = SerialTransport::open(&self.port, self.baud)?;
        Ok(Driver::new(port, self.options()))
    }
}
