//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while building, loading or driving a Verilated model.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The `verilator` program could not be started.
    #[error(
        "Verilator not found (tried to run `{program}`): install it with `apt-get install verilator` \
         (version 5.006 or newer), or point LUTGEN_VERILATOR at the binary"
    )]
    VerilatorNotFound {
        /// The program we tried to run.
        program: PathBuf,
    },

    /// A build tool other than Verilator (make, g++) could not be started.
    #[error(
        "`{tool}` not found: Verilated models need a C++ toolchain (`apt-get install make g++`)"
    )]
    ToolNotFound {
        /// The program we tried to run.
        tool: String,
    },

    /// The installed Verilator is older than the 5.x series this crate targets.
    #[error("unsupported Verilator `{version}`: lutgen-sim needs Verilator 5.006 or newer")]
    UnsupportedVerilator {
        /// The first line of `verilator --version`.
        version: String,
    },

    /// Verilator rejected the design. Lint warnings are fatal on purpose: the Verilog lutgen
    /// generates is meant to be lint clean, so only waivers written in the source silence them.
    #[error("Verilator failed on top module `{top}` ({command}):\n{diagnostics}")]
    Verilator {
        /// The top module being built.
        top: String,
        /// The command line that failed.
        command: String,
        /// The `%Error` / `%Warning` lines of Verilator's output, with their context.
        diagnostics: String,
    },

    /// Compiling or linking the Verilated C++ into a shared library failed.
    #[error("C++ build of the Verilated model failed ({command}):\n{output}")]
    Compile {
        /// The command line that failed.
        command: String,
        /// The compiler errors (or the tail of the output when none could be picked out).
        output: String,
    },

    /// The built shared library could not be loaded, or lacks a shim symbol.
    #[error("could not load the Verilated model library {}: {source}", path.display())]
    Load {
        /// The shared library.
        path: PathBuf,
        /// What the dynamic loader said.
        #[source]
        source: libloading::Error,
    },

    /// The C++ shim could not construct the model (allocation failure or a C++ exception).
    #[error("the Verilated model could not be constructed")]
    Create,

    /// A port name that is not in the model's port list.
    #[error("unknown port `{name}` (ports: {known})")]
    UnknownPort {
        /// The name asked for.
        name: String,
        /// The model's port names, comma separated.
        known: String,
    },

    /// A port wider than the 64 bits this binding supports.
    #[error("port `{name}` is {width} bits wide; lutgen-sim supports ports of 1 to 64 bits")]
    PortTooWide {
        /// The port.
        name: String,
        /// Its declared width.
        width: u32,
    },

    /// A port list entry that disagrees with the design (name, width or direction),
    /// or is not a plain Verilog identifier.
    #[error("port `{name}`: {reason}")]
    PortMismatch {
        /// The port.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A time counter given to [`crate::ModelBuilder::watch_state`] that is not exactly one
    /// signal of the Verilated model.
    #[error("time counter `{path}`: {reason}")]
    Counter {
        /// The signal path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `open_trace` on a model that was built without `.trace(true)`.
    #[error(
        "tracing requested, but the model was built without tracing: use ModelBuilder::trace(true)"
    )]
    TraceNotEnabled,

    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The engine configuration is invalid (see `EngineConfig::validate`).
    #[error("invalid engine configuration: {0}")]
    Config(#[from] lutgen_core::ConfigError),

    /// An image made for another configuration than the engine's.
    #[error(
        "the image was made for another engine: image {image}, engine {engine}; \
         build the engine from the image's configuration"
    )]
    ImageMismatch {
        /// The engine's configuration.
        engine: String,
        /// The image's configuration.
        image: String,
    },

    /// An image for another encoder than the one the engine was generated with.
    #[error(
        "the image uses encoder {image} but this engine was generated with encoder {engine}; \
         an engine implements one encoder: generate (or build) it with --encoder {image}"
    )]
    EncoderMismatch {
        /// The engine's encoder.
        engine: lutgen_core::EncoderKind,
        /// The image's encoder.
        image: lutgen_core::EncoderKind,
    },

    /// Layer configurations that cannot form one network top.
    #[error("invalid network hardware: {0}")]
    NetworkShape(#[from] lutgen_hdl::network::NetworkShapeError),

    /// Layers that one engine cannot run in turn (the sequential schedule).
    #[error("invalid sequential hardware: {0}")]
    Sequential(#[from] lutgen_core::sequential::SequentialError),

    /// A network whose layers are not the ones the network top was generated for.
    #[error(
        "the network does not match the generated hardware: {0}; \
         build the network top from the network's own layers"
    )]
    NetworkMismatch(String),

    /// Vectors were streamed before any image was loaded.
    #[error("no image loaded: load one before streaming vectors")]
    NotLoaded,

    /// An input vector of the wrong length.
    #[error("input vector {index} has {got} elements but the engine takes {expected}")]
    InputLength {
        /// Which vector.
        index: usize,
        /// D.
        expected: usize,
        /// Its length.
        got: usize,
    },

    /// The engine stopped making progress: a hardware bug, never a user error.
    #[error(
        "the engine made no progress for too long at cycle {cycle}: {accepted} vectors accepted, \
         {completed} of {expected} finished (run with --trace to see where it stops)"
    )]
    Hung {
        /// The cycle at which we gave up.
        cycle: u64,
        /// Vectors fully accepted.
        accepted: usize,
        /// Vectors whose outputs all arrived.
        completed: usize,
        /// Vectors sent.
        expected: usize,
    },

    /// The engine broke its stream protocol.
    #[error("engine protocol violation: {0}")]
    Protocol(String),

    /// The engine raised its `fault` flag (index FIFO over- or underflow).
    #[error("the engine raised `fault` at cycle {cycle} (index FIFO over- or underflow)")]
    Fault {
        /// When.
        cycle: u64,
    },
}

impl SimError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimError::Io {
            path: path.into(),
            source,
        }
    }
}
