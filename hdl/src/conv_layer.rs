//! [`ConvLayer`]: a convolution layer, a [`WindowGenerator`] feeding an
//! [`Engine`] whose input vector is one patch (`D = C * k * k`; with
//! `C` codebooks each sees one input channel's `k x k` window, `V = k * k`).
//! Maps stream in once (HWC); the engine's N outputs per output pixel
//! stream out, pixels in row-major order: the output map in HWC order.
//! The engine's load port is the layer's.

use crate::engine::Engine;
use crate::window::{WindowError, WindowGenerator};
use lutgen_core::conv::ConvGeometry;
use lutgen_core::{ConfigError, EngineConfig};
use rust_hdl::prelude::*;
use thiserror::Error;

/// Why a convolution layer cannot be generated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConvLayerError {
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The dense baseline's engine ([`crate::dense_conv`]).
    #[error(transparent)]
    Dense(#[from] crate::dense::DenseConfigError),
    #[error(
        "the engine takes {input_dim} inputs but the convolution's patches have {patch_len} \
         (C * k * k): set the engine's input dimension to {patch_len}"
    )]
    Shape { input_dim: usize, patch_len: usize },
}

#[derive(LogicBlock)]
pub struct ConvLayer {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset of both blocks; hold for [`crate::engine::RESET_CYCLES`].
    pub reset: Signal<In, Bit>,
    /// Input maps, one after another, each in HWC order.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// The padding value (the input zero point).
    pub pad_value: Signal<In, Bits<8>>,
    /// The engine's N outputs for each output pixel, row-major.
    pub out_data: Signal<Out, Bits<32>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// High with the last output of each output pixel.
    pub out_last: Signal<Out, Bit>,
    /// The engine's load port.
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    /// The engine's fault flag.
    pub fault: Signal<Out, Bit>,
    window: WindowGenerator,
    engine: Engine,
}

impl ConvLayer {
    /// The layer for `geometry` and an engine for `config`.
    pub fn new(config: &EngineConfig, geometry: &ConvGeometry) -> Result<Self, ConvLayerError> {
        let window = WindowGenerator::new(geometry)?;
        config.validate()?;
        if config.input_dim != geometry.patch_len() {
            return Err(ConvLayerError::Shape {
                input_dim: config.input_dim,
                patch_len: geometry.patch_len(),
            });
        }
        Ok(ConvLayer {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            pad_value: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            fault: Default::default(),
            window,
            engine: Engine::new(config),
        })
    }
}

impl Logic for ConvLayer {
    #[hdl_gen]
    fn update(&mut self) {
        self.window.clock.next = self.clock.val();
        self.window.reset.next = self.reset.val();
        self.window.in_data.next = self.in_data.val();
        self.window.in_valid.next = self.in_valid.val();
        self.in_ready.next = self.window.in_ready.val();
        self.window.pad_value.next = self.pad_value.val();
        self.engine.clock.next = self.clock.val();
        self.engine.reset.next = self.reset.val();
        self.engine.in_data.next = self.window.out_data.val();
        self.engine.in_valid.next = self.window.out_valid.val();
        self.window.out_ready.next = self.engine.in_ready.val();
        self.out_data.next = self.engine.out_data.val();
        self.out_valid.next = self.engine.out_valid.val();
        self.engine.out_ready.next = self.out_ready.val();
        self.out_last.next = self.engine.out_last.val();
        self.engine.load_enable.next = self.load_enable.val();
        self.engine.load_address.next = self.load_address.val();
        self.engine.load_data.next = self.load_data.val();
        self.fault.next = self.engine.fault.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::conv::Padding;

    #[test]
    fn an_engine_of_another_input_dimension_is_refused() {
        let geometry = ConvGeometry {
            in_height: 4,
            in_width: 4,
            in_channels: 2,
            kernel: 3,
            stride: 1,
            padding: Padding::uniform(1),
        };
        let config = crate::lint::small_engine(lutgen_core::EncoderKind::L2, 4);
        assert_eq!(
            ConvLayer::new(&config, &geometry).err(),
            Some(ConvLayerError::Shape {
                input_dim: 16,
                patch_len: 18
            })
        );
    }
}
