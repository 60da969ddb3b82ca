//! Where an image's centroids, tables, bias and encoder parameters live in
//! the engine's memories.
//!
//! The load port addresses a word as `memory << 16 | word`. Memories are
//! numbered: first the U distance-unit memories (`l2`, `l1`: unit u searches
//! the F = `EngineConfig::centroids_per_unit` centroids `p * U + u`, U = K / F,
//! and centroid k's element `c * V + v` is word `(c * V + v) * F + k / U` of
//! memory `k % U`; `two-level`: centre memory g is `g`, key memory
//! of slot s is `G + s`, U = G + K/G; `tree`, `sign`: none, U = 0); then, for
//! each lane l, its table memory `U + (R + 1) l` and the bias memories of its
//! R entries, `U + (R + 1) l + 1 + r` (R = `EngineConfig::entries_per_read`;
//! with R = 1: `U + 2l` and `U + 2l + 1`); then the encoder's own memories
//! from `U + (R + 1) L`: the weight memory (`l1`, `two-level`), or the split
//! mask memory and the four threshold memories (`tree`). Entry r of lane l
//! holds the outputs `n = j * L * R + l * R + r` at row j: the table word at
//! row j holds those R entries, entry r in bits `[r * t, (r + 1) * t)`
//! (t = `table_bits`; with R = 1 the word is the entry as an int8); rows
//! past N (when L * R does not divide N) hold zero. An `l2` engine's map
//! with R = 1 is the same as before the other encoders existed.
//!
//! A network top (`lutgen_hdl::network`) puts a layer field above that:
//! `layer << 28 | memory << 16 | word`, memory [`REQUANTIZE_MEMORY`] being
//! the requantization after the layer: its registers ([`REQUANTIZE_WORDS`])
//! and its activation table (entry i at word [`ACTIVATION_TABLE_WORD`] + i)
//! ([`network_load_words`]).

use crate::config::TREE_DEPTH;
use crate::network::Layer;
use crate::{EncoderKind, EngineConfig, Image, Network};

/// Load-port registers of a network top's requantization stage, words 0 to 4 of
/// [`REQUANTIZE_MEMORY`]: multiplier (1 to 2^31 - 1), shift (1 to 62), zero
/// point (int8, two's complement in the low byte), ReLU (bit 0), activation
/// table enable (bit 0: the stage's output is the table's entry at the
/// requantized value).
pub const REQUANTIZE_WORDS: [&str; 5] = ["multiplier", "shift", "zero_point", "relu", "table"];

/// Word of [`REQUANTIZE_MEMORY`] holding activation table entry 0: entry i
/// (the next layer's input for requantized value `i as i8`, int8 in the low
/// byte) is word `ACTIVATION_TABLE_WORD + i`, i = 0 to 255.
pub const ACTIVATION_TABLE_WORD: usize = 256;

/// Position of the layer field in a network top's load address.
pub const LAYER_SHIFT: u32 = 28;
/// Layers a network top can address (a 4-bit layer field).
pub const MAX_LAYERS: usize = 16;
/// Memory number, within a layer, of the requantization after that layer.
pub const REQUANTIZE_MEMORY: usize = 0xFFF;
/// Memory number of an engine's bank register (word 0, the low 4 bits): the
/// bank every memory reads, in an engine built with one bank per layer of the
/// sequential schedule ([`crate::sequential`]); such an engine writes each
/// load into the bank in the load address's layer field. An engine with one
/// bank has neither.
pub const BANK_MEMORY: usize = 0xFFE;
/// Memory number, within a layer of a network top, of the layer's spatial
/// registers: word [`PAD_VALUE_WORD`] is the pad value of the layer's
/// convolution (its input's zero point), word [`POOL_ZERO_POINT_WORD`] the
/// zero point of the pooling after the layer (its requantization's), each
/// an int8 in the low byte. A dense layer, or one that does not pool,
/// ignores the word. An engine of a network top has fewer memories than
/// this number.
pub const SPATIAL_MEMORY: usize = 0xFFD;
/// Word of [`SPATIAL_MEMORY`] holding a convolution's pad value.
pub const PAD_VALUE_WORD: usize = 0;
/// Word of [`SPATIAL_MEMORY`] holding a pooling stage's zero point.
pub const POOL_ZERO_POINT_WORD: usize = 1;

/// The engine's memory numbering for one configuration.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap {
    units: usize,
    clusters: usize,
    lanes: usize,
    /// Entries per read R.
    entries: usize,
    /// Memories behind the load port ([`EngineConfig::memory_count`]).
    count: u128,
}

/// One write through the load port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadWord {
    /// `memory << 16 | word`.
    pub address: u32,
    /// The value; narrower memories take the low bits.
    pub data: u32,
}

impl MemoryMap {
    /// The map of an engine built for `config`.
    pub fn new(config: &EngineConfig) -> Self {
        let units = match config.encoder {
            EncoderKind::L2 | EncoderKind::L1 | EncoderKind::TwoLevel => config.distance_units(),
            EncoderKind::Tree | EncoderKind::Sign => 0,
        };
        MemoryMap {
            units,
            clusters: config.clusters(),
            lanes: config.lanes,
            entries: config.entries_per_read,
            count: config.memory_count(),
        }
    }

    /// Memory number of the centroid memory of distance unit `u` (`l2`, `l1`).
    pub fn centroid_memory(&self, u: usize) -> usize {
        u
    }

    /// Memory number of cluster centre `g`'s memory (`two-level`).
    pub fn centre_memory(&self, g: usize) -> usize {
        g
    }

    /// Memory number of key slot `s`'s memory (`two-level`).
    pub fn key_memory(&self, s: usize) -> usize {
        self.clusters + s
    }

    /// Memory number of lane `l`'s table memory.
    pub fn table_memory(&self, l: usize) -> usize {
        self.units + (self.entries + 1) * l
    }

    /// Memory number of the bias memory of entry `i % R` of lane `i / R`
    /// (i from 0 to L * R - 1; with R = 1, lane i's bias memory).
    pub fn bias_memory(&self, i: usize) -> usize {
        self.table_memory(i / self.entries) + 1 + i % self.entries
    }

    /// Memory number of the first memory after the lanes'.
    fn after_lanes(&self) -> usize {
        self.table_memory(self.lanes)
    }

    /// Memory number of the weight memory (`l1`, `two-level`).
    pub fn weight_memory(&self) -> usize {
        self.after_lanes()
    }

    /// Memory number of the split mask memory (`tree`).
    pub fn mask_memory(&self) -> usize {
        self.after_lanes()
    }

    /// Memory number of level `l`'s threshold memory (`tree`).
    pub fn threshold_memory(&self, l: usize) -> usize {
        self.after_lanes() + 1 + l
    }

    /// Number of memories behind the load port (at most
    /// [`crate::config::MAX_MEMORIES`] for a valid configuration).
    pub fn memories(&self) -> usize {
        usize::try_from(self.count()).unwrap_or(usize::MAX)
    }

    /// Number of memories, exactly, whatever the configuration.
    fn count(&self) -> u128 {
        self.count
    }

    /// Every load-port write that puts `image` into an engine built for its
    /// configuration (one entry per read).
    pub fn load_words(image: &Image) -> Vec<LoadWord> {
        Self::load_words_for(image.config(), image)
    }

    /// Every load-port write that puts `image` into an engine built for
    /// `config`, which must be the image's configuration but for
    /// `entries_per_read` (see [`EngineConfig::as_image_config`]).
    pub fn load_words_for(config: &EngineConfig, image: &Image) -> Vec<LoadWord> {
        debug_assert_eq!(&config.as_image_config(), image.config());
        let map = MemoryMap::new(config);
        let (v, m, l_count) = (
            config.sub_vector_len(),
            config.rows_per_lane(),
            config.lanes,
        );
        let entries = config.entries_per_read;
        let per_row = config.entries_per_lane_row();
        let word = |memory: usize, word: usize, data: u32| LoadWord {
            address: ((memory as u32) << 16) | word as u32,
            data,
        };
        let mut words = Vec::new();
        match config.encoder {
            EncoderKind::L2 | EncoderKind::L1 => {
                let (f, u) = (config.centroids_per_unit(), config.distance_units());
                for k in 0..config.centroids {
                    for c in 0..config.codebooks {
                        for (i, &p) in image.centroid(c, k).iter().enumerate() {
                            let address = (c * v + i) * f + k / u;
                            words.push(word(map.centroid_memory(k % u), address, p as u8 as u32));
                        }
                    }
                }
            }
            EncoderKind::TwoLevel => {
                let (g_count, s_count) = (config.clusters(), config.keys_per_cluster());
                for g in 0..g_count {
                    for c in 0..config.codebooks {
                        for (i, &p) in image.centre(c, g).iter().enumerate() {
                            words.push(word(map.centre_memory(g), c * v + i, p as u8 as u32));
                        }
                    }
                }
                // Slot s of cluster g is key g * S + s, at word (c * V + v) * G + g.
                for s in 0..s_count {
                    for c in 0..config.codebooks {
                        for g in 0..g_count {
                            for (i, &p) in image.centroid(c, g * s_count + s).iter().enumerate() {
                                let at = (c * v + i) * g_count + g;
                                words.push(word(map.key_memory(s), at, p as u8 as u32));
                            }
                        }
                    }
                }
            }
            EncoderKind::Tree | EncoderKind::Sign => {}
        }
        for lane in 0..l_count {
            for c in 0..config.codebooks {
                for k in 0..config.centroids {
                    let row = image.table_row(c, k);
                    for j in 0..m {
                        let first = j * per_row + lane * entries;
                        let data = table_word(config, row.get(first..).unwrap_or(&[]));
                        let address = (c * config.centroids + k) * m + j;
                        words.push(word(map.table_memory(lane), address, data));
                    }
                }
            }
            for i in lane * entries..(lane + 1) * entries {
                for j in 0..m {
                    let b = image.bias().get(j * per_row + i).copied().unwrap_or(0);
                    words.push(word(map.bias_memory(i), j, b as u32));
                }
            }
        }
        if config.encoder.has_weights() {
            for (i, &w) in image.params().weights.iter().enumerate() {
                words.push(word(map.weight_memory(), i, u32::from(w)));
            }
        }
        if config.encoder == EncoderKind::Tree {
            // Element c * V + v is compared at level l when it is that level's split.
            for c in 0..config.codebooks {
                for i in 0..v {
                    let mask = (0..TREE_DEPTH)
                        .filter(|&l| image.split_dim(c, l) == i)
                        .fold(0u32, |mask, l| mask | 1 << l);
                    words.push(word(map.mask_memory(), c * v + i, mask));
                }
                for l in 0..TREE_DEPTH {
                    for node in 0..1 << l {
                        let t = image.threshold(c, l, node);
                        words.push(word(map.threshold_memory(l), c * 8 + node, t as u8 as u32));
                    }
                }
            }
        }
        words
    }
}

/// The table-memory word holding the first R = `entries_per_read` of
/// `entries` (zero past their end): with R = 1 the entry as an int8, else
/// entry r's low `table_bits` bits at bit `r * table_bits`.
pub fn table_word(config: &EngineConfig, entries: &[i8]) -> u32 {
    let r_count = config.entries_per_read;
    if r_count == 1 {
        return entries.first().map_or(0, |&t| u32::from(t as u8));
    }
    let bits = config.table_bits;
    let mask = (1u32 << bits) - 1;
    entries
        .iter()
        .take(r_count)
        .enumerate()
        .fold(0, |word, (r, &t)| {
            word | ((t as u32) & mask) << (r as u32 * bits)
        })
}

/// Every load-port write that puts `network` into a network top built for
/// its layers: each layer's [`MemoryMap::load_words`] under its layer field,
/// then, for every layer but the last, the requantization registers
/// ([`REQUANTIZE_WORDS`] order; the table enable is written either way, so a
/// table left by an earlier load is switched off) and, if the layer has an
/// activation table, its 256 entries from [`ACTIVATION_TABLE_WORD`]; then
/// the layer's spatial registers ([`spatial_load_words`]; none for a dense
/// network).
pub fn network_load_words(network: &Network) -> Vec<LoadWord> {
    let mut words = Vec::new();
    for (layer, l) in network.layers().iter().enumerate() {
        let base = (layer as u32) << LAYER_SHIFT;
        words.extend(
            MemoryMap::load_words(&l.image)
                .into_iter()
                .map(|w| LoadWord {
                    address: base | w.address,
                    data: w.data,
                }),
        );
        words.extend(requantize_load_words(layer, l));
        words.extend(spatial_load_words(network, layer));
    }
    words
}

/// The writes of layer `index`'s spatial registers ([`SPATIAL_MEMORY`]):
/// its convolution's pad value, if it is one, and its pooling's zero point
/// (its requantization's), if it pools. None for a dense layer.
pub fn spatial_load_words(network: &Network, index: usize) -> Vec<LoadWord> {
    let memory = (index as u32) << LAYER_SHIFT | (SPATIAL_MEMORY as u32) << 16;
    let word = |at: usize, value: i8| LoadWord {
        address: memory | at as u32,
        data: u32::from(value as u8),
    };
    let spatial = network.spatial()[index];
    let mut words = Vec::new();
    if let Some(conv) = spatial.conv {
        words.push(word(PAD_VALUE_WORD, conv.pad_value));
    }
    if let (Some(_), Some(r)) = (spatial.pool, &network.layers()[index].requantize) {
        words.push(word(POOL_ZERO_POINT_WORD, r.zero_point));
    }
    words
}

/// The writes of layer `index`'s requantization (none for the last layer):
/// its registers in [`REQUANTIZE_WORDS`] order (the table enable is written
/// either way, so a table left by an earlier load is switched off) and, if
/// it has an activation table, its 256 entries from [`ACTIVATION_TABLE_WORD`].
pub fn requantize_load_words(index: usize, layer: &Layer) -> Vec<LoadWord> {
    let mut words = Vec::new();
    let Some(r) = &layer.requantize else {
        return words;
    };
    let memory = (index as u32) << LAYER_SHIFT | (REQUANTIZE_MEMORY as u32) << 16;
    let values = [
        r.multiplier as u32,
        u32::from(r.shift),
        r.zero_point as u8 as u32,
        u32::from(r.relu),
        u32::from(layer.activation.is_some()),
    ];
    debug_assert_eq!(values.len(), REQUANTIZE_WORDS.len());
    for (word, data) in values.into_iter().enumerate() {
        words.push(LoadWord {
            address: memory | word as u32,
            data,
        });
    }
    if let Some(table) = &layer.activation {
        for (i, &entry) in table.entries().iter().enumerate() {
            words.push(LoadWord {
                address: memory | (ACTIVATION_TABLE_WORD + i) as u32,
                data: u32::from(entry as u8),
            });
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_memory_word_is_written_once() {
        let config = EngineConfig {
            outputs: 10,
            lanes: 4,
            ..EngineConfig::default()
        };
        let image = Image::random(config.clone(), 3).unwrap();
        let words = MemoryMap::load_words(&image);
        let expected = config.centroids * config.input_dim
            + config.lanes * (config.table_words_per_lane() + config.rows_per_lane());
        assert_eq!(words.len(), expected);
        let mut addresses: Vec<u32> = words.iter().map(|w| w.address).collect();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), expected);
        // Output 9 lives in lane 1, row 2; output 11 would be padding in lane 3.
        let bias9 = words
            .iter()
            .find(|w| w.address == ((MemoryMap::new(&config).bias_memory(1) as u32) << 16) | 2)
            .unwrap();
        assert_eq!(bias9.data, image.bias()[9] as u32);
    }

    /// R entries of one lane and row share a table word, entry r in bits
    /// `[r * t, (r + 1) * t)`; each entry has its own bias memory; the
    /// padding entries past N are zero.
    #[test]
    fn packed_words_hold_r_consecutive_outputs() {
        for (r, bits, n, lanes) in [(2, 8, 11, 1), (4, 8, 13, 2), (8, 4, 21, 1), (4, 6, 14, 3)] {
            let config = EngineConfig {
                input_dim: 16,
                codebooks: 4,
                centroids: 8,
                outputs: n,
                lanes,
                table_bits: bits,
                entries_per_read: r,
                ..EngineConfig::default()
            };
            config.validate().unwrap();
            let image = Image::random(config.clone(), 5).unwrap();
            let map = MemoryMap::new(&config);
            let words = MemoryMap::load_words_for(&config, &image);
            let at = |memory: usize, word: usize| {
                let address = ((memory as u32) << 16) | word as u32;
                let found: Vec<u32> = words
                    .iter()
                    .filter(|w| w.address == address)
                    .map(|w| w.data)
                    .collect();
                assert_eq!(found.len(), 1, "memory {memory} word {word}");
                found[0]
            };
            let m = config.rows_per_lane();
            let mask = (1u32 << bits) - 1;
            for c in 0..config.codebooks {
                for k in 0..config.centroids {
                    for out in 0..m * lanes * r {
                        let (j, lane, e) = (out / (lanes * r), out / r % lanes, out % r);
                        let word = at(map.table_memory(lane), (c * config.centroids + k) * m + j);
                        let field = (word >> (e as u32 * bits)) & mask;
                        let want = image.table_row(c, k).get(out).copied().unwrap_or(0);
                        assert_eq!(field, want as u32 & mask, "R {r}: c {c} k {k} output {out}");
                    }
                }
            }
            for out in 0..m * lanes * r {
                let want = image.bias().get(out).copied().unwrap_or(0);
                assert_eq!(
                    at(map.bias_memory(out % (lanes * r)), out / (lanes * r)),
                    want as u32
                );
            }
            let expected = config.centroids * config.input_dim
                + lanes * (config.table_words_per_lane() + r * m);
            assert_eq!(words.len(), expected, "every word once");
            assert_eq!(map.memories() as u128, config.memory_count());
        }
    }

    #[test]
    fn every_encoder_writes_distinct_words_in_its_memories() {
        for (encoder, d, c, k) in [
            (EncoderKind::L1, 8, 2, 4),
            (EncoderKind::TwoLevel, 8, 2, 8),
            (EncoderKind::Tree, 8, 2, 16),
            (EncoderKind::Sign, 8, 4, 4),
        ] {
            let config = EngineConfig {
                input_dim: d,
                codebooks: c,
                centroids: k,
                outputs: 5,
                lanes: 2,
                encoder,
                ..EngineConfig::default()
            };
            let image = Image::random(config.clone(), 1).unwrap();
            let map = MemoryMap::new(&config);
            let words = MemoryMap::load_words(&image);
            let mut addresses: Vec<u32> = words.iter().map(|w| w.address).collect();
            addresses.sort_unstable();
            addresses.dedup();
            assert_eq!(addresses.len(), words.len(), "{encoder}");
            assert!(words
                .iter()
                .all(|w| ((w.address >> 16) as usize) < map.memories()));
        }
    }

    #[test]
    fn network_words_carry_the_layer_the_requantization_and_the_table() {
        let configs = [
            EngineConfig {
                input_dim: 16,
                codebooks: 4,
                centroids: 8,
                outputs: 12,
                ..EngineConfig::default()
            },
            EngineConfig {
                input_dim: 12,
                codebooks: 6,
                centroids: 4,
                outputs: 5,
                ..EngineConfig::default()
            },
        ];
        // Seed 2: no table on layer 0; seed 1: a table.
        for (seed, table) in [(2, false), (1, true)] {
            let network = crate::network::random_network(&configs, seed).unwrap();
            assert_eq!(network.layers()[0].activation.is_some(), table);
            let words = network_load_words(&network);
            let per_layer: Vec<usize> = network
                .layers()
                .iter()
                .map(|l| MemoryMap::load_words(&l.image).len())
                .collect();
            let stage = REQUANTIZE_WORDS.len() + if table { 256 } else { 0 };
            assert_eq!(words.len(), per_layer[0] + per_layer[1] + stage);
            assert!(words[..per_layer[0]]
                .iter()
                .all(|w| w.address >> LAYER_SHIFT == 0));
            assert!(words[per_layer[0] + stage..]
                .iter()
                .all(|w| w.address >> LAYER_SHIFT == 1));
            let r = network.layers()[0].requantize.unwrap();
            let requantize: Vec<LoadWord> = words[per_layer[0]..per_layer[0] + 5].to_vec();
            let base = (REQUANTIZE_MEMORY as u32) << 16;
            let expected: Vec<LoadWord> = [
                r.multiplier as u32,
                u32::from(r.shift),
                r.zero_point as u8 as u32,
                u32::from(r.relu),
                u32::from(table),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, data)| LoadWord {
                address: base | i as u32,
                data,
            })
            .collect();
            assert_eq!(requantize, expected);
            assert_eq!(requantize[2].data, r.zero_point as u8 as u32);
            if let Some(t) = network.layers()[0].activation {
                let entries = &words[per_layer[0] + 5..per_layer[0] + stage];
                for (i, w) in entries.iter().enumerate() {
                    assert_eq!(w.address, base | (256 + i) as u32);
                    assert_eq!(w.data, u32::from(t.entries()[i] as u8));
                }
                // Entry 255 is requantized value -1.
                assert_eq!(entries[255].data, u32::from(t.apply(-1) as u8));
            }
        }
    }
}
