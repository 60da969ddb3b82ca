//! A Verilated convolution layer: the LUT one
//! (`lutgen_hdl::verilog::conv_layer_verilog`) or its dense int8 baseline
//! (`lutgen_hdl::dense_conv::dense_conv_layer_verilog`), both behind
//! `CONV_LAYER_PORTS`. Input maps stream in once each (HWC); every output
//! pixel's N outputs come back, pixels row-major. The caller loads the
//! layer (an image's words, or the dense weights') and checks the outputs
//! against its own reference on the maps' patches.

use crate::engine::build_top;
use crate::error::SimError;
use crate::stream::{self, StreamPorts};
use crate::{Backpressure, Model, PortId, SimOptions};
use lutgen_core::conv::ConvGeometry;
use lutgen_core::memory_map::LoadWord;
use lutgen_hdl::verilog::CONV_LAYER_PORTS;

/// A Verilated convolution layer of one geometry and N outputs per pixel.
pub struct ConvLayerSim {
    geometry: ConvGeometry,
    outputs: usize,
    model: Model,
    stream: StreamPorts,
    reset: PortId,
    pad_value: PortId,
    loaded: bool,
}

/// What [`ConvLayerSim::run`] collected.
#[derive(Clone, Debug, Default)]
pub struct ConvRun {
    /// Per map: N outputs per output pixel, pixels row-major (HWC).
    pub outputs: Vec<Vec<i32>>,
    /// Cycles from the first element offered to the last output taken.
    pub cycles: u64,
    /// Steady-state cycles between consecutive maps' last outputs.
    pub cycles_per_map: f64,
}

impl ConvLayerSim {
    /// Builds (or loads from the cache) `verilog`, whose top `module` has
    /// `CONV_LAYER_PORTS`, for `geometry` with `outputs` (N) per pixel, and
    /// resets it.
    pub fn new(
        verilog: &str,
        module: &str,
        geometry: &ConvGeometry,
        outputs: usize,
        options: &SimOptions,
    ) -> Result<Self, SimError> {
        let model = build_top(verilog, module, &CONV_LAYER_PORTS, options)?;
        let mut sim = ConvLayerSim {
            geometry: *geometry,
            outputs,
            stream: StreamPorts::of(&model)?,
            reset: model.port("reset")?,
            pad_value: model.port("pad_value")?,
            model,
            loaded: false,
        };
        sim.reset();
        Ok(sim)
    }

    /// Holds `reset` for the engine's reset cycles: empties the line
    /// buffers and every stage.
    pub fn reset(&mut self) {
        stream::reset(&mut self.model, self.stream, self.reset);
    }

    /// Writes `words` through the layer's load port, one per clock.
    pub fn load(&mut self, words: impl IntoIterator<Item = LoadWord>) {
        stream::load(&mut self.model, self.stream, words);
        self.loaded = true;
    }

    /// Streams `maps` (each `H * W * C` elements, HWC) with padding value
    /// `pad` under `bp` and collects every output pixel's N outputs.
    /// Fails, rather than hangs, when the layer stops making progress, and
    /// on a misplaced `out_last` or a fault.
    pub fn run(
        &mut self,
        maps: &[Vec<i8>],
        pad: i8,
        mut bp: Backpressure,
    ) -> Result<ConvRun, SimError> {
        if !self.loaded {
            return Err(SimError::NotLoaded);
        }
        let g = self.geometry;
        let (pixels, n) = (g.out_pixels(), self.outputs);
        self.model.set(self.pad_value, u64::from(pad as u8));
        // A stalled output may hold the layer only while it is stalled; a
        // patch takes at most D * N cycles (the dense engine, one MAC).
        let patience = 64 * (g.patch_len() * n + g.input_len()) as u64 + 4096;
        let streamed = stream::stream(
            &mut self.model,
            self.stream,
            maps,
            g.input_len(),
            n,
            pixels,
            patience,
            &mut bp,
            |_| false,
        )?;
        self.model.flush_trace();
        Ok(ConvRun {
            outputs: streamed
                .outputs
                .chunks(pixels)
                .map(|pixel| pixel.concat())
                .collect(),
            cycles: streamed.cycles,
            cycles_per_map: streamed.cycles_per_inference,
        })
    }
}
