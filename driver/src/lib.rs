//! Drive a lutgen device from a host program: identify it, load a table
//! image, stream activations and read its results and counters.
//!
//! The device is a board on a serial port (`/dev/ttyUSB0`), the simulated
//! board that `lutgen board --sim` serves on a pseudo-terminal (the same
//! bytes, so the same code), or any other [`Transport`]. The wire protocol is
//! `docs/protocol.md`; its constants and frame codec are in
//! [`lutgen_core::protocol`].
//!
//! ```no_run
//! use lutgen_driver::{transport::serial::SerialTransport, Driver, DriverOptions};
//! use lutgen_core::Image;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let port = SerialTransport::open("/dev/ttyUSB0", 115_200)?;
//! let mut device = Driver::new(port, DriverOptions::default());
//! let ident = device.identify()?;
//! let image = Image::read_from("model.lutimg")?;
//! device.load(&image, &mut |_, _| {})?;
//! let outputs = device.run(&[vec![0i8; ident.config.input_dim]], &mut |_, _| {})?;
//! # Ok(()) }
//! ```
//!
//! A whole program is in `examples/drive.rs`. This crate depends on the
//! protocol definition only (`lutgen-core`) and `serialport`: no hardware
//! generator, simulator or compiler.

mod driver;
pub mod transport;

pub use driver::{describe_config, loaded_crc, Driver, DriverError, DriverOptions, LinkStats};
pub use transport::{Transport, TransportError};
