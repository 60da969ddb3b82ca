//! The lutgen host tool: the command line, and the pieces it is built from.
//!
//! [`engine_args`] turns flags and config files into an engine
//! configuration, [`vectors`] reads and writes activations, and
//! [`commands`] holds one module per subcommand.

pub mod board;
pub mod commands;
pub mod compile;
pub mod driver;
pub mod engine_args;
pub mod error;
pub mod transport;
pub mod vectors;

pub use error::Error;
