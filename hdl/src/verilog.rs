//! Verilog output for an engine configuration, lint-clean under
//! `verilator --lint-only -Wall` with every waiver written into the file.
//!
//! rust-hdl names the top module `top` and its submodules `top$...`; lutgen
//! renames them to [`TOP_MODULE`] so the engine can sit inside a board design.

use crate::conv_layer::{ConvLayer, ConvLayerError};
use crate::engine::Engine;
use crate::network::{validate_network, NetworkShapeError, NetworkTop};
use crate::sequential::SequentialTop;
use lutgen_core::conv::ConvGeometry;
use lutgen_core::sequential::SequentialPlan;
use lutgen_core::spatial::Spatial;
use lutgen_core::{ConfigError, EngineConfig};
use rust_hdl::prelude::*;

/// Name of the engine's top-level Verilog module.
pub const TOP_MODULE: &str = "lutgen_engine";

/// Name of the network top's Verilog module.
pub const NETWORK_TOP_MODULE: &str = "lutgen_network";

/// Name of the sequential top's Verilog module (same ports as the network top's).
pub const SEQUENTIAL_TOP_MODULE: &str = "lutgen_sequential";

/// File-wide waivers, each with its reason, placed before the first module.
const FILE_WAIVERS: &str = "\
// Lint waivers (verilator --lint-only -Wall is otherwise clean):
// WIDTH: rust-hdl 0.46 writes every integer literal as a 32-bit constant and
//   every bit_cast as a mask `((x) & N'hff..)`; both are intended zero
//   extensions or truncations. The bit-exact co-simulation tests check the
//   engine's widths end to end.
// UNOPTFLAT: rust-hdl puts a module's combinational logic in one always
//   block, so the index FIFO's `read` (which depends on its registered
//   `empty`) looks like a loop to Verilator; there is no combinational loop.
// DECLFILENAME: one file holds the engine's top module and all its submodules.
/* verilator lint_off WIDTH */
/* verilator lint_off UNOPTFLAT */
/* verilator lint_off DECLFILENAME */
";

/// Waiver around rust-hdl's own FIFO modules.
const FIFO_WAIVER: &str = "\
// UNUSEDSIGNAL: rust-hdl's SynchronousFIFO exposes clocks and fill levels
//   that the engine does not need.
/* verilator lint_off UNUSEDSIGNAL */
";

/// FIFO status outputs the engine does not use (`overflow`/`underflow` feed
/// `fault`), and the `two-level` centre tree's key, whose distance is not
/// needed once the nearest centre is known.
const UNUSED_FIFO_STATUS: [&str; 4] = [
    "fifo$almost_empty",
    "fifo$full",
    "fifo$almost_full",
    "centre_tree$key",
];

/// The engine's issue address and pass for its distance search, which
/// engines without one (`tree`, `two-level`, `sign`) compute but do not read.
const UNUSED_WITHOUT_SEARCH: [&str; 2] = ["search_address", "search_pass"];

/// The Verilog of the engine for `config`.
pub fn engine_verilog(config: &EngineConfig) -> Result<String, ConfigError> {
    config.validate()?;
    let mut engine = Engine::new(config);
    engine.connect_all();
    let header = format!(
        "// lutgen {version}: generated engine, do not edit.\n{}",
        describe(config),
        version = env!("CARGO_PKG_VERSION"),
    );
    Ok(finish(&generate_verilog(&engine), &header, TOP_MODULE, &[]))
}

/// Engine outputs a network top does not use: the encoder trace of every
/// engine and `out_last` of every engine but the last.
const UNUSED_IN_NETWORK: [&str; 4] = [
    "$encode_valid",
    "$encode_index",
    "$encode_distance",
    "$out_last",
];

/// The Verilog of a network top ([`NetworkTop`]) with one engine per entry
/// of `layers`, all dense.
pub fn network_verilog(layers: &[EngineConfig]) -> Result<String, NetworkShapeError> {
    spatial_network_verilog(layers, &vec![Spatial::DENSE; layers.len()])
}

/// A comment line naming a layer's convolution and pooling
/// ([`Spatial::describe`]; none for a dense layer).
pub fn describe_spatial(s: &Spatial) -> String {
    if s.is_dense() {
        String::new()
    } else {
        format!("// {}.\n", s.describe())
    }
}

/// The Verilog of a network top ([`NetworkTop`]) with one engine per entry
/// of `layers`, each layer running as `spatial` says (dense, or a
/// convolution, maybe pooled).
pub fn spatial_network_verilog(
    layers: &[EngineConfig],
    spatial: &[Spatial],
) -> Result<String, NetworkShapeError> {
    validate_network(layers, spatial)?;
    let mut top = NetworkTop::with_spatial(layers, spatial);
    top.connect_all();
    let mut header = format!(
        "// lutgen {}: generated network top ({} layers), do not edit.\n",
        env!("CARGO_PKG_VERSION"),
        layers.len()
    );
    for (i, (config, s)) in layers.iter().zip(spatial).enumerate() {
        header.push_str(&format!("// Layer {i}:\n"));
        header.push_str(&describe_spatial(s));
        header.push_str(&describe(config));
    }
    // The last engine's `out_last` is used (it is the network's): waiving it is harmless.
    Ok(finish(
        &generate_verilog(&top),
        &header,
        NETWORK_TOP_MODULE,
        &UNUSED_IN_NETWORK,
    ))
}

/// The Verilog of a sequential top ([`SequentialTop`]): one engine for `plan`'s layers.
pub fn sequential_verilog(plan: &SequentialPlan) -> String {
    let mut top = SequentialTop::new(plan);
    top.connect_all();
    let layers = plan.layers();
    let mut header = format!(
        "// lutgen {}: generated sequential top ({} layers on one engine), do not edit.\n\
         // Engine (every layer padded to it, one bank per layer):\n{}",
        env!("CARGO_PKG_VERSION"),
        layers.len(),
        describe(plan.engine()),
    );
    header.push_str(&format!(
        "// Activation buffer: two maps of {} bytes.\n",
        plan.buffer_half()
    ));
    for (i, (config, s)) in layers.iter().zip(plan.spatial()).enumerate() {
        let passes = plan.passes(i);
        header.push_str(&format!(
            "// Layer {i}: {} ({passes} engine pass{} per inference).\n{}",
            s.describe(),
            if passes == 1 { "" } else { "es" },
            describe(config)
        ));
    }
    finish(
        &generate_verilog(&top),
        &header,
        SEQUENTIAL_TOP_MODULE,
        &UNUSED_IN_NETWORK,
    )
}

/// Name of a convolution layer's Verilog module ([`conv_layer_verilog`]).
pub const CONV_LAYER_MODULE: &str = "lutgen_conv_layer";

/// Outputs of a convolution layer's blocks that it does not use: the
/// engine's encoder trace and the window generator's patch and map ends
/// (the engine counts its own inputs).
const UNUSED_IN_CONV_LAYER: [&str; 5] = [
    "$encode_valid",
    "$encode_index",
    "$encode_distance",
    "window$out_last",
    "window$out_last_map",
];

/// The Verilog of a convolution layer ([`ConvLayer`]): the window generator
/// for `geometry` in front of the engine for `config`.
pub fn conv_layer_verilog(
    config: &EngineConfig,
    geometry: &ConvGeometry,
) -> Result<String, ConvLayerError> {
    let mut layer = ConvLayer::new(config, geometry)?;
    layer.connect_all();
    let g = geometry;
    let header = format!(
        "// lutgen {}: generated convolution layer, do not edit.\n\
         // Input map {}x{}x{} (HWC), kernel {k}x{k}, stride {}, padding {:?}.\n{}",
        env!("CARGO_PKG_VERSION"),
        g.in_height,
        g.in_width,
        g.in_channels,
        g.stride,
        g.padding,
        describe(config),
        k = g.kernel,
    );
    Ok(finish(
        &generate_verilog(&layer),
        &header,
        CONV_LAYER_MODULE,
        &UNUSED_IN_CONV_LAYER,
    ))
}

/// Every port of [`CONV_LAYER_MODULE`], in declaration order.
pub const CONV_LAYER_PORTS: [Port; 14] = [
    port("clock", 1, true),
    port("reset", 1, true),
    port("in_data", 8, true),
    port("in_valid", 1, true),
    port("in_ready", 1, false),
    port("pad_value", 8, true),
    port("out_data", 32, false),
    port("out_valid", 1, false),
    port("out_ready", 1, true),
    port("out_last", 1, false),
    port("load_enable", 1, true),
    port("load_address", 32, true),
    port("load_data", 32, true),
    port("fault", 1, false),
];

/// Comment lines describing one engine configuration (also in the device's header).
pub(crate) fn describe(config: &EngineConfig) -> String {
    format!(
        "// Configuration: D={d} C={c} V={v} K={k} N={n} lanes={l} encoder={e}\n\
         //   activation/centroid/table/bias bits = {ab}/{cb}/{tb}/{bb}, accumulator bits = {acc}\n\
         // Table-read bound: {bound} cycles per inference.\n",
        d = config.input_dim,
        c = config.codebooks,
        v = config.sub_vector_len(),
        k = config.centroids,
        n = config.outputs,
        l = config.lanes,
        e = config.encoder,
        ab = config.activation_bits,
        cb = config.centroid_bits,
        tb = config.table_bits,
        bb = config.bias_bits,
        acc = config.accumulator_bits(),
        bound = config.bound_cycles_per_inference(),
    )
}

/// Renames the modules to `top`, adds the header and the waivers; wires
/// ending in one of `unused` (and the FIFO status wires) get an
/// UNUSEDSIGNAL waiver.
fn finish(raw: &str, header: &str, top: &str, unused: &[&str]) -> String {
    let mut out = format!("{header}{FILE_WAIVERS}");
    for line in raw.lines() {
        let line = line
            .replace("module top(", &format!("module {top}("))
            .replace("endmodule // top", &format!("endmodule // {top}"))
            .replace("top$", &format!("{top}$"));
        let fifo_module = line.contains("$fifo") && line.starts_with("module ");
        let is_wire_of = |names: &[&str]| {
            line.trim_start().starts_with("wire")
                && names
                    .iter()
                    .any(|s| line.trim_end().ends_with(&format!("{s};")))
        };
        // The engine's own waivers keep their text, so its Verilog (and the
        // simulation models cached by its hash) do not change.
        let search_unused = line.trim_start().starts_with("reg")
            && UNUSED_WITHOUT_SEARCH
                .iter()
                .any(|s| line.trim_end().ends_with(&format!(" {s};")));
        let engine_unused = is_wire_of(&UNUSED_FIFO_STATUS);
        let line_unused = is_delay_line_wire(&line);
        let unused_wire = engine_unused || line_unused || is_wire_of(unused);
        if fifo_module {
            out.push_str(FIFO_WAIVER);
        }
        if search_unused {
            out.push_str(
                "/* verilator lint_off UNUSEDSIGNAL */ // read only by a distance search\n",
            );
        } else if line_unused {
            out.push_str(
                "/* verilator lint_off UNUSEDSIGNAL */ // a delay line's tap or output, maybe unread\n",
            );
        } else if engine_unused {
            out.push_str(
                "/* verilator lint_off UNUSEDSIGNAL */ // unused FIFO status or centre distance\n",
            );
        } else if unused_wire {
            out.push_str(
                "/* verilator lint_off UNUSEDSIGNAL */ // engine output the network top does not use\n",
            );
        }
        out.push_str(&line);
        out.push('\n');
        if search_unused || unused_wire || (line.starts_with("endmodule") && line.contains("$fifo"))
        {
            out.push_str("/* verilator lint_on UNUSEDSIGNAL */\n");
        }
    }
    out
}

/// A wire of a [`crate::delay::Delay`]'s output or tap (its field named
/// `..._line`, the wire `..._line$data_out` or `..._line$taps$N`): a module
/// reads the taps and bits its pipeline needs (an engine without a distance
/// search none of `pass_first_line`), and an unread tap's register still
/// feeds the next stage, so nothing is lost but the wire.
fn is_delay_line_wire(line: &str) -> bool {
    let line = line.trim();
    let Some(name) = line
        .strip_prefix("wire")
        .and_then(|rest| rest.strip_suffix(';'))
        .and_then(|rest| rest.rsplit(' ').next())
    else {
        return false;
    };
    name.ends_with("_line$data_out")
        || name
            .rsplit_once("_line$taps$")
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A port of the engine's top module, for simulators and board wrappers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: &'static str,
    pub width: u32,
    pub input: bool,
}

const fn port(name: &'static str, width: u32, input: bool) -> Port {
    Port { name, width, input }
}

/// Every port of [`TOP_MODULE`], in declaration order.
pub const ENGINE_PORTS: [Port; 16] = [
    port("clock", 1, true),
    port("reset", 1, true),
    port("in_data", 8, true),
    port("in_valid", 1, true),
    port("in_ready", 1, false),
    port("out_data", 32, false),
    port("out_valid", 1, false),
    port("out_ready", 1, true),
    port("out_last", 1, false),
    port("load_enable", 1, true),
    port("load_address", 32, true),
    port("load_data", 32, true),
    port("encode_valid", 1, false),
    port("encode_index", 16, false),
    port("encode_distance", 32, false),
    port("fault", 1, false),
];

/// Every port of [`NETWORK_TOP_MODULE`], in declaration order.
pub const NETWORK_PORTS: [Port; 16] = [
    port("clock", 1, true),
    port("reset", 1, true),
    port("in_data", 8, true),
    port("in_valid", 1, true),
    port("in_ready", 1, false),
    port("out_data", 32, false),
    port("out_valid", 1, false),
    port("out_ready", 1, true),
    port("out_last", 1, false),
    port("load_enable", 1, true),
    port("load_address", 32, true),
    port("load_data", 32, true),
    port("fault", 1, false),
    port("trace_select", 4, true),
    port("trace_data", 8, false),
    port("trace_valid", 1, false),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_delay_line_outputs_and_taps_are_waived_as_delay_wires() {
        assert!(is_delay_line_wire("    wire  valid_line$taps$0;"));
        assert!(is_delay_line_wire("    wire  [31:0] xs_line$data_out;"));
        assert!(!is_delay_line_wire("    wire  fifo$data_out;"));
        assert!(!is_delay_line_wire("    wire  valid_line$taps$;"));
        assert!(!is_delay_line_wire("    reg  valid_line$data_in;"));
    }

    #[test]
    fn port_list_matches_the_generated_module() {
        let verilog = engine_verilog(&EngineConfig::default()).unwrap();
        let header = verilog
            .lines()
            .find(|l| l.starts_with(&format!("module {TOP_MODULE}(")))
            .unwrap();
        let names: Vec<&str> = ENGINE_PORTS.iter().map(|p| p.name).collect();
        assert_eq!(header, format!("module {TOP_MODULE}({});", names.join(",")));
        for p in ENGINE_PORTS {
            let dir = if p.input { "input" } else { "output" };
            let kind = if p.input { "wire" } else { "reg" };
            let decl = if p.width == 1 {
                format!("{dir} {kind}  {};", p.name)
            } else {
                format!("{dir} {kind}  [{}:0] {};", p.width - 1, p.name)
            };
            assert!(verilog.contains(&decl), "missing `{decl}`");
        }
    }

    #[test]
    fn network_port_list_matches_the_generated_module() {
        let layers = [
            EngineConfig {
                input_dim: 8,
                codebooks: 2,
                centroids: 4,
                outputs: 6,
                ..EngineConfig::default()
            },
            EngineConfig {
                input_dim: 6,
                codebooks: 3,
                centroids: 2,
                outputs: 3,
                ..EngineConfig::default()
            },
        ];
        let verilog = network_verilog(&layers).unwrap();
        let names: Vec<&str> = NETWORK_PORTS.iter().map(|p| p.name).collect();
        let header = format!("module {NETWORK_TOP_MODULE}({});", names.join(","));
        assert!(verilog.lines().any(|l| l == header), "missing `{header}`");
        assert_eq!(
            verilog.matches("module lutgen_network$stages$0(").count(),
            1
        );
    }
}
