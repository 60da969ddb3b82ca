//! The lutgen command line: argument parsing and printing over the lutgen crates.
//!
//! Each subcommand is a module of [`commands`] and a thin call into the
//! crate that does the work: `lutgen-compile` (model -> image),
//! `lutgen-hdl` (engine -> Verilog), `lutgen-sim` (Verilator),
//! `lutgen-board` (bitstreams and reports) and `lutgen-driver` (host <->
//! device). [`engine_args`] turns flags and config files into an engine
//! configuration, [`learn_args`] holds the learned method's training flags, [`describe`] says what a network file holds, [`device_file`] reads
//! the file a device loads (an image or a network), [`port`] opens a device, [`vectors`] reads and writes
//! activations and [`output`] prints.

pub mod commands;
pub mod describe;
pub mod device_file;
pub mod engine_args;
pub mod error;
pub mod learn_args;
pub mod output;
pub mod port;
pub mod vectors;

pub use error::{CommandError, Error};
