//! The table image: everything that turns a built engine into a model.
//!
//! An image holds the configuration it was made for, the centroids, the
//! tables and the bias. Loading a new image into a built engine changes the
//! model without regenerating the hardware. [`Image::new`] is the only way to
//! make one, so every image in memory is consistent with its configuration.
//!
//! [`Image::to_bytes`] and [`Image::from_bytes`] (and their file versions
//! [`Image::write_to`] and [`Image::read_from`]) store an image in the
//! versioned binary format described in `docs/image-format.md`; see
//! [`mod@format`] for its constants.

pub mod format;

use crate::config::{ConfigError, EncoderKind, EngineConfig, MAX_WEIGHT, TREE_DEPTH};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use thiserror::Error;

/// An image that cannot be used, naming the problem.
///
/// `Config` to `TooLarge` say an image cannot be built for its configuration;
/// `Io` says a file could not be read or written; the rest say a byte buffer
/// is not a valid image (`docs/image-format.md` gives the order of the checks).
#[derive(Debug, Error)]
pub enum ImageError {
    /// The configuration breaks a rule of [`EngineConfig::validate`].
    #[error("invalid engine configuration in image: {0}")]
    Config(#[from] ConfigError),
    /// A section holds a different number of values than the configuration needs.
    #[error("{what} has {got} values but the configuration needs {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A value does not fit the signed width the configuration gives its section.
    #[error("{what} value {value} at index {index} does not fit in {bits} signed bits")]
    Range {
        what: &'static str,
        index: usize,
        value: i64,
        bits: u32,
    },
    /// An encoder parameter is outside its allowed range (weights, split dimensions).
    #[error("{what} value {value} at index {index} is out of range: {rule}")]
    Parameter {
        what: &'static str,
        index: usize,
        value: i64,
        rule: String,
    },
    /// A section is too large for the image format (each section is at most 4 GiB).
    #[error(
        "{what} would take {bytes} bytes but an image section holds at most {max} bytes; \
         use fewer codebooks, centroids or outputs"
    )]
    TooLarge {
        what: &'static str,
        bytes: u128,
        max: u32,
    },
    /// Reading or writing an image file failed; names the file.
    #[error("cannot {action} image file {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The buffer ends before the fixed-size header does.
    #[error(
        "image is truncated: {got} bytes, but the header alone is {needed} bytes; \
         the file was cut short (interrupted copy or write), copy or export it again"
    )]
    Truncated { got: usize, needed: usize },
    /// The buffer does not start with [`MAGIC`].
    #[error(
        "not a lutgen table image: it starts with {}, but images start with {}; \
         check that the path names an image written by lutgen (not a config, bitstream or trace)",
        hex(found), hex(&MAGIC)
    )]
    BadMagic { found: Vec<u8> },
    /// The header's format version is one this build cannot read.
    #[error(
        "image format version {version} is not supported: this build reads version {supported}; \
         {}",
        if *version > *supported {
            "the image is newer than this lutgen, upgrade lutgen"
        } else {
            "re-export the image with this lutgen"
        }
    )]
    UnsupportedVersion { version: u16, supported: u16 },
    /// The header's size field disagrees with the header size of its version.
    #[error(
        "image header says it is {got} bytes but version {version} headers are {expected} bytes; \
         the image is corrupted or was written by a broken writer, export it again"
    )]
    HeaderSize {
        version: u16,
        expected: usize,
        got: usize,
    },
    /// The header's CRC-32 does not match its bytes.
    #[error(
        "image header is corrupted: stored CRC-32 {expected:#010x}, computed {actual:#010x}; \
         copy or export the image again"
    )]
    HeaderCrc { expected: u32, actual: u32 },
    /// A reserved header field (flags, padding) is not zero.
    #[error(
        "image header field {field} is {value:#x} but must be 0 in format version {version}; \
         the image was written by a newer or incompatible writer, export it with this lutgen"
    )]
    Reserved {
        field: &'static str,
        value: u32,
        version: u16,
    },
    /// The header names an encoder this build does not know.
    #[error(
        "image uses encoder id {id}, which this build does not know (it knows {}); \
         upgrade lutgen or export the image for a known encoder",
        known_encoders()
    )]
    UnknownEncoder { id: u8 },
    /// A section length in the header disagrees with the configuration in the same header.
    #[error(
        "image header gives the {what} section {got} bytes but its configuration needs {expected}; \
         the writer is broken, export the image again"
    )]
    SectionLength {
        what: &'static str,
        expected: u128,
        got: u32,
    },
    /// The payload after the header is shorter or longer than the header says.
    #[error(
        "image payload is {got} bytes but the header says {expected}: {}",
        if *got < *expected {
            "the image is truncated (interrupted copy or write), copy or export it again"
        } else {
            "there are trailing bytes after the image, remove them or export the image again"
        }
    )]
    PayloadLength { expected: usize, got: usize },
    /// The payload's CRC-32 does not match the one stored in the header.
    #[error(
        "image payload is corrupted: header says CRC-32 {expected:#010x}, payload has {actual:#010x}; \
         copy or export the image again"
    )]
    PayloadCrc { expected: u32, actual: u32 },
}

/// The parameters an encoder needs besides centroids, tables and bias.
///
/// Each field is empty unless the image's encoder uses it (see
/// `docs/image-format.md`, "Encoder parameters"):
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncoderParams {
    /// `l1`, `two-level`: the weight `w` of each input element (D values,
    /// element `c * V + v` is `w_v` of codebook c), each from 0 to [`MAX_WEIGHT`].
    pub weights: Vec<u8>,
    /// `two-level`: the G cluster centres of every codebook, `[c][g][v]`
    /// (C * G * V values, `centroid_bits` wide). Cluster g holds keys
    /// (centroids) `g * K/G .. (g + 1) * K/G - 1`.
    pub centres: Vec<i8>,
    /// `tree`: the element compared at each level, `[c][l]` (C * 4 values,
    /// each below V).
    pub split_dims: Vec<u16>,
    /// `tree`: the threshold of each node, `[c][2^l - 1 + node]` (C * 15
    /// values, `centroid_bits` wide; slot 2^l - 1 + node of level l).
    pub thresholds: Vec<i8>,
}

impl EncoderParams {
    /// The parameters [`Image::new`] uses: unit weights (unweighted L1) when
    /// the encoder has weights, nothing else.
    pub fn default_for(config: &EngineConfig) -> Self {
        EncoderParams {
            weights: if config.encoder.has_weights() {
                vec![1; config.input_dim]
            } else {
                vec![]
            },
            ..EncoderParams::default()
        }
    }
}

/// Nodes of one depth-4 tree: 1 + 2 + 4 + 8.
pub const TREE_NODES: usize = (1 << TREE_DEPTH) - 1;

/// A model for one engine configuration: centroids, tables, bias and encoder parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    config: EngineConfig,
    centroids: Vec<i8>,
    tables: Vec<i8>,
    bias: Vec<i32>,
    params: EncoderParams,
}

fn check_range<T: Copy + Into<i64>>(
    what: &'static str,
    values: &[T],
    bits: u32,
) -> Result<(), ImageError> {
    let (lo, hi) = EngineConfig::signed_range(bits);
    match values.iter().position(|&v| !(lo..=hi).contains(&v.into())) {
        Some(index) => Err(ImageError::Range {
            what,
            index,
            value: values[index].into(),
            bits,
        }),
        None => Ok(()),
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), ImageError> {
    if expected == got {
        Ok(())
    } else {
        Err(ImageError::Length {
            what,
            expected,
            got,
        })
    }
}

fn check_below<T: Copy + Into<i64>>(
    what: &'static str,
    values: &[T],
    limit: i64,
    rule: &str,
) -> Result<(), ImageError> {
    match values.iter().position(|&v| v.into() >= limit) {
        Some(index) => Err(ImageError::Parameter {
            what,
            index,
            value: values[index].into(),
            rule: rule.to_string(),
        }),
        None => Ok(()),
    }
}

impl Image {
    /// Builds an image with the default encoder parameters
    /// ([`EncoderParams::default_for`]: unit weights for `l1` and
    /// `two-level`), checking every length and value range against `config`.
    ///
    /// Layouts (row-major): `centroids[c][k][v]` (empty for `tree` and
    /// `sign`), `tables[c][k][n]`, `bias[n]`. Also checks that each section
    /// fits the image format, so every image can be written with
    /// [`Image::to_bytes`]. `two-level` and `tree` images need
    /// [`Image::with_params`].
    pub fn new(
        config: EngineConfig,
        centroids: Vec<i8>,
        tables: Vec<i8>,
        bias: Vec<i32>,
    ) -> Result<Self, ImageError> {
        let params = EncoderParams::default_for(&config);
        Image::with_params(config, centroids, tables, bias, params)
    }

    /// Builds an image with explicit encoder parameters; checks everything
    /// [`Image::new`] checks, and every parameter's length and range.
    pub fn with_params(
        config: EngineConfig,
        centroids: Vec<i8>,
        tables: Vec<i8>,
        bias: Vec<i32>,
        params: EncoderParams,
    ) -> Result<Self, ImageError> {
        // An image holds no R (entries per read): that is the engine's schedule.
        let config = config.as_image_config();
        config.validate()?;
        let [centroid_count, table_count, bias_count] = section_counts(&config)?;
        let [weight_count, centre_count, split_count, threshold_count] = param_counts(&config)?;
        check_len("centroids", centroid_count, centroids.len())?;
        check_len("tables", table_count, tables.len())?;
        check_len("bias", bias_count, bias.len())?;
        check_len("weights", weight_count, params.weights.len())?;
        check_len("cluster centres", centre_count, params.centres.len())?;
        check_len("split dimensions", split_count, params.split_dims.len())?;
        check_len("thresholds", threshold_count, params.thresholds.len())?;
        check_range("centroids", &centroids, config.centroid_bits)?;
        check_range("tables", &tables, config.table_bits)?;
        check_range("bias", &bias, config.bias_bits)?;
        check_below(
            "weights",
            &params.weights,
            i64::from(MAX_WEIGHT) + 1,
            &format!("weights are 0 to {MAX_WEIGHT}"),
        )?;
        check_range("cluster centres", &params.centres, config.centroid_bits)?;
        let v = config.sub_vector_len();
        check_below(
            "split dimensions",
            &params.split_dims,
            v as i64,
            &format!("a split dimension indexes the sub-vector, so it is below V = {v}"),
        )?;
        check_range("thresholds", &params.thresholds, config.centroid_bits)?;
        Ok(Image {
            config,
            centroids,
            tables,
            bias,
            params,
        })
    }

    /// An image of uniformly random values over each field's full range
    /// (weights 0 to 15, split dimensions 0 to V - 1).
    ///
    /// The same configuration and seed give the same image on every platform.
    pub fn random(config: EngineConfig, seed: u64) -> Result<Self, ImageError> {
        config.validate()?;
        let [centroid_count, table_count, bias_count] = section_counts(&config)?;
        let [weight_count, centre_count, split_count, threshold_count] = param_counts(&config)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut draw = |bits: u32, count: usize| -> Vec<i64> {
            let (lo, hi) = EngineConfig::signed_range(bits);
            (0..count).map(|_| rng.gen_range(lo..=hi)).collect()
        };
        let centroids = draw(config.centroid_bits, centroid_count);
        let tables = draw(config.table_bits, table_count);
        let bias = draw(config.bias_bits, bias_count);
        let centres = draw(config.centroid_bits, centre_count);
        let thresholds = draw(config.centroid_bits, threshold_count);
        let v = config.sub_vector_len() as u16;
        let weights = (0..weight_count)
            .map(|_| rng.gen_range(0..=MAX_WEIGHT))
            .collect();
        let split_dims = (0..split_count).map(|_| rng.gen_range(0..v)).collect();
        let narrow = |values: Vec<i64>| values.into_iter().map(|v| v as i8).collect();
        Image::with_params(
            config,
            narrow(centroids),
            narrow(tables),
            bias.into_iter().map(|v| v as i32).collect(),
            EncoderParams {
                weights,
                centres: narrow(centres),
                split_dims,
                thresholds: narrow(thresholds),
            },
        )
    }

    /// The configuration this image was made for.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// All centroids, `[c][k][v]` row-major (empty for `tree` and `sign`).
    pub fn centroids(&self) -> &[i8] {
        &self.centroids
    }

    /// All table entries, `[c][k][n]` row-major.
    pub fn tables(&self) -> &[i8] {
        &self.tables
    }

    /// The bias of each output.
    pub fn bias(&self) -> &[i32] {
        &self.bias
    }

    /// The encoder's parameters.
    pub fn params(&self) -> &EncoderParams {
        &self.params
    }

    /// Centroid `k` of codebook `c`: V coordinates (encoders with centroids only).
    pub fn centroid(&self, c: usize, k: usize) -> &[i8] {
        let v = self.config.sub_vector_len();
        let start = (c * self.config.centroids + k) * v;
        &self.centroids[start..start + v]
    }

    /// Cluster centre `g` of codebook `c` (`two-level` only): V coordinates.
    pub fn centre(&self, c: usize, g: usize) -> &[i8] {
        let v = self.config.sub_vector_len();
        let start = (c * self.config.clusters() + g) * v;
        &self.params.centres[start..start + v]
    }

    /// The weights of codebook `c`'s V elements (`l1` and `two-level` only).
    pub fn weights(&self, c: usize) -> &[u8] {
        let v = self.config.sub_vector_len();
        &self.params.weights[c * v..c * v + v]
    }

    /// Split dimension of level `l` of codebook `c`'s tree (`tree` only).
    pub fn split_dim(&self, c: usize, l: usize) -> usize {
        usize::from(self.params.split_dims[c * TREE_DEPTH + l])
    }

    /// Threshold of node `node` at level `l` of codebook `c`'s tree (`tree` only).
    pub fn threshold(&self, c: usize, l: usize, node: usize) -> i8 {
        self.params.thresholds[c * TREE_NODES + (1 << l) - 1 + node]
    }

    /// Table row `k` of codebook `c`: one entry per output.
    pub fn table_row(&self, c: usize, k: usize) -> &[i8] {
        let n = self.config.outputs;
        let start = (c * self.config.centroids + k) * n;
        &self.tables[start..start + n]
    }

    /// The encoder this image was made for.
    pub fn encoder(&self) -> EncoderKind {
        self.config.encoder
    }
}

// What the header's sizes and the messages about it are computed from; the
// byte layout that uses them is in `format`.

/// The first eight bytes of every image: `\x89LUTGEN\n`.
///
/// The high first byte marks the file as binary (and catches 7-bit transfers);
/// the final newline catches newline translation.
pub const MAGIC: [u8; 8] = *b"\x89LUTGEN\n";
/// Largest byte length of one payload section (section lengths are `u32`).
pub const MAX_SECTION_BYTES: u32 = u32::MAX;
/// Bytes as lowercase hex pairs plus an escaped ASCII rendering, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("[{}] (\"{}\")", pairs.join(" "), bytes.escape_ascii())
}

/// The encoder ids this build reads, for messages: `0 (l2)`.
pub(crate) fn known_encoders() -> String {
    let known: Vec<String> = EncoderKind::ALL
        .iter()
        .map(|e| format!("{} ({})", e.id(), e.name()))
        .collect();
    known.join(", ")
}

/// Byte length of the centroid, table and bias sections for `config`, exactly.
///
/// Computed in `u128` so no configuration can overflow it.
pub(crate) fn section_bytes(config: &EngineConfig) -> [u128; 3] {
    let (c, k, n) = (
        config.codebooks as u128,
        config.centroids as u128,
        config.outputs as u128,
    );
    let v = config.input_dim.checked_div(config.codebooks).unwrap_or(0) as u128;
    let centroids = if config.encoder.has_centroids() {
        c * k * v
    } else {
        0
    };
    [centroids, c * k * n, 4 * n]
}

/// Byte length of the weights, cluster centres, split dimensions and
/// thresholds parts of the encoder-parameter section for `config`.
///
/// Only called on validated configurations (G needs a valid K).
pub(crate) fn param_bytes(config: &EngineConfig) -> [u128; 4] {
    let (c, d) = (config.codebooks as u128, config.input_dim as u128);
    let weights = if config.encoder.has_weights() { d } else { 0 };
    let (centres, splits, thresholds) = match config.encoder {
        EncoderKind::TwoLevel => (config.clusters() as u128 * d, 0, 0),
        EncoderKind::Tree => (0, 2 * c * TREE_DEPTH as u128, c * TREE_NODES as u128),
        _ => (0, 0, 0),
    };
    [weights, centres, splits, thresholds]
}

/// Number of values in each part of the encoder-parameter section for a
/// validated `config`, if the section fits the format.
pub(crate) fn param_counts(config: &EngineConfig) -> Result<[usize; 4], ImageError> {
    let bytes = param_bytes(config);
    let total: u128 = bytes.iter().sum();
    if total > u128::from(MAX_SECTION_BYTES) {
        return Err(ImageError::TooLarge {
            what: "encoder parameters",
            bytes: total,
            max: MAX_SECTION_BYTES,
        });
    }
    Ok([
        bytes[0] as usize,
        bytes[1] as usize,
        bytes[2] as usize / 2,
        bytes[3] as usize,
    ])
}

/// Number of values in each section for `config`, if every section fits the format.
pub(crate) fn section_counts(config: &EngineConfig) -> Result<[usize; 3], ImageError> {
    let bytes = section_bytes(config);
    let mut counts = [0usize; 3];
    for (i, (what, size)) in [("centroids", 1), ("tables", 1), ("bias", 4)]
        .into_iter()
        .enumerate()
    {
        if bytes[i] > u128::from(MAX_SECTION_BYTES) {
            return Err(ImageError::TooLarge {
                what,
                bytes: bytes[i],
                max: MAX_SECTION_BYTES,
            });
        }
        // At most u32::MAX bytes, and usize is at least 32 bits on every supported target.
        counts[i] = (bytes[i] / size) as usize;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_deterministic_and_in_range() {
        let config = EngineConfig {
            table_bits: 4,
            ..EngineConfig::default()
        };
        let a = Image::random(config.clone(), 7).unwrap();
        let b = Image::random(config, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.tables().iter().all(|&t| (-8..=7).contains(&t)));
        assert!(a.tables().contains(&-8) && a.tables().contains(&7));
    }

    #[test]
    fn new_rejects_bad_lengths_and_ranges() {
        let config = EngineConfig::default();
        let good = Image::random(config.clone(), 1).unwrap();
        let mut short = good.tables().to_vec();
        short.pop();
        let err = Image::new(
            config.clone(),
            good.centroids().to_vec(),
            short,
            good.bias().to_vec(),
        )
        .unwrap_err();
        assert!(matches!(err, ImageError::Length { what: "tables", .. }));
        let mut bias = good.bias().to_vec();
        bias[3] = 40000;
        let err = Image::new(
            config,
            good.centroids().to_vec(),
            good.tables().to_vec(),
            bias,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ImageError::Range {
                what: "bias",
                index: 3,
                ..
            }
        ));
    }
}
