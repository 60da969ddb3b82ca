//! What a board build synthesizes: the "top to build".
//!
//! - [`Top::Engine`]: the LUT engine alone (`lutgen_engine`), out of context:
//!   its 162 port bits go to whatever pins place and route picks, so the
//!   result gives resources and Fmax, not a bitstream to flash.
//! - [`Top::Dense`]: the dense int8 MAC baseline (`lutgen_dense`), the same
//!   ports, also out of context, for the like-for-like comparison.
//! - [`Top::Device`]: the device top (`lutgen_device`: UART + framed
//!   protocol around the LUT engine, ports `clock`, `rx`, `tx`, `idle`), the
//!   only top with board pins, and so the only one with a bitstream to flash.
//!   There is no dense device (the device wraps the LUT engine), so the
//!   like-for-like comparison is engine against engine, out of context.

use super::pll::{Pll, BOARD_MODULE};
use super::BoardError;
use lutgen_core::protocol;
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::dense::{dense_verilog, DenseConfig, DENSE_MODULE, DENSE_PORTS};
use lutgen_hdl::device::{device_verilog, DeviceConfig, DEVICE_MODULE, DEVICE_PORTS};
use lutgen_hdl::verilog::{engine_verilog, ENGINE_PORTS, TOP_MODULE};
use serde::Serialize;

/// Which engine a build is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    /// The engine device, on the board's oscillator or, with a [`Pll`], on the
    /// PLL's output (then the top is [`BOARD_MODULE`] around the device).
    /// The board flow builds engine devices: a network device's estimates
    /// here would be its first layer's (not done yet; `for_board` makes
    /// engine devices only).
    Device(DeviceConfig, Option<Pll>),
}

/// Serial rate of a device build unless `--baud` says otherwise (the
/// rate `lutgen board --sim` models by default, and any USB bridge's).
pub const DEFAULT_BAUD: u32 = 115_200;

/// The dense layer that matches a LUT configuration: same D and N; one MAC
/// per lane unless `macs` says otherwise.
pub fn dense_for(config: &EngineConfig, macs: Option<usize>) -> DenseConfig {
    DenseConfig {
        input_dim: config.input_dim,
        outputs: config.outputs,
        macs: macs.unwrap_or(config.lanes),
        bias_bits: config.bias_bits,
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

    /// The LUT engine configuration inside, if any.
    pub fn engine_config(&self) -> Option<&EngineConfig> {
        match self {
            Top::Engine(c) => Some(c),
            Top::Device(d, _) => Some(d.first()),
            Top::Dense(_) => None,
        }
    }

    /// The top module's name.
    pub fn module(&self) -> &'static str {
        match self {
            Top::Engine(_) => TOP_MODULE,
            Top::Dense(_) => DENSE_MODULE,
            Top::Device(_, None) => DEVICE_MODULE,
            Top::Device(_, Some(_)) => BOARD_MODULE,
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Top::Engine(c) => format!(
                "LUT engine alone (out of context), D={} C={} K={} N={} L={}",
                c.input_dim, c.codebooks, c.centroids, c.outputs, c.lanes
            ),
            Top::Dense(c) => format!(
                "dense int8 MAC engine alone (out of context), D={} N={} MACs={}",
                c.input_dim, c.outputs, c.macs
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
        let ports = match self {
            Top::Engine(_) => &ENGINE_PORTS,
            Top::Dense(_) => &DENSE_PORTS,
            Top::Device(..) => return DEVICE_PORTS.iter().map(|p| u64::from(p.1)).sum(),
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
        })
    }

    /// Every memory the top holds, for the fit check.
    pub fn memories(&self) -> Vec<Memory> {
        match self {
            Top::Device(d, _) => {
                let mut m = Top::Engine(d.first().clone()).memories();
                m.push(Memory::new("receive buffer", protocol::BUFFER_BYTES, 8, 1));
                m.push(Memory::new(
                    "job FIFO",
                    protocol::JOB_QUEUE_DEPTH,
                    lutgen_hdl::device::JOB_BITS,
                    1,
                ));
                m.push(Memory::new(
                    "reply FIFO",
                    lutgen_hdl::device::REPLY_QUEUE_DEPTH,
                    lutgen_hdl::device::REPLY_BITS,
                    1,
                ));
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
                m.push(Memory::new("tables", c.table_words_per_lane(), 8, l));
                m.push(Memory::new("bias", c.rows_per_lane(), 32, l));
                m.push(Memory::new(
                    "index FIFO",
                    lutgen_hdl::engine::INDEX_FIFO_DEPTH as usize,
                    16,
                    1,
                ));
                m
            }
            Top::Dense(c) => vec![
                Memory::new("weights", c.weight_words_per_lane(), 8, c.macs),
                Memory::new("bias", c.rows_per_lane(), 32, c.macs),
            ],
        }
    }

    /// Multipliers in the top (8 x 8 bits each): the LUT engine's distance
    /// units each multiply a difference (`l2`, `l1`, `two-level`; `tree` and
    /// `sign` have none); the dense engine has one per MAC.
    /// The flow gives them DSP blocks only when all of them fit (on the
    /// iCE40UP5K's 8 `SB_MAC16`s, K = 16 squarers stay in LUTs).
    pub fn multipliers(&self) -> usize {
        match self {
            Top::Engine(c) => engine_multipliers(c),
            Top::Device(d, _) => engine_multipliers(d.first()),
            Top::Dense(c) => c.macs,
        }
    }
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub what: &'static str,
    pub words: usize,
    pub bits: usize,
    pub count: usize,
}

impl Memory {
    pub fn new(what: &'static str, words: usize, bits: usize, count: usize) -> Self {
        Memory {
            what,
            words,
            bits,
            count,
        }
    }
}
