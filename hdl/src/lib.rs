//! The lutgen hardware generator: the engine as rust-hdl blocks, emitted as Verilog.
//!
//! Follow the data path by module: [`memory`] (block RAMs), [`distance`] (one
//! unit per centroid), [`argmin`] (nearest centroid), [`lane`] (table read, R entries a
//! word) and [`accumulator`] (accumulation, one per entry), [`engine`] (the pipeline),
//! [`memory_map`] (where an image's words go), [`requantize`], [`network`] (every layer
//! of a network on the device, one engine per layer), [`sequential`] (one engine running
//! the layers in turn) and [`verilog`] (lint-clean Verilog out). [`encoders`] and
//! [`device`] keep one block per file; [`delay`] is the register chain that
//! keeps a pipeline's control in step with its data. For convolutions,
//! [`window`] (the line buffers that turn HWC feature maps into patches) and
//! [`conv_layer`] (a window generator in front of an engine; [`dense_conv`] is its dense
//! int8 baseline).

pub mod accumulator;
pub mod argmin;
pub mod conv_layer;
pub mod delay;
pub mod dense;
pub mod dense_conv;
pub mod device;
pub mod distance;
pub mod dp16kd;
pub mod encoders;
pub mod engine;
pub mod fifo;
pub mod lane;
pub mod layer_input;
pub mod memory;
pub mod network;
pub mod pool;
pub mod requantize;
pub mod sequential;
pub mod spram;
pub mod stream_wire;
pub mod uart;
pub mod verilog;
pub mod window;

#[cfg(test)]
mod lint;

pub use engine::Engine;
/// Where an image's words go; defined in `lutgen-core` so a host driver needs no hardware generator.
pub use lutgen_core::memory_map;
pub use lutgen_core::memory_map::{LoadWord, MemoryMap};
