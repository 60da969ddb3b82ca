//! Every way the board flow can fail.

use crate::fit::FitReport;
use std::path::PathBuf;

/// Every way the board flow can fail, each naming what to do.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("unknown board `{name}`; known boards: {known} (see `lutgen boards`)")]
    UnknownBoard { name: String, known: String },
    #[error("board description {file} is invalid: {message}")]
    Description { file: String, message: String },
    #[error("invalid engine configuration: {0}")]
    Config(#[from] lutgen_core::ConfigError),
    #[error("invalid dense configuration: {0}")]
    Dense(#[from] lutgen_hdl::dense::DenseConfigError),
    #[error("invalid convolution layer: {0}")]
    ConvLayer(#[from] lutgen_hdl::conv_layer::ConvLayerError),
    #[error("invalid device: {0}")]
    Device(#[from] lutgen_hdl::device::DeviceConfigError),
    #[error("{0}")]
    Weights(#[from] lutgen_hdl::dense::DenseWeightsError),
    #[error("{0}")]
    Image(#[from] lutgen_core::ImageError),
    #[error("simulation: {0}")]
    Sim(#[from] lutgen_sim::SimError),
    #[error("{0}")]
    DoesNotFit(Box<FitReport>),
    #[error("`{program}` was not found on PATH; install it with: {install}")]
    MissingTool {
        program: String,
        install: &'static str,
    },
    #[error("{tool} failed (exit status {status}); its log is {log}. Last lines:\n{tail}")]
    ToolFailed {
        tool: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot run {tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("{tool} finished but its output could not be read: {message}")]
    ToolOutput { tool: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the {top} has {needed} I/O bits but the {board} package has {available} user pins; \
         place and route needs the device top (UART pins only)"
    )]
    TooManyPins {
        top: String,
        board: String,
        needed: u64,
        available: u64,
    },
    #[error("the simulated {what} disagrees with its reference on vector {vector}: {detail}")]
    Mismatch {
        what: &'static str,
        vector: usize,
        detail: String,
    },
    #[error("core clock for {board}: {message}")]
    Clock { board: String, message: String },
    #[error("{0}")]
    Usage(String),
}
