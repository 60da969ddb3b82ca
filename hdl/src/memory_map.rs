//! Where an image's centroids, tables and bias live in the engine's memories.
//!
//! The load port addresses a word as `memory << 16 | word`. Memories are
//! numbered: centroid memory of unit k is `k`; lane l's table memory is
//! `K + 2l` and its bias memory `K + 2l + 1`. Lane l holds the outputs
//! `n = j * L + l` at row j; rows past N (when L does not divide N) hold zero.

use lutgen_core::{EngineConfig, Image};

/// The engine's memory numbering for one configuration.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap {
    centroids: usize,
    lanes: usize,
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
        MemoryMap {
            centroids: config.centroids,
            lanes: config.lanes,
        }
    }

    /// Memory number of the centroid memory of unit `k`.
    pub fn centroid_memory(&self, k: usize) -> usize {
        k
    }

    /// Memory number of lane `l`'s table memory.
    pub fn table_memory(&self, l: usize) -> usize {
        self.centroids + 2 * l
    }

    /// Memory number of lane `l`'s bias memory.
    pub fn bias_memory(&self, l: usize) -> usize {
        self.centroids + 2 * l + 1
    }

    /// Number of memories behind the load port.
    pub fn memories(&self) -> usize {
        self.centroids + 2 * self.lanes
    }

    /// Every load-port write that puts `image` into an engine built for its configuration.
    pub fn load_words(image: &Image) -> Vec<LoadWord> {
        let config = image.config();
        let map = MemoryMap::new(config);
        let (v, m, l_count) = (
            config.sub_vector_len(),
            config.rows_per_lane(),
            config.lanes,
        );
        let word = |memory: usize, word: usize, data: u32| LoadWord {
            address: ((memory as u32) << 16) | word as u32,
            data,
        };
        let mut words = Vec::new();
        for k in 0..config.centroids {
            for c in 0..config.codebooks {
                for (i, &p) in image.centroid(c, k).iter().enumerate() {
                    words.push(word(map.centroid_memory(k), c * v + i, p as u8 as u32));
                }
            }
        }
        for lane in 0..l_count {
            for c in 0..config.codebooks {
                for k in 0..config.centroids {
                    let row = image.table_row(c, k);
                    for j in 0..m {
                        let t = row.get(j * l_count + lane).copied().unwrap_or(0);
                        let address = (c * config.centroids + k) * m + j;
                        words.push(word(map.table_memory(lane), address, t as u8 as u32));
                    }
                }
            }
            for j in 0..m {
                let b = image.bias().get(j * l_count + lane).copied().unwrap_or(0);
                words.push(word(map.bias_memory(lane), j, b as u32));
            }
        }
        words
    }
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
}
