//! [`LayerInput`]: the front of one layer of a network top. For a
//! convolution it is the layer's [`WindowGenerator`] (the same Verilog) with
//! its pad value in a register written through the load port (word
//! [`PAD_VALUE_WORD`] of [`lutgen_core::memory_map::SPATIAL_MEMORY`], an int8
//! in the low byte; reset keeps it): the map streams in and the patches
//! stream out to the layer's engine. For a dense layer it is a wire: the
//! vector (or a map, read in HWC order: flatten is implicit) goes to the
//! engine as it comes.
//!
//! The block is written as Verilog ([`Verilog::Custom`]); rust-hdl's
//! simulation models only the wire.

use crate::stream_wire::STREAM_WIRE_BODY;
use crate::window::{self, WindowError, WindowGenerator};
use lutgen_core::conv::ConvGeometry;
use lutgen_core::memory_map::PAD_VALUE_WORD;
use rust_hdl::prelude::*;

/// A layer's input: a window generator or a wire.
#[derive(LogicBlock)]
pub struct LayerInput {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (the pad value is kept).
    pub reset: Signal<In, Bit>,
    /// The layer's input: a vector, or maps one after another (HWC).
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// The engine's input: the vector, or each output pixel's patch.
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// Write `load_data` to word `load_word` (already decoded for this
    /// layer's spatial memory): word [`PAD_VALUE_WORD`] is the pad value.
    pub load_enable: Signal<In, Bit>,
    pub load_word: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    _geometry: Option<ConvGeometry>,
}

impl LayerInput {
    /// The input of a dense layer: a wire.
    pub fn wire() -> Self {
        Self::build(None)
    }

    /// The input of a convolution over `geometry`, or why there is none.
    pub fn conv(geometry: &ConvGeometry) -> Result<Self, WindowError> {
        WindowGenerator::new(geometry)?;
        Ok(Self::build(Some(*geometry)))
    }

    fn build(geometry: Option<ConvGeometry>) -> Self {
        LayerInput {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            load_enable: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            _geometry: geometry,
        }
    }
}

impl Logic for LayerInput {
    /// rust-hdl's simulation models the wire only.
    fn update(&mut self) {
        if self._geometry.is_none() {
            self.out_data.next = self.in_data.val();
            self.out_valid.next = self.in_valid.val();
            self.in_ready.next = self.out_ready.val();
        }
    }

    fn connect(&mut self) {
        self.in_ready.connect();
        self.out_data.connect();
        self.out_valid.connect();
    }

    fn hdl(&self) -> Verilog {
        match &self._geometry {
            None => Verilog::Custom(STREAM_WIRE_BODY.to_string()),
            Some(g) => Verilog::Custom(format!(
                "\
// The window generator's pad value, a load-port register.
reg [7:0] pad_value;
always @(posedge clock) begin
    if (load_enable & (load_word == 16'd{PAD_VALUE_WORD})) pad_value <= load_data[7:0];
end
// The engine counts its own inputs: the patch and map ends are not used.
/* verilator lint_off UNUSEDSIGNAL */
reg out_last;
reg out_last_map;
wire _unused_load_data = &{{1'b0, load_data[31:8]}};
/* verilator lint_on UNUSEDSIGNAL */
{}",
                window::body(g)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::conv::Padding;

    #[test]
    fn layer_inputs_are_lint_clean() {
        let geometry = ConvGeometry {
            in_height: 5,
            in_width: 6,
            in_channels: 2,
            kernel: 3,
            stride: 2,
            padding: Padding::uniform(1),
        };
        let mut conv = LayerInput::conv(&geometry).unwrap();
        crate::lint::assert_block_is_clean("input-conv", &mut conv);
        crate::lint::assert_block_is_clean("input-wire", &mut LayerInput::wire());
    }
}
