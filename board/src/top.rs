//! What a board build synthesizes: the "top to build".
//!
//! - [`Top::Engine`]: the LUT engine alone (`lutgen_engine`), out of context:
//!   its 162 port bits go to whatever pins place and route picks, so the
//!   result gives resources and Fmax, not a bitstream to flash.
//! - [`Top::Dense`]: the dense int8 MAC baseline (`lutgen_dense`), the same
//!   ports, also out of context, for the like-for-like comparison.
//! - [`Top::Device`]: the device top (`lutgen_device`: UART + framed
//!   protocol around the LUT engine, or around a whole network: one engine
//!   per layer with the requantization stages between them; ports `clock`,
//!   `rx`, `tx`, `idle`), the only top with board pins, and so the only one
//!   with a bitstream to flash. There is no dense device (the device wraps
//!   LUT engines), so the like-for-like comparison is engine against
//!   engine, out of context.
//! - [`Top::Conv`]: a convolution layer out of context, the window
//!   generator (line buffers) in front of a LUT engine (`lutgen_conv_layer`)
//!   or of the dense baseline (`lutgen_dense_conv_layer`) for the patch
//!   shape `D = C * k * k`: the like-for-like comparison of a convolution,
//!   where an inference is one input map (every output pixel).

use super::pll::{Pll, BOARD_MODULE};
use super::BoardError;
use lutgen_core::conv::ConvGeometry;
use lutgen_core::protocol;
use lutgen_core::sequential::{banked_words, Schedule, SequentialPlan};
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::dense::{dense_verilog, DenseConfig, DENSE_MODULE, DENSE_PORTS};
use lutgen_hdl::dense_conv::{dense_conv_layer_verilog, DENSE_CONV_LAYER_MODULE};
use lutgen_hdl::device::{device_verilog, DeviceConfig, DEVICE_MODULE, DEVICE_PORTS};
use lutgen_hdl::verilog::{conv_layer_verilog, CONV_LAYER_MODULE, CONV_LAYER_PORTS};
use lutgen_hdl::verilog::{engine_verilog, ENGINE_PORTS, TOP_MODULE};
use lutgen_hdl::window::line_buffer_bytes;
use serde::Serialize;

/// Which engine a build is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The lookup-table engine (centroid search + table read).
    Lut,
    /// The dense int8 multiply-accumulate baseline.
    Dense,
}

/// A design to synthesize.
#[derive(Clone, Debug, PartialEq)]
pub enum Top {
    Engine(EngineConfig),
    Dense(DenseConfig),
    /// The device (one engine, or a network: [`DeviceConfig::is_network`]),
    /// on the board's oscillator or, with a [`Pll`], on the PLL's output
    /// (then the top is [`BOARD_MODULE`] around the device). Every figure
    /// here covers all of a network's layers and stages
    /// ([`Top::network_device`]).
    Device(DeviceConfig, Option<Pll>),
    /// A convolution layer: the window generator for the geometry in front
    /// of a [`Top::Engine`] or a [`Top::Dense`] whose input dimension is the
    /// patch length (made by [`Top::conv`]). Its cycles per inference are
    /// per input map.
    Conv(ConvGeometry, Box<Top>),
}

/// Serial rate of a device build unless `--baud` says otherwise (the
/// rate `lutgen board --sim` models by default, and any USB bridge's).
pub const DEFAULT_BAUD: u32 = 115_200;

/// The dense layer that matches a LUT configuration: same D and N; one MAC
/// lane per LUT lane unless `macs` says otherwise, reading as many weights
/// per cycle (each with its multiplier) as the LUT lane reads table
/// entries (R).
pub fn dense_for(config: &EngineConfig, macs: Option<usize>) -> DenseConfig {
    DenseConfig {
        input_dim: config.input_dim,
        outputs: config.outputs,
        macs: macs.unwrap_or(config.lanes),
        bias_bits: config.bias_bits,
        weights_per_read: config.entries_per_read,
    }
}

impl Top {
    /// The top a board build uses for `engine`: the device (UART pins) for
    /// the LUT engine unless `out_of_context`; the dense engine is always
    /// built alone.
    pub fn for_board(
        engine: EngineKind,
        config: &EngineConfig,
        macs: Option<usize>,
        out_of_context: bool,
        clock_hz: u32,
        baud: u32,
    ) -> Top {
        match engine {
            EngineKind::Lut if out_of_context => Top::Engine(config.clone()),
            EngineKind::Lut => {
                Top::Device(DeviceConfig::engine(config.clone(), clock_hz, baud), None)
            }
            EngineKind::Dense => Top::Dense(dense_for(config, macs)),
        }
    }

    /// The convolution layer of `geometry` around `engine` (a
    /// [`Top::Engine`] or [`Top::Dense`] whose input dimension is the patch
    /// length `C * k * k`), or why there is none.
    pub fn conv(geometry: ConvGeometry, engine: Top) -> Result<Top, BoardError> {
        geometry
            .validate()
            .map_err(|e| BoardError::Usage(format!("convolution layer: {e}")))?;
        let input_dim = match &engine {
            Top::Engine(c) => c.input_dim,
            Top::Dense(c) => c.input_dim,
            other => {
                return Err(BoardError::Usage(format!(
                    "a convolution layer wraps a LUT or dense engine, not {}",
                    other.describe()
                )))
            }
        };
        if input_dim != geometry.patch_len() {
            // The rule the layer's Verilog generators refuse with.
            return Err(lutgen_hdl::conv_layer::ConvLayerError::Shape {
                input_dim,
                patch_len: geometry.patch_len(),
            }
            .into());
        }
        Ok(Top::Conv(geometry, Box::new(engine)))
    }

    /// The convolution geometry of a [`Top::Conv`].
    pub fn conv_geometry(&self) -> Option<&ConvGeometry> {
        match self {
            Top::Conv(g, _) => Some(g),
            _ => None,
        }
    }

    /// The network device for `layers` (a compiled network's
    /// [`configs`](lutgen_core::network::Network::configs)): it loads
    /// network files and runs every layer, one engine each.
    pub fn network_device(layers: Vec<EngineConfig>, clock_hz: u32, baud: u32) -> Top {
        Top::Device(DeviceConfig::network(layers, clock_hz, baud), None)
    }

    /// The network device for `layers` in `schedule`: the dataflow one
    /// ([`network_device`](Self::network_device)) or the sequential one (one
    /// engine sized for the largest layer runs the layers in turn).
    pub fn scheduled_device(
        layers: Vec<EngineConfig>,
        schedule: Schedule,
        clock_hz: u32,
        baud: u32,
    ) -> Top {
        Top::Device(
            DeviceConfig::scheduled(layers, schedule, clock_hz, baud),
            None,
        )
    }

    /// The sequential device's plan (`None` for every other top).
    pub fn sequential_plan(&self) -> Option<SequentialPlan> {
        match self {
            Top::Device(d, _) if d.schedule() == Schedule::Sequential => Some(
                SequentialPlan::new(d.layers()).expect("DeviceConfig::validate checks the plan"),
            ),
            _ => None,
        }
    }

    /// True for a network device.
    pub fn is_network(&self) -> bool {
        matches!(self, Top::Device(d, _) if d.is_network())
    }

    /// The LUT engine layers inside, in order: one for an engine or an
    /// engine device, every layer for a network device, none for the dense
    /// engine.
    pub fn layers(&self) -> &[EngineConfig] {
        match self {
            Top::Engine(c) => std::slice::from_ref(c),
            Top::Device(d, _) => d.layers(),
            Top::Dense(_) => &[],
            Top::Conv(_, engine) => engine.layers(),
        }
    }

    /// The device top run by `pll` (its clock, the UART divider and the
    /// timeouts, from the PLL's output); other tops are returned as they are.
    pub fn with_pll(self, pll: Pll) -> Top {
        match self {
            Top::Device(d, _) => Top::Device(
                DeviceConfig {
                    clock_hz: pll.output_hz(),
                    ..d
                },
                Some(pll),
            ),
            other => other,
        }
    }

    /// The PLL of a device top, if it has one.
    pub fn pll(&self) -> Option<&Pll> {
        match self {
            Top::Device(_, pll) => pll.as_ref(),
            _ => None,
        }
    }

    /// The one LUT engine inside, if the top is a single engine (alone or
    /// in an engine device). None for a network device: its first layer is
    /// not "the engine" (simulating, reshaping or estimating it alone would
    /// give the first layer's figures for the whole network), so callers
    /// that only know single engines stop there rather than be silently
    /// wrong; [`Top::layers`] gives every layer.
    pub fn engine_config(&self) -> Option<&EngineConfig> {
        match self {
            Top::Engine(c) => Some(c),
            Top::Device(d, _) if !d.is_network() => Some(d.first()),
            // A convolution's engine alone would give per-patch figures for a per-map top.
            Top::Device(..) | Top::Dense(_) | Top::Conv(..) => None,
        }
    }

    /// The top module's name.
    pub fn module(&self) -> &'static str {
        match self {
            Top::Engine(_) => TOP_MODULE,
            Top::Dense(_) => DENSE_MODULE,
            Top::Device(_, None) => DEVICE_MODULE,
            Top::Device(_, Some(_)) => BOARD_MODULE,
            Top::Conv(_, engine) => match **engine {
                Top::Dense(_) => DENSE_CONV_LAYER_MODULE,
                _ => CONV_LAYER_MODULE,
            },
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Top::Conv(g, engine) => format!(
                "convolution layer: a window generator ({}) in front of the {}",
                g.describe(),
                engine.describe()
            ),
            Top::Engine(c) => format!(
                "LUT engine alone (out of context), D={} C={} K={} N={} L={} R={} {}",
                c.input_dim,
                c.codebooks,
                c.centroids,
                c.outputs,
                c.lanes,
                c.entries_per_read,
                c.encoder
            ),
            Top::Dense(c) => format!(
                "dense int8 MAC engine alone (out of context), D={} N={} MACs={} R={}",
                c.input_dim, c.outputs, c.macs, c.weights_per_read
            ),
            Top::Device(d, pll) => {
                let c = d.first();
                let clock = match pll {
                    Some(p) => format!(
                        ", core clock {} MHz from the PLL",
                        super::pll::mhz(p.output_mhz)
                    ),
                    None => String::new(),
                };
                if let Some(plan) = self.sequential_plan() {
                    let e = plan.engine();
                    let shape: Vec<String> = std::iter::once(c.input_dim)
                        .chain(d.layers().iter().map(|l| l.outputs))
                        .map(|n| n.to_string())
                        .collect();
                    return format!(
                        "sequential network device (UART {} baud + framed protocol + {}-layer \
                         network {} run in turn on one engine of D={} C={} K={} N={} L={} {} \
                         with {} banks{clock})",
                        d.baud,
                        d.layers().len(),
                        shape.join("-"),
                        e.input_dim,
                        e.codebooks,
                        e.centroids,
                        e.outputs,
                        e.lanes,
                        e.encoder,
                        plan.banks()
                    );
                }
                if d.is_network() {
                    let shape: Vec<String> = std::iter::once(c.input_dim)
                        .chain(d.layers().iter().map(|l| l.outputs))
                        .map(|n| n.to_string())
                        .collect();
                    let each: Vec<String> = d
                        .layers()
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            format!(
                                "layer {i}: D={} C={} K={} N={} L={} {}",
                                l.input_dim,
                                l.codebooks,
                                l.centroids,
                                l.outputs,
                                l.lanes,
                                l.encoder
                            )
                        })
                        .collect();
                    return format!(
                        "network device (UART {} baud + framed protocol + {}-layer network \
                         {}, one engine per layer with requantization between{clock}), {}",
                        d.baud,
                        d.layers().len(),
                        shape.join("-"),
                        each.join("; ")
                    );
                }
                format!(
                    "device (UART {} baud + framed protocol + LUT engine{clock}), D={} C={} K={} N={} L={}",
                    d.baud, c.input_dim, c.codebooks, c.centroids, c.outputs, c.lanes
                )
            }
        }
    }

    /// True when the top has board pins (a bitstream worth flashing).
    pub fn pinned(&self) -> bool {
        matches!(self, Top::Device(..))
    }

    /// I/O bits of the top module.
    pub fn io_bits(&self) -> u64 {
        let ports: &[_] = match self {
            Top::Engine(_) => &ENGINE_PORTS,
            Top::Dense(_) => &DENSE_PORTS,
            Top::Device(..) => return DEVICE_PORTS.iter().map(|p| u64::from(p.1)).sum(),
            Top::Conv(..) => &CONV_LAYER_PORTS,
        };
        ports.iter().map(|p| u64::from(p.width)).sum()
    }

    /// The Verilog of the top and everything under it.
    pub fn verilog(&self) -> Result<String, BoardError> {
        Ok(match self {
            Top::Engine(c) => engine_verilog(c)?,
            Top::Dense(c) => dense_verilog(c)?,
            Top::Device(d, None) => device_verilog(d)?,
            Top::Device(d, Some(pll)) => {
                let mut v = device_verilog(d)?;
                v.push('\n');
                v.push_str(&pll.top_verilog(DEVICE_MODULE));
                v
            }
            Top::Conv(g, engine) => match &**engine {
                Top::Dense(c) => dense_conv_layer_verilog(c, g)?,
                Top::Engine(c) => conv_layer_verilog(c, g)?,
                other => {
                    return Err(BoardError::Usage(format!(
                        "a convolution layer wraps a LUT or dense engine, not {}",
                        other.describe()
                    )))
                }
            },
        })
    }

    /// Every memory the top holds, for the fit check.
    pub fn memories(&self) -> Vec<Memory> {
        if let Some(plan) = self.sequential_plan() {
            // The engine's memories, one bank per layer (a power of two of
            // words each: `Engine::banked`) but the squares ROM and the index
            // FIFO; then each stage's activation table, the activation
            // buffer, the device's own and the trace FIFO.
            let banks = plan.banks();
            let mut m: Vec<Memory> = Top::Engine(plan.engine().clone())
                .memories()
                .into_iter()
                .map(|x| match x.what.as_str() {
                    "squares" | "index FIFO" => x,
                    _ => Memory {
                        what: format!("{} ({banks} banks)", x.what),
                        words: banked_words(x.words, banks),
                        ..x
                    },
                })
                .collect();
            if banks > 1 {
                m.push(Memory::new(
                    "requantization activation table",
                    lutgen_core::network::ACTIVATION_TABLE_LEN,
                    8,
                    banks - 1,
                ));
            }
            m.push(Memory::new(
                "activation buffer",
                plan.engine().input_dim,
                8,
                1,
            ));
            m.extend(device_memories());
            m.push(Memory::new(
                "trace FIFO",
                lutgen_hdl::device::TRACE_FIFO_DEPTH,
                8,
                1,
            ));
            return m;
        }
        match self {
            Top::Conv(g, engine) => {
                // The engine's, then the window generator's line buffers.
                let mut m = engine.memories();
                m.push(Memory::new("line buffers", line_buffer_bytes(g), 8, 1));
                m
            }
            Top::Device(d, _) if d.is_network() => {
                // Every layer's engine memories, named by layer, then the
                // activation table of each requantization stage (one 256 x 8
                // block RAM, hdl/src/requantize.rs), then the device's own and
                // the trace FIFO.
                let mut m = Vec::new();
                for (i, layer) in d.layers().iter().enumerate() {
                    m.extend(
                        Top::Engine(layer.clone())
                            .memories()
                            .into_iter()
                            .map(|x| Memory {
                                what: format!("layer {i} {}", x.what),
                                ..x
                            }),
                    );
                }
                let stages = d.layers().len() - 1;
                if stages > 0 {
                    m.push(Memory::new(
                        "requantization activation table",
                        lutgen_core::network::ACTIVATION_TABLE_LEN,
                        8,
                        stages,
                    ));
                }
                m.extend(device_memories());
                // The trace command's capture FIFO (hdl/src/device/queues.rs).
                m.push(Memory::new(
                    "trace FIFO",
                    lutgen_hdl::device::TRACE_FIFO_DEPTH,
                    8,
                    1,
                ));
                m
            }
            Top::Device(d, _) => {
                let mut m = Top::Engine(d.first().clone()).memories();
                m.extend(device_memories());
                m
            }
            Top::Engine(c) => {
                let (l, d) = (c.lanes, c.input_dim);
                let (units, unit_words) = (c.distance_units(), d * c.centroids_per_unit());
                // The encoder stage's memories (hdl/src/encoders.rs).
                let mut m = match c.encoder {
                    EncoderKind::L2 => vec![Memory::new("centroids", unit_words, 8, units)],
                    EncoderKind::L1 => vec![
                        Memory::new("centroids", unit_words, 8, units),
                        Memory::new("weights", d, 4, 1),
                    ],
                    EncoderKind::TwoLevel => vec![
                        Memory::new("cluster centres", d, 8, c.clusters()),
                        Memory::new("keys", c.key_memory_words(), 8, c.keys_per_cluster()),
                        Memory::new("weights (one copy per level)", d, 4, 2),
                        Memory::new("replay buffer", c.replay_buffer_words(), 8, 1),
                        Memory::new(
                            "cluster FIFO",
                            lutgen_hdl::encoders::CLUSTER_FIFO_DEPTH,
                            32,
                            1,
                        ),
                    ],
                    EncoderKind::Tree => vec![
                        Memory::new("split masks", d, 4, 1),
                        Memory::new("root thresholds", c.tree_threshold_words(), 8, 1),
                        // Levels 1-3: even and odd nodes apart (`ThresholdPair`).
                        Memory::new(
                            "threshold halves",
                            c.tree_threshold_words().div_ceil(2),
                            8,
                            6,
                        ),
                    ],
                    EncoderKind::Sign => vec![],
                };
                if c.squares_from_table() {
                    m.push(Memory::new("squares", 256, 16, units));
                }
                // One table memory per lane, R packed entries of table_bits
                // a word; one bias memory per entry.
                let table_bits = c.table_word_bits() as usize;
                m.push(Memory::new(
                    "tables",
                    c.table_words_per_lane(),
                    table_bits,
                    l,
                ));
                m.push(Memory::new(
                    "bias",
                    c.rows_per_lane(),
                    32,
                    l * c.entries_per_read,
                ));
                m.push(Memory::new(
                    "index FIFO",
                    lutgen_hdl::engine::INDEX_FIFO_DEPTH as usize,
                    16,
                    1,
                ));
                m
            }
            Top::Dense(c) => vec![
                Memory::new(
                    "weights",
                    c.weight_words_per_lane(),
                    c.weight_word_bits(),
                    c.macs,
                ),
                Memory::new("bias", c.rows_per_lane(), 32, c.multipliers()),
            ],
        }
    }

    /// Multipliers in the top, one DSP block each: the LUT engine's distance
    /// units each multiply a difference (8 x 8 bits; `l2`, `l1`,
    /// `two-level`; `tree` and `sign` have none); the dense engine has one
    /// per MAC; a network device has every layer's plus
    /// [`STAGE_MULTIPLIERS`] (16 x 16 bits) per requantization stage.
    /// The flow gives them DSP blocks only when all of them fit (on the
    /// iCE40UP5K's 8 `SB_MAC16`s, K = 16 squarers stay in LUTs).
    pub fn multipliers(&self) -> usize {
        match self {
            Top::Engine(c) => engine_multipliers(c),
            Top::Device(d, _) if self.sequential_plan().is_some() => {
                engine_multipliers(self.sequential_plan().expect("checked").engine())
                    + STAGE_MULTIPLIERS * (d.layers().len() - 1)
            }
            Top::Device(d, _) => {
                d.layers().iter().map(engine_multipliers).sum::<usize>()
                    + STAGE_MULTIPLIERS * (d.layers().len() - 1)
            }
            Top::Dense(c) => c.multipliers(),
            Top::Conv(_, engine) => engine.multipliers(),
        }
    }
}

/// The requantization stage's four 16 x 16 partial products of
/// `|acc| * multiplier` (hdl/src/requantize.rs, step 2): yosys maps each to
/// one `SB_MAC16` (`synth_ice40 -dsp` on the stage alone: 4) or one
/// `MULT18X18D`.
pub const STAGE_MULTIPLIERS: usize = 4;

/// The device's own memories around its engine or network: the receive
/// buffer and the job and reply FIFOs.
fn device_memories() -> Vec<Memory> {
    vec![
        Memory::new("receive buffer", protocol::BUFFER_BYTES, 8, 1),
        Memory::new(
            "job FIFO",
            protocol::JOB_QUEUE_DEPTH,
            lutgen_hdl::device::JOB_BITS,
            1,
        ),
        Memory::new(
            "reply FIFO",
            lutgen_hdl::device::REPLY_QUEUE_DEPTH,
            lutgen_hdl::device::REPLY_BITS,
            1,
        ),
    ]
}

/// One multiplier per distance unit, none when `l2` reads its squares from
/// tables (hdl/src/distance.rs).
fn engine_multipliers(c: &EngineConfig) -> usize {
    if c.squares_from_table() {
        0
    } else {
        c.distance_units()
    }
}

/// `count` memories of `words` x `bits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Memory {
    pub what: String,
    pub words: usize,
    pub bits: usize,
    pub count: usize,
}

impl Memory {
    pub fn new(what: impl Into<String>, words: usize, bits: usize, count: usize) -> Self {
        Memory {
            what: what.into(),
            words,
            bits,
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::conv::Padding;

    fn geometry() -> ConvGeometry {
        ConvGeometry {
            in_height: 8,
            in_width: 8,
            in_channels: 8,
            kernel: 3,
            stride: 2,
            padding: Padding::uniform(1),
        }
    }

    fn patch_engine() -> EngineConfig {
        EngineConfig {
            input_dim: 72,
            codebooks: 8,
            outputs: 16,
            ..EngineConfig::default()
        }
    }

    #[test]
    fn a_convolution_layer_wraps_an_engine_with_its_line_buffers() {
        let engine = Top::Engine(patch_engine());
        let lut = Top::conv(geometry(), engine.clone()).unwrap();
        let dense = Top::conv(geometry(), Top::Dense(dense_for(&patch_engine(), None))).unwrap();
        assert_eq!(lut.module(), CONV_LAYER_MODULE);
        assert_eq!(dense.module(), DENSE_CONV_LAYER_MODULE);
        assert_eq!(lut.conv_geometry(), Some(&geometry()));
        // The engine's memories, then the line buffers (5 rows of 8 x 8 bytes).
        let memories = lut.memories();
        assert_eq!(memories[..memories.len() - 1], engine.memories()[..]);
        assert_eq!(
            memories.last(),
            Some(&Memory::new("line buffers", 5 * 64, 8, 1))
        );
        assert_eq!(lut.multipliers(), engine.multipliers());
        assert_eq!(lut.layers(), engine.layers());
        assert!(
            lut.engine_config().is_none(),
            "per-map, not the engine's per-patch figures"
        );
        assert!(lut.verilog().unwrap().contains("module lutgen_conv_layer("));
        assert!(dense
            .verilog()
            .unwrap()
            .contains("module lutgen_dense_conv_layer("));
        assert!(lut.describe().contains("3x3 convolution, stride 2"));
    }

    #[test]
    fn what_a_convolution_layer_cannot_wrap_is_refused() {
        let wrong = EngineConfig {
            input_dim: 64,
            ..patch_engine()
        };
        let e = Top::conv(geometry(), Top::Engine(wrong))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("takes 64 inputs but the convolution's patches have 72"),
            "{e}"
        );
        let device = Top::network_device(vec![patch_engine()], 12_000_000, 115_200);
        let e = Top::conv(geometry(), device).unwrap_err().to_string();
        assert!(
            e.contains("wraps a LUT or dense engine, not network device"),
            "{e}"
        );
        let bad = ConvGeometry {
            kernel: 7,
            ..geometry()
        };
        let e = Top::conv(bad, Top::Engine(patch_engine()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("kernel 7x7 is not supported"), "{e}");
    }
}
