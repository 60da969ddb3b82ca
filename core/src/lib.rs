//! The definition of what a lutgen engine computes.
//!
//! This crate is the single source of truth shared by the hardware generator
//! (`lutgen-hdl`), the Verilator co-simulation (`lutgen-sim`) and the host
//! tool (`lutgen`): the engine [`config`], the table [`image`] that holds a
//! model, the swappable [`encoder`] stage and the bit-exact integer
//! [`reference`] that every hardware result is checked against, and the
//! [`memory_map`] that says which engine memory word each image value goes to.

pub mod config;
pub mod conv;
pub mod divergence;
pub mod encoder;
pub mod ident;
pub mod image;
pub mod learn;
pub mod loader;
pub mod memory_map;
pub mod network;
pub mod network_loader;
pub mod protocol;
pub mod reference;
pub mod sequential;
pub mod spatial;

pub use config::{ConfigError, EncoderKind, EngineConfig};
pub use image::{Image, ImageError};
pub use network::{Network, NetworkError, Requantize};
pub use reference::{Inference, Reference};
