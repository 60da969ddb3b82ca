//! One module per `lutgen` subcommand.

pub mod boards;
pub mod build;
pub mod compile;
pub mod eval;
pub mod generate;
pub mod image;
pub mod report;
pub mod sim;
