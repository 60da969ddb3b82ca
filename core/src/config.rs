//! Engine configuration: the shape and integer widths of one engine.
//!
//! Every count is a runtime value, so one lutgen binary generates, simulates
//! and drives engines of any shape. [`EngineConfig::validate`] is the one
//! place that says which shapes the generated hardware supports; everything
//! else (the generator, the image reader, the simulator) calls it first.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Address width of every engine memory port: a memory holds at most 2^16 words.
pub const ADDRESS_BITS: u32 = 16;
/// Largest number of words any single engine memory can hold.
pub const MAX_MEMORY_WORDS: usize = 1 << ADDRESS_BITS;
/// Width of the hardware accumulators and of every output word.
pub const ACCUMULATOR_BITS: u32 = 32;
/// Width of the hardware distance accumulators (unsigned).
pub const DISTANCE_BITS: u32 = 32;
/// Width of the memory that holds activations, centroids and table entries.
pub const STORAGE_BITS: u32 = 8;

/// How a sub-vector is turned into a table row index (the "encoder" stage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// Nearest centroid by squared Euclidean distance (LUT-NN, product quantization).
    #[default]
    L2,
}

impl EncoderKind {
    /// Every encoder, in image-format id order.
    pub const ALL: [EncoderKind; 1] = [EncoderKind::L2];

    /// The id stored in a table image.
    pub fn id(self) -> u8 {
        match self {
            EncoderKind::L2 => 0,
        }
    }

    /// The encoder with this image-format id, if there is one.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.id() == id)
    }

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::L2 => "l2",
        }
    }
}

impl std::fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape of one engine: `y = bias + sum_c T[c][argmin_k |x_c - P[c][k]|^2]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Input dimension D: activations per vector.
    pub input_dim: usize,
    /// Codebooks C: the input is cut into C sub-vectors of length D / C.
    pub codebooks: usize,
    /// Centroids per codebook K: a power of two from 2 to 256.
    pub centroids: usize,
    /// Outputs N per vector.
    pub outputs: usize,
    /// Lanes L: table entries read (and accumulated) per cycle.
    pub lanes: usize,
    /// How sub-vectors are encoded.
    pub encoder: EncoderKind,
    /// Signed width of activations (2 to 8).
    pub activation_bits: u32,
    /// Signed width of centroid coordinates (2 to 8).
    pub centroid_bits: u32,
    /// Signed width of table entries (2 to 8).
    pub table_bits: u32,
    /// Signed width of the bias (2 to 32, as long as the accumulator still fits 32 bits).
    pub bias_bits: u32,
}

impl Default for EngineConfig {
    /// The demo engine: a 64-input, 16-output layer with LUT-NN's K = 16, V = 4.
    fn default() -> Self {
        EngineConfig {
            input_dim: 64,
            codebooks: 16,
            centroids: 16,
            outputs: 16,
            lanes: 1,
            encoder: EncoderKind::L2,
            activation_bits: 8,
            centroid_bits: 8,
            table_bits: 8,
            bias_bits: 16,
        }
    }
}

/// A configuration the engine cannot implement, naming the broken rule.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} must be at least {min}, got {value}")]
    TooSmall {
        name: &'static str,
        min: usize,
        value: usize,
    },
    #[error("input_dim ({input_dim}) must be a multiple of codebooks ({codebooks})")]
    NotDivisible { input_dim: usize, codebooks: usize },
    #[error("centroids must be a power of two from 2 to 256, got {0}")]
    Centroids(usize),
    #[error(
        "lanes ({lanes}) must not exceed outputs ({outputs}): extra lanes would never be used"
    )]
    TooManyLanes { lanes: usize, outputs: usize },
    #[error("{name} must be from {min} to {max} bits, got {value}")]
    Width {
        name: &'static str,
        min: u32,
        max: u32,
        value: u32,
    },
    #[error(
        "{memory} needs {words} words but an engine memory holds at most {max}; \
         use fewer codebooks, centroids or outputs, or more lanes"
    )]
    MemoryTooLarge {
        memory: &'static str,
        words: usize,
        max: usize,
    },
    #[error(
        "the worst-case sum needs a {bits}-bit accumulator but the engine has {max} bits; \
         use narrower table entries or bias, or fewer codebooks"
    )]
    AccumulatorOverflow { bits: u32, max: u32 },
}

/// Bits needed to hold `value` as an unsigned number (at least 1).
fn unsigned_bits(value: u128) -> u32 {
    (128 - value.leading_zeros()).max(1)
}

/// Largest magnitude of a signed `bits`-bit number: 2^(bits-1).
fn signed_magnitude(bits: u32) -> u128 {
    1u128 << (bits - 1)
}

impl EngineConfig {
    /// Sub-vector length V = D / C.
    pub fn sub_vector_len(&self) -> usize {
        self.input_dim / self.codebooks
    }

    /// Table rows read per lane per codebook: ceil(N / L).
    pub fn rows_per_lane(&self) -> usize {
        self.outputs.div_ceil(self.lanes)
    }

    /// Words in each lane's table memory: C * K * ceil(N / L).
    pub fn table_words_per_lane(&self) -> usize {
        self.codebooks * self.centroids * self.rows_per_lane()
    }

    /// Bits of a centroid index: log2(K).
    pub fn index_bits(&self) -> u32 {
        self.centroids.trailing_zeros()
    }

    /// Signed width that holds `bias + sum of C table entries` in the worst case.
    pub fn accumulator_bits(&self) -> u32 {
        let table = signed_magnitude(self.table_bits) * self.codebooks as u128;
        let worst = table + signed_magnitude(self.bias_bits);
        // A signed n-bit number holds -2^(n-1); worst is a magnitude, so one bit more.
        unsigned_bits(worst - 1) + 1
    }

    /// Unsigned width that holds the largest squared distance of one sub-vector.
    pub fn distance_bits(&self) -> u32 {
        let span =
            signed_magnitude(self.activation_bits) + signed_magnitude(self.centroid_bits) - 1;
        unsigned_bits(span * span * self.sub_vector_len() as u128)
    }

    /// The table-read bound on cycles per inference: ceil(C * N / L).
    ///
    /// Each lane reads one table entry per cycle, so no pipeline can do better.
    pub fn bound_cycles_per_inference(&self) -> usize {
        (self.codebooks * self.outputs).div_ceil(self.lanes)
    }

    /// Checks every rule the generated hardware relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("input_dim", self.input_dim),
            ("codebooks", self.codebooks),
            ("outputs", self.outputs),
            ("lanes", self.lanes),
        ] {
            if value < 1 {
                return Err(ConfigError::TooSmall {
                    name,
                    min: 1,
                    value,
                });
            }
        }
        if !self.input_dim.is_multiple_of(self.codebooks) {
            return Err(ConfigError::NotDivisible {
                input_dim: self.input_dim,
                codebooks: self.codebooks,
            });
        }
        if !self.centroids.is_power_of_two() || !(2..=256).contains(&self.centroids) {
            return Err(ConfigError::Centroids(self.centroids));
        }
        if self.lanes > self.outputs {
            return Err(ConfigError::TooManyLanes {
                lanes: self.lanes,
                outputs: self.outputs,
            });
        }
        for (name, value, max) in [
            ("activation_bits", self.activation_bits, STORAGE_BITS),
            ("centroid_bits", self.centroid_bits, STORAGE_BITS),
            ("table_bits", self.table_bits, STORAGE_BITS),
            ("bias_bits", self.bias_bits, ACCUMULATOR_BITS),
        ] {
            if !(2..=max).contains(&value) {
                return Err(ConfigError::Width {
                    name,
                    min: 2,
                    max,
                    value,
                });
            }
        }
        for (memory, words) in [
            ("each lane's table memory", self.table_words_per_lane()),
            ("each centroid memory", self.input_dim),
            ("each lane's bias memory", self.rows_per_lane()),
        ] {
            if words > MAX_MEMORY_WORDS {
                return Err(ConfigError::MemoryTooLarge {
                    memory,
                    words,
                    max: MAX_MEMORY_WORDS,
                });
            }
        }
        let bits = self.accumulator_bits();
        if bits > ACCUMULATOR_BITS {
            return Err(ConfigError::AccumulatorOverflow {
                bits,
                max: ACCUMULATOR_BITS,
            });
        }
        // V <= D <= 2^16 words, and 2^16 * 255^2 < 2^32: distances always fit.
        debug_assert!(self.distance_bits() <= DISTANCE_BITS);
        Ok(())
    }

    /// Smallest and largest value of a signed `bits`-bit number.
    pub fn signed_range(bits: u32) -> (i64, i64) {
        let m = 1i64 << (bits - 1);
        (-m, m - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig::default()
    }

    #[test]
    fn default_is_valid() {
        cfg().validate().unwrap();
        assert_eq!(cfg().sub_vector_len(), 4);
        assert_eq!(cfg().bound_cycles_per_inference(), 256);
    }

    #[test]
    fn accumulator_width_is_worst_case() {
        // 16 codebooks * 128 + 32768 = 34816 -> needs 17 bits signed (max 65535 magnitude).
        let c = cfg();
        assert_eq!(c.accumulator_bits(), 17);
        // Exact power of two edge: C = 1, table 8 bits, bias 8 bits: worst -256 fits 9 bits.
        let c = EngineConfig {
            codebooks: 1,
            input_dim: 4,
            bias_bits: 8,
            ..cfg()
        };
        assert_eq!(c.accumulator_bits(), 9);
    }

    #[test]
    fn distance_width_is_worst_case() {
        // V = 1: 255^2 = 65025 needs 16 bits.
        let c = EngineConfig {
            codebooks: 64,
            ..cfg()
        };
        assert_eq!(c.distance_bits(), 16);
    }

    #[test]
    fn every_rule_is_enforced() {
        let bad = [
            (
                EngineConfig {
                    input_dim: 0,
                    ..cfg()
                },
                "input_dim",
            ),
            (
                EngineConfig {
                    input_dim: 65,
                    ..cfg()
                },
                "multiple",
            ),
            (
                EngineConfig {
                    centroids: 24,
                    ..cfg()
                },
                "power of two",
            ),
            (
                EngineConfig {
                    centroids: 512,
                    ..cfg()
                },
                "power of two",
            ),
            (
                EngineConfig {
                    centroids: 1,
                    ..cfg()
                },
                "power of two",
            ),
            (EngineConfig { lanes: 17, ..cfg() }, "lanes"),
            (EngineConfig { lanes: 0, ..cfg() }, "lanes"),
            (
                EngineConfig {
                    table_bits: 9,
                    ..cfg()
                },
                "table_bits",
            ),
            (
                EngineConfig {
                    activation_bits: 1,
                    ..cfg()
                },
                "activation_bits",
            ),
            (
                EngineConfig {
                    bias_bits: 33,
                    ..cfg()
                },
                "bias_bits",
            ),
            (
                EngineConfig {
                    input_dim: 4096,
                    codebooks: 4096,
                    centroids: 256,
                    ..cfg()
                },
                "table memory",
            ),
            (
                EngineConfig {
                    bias_bits: 32,
                    ..cfg()
                },
                "accumulator",
            ),
            (
                EngineConfig {
                    input_dim: 70000,
                    codebooks: 1,
                    ..cfg()
                },
                "centroid memory",
            ),
        ];
        for (config, needle) in bad {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{config:?}: {err}");
        }
    }

    #[test]
    fn largest_sub_vector_distance_fits() {
        let c = EngineConfig {
            input_dim: MAX_MEMORY_WORDS,
            codebooks: 1,
            centroids: 2,
            ..cfg()
        };
        c.validate().unwrap();
        assert_eq!(c.distance_bits(), DISTANCE_BITS);
    }
}
