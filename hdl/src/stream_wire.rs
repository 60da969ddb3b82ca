//! The Verilog body of a stream stage that is a wire: a network top's
//! stage a layer does not use (a dense layer's [`crate::layer_input::LayerInput`],
//! the [`crate::pool::PoolStage`] of a layer that does not pool). Both
//! blocks have the same ports, so one body serves them: the stream passes
//! through, and the clock, reset and load port are read into a waived
//! `_unused` wire.

/// The body of a pass-through stage with the ports `clock`, `reset`,
/// `in_data`/`in_valid`/`in_ready`, `out_data`/`out_valid`/`out_ready`,
/// `load_enable`, `load_word` and `load_data`.
pub const STREAM_WIRE_BODY: &str = "\
always @(*) begin
    out_data = in_data;
    out_valid = in_valid;
    in_ready = out_ready;
end
wire _unused_stage_ports = &{1'b0, clock, reset, load_enable, load_word, load_data};
";
