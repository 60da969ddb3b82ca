//! The dense int8 baseline of a convolution layer: the same
//! [`WindowGenerator`] as a LUT [`ConvLayer`](crate::conv_layer::ConvLayer)
//! in front of the dense MAC engine ([`crate::dense`]) for the patch shape
//! (`D = C * k * k`), behind the LUT layer's ports
//! ([`CONV_LAYER_PORTS`](crate::verilog::CONV_LAYER_PORTS)), so a board
//! report compares the two layers like for like: the same line buffers,
//! the same stream, only the per-patch arithmetic differs.
//!
//! The dense engine is a Verilog template (`crate::dense`), not a rust-hdl
//! block, so this layer is a Verilog module too: the window generator's
//! module ([`WindowGenerator::verilog`]), the dense engine's, and a wrapper
//! [`DENSE_CONV_LAYER_MODULE`] that wires the window's patch stream into the
//! engine. Both children are generated for this geometry and shape, so the
//! wrapper holds no logic of its own. Its load port is the dense engine's
//! (weights and bias, [`DenseWeights::load_words`](crate::dense::DenseWeights::load_words));
//! its outputs are the engine's N per output pixel, pixels row-major.

use crate::conv_layer::ConvLayerError;
use crate::dense::{dense_verilog, DenseConfig, DENSE_MODULE};
use crate::window::WindowGenerator;
use lutgen_core::conv::ConvGeometry;
use std::fmt::Write;

/// Name of the dense convolution layer's top module.
pub const DENSE_CONV_LAYER_MODULE: &str = "lutgen_dense_conv_layer";

/// The Verilog of the dense baseline of a convolution layer: the window
/// generator for `geometry` feeding the dense engine for `config`, whose
/// input dimension must be the patch length `C * k * k`.
pub fn dense_conv_layer_verilog(
    config: &DenseConfig,
    geometry: &ConvGeometry,
) -> Result<String, ConvLayerError> {
    config.validate()?;
    if config.input_dim != geometry.patch_len() {
        return Err(ConvLayerError::Shape {
            input_dim: config.input_dim,
            patch_len: geometry.patch_len(),
        });
    }
    let window = WindowGenerator::verilog(geometry)?;
    let dense = dense_verilog(config)?;
    let window_module = WindowGenerator::MODULE;
    let mut v = String::new();
    let _ = write!(
        v,
        "// lutgen {version}: generated dense int8 convolution layer (baseline), do not edit.\n\
         // The window generator ({window_module}) feeds each output pixel's patch to the dense\n\
         // engine ({DENSE_MODULE}, D = {d}, N = {n}); ports as lutgen_conv_layer's.\n\
         /* verilator lint_off DECLFILENAME */\n\
         module {DENSE_CONV_LAYER_MODULE}(clock, reset, in_data, in_valid, in_ready, pad_value,\n    \
         out_data, out_valid, out_ready, out_last, load_enable, load_address, load_data, fault);\n\
         input wire clock;\ninput wire reset;\ninput wire [7:0] in_data;\ninput wire in_valid;\n\
         output wire in_ready;\ninput wire [7:0] pad_value;\noutput wire [31:0] out_data;\n\
         output wire out_valid;\ninput wire out_ready;\noutput wire out_last;\n\
         input wire load_enable;\ninput wire [31:0] load_address;\ninput wire [31:0] load_data;\n\
         output wire fault;\n\
         wire [7:0] patch_data;\nwire patch_valid;\nwire patch_ready;\n\
         /* verilator lint_off UNUSEDSIGNAL */ // the engine counts its own inputs and has no encoder\n\
         wire patch_last;\nwire map_last;\nwire encode_valid;\nwire [15:0] encode_index;\n\
         wire [31:0] encode_distance;\n\
         /* verilator lint_on UNUSEDSIGNAL */\n\
         {window_module} window(.clock(clock), .reset(reset), .in_data(in_data), \
         .in_valid(in_valid), .in_ready(in_ready), .pad_value(pad_value), .out_data(patch_data), \
         .out_valid(patch_valid), .out_ready(patch_ready), .out_last(patch_last), \
         .out_last_map(map_last));\n\
         {DENSE_MODULE} engine(.clock(clock), .reset(reset), .in_data(patch_data), \
         .in_valid(patch_valid), .in_ready(patch_ready), .out_data(out_data), \
         .out_valid(out_valid), .out_ready(out_ready), .out_last(out_last), \
         .load_enable(load_enable), .load_address(load_address), .load_data(load_data), \
         .encode_valid(encode_valid), .encode_index(encode_index), \
         .encode_distance(encode_distance), .fault(fault));\n\
         endmodule // {DENSE_CONV_LAYER_MODULE}\n\n{window}\n{dense}",
        version = env!("CARGO_PKG_VERSION"),
        d = config.input_dim,
        n = config.outputs,
    );
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::DenseConfigError;
    use lutgen_core::conv::Padding;

    fn geometry() -> ConvGeometry {
        ConvGeometry {
            in_height: 5,
            in_width: 6,
            in_channels: 2,
            kernel: 3,
            stride: 2,
            padding: Padding::uniform(1),
        }
    }

    fn dense(input_dim: usize) -> DenseConfig {
        DenseConfig {
            input_dim,
            outputs: 4,
            macs: 1,
            bias_bits: 16,
            weights_per_read: 1,
        }
    }

    #[test]
    fn has_the_wrapper_and_both_children() {
        let v = dense_conv_layer_verilog(&dense(18), &geometry()).unwrap();
        for module in [
            DENSE_CONV_LAYER_MODULE,
            WindowGenerator::MODULE,
            DENSE_MODULE,
        ] {
            assert!(v.contains(&format!("module {module}(")), "{module}");
        }
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        assert_eq!(
            dense_conv_layer_verilog(&dense(16), &geometry()).err(),
            Some(ConvLayerError::Shape {
                input_dim: 16,
                patch_len: 18
            })
        );
        let bad = DenseConfig {
            macs: 0,
            ..dense(18)
        };
        assert_eq!(
            dense_conv_layer_verilog(&bad, &geometry()).err(),
            Some(ConvLayerError::Dense(DenseConfigError::Zero {
                what: "macs"
            }))
        );
        // Stride 3: the window generator refuses it, naming it.
        let g = ConvGeometry {
            stride: 3,
            ..geometry()
        };
        let e = dense_conv_layer_verilog(&dense(18), &g).unwrap_err();
        assert!(matches!(e, ConvLayerError::Window(_)), "{e:?}");
        assert!(e.to_string().contains("stride 3"), "{e}");
    }
}
