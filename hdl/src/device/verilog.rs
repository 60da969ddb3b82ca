//! The device's Verilog: [`device_verilog`] (the board's top module) and
//! [`core_verilog`] (the frame layer alone, for simulation), each with a
//! header naming the configuration and its lint waivers.

use super::config::{DeviceConfig, DeviceConfigError};
use super::frame_layer::DeviceCore;
use super::top::Device;
use lutgen_core::protocol;
use rust_hdl::prelude::*;

/// Name of the device's top-level Verilog module.
pub const DEVICE_MODULE: &str = "lutgen_device";
/// Name of the byte-level frame layer's Verilog module (for simulation).
pub const CORE_MODULE: &str = "lutgen_device_core";

/// Ports of [`DEVICE_MODULE`]: (name, width, input).
pub const DEVICE_PORTS: [(&str, u32, bool); 4] = [
    ("clock", 1, true),
    ("rx", 1, true),
    ("tx", 1, false),
    ("idle", 1, false),
];

/// Ports of [`CORE_MODULE`]: (name, width, input).
pub const CORE_PORTS: [(&str, u32, bool); 7] = [
    ("clock", 1, true),
    ("rx_valid", 1, true),
    ("rx_data", 8, true),
    ("tx_valid", 1, false),
    ("tx_data", 8, false),
    ("tx_ready", 1, true),
    ("idle", 1, false),
];

const DEVICE_WAIVERS: &str = "\
// Lint waivers (verilator --lint-only -Wall is otherwise clean):
// WIDTH: rust-hdl 0.46 writes every integer literal as a 32-bit constant and
//   every bit_cast as a mask; both are intended zero extensions or truncations.
// UNOPTFLAT: rust-hdl puts a module's combinational logic in one always block,
//   so FIFO reads that depend on registered `empty` flags look like loops.
// DECLFILENAME: one file holds the top module and all its submodules.
// UNUSEDSIGNAL: the engine's encoder trace ports, FIFO fill levels and a few
//   bits of wide registers are not needed by the device. (The block RAMs'
//   own `lint_on UNUSEDSIGNAL` lines are dropped so this stays file-wide.)
// UNUSEDPARAM: rust-hdl declares every state of an enum register as a
//   localparam in the register's module, where only some are compared.
/* verilator lint_off WIDTH */
/* verilator lint_off UNOPTFLAT */
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
";

fn finish(raw: &str, top: &str, device: &DeviceConfig, what: &str) -> String {
    let mut out = format!(
        "// lutgen {}: generated {what}, do not edit.\n",
        env!("CARGO_PKG_VERSION")
    );
    let layers = device.layers();
    let spatial = device.spatial();
    for (i, config) in layers.iter().enumerate() {
        if device.is_network() {
            out.push_str(&format!("// Layer {i}:\n"));
        }
        out.push_str(&crate::verilog::describe_spatial(&spatial[i]));
        out.push_str(&crate::verilog::describe(config));
    }
    if let super::config::DeviceKind::Sequential(layers) = &device.kind {
        let plan = lutgen_core::sequential::SequentialPlan::new(layers)
            .expect("DeviceConfig::validate checks the sequential plan");
        out.push_str(&format!(
            "// Schedule: sequential, one engine runs the {} layers in turn (one bank each):
",
            layers.len()
        ));
        out.push_str(&crate::verilog::describe(plan.engine()));
    }
    out.push_str(&format!(
        "// Link: {clock} Hz clock, {baud} baud 8N1 ({cpb} clocks per bit); protocol v{pv} (docs/protocol.md)\n\
         // Configuration hash: {hash:#010x}\n\
         {DEVICE_WAIVERS}",
        clock = device.clock_hz,
        baud = device.baud,
        cpb = device.clocks_per_bit(),
        pv = protocol::PROTOCOL_VERSION,
        hash = device.ident().config_hash,
    ));
    for line in raw.lines() {
        let line = line
            .replace("module top(", &format!("module {top}("))
            .replace("endmodule // top", &format!("endmodule // {top}"))
            .replace("top$", &format!("{top}$"));
        if line.trim() == "/* verilator lint_on UNUSEDSIGNAL */" {
            continue;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The Verilog of the board's top module, [`DEVICE_MODULE`] (ports [`DEVICE_PORTS`]).
pub fn device_verilog(device: &DeviceConfig) -> Result<String, DeviceConfigError> {
    device.validate()?;
    let mut top = Device::new(device);
    top.connect_all();
    Ok(finish(
        &generate_verilog(&top),
        DEVICE_MODULE,
        device,
        "device",
    ))
}

/// The Verilog of the byte-level frame layer, [`CORE_MODULE`] (ports [`CORE_PORTS`]).
pub fn core_verilog(device: &DeviceConfig) -> Result<String, DeviceConfigError> {
    device.validate()?;
    let mut top = DeviceCore::new(device);
    top.connect_all();
    Ok(finish(
        &generate_verilog(&top),
        CORE_MODULE,
        device,
        "device frame layer",
    ))
}
