//! The table image: everything that turns a built engine into a model.
//!
//! An image holds the configuration it was made for, the centroids, the
//! tables and the bias. Loading a new image into a built engine changes the
//! model without regenerating the hardware. [`Image::new`] is the only way to
//! make one, so every image in memory is consistent with its configuration.

use crate::config::{ConfigError, EngineConfig};
use rand::{Rng, SeedableRng};
use thiserror::Error;

/// An image that cannot be used, naming the problem.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("invalid engine configuration in image: {0}")]
    Config(#[from] ConfigError),
    #[error("{what} has {got} values but the configuration needs {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what} value {value} at index {index} does not fit in {bits} signed bits")]
    Range {
        what: &'static str,
        index: usize,
        value: i64,
        bits: u32,
    },
}

/// A model for one engine configuration: centroids, tables and bias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    config: EngineConfig,
    centroids: Vec<i8>,
    tables: Vec<i8>,
    bias: Vec<i32>,
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

impl Image {
    /// Builds an image, checking every length and value range against `config`.
    ///
    /// Layouts (row-major): `centroids[c][k][v]`, `tables[c][k][n]`, `bias[n]`.
    pub fn new(
        config: EngineConfig,
        centroids: Vec<i8>,
        tables: Vec<i8>,
        bias: Vec<i32>,
    ) -> Result<Self, ImageError> {
        config.validate()?;
        let (c, k, n) = (config.codebooks, config.centroids, config.outputs);
        check_len(
            "centroids",
            c * k * config.sub_vector_len(),
            centroids.len(),
        )?;
        check_len("tables", c * k * n, tables.len())?;
        check_len("bias", n, bias.len())?;
        check_range("centroids", &centroids, config.centroid_bits)?;
        check_range("tables", &tables, config.table_bits)?;
        check_range("bias", &bias, config.bias_bits)?;
        Ok(Image {
            config,
            centroids,
            tables,
            bias,
        })
    }

    /// An image of uniformly random values over each field's full range.
    ///
    /// The same configuration and seed give the same image on every platform.
    pub fn random(config: EngineConfig, seed: u64) -> Result<Self, ImageError> {
        config.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut draw = |bits: u32, count: usize| -> Vec<i64> {
            let (lo, hi) = EngineConfig::signed_range(bits);
            (0..count).map(|_| rng.gen_range(lo..=hi)).collect()
        };
        let (c, k, n) = (config.codebooks, config.centroids, config.outputs);
        let centroids = draw(config.centroid_bits, c * k * config.sub_vector_len());
        let tables = draw(config.table_bits, c * k * n);
        let bias = draw(config.bias_bits, n);
        Image::new(
            config,
            centroids.into_iter().map(|v| v as i8).collect(),
            tables.into_iter().map(|v| v as i8).collect(),
            bias.into_iter().map(|v| v as i32).collect(),
        )
    }

    /// The configuration this image was made for.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// All centroids, `[c][k][v]` row-major.
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

    /// Centroid `k` of codebook `c`: V coordinates.
    pub fn centroid(&self, c: usize, k: usize) -> &[i8] {
        let v = self.config.sub_vector_len();
        let start = (c * self.config.centroids + k) * v;
        &self.centroids[start..start + v]
    }

    /// Table row `k` of codebook `c`: one entry per output.
    pub fn table_row(&self, c: usize, k: usize) -> &[i8] {
        let n = self.config.outputs;
        let start = (c * self.config.centroids + k) * n;
        &self.tables[start..start + n]
    }
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
