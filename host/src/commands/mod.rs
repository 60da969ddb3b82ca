//! One module per `lutgen` subcommand.

pub mod compile;
pub mod eval;
pub mod generate;
pub mod image;
pub mod sim;
