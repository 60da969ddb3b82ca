//! The fit check: does a configuration's memory and logic fit a board,
//! before any tool runs; if not, by how much, and the largest configuration
//! that does.
//!
//! Block RAMs are counted exactly as the engine lays out its memories (one
//! memory per distance unit, a table and a bias memory per lane, the index
//! FIFO), each rounded up to whole blocks in the best aspect ratio the block
//! offers. Yosys may put a very small memory in flip-flops instead, so the
//! count is an upper bound. Logic is an estimate from a linear model fitted
//! to yosys 0.23 `synth_ice40` results (see `docs/boards.md`); synthesis
//! gives the real figure.

use super::top::{Memory, Top};
use super::{Board, Family};
use lutgen_core::EngineConfig;
use lutgen_hdl::dense::DenseConfig;
use serde::Serialize;
use std::fmt;

/// (depth, width) configurations of a family's block RAM.
fn bram_shapes(family: Family) -> &'static [(usize, usize)] {
    match family {
        // SB_RAM40_4K: 4 kbit.
        Family::Ice40 => &[(256, 16), (512, 8), (1024, 4), (2048, 2)],
        // DP16KD (ECP5) and RAMB18E1 (7 series): 18 kbit.
        Family::Ecp5 | Family::Xilinx7 => &[
            (512, 36),
            (1024, 18),
            (2048, 9),
            (4096, 4),
            (8192, 2),
            (16384, 1),
        ],
    }
}

/// Whole blocks for one `words` x `bits` memory.
pub fn blocks_for(family: Family, words: usize, bits: usize) -> usize {
    bram_shapes(family)
        .iter()
        .map(|&(depth, width)| words.div_ceil(depth) * bits.div_ceil(width))
        .min()
        .unwrap_or(1)
        .max(1)
}

/// Estimated logic cells (LUT4 + flip-flop pairs on iCE40; LUT4s on ECP5).
///
/// Fitted to yosys 0.23 `synth_ice40` cell counts; see `docs/boards.md`.
pub fn logic_estimate(top: &Top, family: Family, dsp_multipliers: bool) -> u64 {
    let scale = match family {
        Family::Ice40 | Family::Ecp5 => 1.0,
        // A LUT6 absorbs roughly 1.5 LUT4s.
        Family::Xilinx7 => 0.7,
    };
    let cells = match top {
        Top::Engine(c) => {
            // One cost per distance unit (`l2`/`l1`: K, `two-level`: G + S,
            // `tree` and `sign`: none), per lane and per output.
            let (k, l, n) = (c.distance_units() as f64, c.lanes as f64, c.outputs as f64);
            // `l2` reads its squares from block ROM.
            let squarer = if dsp_multipliers || c.squares_from_table() {
                0.0
            } else {
                110.0
            };
            300.0 + k * (140.0 + squarer) + l * 90.0 + n * 64.0
        }
        Top::Device(d, _) if top.sequential_plan().is_some() => {
            // One engine (the largest layer's), each requantization stage,
            // the device with the network loader, and the sequencer.
            let plan = top.sequential_plan().expect("checked");
            let engine =
                logic_estimate(&Top::Engine(plan.engine().clone()), family, dsp_multipliers);
            let stage = if dsp_multipliers {
                STAGE_LOGIC_DSP
            } else {
                STAGE_LOGIC_LUT_MULTIPLIERS
            };
            let stages = (d.layers().len() - 1) as f64;
            let glue = stages * (stage + IMAGE_LOADER_LOGIC)
                + NETWORK_LOADER_WALK_LOGIC
                + SEQUENCER_LOGIC
                + DEVICE_LOGIC;
            return engine + (glue * scale).round() as u64;
        }
        Top::Device(d, _) if d.is_network() => {
            // Every layer's engine, each requantization stage, and the
            // device around them with the network loader's extra parts.
            let layers = d.layers();
            let engines: u64 = layers
                .iter()
                .map(|l| logic_estimate(&Top::Engine(l.clone()), family, dsp_multipliers))
                .sum();
            let stage = if dsp_multipliers {
                STAGE_LOGIC_DSP
            } else {
                STAGE_LOGIC_LUT_MULTIPLIERS
            };
            let glue = (layers.len() - 1) as f64 * (stage + IMAGE_LOADER_LOGIC)
                + NETWORK_LOADER_WALK_LOGIC
                + DEVICE_LOGIC;
            return engines + (glue * scale).round() as u64;
        }
        Top::Device(d, _) => {
            // The UART, parser, executor and transmitter: measured with yosys.
            return logic_estimate(&Top::Engine(d.first().clone()), family, dsp_multipliers)
                + (DEVICE_LOGIC * scale).round() as u64;
        }
        Top::Conv(g, engine) => {
            // The window generator's counters and patch selection, then the engine.
            return logic_estimate(engine, family, dsp_multipliers)
                + (window_logic(g) * scale).round() as u64;
        }
        Top::Dense(c) => {
            let (p, n) = (c.multipliers() as f64, c.outputs as f64);
            let multiplier = if dsp_multipliers { 0.0 } else { 110.0 };
            120.0 + p * (50.0 + multiplier) + n * 66.0
        }
    };
    (cells * scale).round() as u64
}

/// Logic cells of the device around the engine (UART, frame layer, image
/// loader, network top): the default device packed for the UP5K takes 5,390
/// ICESTORM_LCs (`lutgen build --board icebreaker --force --json --seed 1`,
/// nextpnr-ice40's utilisation, with the loader's and receiver's registers
/// at the configuration's widths), the engine's estimate above 1,974 of
/// them; 5,954 before the narrowing (3,850 was measured on the HX8K before
/// the identify ROM and the network top), 2,200 before the image loader.
/// After the device's own logic was cut (docs/boards.md, "The device's own
/// logic, cut"), the small device (D=16 C=4 K=4 N=4) placed on the UP5K in
/// 4,206 ICESTORM_LCs (`lutgen build --board icebreaker --input-dim 16
/// --codebooks 4 --centroids 4 --outputs 4 --json`) where this estimate gave
/// 4,622: the constant is lowered by that 416.
const DEVICE_LOGIC: f64 = 3000.0;

/// Logic cells of one requantization stage with its four 16 x 16
/// multipliers in DSP blocks. Measured: yosys 0.23 `synth_ice40 -dsp` on
/// the stage module alone (`lutgen_network$stages$0` of the digits
/// network's `network_verilog`) gives 729 `SB_LUT4`, 397 flip-flops (most
/// of them pairing with a LUT in a logic cell), 4 `SB_MAC16`, 1
/// `SB_RAM40_4K`; rounded up to 800 cells for the unpaired flip-flops.
const STAGE_LOGIC_DSP: f64 = 800.0;

/// The same stage with its multipliers in LUTs (`synth_ice40` without
/// `-dsp`): 3,388 `SB_LUT4`, 572 flip-flops; 3,400 cells.
const STAGE_LOGIC_LUT_MULTIPLIERS: f64 = 3400.0;

/// A network device's loader has one image loader per layer where an
/// engine device has one ([`DEVICE_LOGIC`] counts that one): each more
/// costs one image loader. Measured: yosys 0.23 `synth_ice40` on the engine
/// device's `image_loaders$0` gives 998 `SB_LUT4`, 659 flip-flops.
const IMAGE_LOADER_LOGIC: f64 = 1000.0;

/// The network loader's own walk (field program ROM in LUTs, the file CRC,
/// the layer sequencing): the digits network device's `network_loaders$0`
/// (two layers) is 2,713 `SB_LUT4`, 1,668 flip-flops, no block RAM, about
/// 720 LUTs more than its two image loaders.
const NETWORK_LOADER_WALK_LOGIC: f64 = 750.0;

/// The sequential top's sequencer (layer, feed and output counters, the
/// bank select, the activation buffer's addressing): an estimate, not
/// measured on its own.
const SEQUENCER_LOGIC: f64 = 150.0;

/// What the fit check found.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct FitReport {
    pub board: String,
    pub top: String,
    pub memories: Vec<(Memory, usize)>,
    pub block_rams: usize,
    pub block_rams_available: u64,
    pub bram_kind: String,
    pub logic_estimate: u64,
    pub logic_available: u64,
    pub multipliers: usize,
    pub dsps_available: u64,
    /// Multipliers go to DSP blocks (all of them fit).
    pub dsp_multipliers: bool,
    pub fits: bool,
    /// The largest configuration that fits, as flags, when this one does not
    /// (never for a network device: its layers come from its file).
    pub largest_fitting: Option<String>,
    /// A network device: its shape is fixed by the network file.
    pub network: bool,
}

/// Checks `top` against `board`.
pub fn check(top: &Top, board: &Board) -> FitReport {
    let family = board.family;
    let memories: Vec<(Memory, usize)> = top
        .memories()
        .into_iter()
        .map(|m| {
            let b = blocks_for(family, m.words, m.bits);
            (m, b)
        })
        .collect();
    let block_rams = memories.iter().map(|(m, b)| m.count * b).sum();
    let multipliers = top.multipliers();
    let dsp_multipliers = multipliers as u64 <= board.resources.dsps && board.resources.dsps > 0;
    let logic = logic_estimate(top, family, dsp_multipliers);
    let fits =
        block_rams as u64 <= board.resources.block_rams && logic <= board.resources.logic_cells;
    FitReport {
        board: board.name.clone(),
        top: top.describe(),
        memories,
        block_rams,
        block_rams_available: board.resources.block_rams,
        bram_kind: board.resources.bram_kind.clone(),
        logic_estimate: logic,
        logic_available: board.resources.logic_cells,
        multipliers,
        dsps_available: board.resources.dsps,
        dsp_multipliers,
        fits,
        largest_fitting: if fits {
            None
        } else {
            largest_fitting(top, board)
        },
        network: top.is_network(),
    }
}

fn fits(top: &Top, board: &Board) -> bool {
    let r = check_quiet(top, board);
    r.0 as u64 <= board.resources.block_rams && r.1 <= board.resources.logic_cells
}

/// (block RAMs, logic) without the search for a fitting configuration.
/// Logic cells of a convolution's window generator (hdl/src/window.rs):
/// its row, column, channel and kernel counters, the line buffers'
/// addressing and the padding compares, growing with the counters' widths.
/// Fitted to yosys 0.23 `synth_ice40` on `lutgen_window` alone: 332
/// `SB_LUT4` for an 8x8x1 map with a 3x3 kernel (13 counter bits, the
/// CNN fixture's first layer; 175 flip-flops), 419 for 8x8x8 3x3 stride 2
/// (19 bits, its second), 500 for 32x32x16 5x5 (22 bits) and 359 for 6x5x3
/// 1x1 (9 bits); this gives 380, 440, 470 and 340.
fn window_logic(g: &lutgen_core::conv::ConvGeometry) -> f64 {
    let bits = |v: usize| f64::from(usize::BITS - v.leading_zeros());
    let counters =
        bits(g.in_height) + bits(g.in_width) + bits(g.in_channels) + bits(g.kernel * g.kernel);
    250.0 + 10.0 * counters
}

fn check_quiet(top: &Top, board: &Board) -> (usize, u64) {
    let blocks = top
        .memories()
        .iter()
        .map(|m| m.count * blocks_for(board.family, m.words, m.bits))
        .sum();
    let dsp = top.multipliers() as u64 <= board.resources.dsps && board.resources.dsps > 0;
    (blocks, logic_estimate(top, board.family, dsp))
}

/// `top` with its LUT engine replaced by `engine`.
fn with_engine(top: &Top, engine: &EngineConfig) -> Top {
    match top {
        Top::Device(d, pll) => Top::Device(
            lutgen_hdl::device::DeviceConfig {
                kind: lutgen_hdl::device::DeviceKind::Engine(engine.clone()),
                ..d.clone()
            },
            pll.clone(),
        ),
        _ => Top::Engine(engine.clone()),
    }
}

/// The largest fitting configuration with the same input size, outputs and
/// widths: LUT engines maximize table entries `C * K` (then throughput);
/// dense engines maximize MACs. None for a network device: its layers are
/// the compiled network's, which a flag cannot reshape (an engine
/// configuration suggested here would be a different device).
pub fn largest_fitting(top: &Top, board: &Board) -> Option<String> {
    let engine = top.engine_config();
    match (top, engine) {
        (_, Some(c)) => {
            let mut best: Option<((usize, usize, usize), EngineConfig)> = None;
            for codebooks in (1..=c.input_dim).filter(|x| c.input_dim % x == 0) {
                for centroids in (1..=8).map(|b| 1usize << b) {
                    for lanes in 1..=c.outputs {
                        let cand = EngineConfig {
                            codebooks,
                            centroids,
                            lanes,
                            ..c.clone()
                        };
                        if cand.validate().is_err() || !fits(&with_engine(top, &cand), board) {
                            continue;
                        }
                        // Keep the codebooks if anything fits with them; then the
                        // most table entries; then the fewest cycles.
                        let key = (
                            usize::from(codebooks == c.codebooks),
                            codebooks * centroids,
                            usize::MAX - cand.bound_cycles_per_inference(),
                        );
                        let better = match &best {
                            Some((k, _)) => *k < key,
                            None => true,
                        };
                        if better {
                            best = Some((key, cand));
                        }
                    }
                }
            }
            best.map(|(_, b)| {
                format!(
                    "--input-dim {} --outputs {} --codebooks {} --centroids {} --lanes {}",
                    b.input_dim, b.outputs, b.codebooks, b.centroids, b.lanes
                )
            })
        }
        (Top::Dense(c), _) => (1..=c.outputs)
            .rev()
            .map(|macs| DenseConfig { macs, ..*c })
            .find(|cand| cand.validate().is_ok() && fits(&Top::Dense(*cand), board))
            .map(|b| {
                format!(
                    "--input-dim {} --outputs {} --macs {}",
                    b.input_dim, b.outputs, b.macs
                )
            }),
        (_, None) => None,
    }
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.fits { "fits" } else { "does not fit" };
        writeln!(f, "{} {verdict} {}:", self.top, self.board)?;
        let over = |need: u64, have: u64| {
            if need > have {
                format!(
                    ", {} over ({:.0}%)",
                    need - have,
                    100.0 * need as f64 / have as f64
                )
            } else {
                format!(" ({:.0}%)", 100.0 * need as f64 / have.max(1) as f64)
            }
        };
        writeln!(
            f,
            "  block RAM: {} of {} {}{}",
            self.block_rams,
            self.block_rams_available,
            self.bram_kind,
            over(self.block_rams as u64, self.block_rams_available)
        )?;
        for (m, blocks) in &self.memories {
            writeln!(
                f,
                "    {} x {} ({} x {} bits): {} each",
                m.count, m.what, m.words, m.bits, blocks
            )?;
        }
        writeln!(
            f,
            "  logic: about {} of {} cells{}",
            self.logic_estimate,
            self.logic_available,
            over(self.logic_estimate, self.logic_available)
        )?;
        write!(
            f,
            "  multipliers: {} ({})",
            self.multipliers,
            if self.dsp_multipliers {
                format!("in DSP blocks, {} available", self.dsps_available)
            } else {
                format!("in LUTs: {} DSP blocks available", self.dsps_available)
            }
        )?;
        if !self.fits {
            if self.block_rams as u64 > self.block_rams_available {
                write!(
                    f,
                    "\n  too many block RAMs: {} needed, the board has {} {}",
                    self.block_rams, self.block_rams_available, self.bram_kind
                )?;
            }
            if self.logic_estimate > self.logic_available {
                write!(
                    f,
                    "\n  too much logic: about {} cells needed, the board has {}",
                    self.logic_estimate, self.logic_available
                )?;
            }
            match &self.largest_fitting {
                Some(flags) => write!(f, "\n  largest configuration that fits: {flags}")?,
                None if self.network => write!(
                    f,
                    "\n  a network device's layers are fixed by its network file, so it cannot \
                     be reshaped to fit: compile a smaller network (fewer or narrower layers, \
                     fewer centroids) or choose a larger board"
                )?,
                None => write!(
                    f,
                    "\n  no configuration with this input size and these outputs fits"
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn block_counts() {
        // 4096 x 8 table: 8 blocks of 512 x 8 on iCE40, 2 of 2048 x 9 on ECP5.
        assert_eq!(blocks_for(Family::Ice40, 4096, 8), 8);
        assert_eq!(blocks_for(Family::Ecp5, 4096, 8), 2);
        // 16 x 32 bias: two 256 x 16 blocks; one 512 x 36.
        assert_eq!(blocks_for(Family::Ice40, 16, 32), 2);
        assert_eq!(blocks_for(Family::Ecp5, 16, 32), 1);
    }

    #[test]
    fn default_engine_counts_19_blocks_on_ice40() {
        let board = Board::find("hx8k-breakout").unwrap();
        let r = check(&Top::Engine(EngineConfig::default()), &board);
        // 4 centroid memories (4 units x 4 centroids x 64 elements) + 4
        // tables of squares + 8 table + 2 bias + 1 FIFO, as yosys maps it.
        assert_eq!(r.block_rams, 19);
        assert!(r.fits, "{r}");
    }

    #[test]
    fn every_encoder_counts_the_blocks_yosys_maps() {
        // SB_RAM40_4K of the default shape per encoder, yosys 0.23 synth_ice40
        // (README, "Encoders"): the encoder's memories + 8 table + 2 bias + 1 FIFO.
        let board = Board::find("hx8k-breakout").unwrap();
        for (encoder, blocks, multipliers) in [
            (EncoderKind::L2, 19, 0),
            (EncoderKind::L1, 16, 4),
            (EncoderKind::TwoLevel, 24, 8),
            (EncoderKind::Tree, 19, 0),
            (EncoderKind::Sign, 11, 0),
        ] {
            let mut config = EngineConfig {
                encoder,
                ..EngineConfig::default()
            };
            if encoder == EncoderKind::Sign {
                config.centroids = 1 << config.sub_vector_len();
            }
            config.validate().unwrap();
            let top = Top::Engine(config);
            assert_eq!(check(&top, &board).block_rams, blocks, "{encoder:?}");
            assert_eq!(top.multipliers(), multipliers, "{encoder:?}");
        }
    }

    /// The digits network's shapes: 64 -> 64 -> 10, C = 16, K = 16.
    /// The sequential device counts one engine of the largest layer's shape
    /// with a bank per layer (tables 2 x 16,384 words for the digits network),
    /// one activation table and the activation buffer: in block RAM that is
    /// too much for the iCEBreaker, and fits the ULX3S-85F.
    #[test]
    fn a_sequential_device_counts_one_engine_with_a_bank_per_layer() {
        use lutgen_core::sequential::Schedule;
        let top = Top::scheduled_device(digits_layers(), Schedule::Sequential, 12_000_000, 115_200);
        assert!(top.is_network() && top.sequential_plan().is_some());
        let memories = top.memories();
        let tables = memories
            .iter()
            .find(|m| m.what == "tables (2 banks)")
            .expect("banked tables");
        assert_eq!((tables.words, tables.bits, tables.count), (32768, 8, 1));
        assert!(memories.iter().any(|m| m.what == "activation buffer"));
        let r = check(&top, &Board::find("icebreaker").unwrap());
        assert!(!r.fits && r.block_rams > 64, "{r}");
        assert!(r.top.starts_with("sequential network device"), "{}", r.top);
        assert!(check(&top, &Board::find("ulx3s-85f").unwrap()).fits);
        // Fewer multipliers than the dataflow device: one engine's.
        let dataflow = Top::network_device(digits_layers(), 12_000_000, 115_200);
        assert!(top.multipliers() <= dataflow.multipliers());
    }

    fn digits_layers() -> Vec<EngineConfig> {
        let layer = |outputs| EngineConfig {
            input_dim: 64,
            codebooks: 16,
            centroids: 16,
            outputs,
            lanes: 1,
            ..EngineConfig::default()
        };
        vec![layer(64), layer(10)]
    }

    #[test]
    fn a_network_device_counts_every_layer_and_stage() {
        let layers = digits_layers();
        let top = Top::network_device(layers.clone(), 12_000_000, 115_200);
        assert!(top.is_network());
        assert_eq!(top.engine_config(), None);
        assert_eq!(top.layers(), &layers[..]);
        let board = Board::find("ulx3s-85f").unwrap();
        let engine_device = |c: &EngineConfig| {
            Top::Device(
                lutgen_hdl::device::DeviceConfig::engine(c.clone(), 12_000_000, 115_200),
                None,
            )
        };
        for family in [Family::Ice40, Family::Ecp5] {
            let blocks = |top: &Top| -> usize {
                top.memories()
                    .iter()
                    .map(|m| m.count * blocks_for(family, m.words, m.bits))
                    .sum()
            };
            let engines: usize = layers.iter().map(|l| blocks(&Top::Engine(l.clone()))).sum();
            // The device's own memories, once: an engine device less its engine.
            let device =
                blocks(&engine_device(&layers[0])) - blocks(&Top::Engine(layers[0].clone()));
            // One activation table (256 x 8) per stage: one block; and the
            // trace FIFO (512 x 8): one block.
            assert_eq!(blocks(&top), engines + 1 + device + 1, "{family:?}");
        }
        // Every layer's multipliers plus the stage's four.
        let engine_multipliers: usize = layers
            .iter()
            .map(|l| Top::Engine(l.clone()).multipliers())
            .sum();
        assert_eq!(top.multipliers(), engine_multipliers + 4);
        // Logic: more than every layer's engine device less one device.
        for dsp in [false, true] {
            let logic = logic_estimate(&top, board.family, dsp);
            let engines: u64 = layers
                .iter()
                .map(|l| logic_estimate(&Top::Engine(l.clone()), board.family, dsp))
                .sum();
            let device = logic_estimate(&engine_device(&layers[0]), board.family, dsp)
                - logic_estimate(&Top::Engine(layers[0].clone()), board.family, dsp);
            assert!(logic > engines + device, "{logic} {engines} {device}");
        }
        let description = top.describe();
        assert!(
            description.contains("2-layer network 64-64-10"),
            "{description}"
        );
        assert!(
            description.contains("layer 1: D=64 C=16 K=16 N=10"),
            "{description}"
        );
    }

    #[test]
    fn a_network_too_big_names_what_does_not_fit_and_suggests_no_engine() {
        let top = Top::network_device(digits_layers(), 12_000_000, 115_200);
        let board = Board::find("icebreaker").unwrap();
        let r = check(&top, &board);
        assert!(!r.fits && r.network);
        assert_eq!(r.largest_fitting, None);
        let text = r.to_string();
        assert!(
            text.contains(&format!(
                "too many block RAMs: {} needed, the board has 30 SB_RAM40_4K",
                r.block_rams
            )),
            "{text}"
        );
        assert!(text.contains("layer 0 tables (16384 x 8 bits)"), "{text}");
        assert!(text.contains("cannot be reshaped to fit"), "{text}");
        assert!(!text.contains("largest configuration"), "{text}");
        // The digits network does fit the ULX3S-85F.
        let r = check(&top, &Board::find("ulx3s-85f").unwrap());
        assert!(r.fits, "{r}");
    }
}
