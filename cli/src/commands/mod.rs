//! One module per `lutgen` subcommand.

pub mod board;
pub mod boards;
pub mod build;
pub mod compile;
pub mod dataset;
pub mod encoders;
pub mod eval;
pub mod eval_network;
pub mod generate;
pub mod ident;
pub mod image;
pub mod load;
pub mod report;
pub mod run;
pub mod sim;
pub mod sim_network;
pub mod status;
pub mod suite;
