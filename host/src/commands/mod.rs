//! One module per `lutgen` subcommand.

pub mod generate;
pub mod image;
pub mod sim;
