//! The device's image loader: how the bytes of an image file, as they
//! arrive in file order, become writes to the engine's memories.
//!
//! A device takes an image file as it is (`docs/protocol.md`, "load"): it
//! checks the header against its own configuration, the header CRC and the
//! payload CRC, and writes each value where [`MemoryMap`](crate::memory_map)
//! says, so a client never needs the memory map. This module describes that
//! walk ([`Loader::sections`]) and runs it in software ([`Loader::load`]);
//! the hardware loader (`lutgen_hdl::device::ImageLoader`) is generated from
//! the same [`Section`]s, and a test checks the walk writes exactly the words
//! of [`MemoryMap::load_words`](crate::memory_map::MemoryMap::load_words).
//!
//! Every payload section is a **walk**: its elements (1, 2 or 4 bytes,
//! little-endian) are written one per load-port word, at addresses that step
//! through nested counters with no multiplier:
//!
//! - a *row* is `row_len` elements. Inside a row, an inner counter counts to
//!   `inner`; the address steps by `inner_step`, and by `inner_carry` when
//!   the inner counter wraps;
//! - at the end of a row the address returns to the row's base, which steps
//!   by `row_step`, and by `group_step` every `group` rows;
//! - a *packed* section (`pack` > 1: the tables of an engine with R =
//!   `entries_per_read` > 1) writes once per `pack` elements: element e of a
//!   word goes to bits `[e * pack_bits, (e + 1) * pack_bits)` of it, and
//!   only a complete word (or the last, partial one of a row, its missing
//!   entries zero) is written and steps the walk's inner counter.
//!
//! Two `tree` sections are special: thresholds are written at `row base +
//! level << 16 | node` for the element's place in the heap order, and split
//! dimensions are gathered per codebook (a row of four) and written as V
//! level masks.

use crate::config::TREE_DEPTH;
use crate::image::format::{header_prefix, image_len, HEADER_LEN, PAYLOAD_CRC_OFFSET};
use crate::memory_map::{LoadWord, MemoryMap};
use crate::protocol::{crc32, DeviceError};
use crate::{EncoderKind, EngineConfig, ImageError};

/// How a section's elements become writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// One write per element, at the walk's address.
    Strided = 0,
    /// `tree` thresholds: element t of a row (heap order) goes to `base + level(t) << 16 | node(t)`.
    TreeThresholds = 1,
    /// `tree` split dimensions: a row of four (one per level) becomes V mask
    /// words at `base + i`, bit l of word i set when level l splits on element i.
    TreeSplits = 2,
}

/// One payload section and its walk (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: &'static str,
    pub kind: SectionKind,
    /// Length of the section in bytes.
    pub bytes: u32,
    /// Bytes per element: 1, 2 or 4.
    pub element_bytes: u32,
    /// Elements are two's complement (sign-extended from `8 * element_bytes` bits).
    pub signed: bool,
    /// The range every element must lie in.
    pub min: i64,
    pub max: i64,
    /// Load-port address of the first element.
    pub base: u32,
    pub inner: u32,
    pub inner_step: u32,
    pub inner_carry: u32,
    pub row_len: u32,
    pub row_step: u32,
    pub group: u32,
    pub group_step: u32,
    /// Elements packed into one write (1: none).
    pub pack: u32,
    /// Bits each packed element keeps.
    pub pack_bits: u32,
}

/// `a - b * c` in 32-bit wrapping arithmetic (the hardware's adders).
fn delta(a: u64, b: u64, c: u64) -> u32 {
    (a as u32).wrapping_sub((b as u32).wrapping_mul(c as u32))
}

const MEMORY: u64 = 1 << 16;

impl Section {
    /// A walk with one row: elements `inner` at a time, stepping by `inner_step`.
    fn single_row(name: &'static str, bytes: u32, base: u32, range: (i64, i64)) -> Self {
        Section {
            name,
            kind: SectionKind::Strided,
            bytes,
            element_bytes: 1,
            signed: true,
            min: range.0,
            max: range.1,
            base,
            inner: 1,
            inner_step: 1,
            inner_carry: 1,
            row_len: bytes,
            row_step: 0,
            group: 1,
            group_step: 0,
            pack: 1,
            pack_bits: 32,
        }
    }
}

/// The loader of a device built for one configuration.
#[derive(Clone, Debug)]
pub struct Loader {
    config: EngineConfig,
    header: [u8; PAYLOAD_CRC_OFFSET],
    len: usize,
    sections: Vec<Section>,
}

impl Loader {
    /// The loader for `config` (which must be a valid image configuration).
    pub fn new(config: &EngineConfig) -> Result<Self, ImageError> {
        let header = header_prefix(config)?;
        let len = image_len(config)?;
        let sections = sections(config);
        debug_assert_eq!(
            sections.iter().map(|s| s.bytes as usize).sum::<usize>(),
            len - HEADER_LEN
        );
        Ok(Loader {
            config: config.clone(),
            header,
            len,
            sections,
        })
    }

    /// The header bytes before the payload CRC that every image for this configuration has.
    pub fn header_prefix(&self) -> &[u8; PAYLOAD_CRC_OFFSET] {
        &self.header
    }

    /// The configuration whose images this loader takes.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Length of the image file in bytes.
    pub fn image_len(&self) -> usize {
        self.len
    }

    /// The payload sections, in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// What the device does with a whole image file: the writes, in order, or
    /// the error it replies with (a header for another configuration, bytes
    /// past the end, or a file too short to be one of this configuration's
    /// images: [`DeviceError::WrongImage`]; a CRC:
    /// [`DeviceError::ImageCrc`]; a value outside its width:
    /// [`DeviceError::ValueRange`]).
    pub fn load(&self, file: &[u8]) -> Result<Vec<LoadWord>, DeviceError> {
        if file.len() > self.len {
            return Err(DeviceError::WrongImage);
        }
        let prefix = file.len().min(PAYLOAD_CRC_OFFSET);
        if file[..prefix] != self.header[..prefix] || file.len() < self.len {
            // Shorter than this configuration's images: not one of them (a
            // device would go on waiting for the rest).
            return Err(DeviceError::WrongImage);
        }
        let word = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"));
        if crc32(&file[..HEADER_LEN - 4]) != word(HEADER_LEN - 4) {
            return Err(DeviceError::ImageCrc);
        }
        let mut words = Vec::new();
        let mut at = HEADER_LEN;
        for section in &self.sections {
            let end = at + section.bytes as usize;
            walk(
                section,
                &file[at..end],
                self.config.sub_vector_len(),
                &mut words,
            )?;
            at = end;
        }
        if crc32(&file[HEADER_LEN..]) != word(PAYLOAD_CRC_OFFSET) {
            return Err(DeviceError::ImageCrc);
        }
        Ok(words)
    }
}

/// Level and node of element `t` of a tree's thresholds (heap order).
pub fn threshold_place(t: u32) -> (u32, u32) {
    let level = (t + 1).ilog2();
    (level, t + 1 - (1 << level))
}

/// A little-endian element of 1 to 4 bytes: its bits (zero-extended), and
/// its value (sign-extended from its width when `signed`).
pub(crate) fn element_value(bytes: &[u8], signed: bool) -> (u32, i64) {
    let mut raw = [0u8; 4];
    raw[..bytes.len()].copy_from_slice(bytes);
    let unsigned = u32::from_le_bytes(raw);
    let shift = 32 - 8 * bytes.len() as u32;
    let value = if signed {
        i64::from(((unsigned << shift) as i32) >> shift)
    } else {
        i64::from(unsigned)
    };
    (unsigned, value)
}

/// Runs one section's walk over its bytes, as the hardware does.
fn walk(
    s: &Section,
    bytes: &[u8],
    sub_vector_len: usize,
    words: &mut Vec<LoadWord>,
) -> Result<(), DeviceError> {
    let (mut address, mut row_base) = (s.base, s.base);
    let (mut inner, mut position, mut row) = (0u32, 0u32, 0u32);
    let (mut packed, mut pack_count) = (0u32, 0u32);
    let mut splits = [0u32; TREE_DEPTH];
    for element in bytes.chunks(s.element_bytes as usize) {
        let (unsigned, value) = element_value(element, s.signed);
        if value < s.min || value > s.max {
            return Err(DeviceError::ValueRange);
        }
        // The element as stored (memories keep its low bits).
        let data = unsigned;
        let row_end = position + 1 == s.row_len;
        if s.pack > 1 {
            packed |= (data & (u32::MAX >> (32 - s.pack_bits))) << (pack_count * s.pack_bits);
            if pack_count + 1 < s.pack && !row_end {
                // Mid-word: no write, no step of the address.
                pack_count += 1;
                position += 1;
                continue;
            }
            pack_count = 0;
        }
        match s.kind {
            SectionKind::Strided if s.pack > 1 => {
                words.push(LoadWord {
                    address,
                    data: packed,
                });
                packed = 0;
            }
            SectionKind::Strided => words.push(LoadWord { address, data }),
            SectionKind::TreeThresholds => {
                let (level, node) = threshold_place(position);
                words.push(LoadWord {
                    address: row_base.wrapping_add(level << 16 | node),
                    data,
                });
            }
            SectionKind::TreeSplits => {
                splits[position as usize] = data;
                if position + 1 == s.row_len {
                    for i in 0..sub_vector_len as u32 {
                        let mask = (0..TREE_DEPTH)
                            .filter(|&l| splits[l] == i)
                            .fold(0, |m, l| m | 1 << l);
                        words.push(LoadWord {
                            address: row_base.wrapping_add(i),
                            data: mask,
                        });
                    }
                }
            }
        }
        if row_end {
            position = 0;
            inner = 0;
            if row + 1 == s.group {
                row = 0;
                row_base = row_base.wrapping_add(s.group_step);
            } else {
                row += 1;
                row_base = row_base.wrapping_add(s.row_step);
            }
            address = row_base;
        } else if inner + 1 == s.inner {
            inner = 0;
            position += 1;
            address = address.wrapping_add(s.inner_carry);
        } else {
            inner += 1;
            position += 1;
            address = address.wrapping_add(s.inner_step);
        }
    }
    Ok(())
}

/// The payload sections of an image for a valid `config`, in file order.
fn sections(config: &EngineConfig) -> Vec<Section> {
    let map = MemoryMap::new(config);
    let (c, k, n, d) = (
        config.codebooks as u64,
        config.centroids as u64,
        config.outputs as u64,
        config.input_dim as u64,
    );
    let (v, m, l) = (
        config.sub_vector_len() as u64,
        config.rows_per_lane() as u64,
        config.lanes as u64,
    );
    let address = |memory: usize| (memory as u64 * MEMORY) as u32;
    let centroid = EngineConfig::signed_range(config.centroid_bits);
    let mut out = Vec::new();
    // A folded search's centroids: key `p * fast + f` of codebook c, [c][p][f][v],
    // goes to word (c V + v) slow + p of memory `first + f` (`slow` passes of
    // `fast` units).
    let folded = |slow: u64, fast: u64, first: usize| Section {
        inner: v as u32,
        inner_step: slow as u32,
        inner_carry: delta(MEMORY, v - 1, slow),
        row_len: (v * fast) as u32,
        row_step: 1,
        group: slow as u32,
        group_step: delta(v * slow, slow - 1, 1),
        ..Section::single_row("centroids", (c * k * v) as u32, address(first), centroid)
    };
    match config.encoder {
        // F passes of U units: centroid k is unit k % U, pass k / U.
        EncoderKind::L2 | EncoderKind::L1 => out.push(folded(
            config.centroids_per_unit() as u64,
            config.distance_units() as u64,
            map.centroid_memory(0),
        )),
        // Key g S + s is key slot s's memory, word (c V + v) G + g.
        EncoderKind::TwoLevel => out.push(folded(
            config.clusters() as u64,
            config.keys_per_cluster() as u64,
            map.key_memory(0),
        )),
        EncoderKind::Tree | EncoderKind::Sign => {}
    }
    // [c][k][n], n = j L R + l R + r, packed R to a word: word (c K + k) M + j
    // of memory U + (R + 1) l.
    let r = config.entries_per_read as u64;
    let lane_step = (r + 1) * MEMORY;
    out.push(Section {
        inner: l as u32,
        inner_step: lane_step as u32,
        inner_carry: delta(1, l - 1, lane_step),
        row_len: n as u32,
        row_step: m as u32,
        group: (c * k) as u32,
        group_step: m as u32,
        pack: r as u32,
        pack_bits: config.table_bits,
        ..Section::single_row(
            "tables",
            (c * k * n) as u32,
            address(map.table_memory(0)),
            EngineConfig::signed_range(config.table_bits),
        )
    });
    // [n] to word j of memory U + (R + 1) l + 1 + r: rows of L R, the R
    // entries of a lane one memory apart, the next lane's two (past its table).
    out.push(Section {
        element_bytes: 4,
        inner: r as u32,
        inner_step: MEMORY as u32,
        inner_carry: (2 * MEMORY) as u32,
        row_len: (l * r) as u32,
        row_step: 1,
        group_step: 1,
        ..Section::single_row(
            "bias",
            (4 * n) as u32,
            address(map.bias_memory(0)),
            EngineConfig::signed_range(config.bias_bits),
        )
    });
    if config.encoder.has_weights() {
        out.push(Section {
            signed: false,
            ..Section::single_row(
                "weights",
                d as u32,
                address(map.weight_memory()),
                (0, i64::from(crate::config::MAX_WEIGHT)),
            )
        });
    }
    if config.encoder == EncoderKind::TwoLevel {
        // [c][g][v] to word c V + v of memory g.
        let g = config.clusters() as u64;
        out.push(Section {
            inner: v as u32,
            inner_step: 1,
            inner_carry: delta(MEMORY, v - 1, 1),
            row_len: (v * g) as u32,
            row_step: v as u32,
            group_step: v as u32,
            ..Section::single_row(
                "cluster centres",
                (g * d) as u32,
                address(map.centre_memory(0)),
                centroid,
            )
        });
    }
    if config.encoder == EncoderKind::Tree {
        let depth = TREE_DEPTH as u64;
        out.push(Section {
            kind: SectionKind::TreeSplits,
            element_bytes: 2,
            signed: false,
            row_len: depth as u32,
            row_step: v as u32,
            group_step: v as u32,
            ..Section::single_row(
                "split dimensions",
                (2 * c * depth) as u32,
                address(map.mask_memory()),
                (0, v as i64 - 1),
            )
        });
        let nodes = (1u64 << depth) - 1;
        out.push(Section {
            kind: SectionKind::TreeThresholds,
            row_len: nodes as u32,
            row_step: 8,
            group_step: 8,
            ..Section::single_row(
                "thresholds",
                (c * nodes) as u32,
                address(map.threshold_memory(0)),
                centroid,
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    fn sorted(mut words: Vec<LoadWord>) -> Vec<(u32, u32)> {
        words.sort_by_key(|w| w.address);
        words.into_iter().map(|w| (w.address, w.data)).collect()
    }

    fn configs() -> Vec<EngineConfig> {
        let mut out = vec![EngineConfig::default()];
        // The last five: packed tables (R entries a word), N not a multiple of L * R.
        for (encoder, d, c, k, n, l, r, bits) in [
            (EncoderKind::L2, 8, 4, 4, 4, 1, 1, 8),
            (EncoderKind::L2, 16, 4, 8, 10, 4, 1, 8),
            (EncoderKind::L2, 64, 16, 16, 64, 4, 1, 8),
            (EncoderKind::L2, 12, 3, 2, 7, 3, 1, 8),
            (EncoderKind::L1, 8, 2, 4, 5, 2, 1, 8),
            (EncoderKind::L1, 32, 8, 16, 3, 1, 1, 8),
            (EncoderKind::TwoLevel, 8, 2, 8, 5, 2, 1, 8),
            (EncoderKind::TwoLevel, 16, 4, 16, 9, 3, 1, 8),
            (EncoderKind::TwoLevel, 6, 3, 32, 4, 4, 1, 8),
            (EncoderKind::Tree, 8, 2, 16, 5, 2, 1, 8),
            (EncoderKind::Tree, 24, 4, 16, 16, 1, 1, 8),
            (EncoderKind::Sign, 8, 4, 4, 5, 2, 1, 8),
            (EncoderKind::Sign, 16, 4, 16, 11, 5, 1, 8),
            (EncoderKind::L2, 16, 4, 8, 11, 1, 2, 8),
            (EncoderKind::L1, 16, 16, 16, 13, 2, 4, 8),
            (EncoderKind::Tree, 16, 16, 16, 21, 1, 8, 4),
            (EncoderKind::Sign, 16, 16, 2, 14, 3, 4, 6),
            (EncoderKind::TwoLevel, 16, 16, 16, 20, 1, 16, 2),
        ] {
            out.push(EngineConfig {
                encoder,
                input_dim: d,
                codebooks: c,
                centroids: k,
                outputs: n,
                lanes: l,
                entries_per_read: r,
                table_bits: bits,
                ..EngineConfig::default()
            });
        }
        out
    }

    #[test]
    fn the_walk_writes_exactly_the_memory_map_for_every_encoder() {
        for config in configs() {
            config.validate().unwrap();
            let loader = Loader::new(&config).unwrap();
            for seed in 0..3 {
                let image = Image::random(config.clone(), seed).unwrap();
                let bytes = image.to_bytes();
                assert_eq!(bytes.len(), loader.image_len(), "{config:?}");
                assert_eq!(&bytes[..PAYLOAD_CRC_OFFSET], loader.header_prefix());
                let walked = loader.load(&bytes).unwrap();
                let mut map: Vec<LoadWord> = MemoryMap::load_words_for(&config, &image);
                // The map writes padding rows (rows past N) as zero; the walk
                // leaves them alone (they are never written, so they stay zero).
                let written: std::collections::HashSet<u32> =
                    walked.iter().map(|w| w.address).collect();
                map.retain(|w| written.contains(&w.address) || w.data != 0);
                assert_eq!(sorted(walked), sorted(map), "{config:?} seed {seed}");
            }
        }
    }

    #[test]
    fn the_loader_refuses_other_images_damage_and_values_out_of_range() {
        let config = EngineConfig {
            encoder: EncoderKind::Tree,
            input_dim: 8,
            codebooks: 2,
            centroids: 16,
            outputs: 5,
            lanes: 2,
            ..EngineConfig::default()
        };
        let loader = Loader::new(&config).unwrap();
        let image = Image::random(config.clone(), 1).unwrap();
        let good = image.to_bytes();
        // Another configuration's image.
        let other = Image::random(EngineConfig::default(), 1)
            .unwrap()
            .to_bytes();
        assert_eq!(loader.load(&other), Err(DeviceError::WrongImage));
        // Bytes past the end.
        let mut long = good.clone();
        long.push(0);
        assert_eq!(loader.load(&long), Err(DeviceError::WrongImage));
        // A header or payload byte changed.
        let mut bad = good.clone();
        bad[HEADER_LEN - 1] ^= 1;
        assert_eq!(loader.load(&bad), Err(DeviceError::ImageCrc));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(loader.load(&bad), Err(DeviceError::ImageCrc));
        // A split dimension past V, with both CRCs recomputed.
        let splits = loader
            .sections()
            .iter()
            .take_while(|s| s.kind != SectionKind::TreeSplits)
            .map(|s| s.bytes as usize)
            .sum::<usize>()
            + HEADER_LEN;
        let mut bad = good.clone();
        bad[splits] = 4;
        bad[splits + 1] = 0;
        let crc = crc32(&bad[HEADER_LEN..]);
        bad[PAYLOAD_CRC_OFFSET..PAYLOAD_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        let crc = crc32(&bad[..HEADER_LEN - 4]);
        bad[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(loader.load(&bad), Err(DeviceError::ValueRange));
        assert_eq!(loader.load(&good[..100]), Err(DeviceError::WrongImage));
    }

    #[test]
    fn thresholds_are_in_heap_order() {
        let places: Vec<(u32, u32)> = (0..15).map(threshold_place).collect();
        assert_eq!(&places[..4], &[(0, 0), (1, 0), (1, 1), (2, 0)]);
        assert_eq!(places[14], (3, 7));
    }
}
