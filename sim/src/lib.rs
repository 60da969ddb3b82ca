//! Verilator 5 co-simulation from Rust: build a model from Verilog text at run time, load it,
//! and drive its ports cycle by cycle.
//!
//! ```no_run
//! use lutgen_sim::{ModelBuilder, PortSpec};
//! let verilog = "module counter(input wire clk, input wire en, output reg [7:0] q);\n\
//!                always @(posedge clk) if (en) q <= q + 8'd1;\nendmodule\n";
//! let ports = vec![PortSpec::input("clk", 1), PortSpec::input("en", 1), PortSpec::output("q", 8)];
//! let mut model = ModelBuilder::new(verilog, "counter", ports).build()?;
//! let (clk, en, q) = (model.port("clk")?, model.port("en")?, model.port("q")?);
//! model.set(en, 1);
//! for _ in 0..3 {
//!     model.tick(clk);
//! }
//! assert_eq!(model.get(q), 3);
//! # Ok::<(), lutgen_sim::SimError>(())
//! ```
//!
//! The engine ([`engine`]), a convolution layer ([`conv_layer`]), the network top ([`network`], [`whole_network`]) and the
//! device ([`device`]) each have a driver here. The simulated device is also a board:
//! [`transport::SimTransport`] in this process, or [`pty::PtyBoard`] on a pseudo-terminal
//! that any serial client opens.
//!
//! Built models are cached on disk (see [`default_cache_dir`]), keyed by a hash of everything
//! that affects the build, so rebuilding the same Verilog only loads a shared library.
//! Verilator lint warnings are fatal: the Verilog is expected to be lint clean.

mod builder;
mod cache;
pub mod conv_layer;
pub mod device;
pub mod engine;
mod error;
mod model;
pub mod network;
mod port;
pub mod pty;
mod shim;
mod stream;
pub mod transport;
pub mod whole_network;

pub use builder::{ModelBuilder, LARGE_VERILOG_BYTES, VERILATOR_ENV};
pub use cache::{cache_key, default_cache_dir, CACHE_DIR_ENV};
pub use engine::{Backpressure, Encoded, EngineSim, Run, SimOptions};
pub use error::SimError;
pub use model::Model;
pub use network::{Divergence, NetworkRun, NetworkSim};
pub use port::{Direction, PortId, PortSpec};

#[cfg(test)]
mod test_designs;
