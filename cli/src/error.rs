//! Every way a lutgen command can fail, each with what to do about it.

use lutgen_driver::{DriverError, TransportError};
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    ConfigFile { path: PathBuf, message: String },
    #[error("invalid engine configuration: {0}")]
    Config(#[from] lutgen_core::ConfigError),
    #[error("{0}")]
    Image(#[from] lutgen_core::ImageError),
    #[error("{0}")]
    Sim(#[from] lutgen_sim::SimError),
    #[error("{path}: {message}")]
    Npy { path: PathBuf, message: String },
    #[error("input vector {index}: {source}")]
    Input {
        index: usize,
        source: lutgen_core::reference::InputError,
    },
    #[error(
        "the image was made for a different engine ({image}) than the one requested ({requested}); \
         drop the engine flags to use the image's own configuration"
    )]
    ImageMismatch { image: String, requested: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Compile(#[from] lutgen_compile::CompileError),
}

/// Why a device command (`lutgen ident/load/run/status/board`) failed.
#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Host(#[from] Error),
    #[error(transparent)]
    Image(#[from] lutgen_core::ImageError),
    #[error("cannot serve the simulated board: {0}")]
    Board(String),
}
