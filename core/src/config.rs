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
/// Most memories behind the load port: its address is `memory << 16 | word`
/// in 32 bits, so a memory number has 16 bits.
pub const MAX_MEMORIES: usize = 1 << 16;
/// Width of the hardware accumulators and of every output word.
pub const ACCUMULATOR_BITS: u32 = 32;
/// Width of the hardware distance accumulators (unsigned).
pub const DISTANCE_BITS: u32 = 32;
/// Width of the memory that holds activations, centroids and table entries.
pub const STORAGE_BITS: u32 = 8;
/// Widest table-memory word: one load-port word (`load_data`) carries a
/// whole packed word of `entries_per_read * table_bits` bits.
pub const MAX_TABLE_WORD_BITS: u32 = 32;

/// How a sub-vector is turned into a table row index (the "encoder" stage).
///
/// The exact integer definition of each is in [`crate::encoder`]; the
/// parameters each needs besides the tables are listed by [`EncoderKind::uses`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// Nearest centroid by squared Euclidean distance (LUT-NN, product quantization).
    #[default]
    L2,
    /// Nearest centroid by weighted Manhattan distance `sum_v w_v * |x_v - p_v|` (MBI).
    L1,
    /// Weighted L1 in two levels: nearest of G cluster centres, then nearest
    /// of that cluster's K / G keys (MBI's clustered key-value memory).
    TwoLevel,
    /// A balanced binary decision tree of depth 4 per codebook, K = 16 (MADDNESS).
    Tree,
    /// The sign bits of the sub-vector, K = 2^V (MemoryFormer).
    Sign,
}

/// Largest weight of the `l1` and `two-level` distances (weights are 4-bit unsigned).
pub const MAX_WEIGHT: u8 = 15;
/// Depth of a `tree` encoder's decision trees.
pub const TREE_DEPTH: usize = 4;
/// Largest sub-vector length (tau) of the `sign` encoder: 2^10 table rows per codebook.
pub const MAX_SIGN_BITS: usize = 10;
/// Largest K of the `two-level` encoder.
pub const MAX_TWO_LEVEL_KEYS: usize = 4096;
/// Most `l2` distance units that get a block ROM of squares each (see
/// [`EngineConfig::squares_from_table`]).
pub const MAX_SQUARE_TABLES: usize = 16;

impl EncoderKind {
    /// Every encoder, in image-format id order.
    pub const ALL: [EncoderKind; 5] = [
        EncoderKind::L2,
        EncoderKind::L1,
        EncoderKind::TwoLevel,
        EncoderKind::Tree,
        EncoderKind::Sign,
    ];

    /// The id stored in a table image.
    pub fn id(self) -> u8 {
        match self {
            EncoderKind::L2 => 0,
            EncoderKind::L1 => 1,
            EncoderKind::TwoLevel => 2,
            EncoderKind::Tree => 3,
            EncoderKind::Sign => 4,
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
            EncoderKind::L1 => "l1",
            EncoderKind::TwoLevel => "two-level",
            EncoderKind::Tree => "tree",
            EncoderKind::Sign => "sign",
        }
    }

    /// True when the encoder compares sub-vectors with stored centroids (keys).
    pub fn has_centroids(self) -> bool {
        matches!(
            self,
            EncoderKind::L2 | EncoderKind::L1 | EncoderKind::TwoLevel
        )
    }

    /// True when the encoder's distance has per-dimension weights.
    pub fn has_weights(self) -> bool {
        matches!(self, EncoderKind::L1 | EncoderKind::TwoLevel)
    }

    /// The rule this encoder puts on K, for messages.
    pub fn centroid_rule(self) -> &'static str {
        match self {
            EncoderKind::L2 | EncoderKind::L1 => "a power of two from 2 to 256",
            EncoderKind::TwoLevel => "a power of two from 2 to 4096",
            EncoderKind::Tree => "16 (a depth-4 tree has 16 leaves)",
            EncoderKind::Sign => "2^V, with V = D / C from 1 to 10 (one row per sign pattern)",
        }
    }
}

impl std::fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EncoderKind {
    type Err = String;

    /// Parses an encoder's [`name`](EncoderKind::name); the error lists the known names.
    fn from_str(name: &str) -> Result<Self, String> {
        EncoderKind::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = EncoderKind::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "unknown encoder `{name}`; this build supports: {}",
                    known.join(", ")
                )
            })
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
    /// Table entries R each lane reads per cycle, packed side by side in
    /// one table-memory word of `R * table_bits` bits (a power of two, at
    /// most [`MAX_TABLE_WORD_BITS`] bits a word; default 1). Lane l's entry
    /// r accumulates output `n = j * L * R + l * R + r`. A property of the
    /// engine, not of the model: an image holds no R (its header is the
    /// same for every R, see [`EngineConfig::as_image_config`]), and the
    /// loader packs the entries.
    pub entries_per_read: usize,
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
            entries_per_read: 1,
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
    #[error("centroids must be {} for encoder {encoder}, got {value}", encoder.centroid_rule())]
    Centroids { encoder: EncoderKind, value: usize },
    #[error(
        "lanes ({lanes}) must not exceed outputs ({outputs}): extra lanes would never be used"
    )]
    TooManyLanes { lanes: usize, outputs: usize },
    #[error(
        "entries_per_read ({value}) must be a power of two from 1 to {max} with table_bits \
         {table_bits} (R * table_bits <= {MAX_TABLE_WORD_BITS}: one load word holds a packed \
         table word); use a power of two, or narrower table entries"
    )]
    EntriesPerRead {
        value: usize,
        table_bits: u32,
        max: usize,
    },
    #[error(
        "lanes x entries_per_read ({lanes} x {entries_per_read}) must not exceed outputs \
         ({outputs}): entries past the last output would never be used; use fewer lanes \
         or fewer entries per read"
    )]
    TooManyEntries {
        lanes: usize,
        entries_per_read: usize,
        outputs: usize,
    },
    #[error("{name} must be from {min} to {max} bits, got {value}")]
    Width {
        name: &'static str,
        min: u32,
        max: u32,
        value: u32,
    },
    #[error(
        "{memory} needs {} words but an engine memory holds at most {max}; \
         use fewer codebooks, centroids or outputs, or more lanes",
        count_text(*words)
    )]
    MemoryTooLarge {
        memory: &'static str,
        words: u128,
        max: usize,
    },
    #[error(
        "the engine has {memories} memories but the load port addresses at most {max} \
         memories; use fewer lanes"
    )]
    TooManyMemories { memories: u128, max: usize },
    #[error(
        "the worst-case sum needs a {bits}-bit accumulator but the engine has {max} bits; \
         use narrower table entries or bias, or fewer codebooks"
    )]
    AccumulatorOverflow { bits: u32, max: u32 },
}

/// A word count for messages; u128::MAX stands for a count past u128.
fn count_text(words: u128) -> String {
    if words == u128::MAX {
        "more than 2^128".into()
    } else {
        words.to_string()
    }
}

/// `value` as a usize, or usize::MAX if it does not fit.
fn saturate(value: u128) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Bits needed to hold `value` as an unsigned number (at least 1).
fn unsigned_bits(value: u128) -> u32 {
    (128 - value.leading_zeros()).max(1)
}

/// Largest magnitude of a signed `bits`-bit number: 2^(bits-1) (for any
/// `bits`: 0 counts as 1, and widths past 128 saturate).
fn signed_magnitude(bits: u32) -> u128 {
    1u128
        .checked_shl(bits.saturating_sub(1))
        .unwrap_or(u128::MAX)
}

impl EngineConfig {
    // The sizes below are defined for any configuration, valid or not (the
    // counts may come from a file or a device): they never divide by zero,
    // overflow or panic, and saturate at usize::MAX where they would not fit.
    // validate() itself computes them exactly (in u128, saturating only past 2^128).

    /// Sub-vector length V = D / C (0 when C is 0).
    pub fn sub_vector_len(&self) -> usize {
        self.input_dim.checked_div(self.codebooks).unwrap_or(0)
    }

    /// Table rows read per lane per codebook: M = ceil(N / (L * R)) (N when
    /// L or R is 0).
    pub fn rows_per_lane(&self) -> usize {
        self.outputs.div_ceil(self.entries_per_lane_row())
    }

    /// Entries read per cycle by all lanes together: L * R (at least 1).
    pub fn entries_per_lane_row(&self) -> usize {
        self.lanes
            .max(1)
            .saturating_mul(self.entries_per_read.max(1))
    }

    /// Bits of one table-memory word: R * table_bits (R entries of
    /// `table_bits` each, entry r in bits `[r * table_bits, (r + 1) * table_bits)`).
    pub fn table_word_bits(&self) -> u32 {
        u32::try_from(self.entries_per_read)
            .unwrap_or(u32::MAX)
            .saturating_mul(self.table_bits)
    }

    /// The configuration as an image holds it: the same with R = 1. The
    /// image format has no R (the loader packs the entries), so an image's
    /// configuration matches an engine's when it equals this.
    pub fn as_image_config(&self) -> EngineConfig {
        EngineConfig {
            entries_per_read: 1,
            ..self.clone()
        }
    }

    /// Words in each lane's table memory: C * K * ceil(N / (L * R)).
    pub fn table_words_per_lane(&self) -> usize {
        saturate(self.table_words_exact())
    }

    /// C * K * ceil(N / L), exactly (saturated at u128::MAX past 2^128).
    fn table_words_exact(&self) -> u128 {
        (self.codebooks as u128 * self.centroids as u128)
            .saturating_mul(self.rows_per_lane() as u128)
    }

    /// Bits of a centroid index: log2(K).
    pub fn index_bits(&self) -> u32 {
        self.centroids.trailing_zeros()
    }

    /// Cluster centres G per codebook of the `two-level` encoder (1 for the others):
    /// `2^floor(log2(K) / 2)`, so G + K / G, the distances computed per
    /// codebook, is as small as it can be.
    pub fn clusters(&self) -> usize {
        match self.encoder {
            EncoderKind::TwoLevel => 1 << (self.index_bits() / 2),
            _ => 1,
        }
    }

    /// Keys per cluster S = K / G of the `two-level` encoder.
    pub fn keys_per_cluster(&self) -> usize {
        self.centroids / self.clusters()
    }

    /// Distance computations per codebook: K for `l2`/`l1`, G + K / G for
    /// `two-level`, none for `tree` and `sign` (which compare or take sign bits).
    pub fn distances_per_codebook(&self) -> usize {
        match self.encoder {
            EncoderKind::L2 | EncoderKind::L1 => self.centroids,
            EncoderKind::TwoLevel => self.clusters().saturating_add(self.keys_per_cluster()),
            EncoderKind::Tree | EncoderKind::Sign => 0,
        }
    }

    /// Centroids each `l2`/`l1` distance unit searches in turn (F): the
    /// largest power of two up to K for which the search, at F cycles per
    /// element, is no slower than the table read (`D * F <= C * M`) and a
    /// unit's memory (`D * F` words) stays addressable. A full-width search
    /// (F = 1) would sit idle most of the time when the table read is the
    /// bound, so the engine folds it onto K / F units. 1 for other encoders.
    pub fn centroids_per_unit(&self) -> usize {
        if !matches!(self.encoder, EncoderKind::L2 | EncoderKind::L1) {
            return 1;
        }
        let budget = (self.codebooks.saturating_mul(self.rows_per_lane()) / self.input_dim.max(1))
            .min((1 << ADDRESS_BITS) / self.input_dim.max(1))
            .min(self.centroids)
            .max(1);
        1 << budget.ilog2()
    }

    /// Distance units in the encoder stage: K / F for `l2`/`l1`, G + K / G for
    /// `two-level`, none for `tree` and `sign`.
    pub fn distance_units(&self) -> usize {
        match self.encoder {
            EncoderKind::L2 | EncoderKind::L1 => self.centroids / self.centroids_per_unit(),
            EncoderKind::TwoLevel => self.clusters().saturating_add(self.keys_per_cluster()),
            EncoderKind::Tree | EncoderKind::Sign => 0,
        }
    }

    /// `l2` units read their squares from a 256-word block ROM each (one block
    /// RAM in place of about 70 logic cells) when there are at most
    /// [`MAX_SQUARE_TABLES`] of them; a wider, unfolded search squares in logic
    /// rather than spend a block RAM per unit.
    pub fn squares_from_table(&self) -> bool {
        self.encoder == EncoderKind::L2 && self.distance_units() <= MAX_SQUARE_TABLES
    }

    /// Words in each `two-level` key memory: D * G (0 for the other encoders).
    pub fn key_memory_words(&self) -> usize {
        match self.encoder {
            EncoderKind::TwoLevel => self.input_dim.saturating_mul(self.clusters()),
            _ => 0,
        }
    }

    /// Words of the `two-level` replay buffer, which holds the elements
    /// between the centre search and the key search: the power of two at
    /// least `2V + log2(G) + 10` (0 for the other encoders).
    pub fn replay_buffer_words(&self) -> usize {
        saturate(self.replay_buffer_words_exact())
    }

    fn replay_buffer_words_exact(&self) -> u128 {
        match self.encoder {
            EncoderKind::TwoLevel => (2 * self.sub_vector_len() as u128
                + u128::from(self.clusters().trailing_zeros())
                + 10)
                .next_power_of_two(),
            _ => 0,
        }
    }

    /// Words in each of the `tree` encoder's four threshold memories: C * 8
    /// (0 for the other encoders).
    pub fn tree_threshold_words(&self) -> usize {
        match self.encoder {
            EncoderKind::Tree => self.codebooks.saturating_mul(8),
            _ => 0,
        }
    }

    /// Signed width that holds `bias + sum of C table entries` in the worst case.
    pub fn accumulator_bits(&self) -> u32 {
        let table = signed_magnitude(self.table_bits).saturating_mul(self.codebooks as u128);
        let worst = table.saturating_add(signed_magnitude(self.bias_bits));
        // A signed n-bit number holds -2^(n-1); worst is a magnitude, so one bit more.
        unsigned_bits(worst - 1) + 1
    }

    /// Unsigned width that holds the largest distance of one sub-vector
    /// (squared for `l2`, weighted for `l1` and `two-level`; 1 for `tree`
    /// and `sign`, whose score is always 0).
    pub fn distance_bits(&self) -> u32 {
        let span = signed_magnitude(self.activation_bits)
            .saturating_add(signed_magnitude(self.centroid_bits))
            - 1;
        let per_element = match self.encoder {
            EncoderKind::L2 => span.saturating_mul(span),
            EncoderKind::L1 | EncoderKind::TwoLevel => span.saturating_mul(MAX_WEIGHT.into()),
            EncoderKind::Tree | EncoderKind::Sign => 0,
        };
        unsigned_bits(per_element.saturating_mul(self.sub_vector_len() as u128))
    }

    /// The table-read bound on cycles per inference: C * ceil(N / (L * R)),
    /// one table word per lane per cycle.
    pub fn table_read_cycles(&self) -> usize {
        self.codebooks.saturating_mul(self.rows_per_lane())
    }

    /// The bound on cycles per inference: the slowest of the table read
    /// ([`EngineConfig::table_read_cycles`]), the search (D: the input port
    /// takes one element per cycle) and the output stream (N words, one per
    /// cycle, and one cycle to take the next vector). [`EngineConfig::limit`]
    /// names which.
    pub fn bound_cycles_per_inference(&self) -> usize {
        self.table_read_cycles()
            .max(self.input_dim)
            .max(self.outputs.saturating_add(1))
    }

    /// Which stage sets [`EngineConfig::bound_cycles_per_inference`]:
    /// `"table-read"`, `"search"` (the input, one element per cycle) or
    /// `"output"` (the first of them on a tie).
    pub fn limit(&self) -> &'static str {
        let bound = self.bound_cycles_per_inference();
        if self.table_read_cycles() == bound {
            "table-read"
        } else if self.input_dim == bound {
            "search"
        } else {
            "output"
        }
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
        let k = self.centroids;
        let k_ok = match self.encoder {
            EncoderKind::L2 | EncoderKind::L1 => k.is_power_of_two() && (2..=256).contains(&k),
            EncoderKind::TwoLevel => k.is_power_of_two() && (2..=MAX_TWO_LEVEL_KEYS).contains(&k),
            EncoderKind::Tree => k == 1 << TREE_DEPTH,
            EncoderKind::Sign => {
                let v = self.sub_vector_len();
                (1..=MAX_SIGN_BITS).contains(&v) && k == 1 << v
            }
        };
        if !k_ok {
            return Err(ConfigError::Centroids {
                encoder: self.encoder,
                value: k,
            });
        }
        if self.lanes > self.outputs {
            return Err(ConfigError::TooManyLanes {
                lanes: self.lanes,
                outputs: self.outputs,
            });
        }
        let r = self.entries_per_read;
        let max_r = (MAX_TABLE_WORD_BITS / self.table_bits.clamp(1, MAX_TABLE_WORD_BITS)) as usize;
        let max_r = max_r.max(1);
        if !r.is_power_of_two() || r > max_r {
            return Err(ConfigError::EntriesPerRead {
                value: r,
                table_bits: self.table_bits,
                max: 1 << max_r.ilog2(),
            });
        }
        if self.lanes.saturating_mul(r) > self.outputs {
            return Err(ConfigError::TooManyEntries {
                lanes: self.lanes,
                entries_per_read: r,
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
        // Exact word counts: no count from outside can overflow them.
        let (d, c, g) = (
            self.input_dim as u128,
            self.codebooks as u128,
            self.clusters() as u128,
        );
        for (memory, words) in [
            ("each lane's table memory", self.table_words_exact()),
            ("each centroid memory", d),
            ("each lane's bias memory", self.rows_per_lane() as u128),
            (
                "each two-level key memory",
                if self.encoder == EncoderKind::TwoLevel {
                    d * g
                } else {
                    0
                },
            ),
            (
                "the two-level replay buffer",
                self.replay_buffer_words_exact(),
            ),
            (
                "each tree threshold memory",
                if self.encoder == EncoderKind::Tree {
                    c * 8
                } else {
                    0
                },
            ),
        ] {
            if words > MAX_MEMORY_WORDS as u128 {
                return Err(ConfigError::MemoryTooLarge {
                    memory,
                    words,
                    max: MAX_MEMORY_WORDS,
                });
            }
        }
        let memories = self.memory_count();
        if memories > MAX_MEMORIES as u128 {
            return Err(ConfigError::TooManyMemories {
                memories,
                max: MAX_MEMORIES,
            });
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

    /// Memories behind the load port of the engine built for this
    /// configuration, exactly, for any configuration: the distance units'
    /// (`l2`, `l1`, `two-level`), per lane a table memory and R bias memories
    /// (one per entry of its table word), then the
    /// encoder's own (the weight memory of `l1` and `two-level`; the split
    /// mask and one threshold memory per level of `tree`).
    pub fn memory_count(&self) -> u128 {
        let (units, own) = match self.encoder {
            EncoderKind::L2 => (self.distance_units(), 0),
            EncoderKind::L1 | EncoderKind::TwoLevel => (self.distance_units(), 1),
            EncoderKind::Tree => (0, 1 + TREE_DEPTH),
            EncoderKind::Sign => (0, 0),
        };
        let per_lane = self.entries_per_read as u128 + 1;
        (units as u128 + own as u128).saturating_add(per_lane.saturating_mul(self.lanes as u128))
    }

    /// Smallest and largest value of a signed `bits`-bit number.
    pub fn signed_range(bits: u32) -> (i64, i64) {
        let m = 1i64 << (bits - 1);
        (-m, m - 1)
    }

    /// `count` input vectors of uniformly random activations over the
    /// configured width; the same on every platform for a given seed (ChaCha8).
    pub fn random_inputs(&self, count: usize, seed: u64) -> Vec<Vec<i8>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (lo, hi) = Self::signed_range(self.activation_bits);
        (0..count)
            .map(|_| {
                (0..self.input_dim)
                    .map(|_| rng.gen_range(lo..=hi) as i8)
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig::default()
    }

    #[test]
    fn the_search_folds_onto_fewer_units_only_as_far_as_the_table_read_allows() {
        // Default: D * F <= C * M = 256 -> F = 4, 4 units.
        let c = EngineConfig::default();
        assert_eq!((c.centroids_per_unit(), c.distance_units()), (4, 4));
        // Four lanes: C * M = 64 = D -> no folding.
        let c = EngineConfig {
            lanes: 4,
            ..EngineConfig::default()
        };
        assert_eq!((c.centroids_per_unit(), c.distance_units()), (1, 16));
        // D > C * M (16 lanes: C * M = 16 < D = 64, the search is the
        // bound): the budget C * M / D is 0, and F is still 1.
        let c = EngineConfig {
            lanes: 16,
            ..EngineConfig::default()
        };
        assert!(c.input_dim > c.codebooks * c.rows_per_lane());
        assert_eq!((c.centroids_per_unit(), c.distance_units()), (1, 16));
        // The budget is rounded down to a power of two and capped at K.
        let c = EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 8,
            outputs: 48,
            ..EngineConfig::default()
        };
        assert_eq!(c.centroids_per_unit(), 8);
        let c = EngineConfig { outputs: 12, ..c };
        assert_eq!(c.centroids_per_unit(), 2);
        // Other encoders never fold.
        let c = EngineConfig {
            encoder: EncoderKind::Tree,
            ..EngineConfig::default()
        };
        assert_eq!((c.centroids_per_unit(), c.distance_units()), (1, 0));
    }

    #[test]
    fn l2_squares_come_from_tables_for_at_most_sixteen_units() {
        assert!(cfg().squares_from_table());
        // Four lanes: 16 unfolded units, still tables.
        let c = EngineConfig { lanes: 4, ..cfg() };
        assert_eq!(c.distance_units(), MAX_SQUARE_TABLES);
        assert!(c.squares_from_table());
        // K = 256 with a short table read: 256 units square in logic.
        let c = EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: 256,
            outputs: 4,
            ..cfg()
        };
        assert_eq!(c.distance_units(), 256);
        assert!(!c.squares_from_table());
        // Only `l2` squares.
        let c = EngineConfig {
            encoder: EncoderKind::L1,
            ..cfg()
        };
        assert!(!c.squares_from_table());
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
    fn entries_per_read_must_be_a_power_of_two_within_one_load_word() {
        let with = |r: usize, table_bits: u32| EngineConfig {
            entries_per_read: r,
            table_bits,
            ..cfg()
        };
        for ok in [
            with(1, 8),
            with(2, 8),
            with(4, 8),
            with(8, 4),
            with(16, 2),
            with(4, 6),
        ] {
            ok.validate().unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert!(ok.table_word_bits() <= MAX_TABLE_WORD_BITS);
        }
        for (bad, needle) in [
            (
                with(0, 8),
                "entries_per_read (0) must be a power of two from 1 to 4",
            ),
            (
                with(3, 8),
                "entries_per_read (3) must be a power of two from 1 to 4",
            ),
            (
                with(8, 8),
                "entries_per_read (8) must be a power of two from 1 to 4",
            ),
            (
                with(16, 4),
                "entries_per_read (16) must be a power of two from 1 to 8",
            ),
            (with(8, 6), "from 1 to 4 with table_bits 6"),
            (with(32, 2), "from 1 to 16 with table_bits 2"),
            (
                EngineConfig {
                    outputs: 7,
                    lanes: 2,
                    ..with(4, 8)
                },
                "lanes x entries_per_read (2 x 4) must not exceed outputs (7)",
            ),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn entries_per_read_divides_the_table_read_and_moves_the_bound() {
        let c = EngineConfig {
            entries_per_read: 2,
            ..cfg()
        };
        // M = ceil(16 / 2) = 8 rows, C * M = 128 cycles; R + 1 memories per lane.
        assert_eq!((c.rows_per_lane(), c.table_read_cycles()), (8, 128));
        assert_eq!(
            (c.bound_cycles_per_inference(), c.limit()),
            (128, "table-read")
        );
        assert_eq!(c.table_word_bits(), 16);
        // The search keeps pace: F = 2 (was 4), 8 units; R + 1 memories per lane.
        assert_eq!((c.centroids_per_unit(), c.distance_units()), (2, 8));
        assert_eq!(c.memory_count(), 8 + 3);
        // R = 8 (4-bit entries): C * M = 32 < D = 64, the search is the limit.
        let c = EngineConfig {
            entries_per_read: 8,
            table_bits: 4,
            ..cfg()
        };
        assert_eq!(
            (c.table_read_cycles(), c.bound_cycles_per_inference()),
            (32, 64)
        );
        assert_eq!(c.limit(), "search");
        // The image's shape is the same for every R.
        assert_eq!(c.as_image_config().entries_per_read, 1);
        assert_eq!(
            c.as_image_config(),
            EngineConfig {
                table_bits: 4,
                ..cfg()
            }
        );
    }

    #[test]
    fn encoder_rules_on_k() {
        let with = |encoder, d: usize, c: usize, k: usize| EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: k,
            encoder,
            ..cfg()
        };
        for ok in [
            with(EncoderKind::L1, 64, 16, 256),
            with(EncoderKind::TwoLevel, 16, 1, 4096),
            with(EncoderKind::TwoLevel, 8, 1, 2),
            with(EncoderKind::Tree, 64, 16, 16),
            with(EncoderKind::Sign, 10, 1, 1024),
            with(EncoderKind::Sign, 4, 4, 2),
        ] {
            ok.validate().unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        for (bad, needle) in [
            (
                with(EncoderKind::L1, 64, 16, 512),
                "2 to 256 for encoder l1",
            ),
            (with(EncoderKind::TwoLevel, 16, 1, 8192), "2 to 4096"),
            (with(EncoderKind::TwoLevel, 16, 1, 48), "power of two"),
            (with(EncoderKind::Tree, 64, 16, 8), "16"),
            (with(EncoderKind::Sign, 64, 16, 8), "2^V"),
            (with(EncoderKind::Sign, 11, 1, 2048), "1 to 10"),
            // D * G = 2048 * 64 key-memory words.
            (with(EncoderKind::TwoLevel, 2048, 1, 4096), "key memory"),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
        let two = with(EncoderKind::TwoLevel, 16, 1, 4096);
        assert_eq!((two.clusters(), two.keys_per_cluster()), (64, 64));
        assert_eq!(two.distances_per_codebook(), 128);
        let two = with(EncoderKind::TwoLevel, 16, 1, 8);
        assert_eq!((two.clusters(), two.keys_per_cluster()), (2, 4));
        let two = with(EncoderKind::TwoLevel, 16, 1, 2);
        assert_eq!((two.clusters(), two.keys_per_cluster()), (1, 2));
        assert_eq!(with(EncoderKind::L1, 64, 16, 16).distance_bits(), 14);
    }

    /// Counts come from outside (config files, image headers, a device's
    /// identify reply): no shape overflows the arithmetic that checks it,
    /// and a memory too large is reported with its exact word count.
    #[test]
    fn huge_shapes_are_refused_without_overflow() {
        if usize::BITS < 64 {
            return;
        }
        // C * K * ceil(N / L) = 2^32 * 2^8 * (2^32 + 1) = 2^72 + 2^40: past u64.
        let c = EngineConfig {
            input_dim: 1 << 32,
            codebooks: 1 << 32,
            centroids: 256,
            outputs: (1 << 32) + 1,
            lanes: 1,
            ..cfg()
        };
        let exact = (1u128 << 72) + (1 << 40);
        let e = c.validate().unwrap_err();
        assert!(matches!(e, ConfigError::MemoryTooLarge { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("table memory needs {exact} words")),
            "{e}"
        );
        // The two-level replay buffer of a sub-vector of 2^63 elements (2V overflows u64).
        let c = EngineConfig {
            input_dim: 1 << 63,
            codebooks: 1,
            centroids: 4096,
            outputs: 1,
            encoder: EncoderKind::TwoLevel,
            ..cfg()
        };
        let e = c.validate().unwrap_err();
        assert!(matches!(e, ConfigError::MemoryTooLarge { .. }), "{e}");
        // Every count at its largest, every encoder, every width: an error, never a panic.
        for encoder in EncoderKind::ALL {
            for bits in [0, 1, 8, 33, 255, u32::MAX] {
                let c = EngineConfig {
                    input_dim: usize::MAX,
                    codebooks: 1,
                    centroids: usize::MAX,
                    outputs: usize::MAX,
                    lanes: usize::MAX,
                    encoder,
                    activation_bits: bits,
                    centroid_bits: bits,
                    table_bits: bits,
                    bias_bits: bits,
                    entries_per_read: usize::MAX,
                };
                assert!(c.validate().is_err());
                // The derived sizes saturate rather than wrap or panic.
                let _ = (
                    c.table_words_per_lane(),
                    c.replay_buffer_words(),
                    c.bound_cycles_per_inference(),
                    c.accumulator_bits(),
                    c.distance_bits(),
                    c.distance_units(),
                );
            }
        }
        // A lane count the load port cannot address (memory numbers are 16 bits).
        let c = EngineConfig {
            input_dim: 4,
            codebooks: 1,
            centroids: 2,
            outputs: 1 << 20,
            lanes: 1 << 20,
            ..cfg()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("the load port addresses at most 65536 memories"),
            "{e}"
        );
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
