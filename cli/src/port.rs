//! `--port` and the link options every device command takes.

use lutgen_driver::transport::serial::SerialTransport;
use lutgen_driver::{Driver, DriverOptions, TransportError};
use std::time::Duration;

/// Shortest `--timeout`, in seconds.
pub const MIN_TIMEOUT_SECONDS: f64 = 0.001;
/// Longest `--timeout`, in seconds: an hour.
pub const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// Parses `--timeout SECONDS`: a number from [`MIN_TIMEOUT_SECONDS`] to
/// [`MAX_TIMEOUT_SECONDS`]. Anything else (infinite, NaN, negative, zero,
/// huge) is refused here, as a usage error, so [`Duration::from_secs_f64`]
/// never sees it.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let range = format!("a number from {MIN_TIMEOUT_SECONDS} to {MAX_TIMEOUT_SECONDS} seconds");
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; give {range}"))?;
    if !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
        return Err(format!("{seconds} is out of range; give {range}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `--timeout` and `--retries`: how hard a command tries to get each reply.
#[derive(clap::Args, Debug, Clone)]
pub struct LinkArgs {
    /// Seconds to wait for a reply before resending (0.001 to 3600).
    #[arg(
        long,
        default_value = "2",
        value_name = "SECONDS",
        value_parser = parse_timeout,
        allow_negative_numbers = true
    )]
    pub timeout: Duration,
    /// Attempts per frame (and timeouts in a row) before giving up.
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
}

impl LinkArgs {
    /// The driver options these flags ask for.
    pub fn options(&self) -> DriverOptions {
        DriverOptions {
            timeout: self.timeout,
            retries: self.retries.max(1),
            window_bytes: None,
        }
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
    #[command(flatten)]
    pub link: LinkArgs,
}

impl PortArgs {
    pub fn options(&self) -> DriverOptions {
        self.link.options()
    }

    /// Opens the port and wraps it in a driver.
    pub fn open(&self) -> Result<Driver<SerialTransport>, TransportError> {
        let port = SerialTransport::open(&self.port, self.baud)?;
        Ok(Driver::new(port, self.options()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_only_in_range() {
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.001"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_timeout("3600"), Ok(Duration::from_secs(3600)));
        for bad in [
            "inf", "-inf", "1e300", "NaN", "-1", "0", "0.0009", "3600.5", "", "x",
        ] {
            let e = parse_timeout(bad).unwrap_err();
            assert!(e.contains("from 0.001 to 3600"), "{bad}: {e}");
        }
    }
}
