//! A real serial port (or a pseudo-terminal), through the `serialport` crate.

use super::{Transport, TransportError};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub struct SerialTransport {
    name: String,
    port: Box<dyn serialport::SerialPort>,
}

impl SerialTransport {
    /// Opens `port` at `baud`, 8N1, no flow control.
    pub fn open(port: &str, baud: u32) -> Result<Self, TransportError> {
        if !std::path::Path::new(port).exists() {
            return Err(TransportError::NotFound { port: port.into() });
        }
        let opened = serialport::new(port, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(50))
            .open();
        let port_box = opened.map_err(|e| match e.kind {
            serialport::ErrorKind::NoDevice => TransportError::NotFound { port: port.into() },
            serialport::ErrorKind::Io(std::io::ErrorKind::NotFound) => {
                TransportError::NotFound { port: port.into() }
            }
            serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
                TransportError::PermissionDenied { port: port.into() }
            }
            _ if e.description.contains("ermission") => {
                TransportError::PermissionDenied { port: port.into() }
            }
            _ => TransportError::Open {
                port: port.into(),
                message: e.description,
            },
        })?;
        // Stale bytes from an earlier session would only confuse the first reply.
        let _ = port_box.clear(serialport::ClearBuffer::Input);
        Ok(SerialTransport {
            name: port.into(),
            port: port_box,
        })
    }

    fn io(&self, action: &'static str, e: std::io::Error) -> TransportError {
        TransportError::Io {
            port: self.name.clone(),
            action,
            message: e.to_string(),
        }
    }
}

impl Transport for SerialTransport {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.port
            .write_all(bytes)
            .map_err(|e| self.io("writing", e))
    }

    fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.clamp(Duration::from_millis(1), Duration::from_millis(100));
            self.port
                .set_timeout(slice)
                .map_err(|e| self.io("setting a timeout", e.into()))?;
            match self.port.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io("reading", e)),
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }
}
