//! Every way a lutgen command can fail, each with what to do about it.

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
    Compile(#[from] crate::compile::CompileError),
}
