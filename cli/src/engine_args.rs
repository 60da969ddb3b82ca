//! The engine configuration on the command line: a TOML file, flags, or both.

use crate::error::Error;
use clap::Args;
use lutgen_core::{EncoderKind, EngineConfig};
use std::path::PathBuf;

/// Engine shape. Flags override values from `--config`; unset values take the defaults.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// TOML file with any of the fields below (e.g. `codebooks = 16`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Input dimension D: activations per vector (default 64; at most 65536).
    #[arg(long)]
    pub input_dim: Option<usize>,
    /// Codebooks C: sub-vectors per input; must divide D (default 16).
    #[arg(long)]
    pub codebooks: Option<usize>,
    /// Centroids (table rows) K per codebook: a power of two from 2 to 256 for l2 and l1,
    /// to 4096 for two-level; 16 for tree; 2^(D/C) for sign (default 16).
    #[arg(long)]
    pub centroids: Option<usize>,
    /// Outputs N per vector (default 16).
    #[arg(long)]
    pub outputs: Option<usize>,
    /// Lanes L: table entries read per cycle, from 1 to N (default 1).
    #[arg(long)]
    pub lanes: Option<usize>,
    /// Encoder: how a sub-vector picks its table row: l2, l1, two-level, tree, sign (default l2).
    #[arg(long, value_parser = parse_encoder)]
    pub encoder: Option<EncoderKind>,
    /// Signed activation width, 2 to 8 (default 8).
    #[arg(long)]
    pub activation_bits: Option<u32>,
    /// Signed centroid width, 2 to 8 (default 8).
    #[arg(long)]
    pub centroid_bits: Option<u32>,
    /// Signed table-entry width, 2 to 8 (default 8).
    #[arg(long)]
    pub table_bits: Option<u32>,
    /// Signed bias width, 2 to 32; the accumulator must still fit 32 bits (default 16).
    #[arg(long)]
    pub bias_bits: Option<u32>,
    /// Entries per read R: table entries each lane reads per cycle, packed in one
    /// table-memory word of R * table-bits bits; a power of two with R * table-bits <= 32
    /// and L * R <= N. The table read takes C * ceil(N / (L * R)) cycles (default 1;
    /// not stored in images: any image of the engine's shape loads).
    #[arg(long)]
    pub entries_per_read: Option<usize>,
}

/// Parses an encoder name (`l2`, `l1`, `two-level`, `tree`, `sign`) for clap.
pub fn parse_encoder(name: &str) -> Result<EncoderKind, String> {
    name.parse()
}

impl EngineArgs {
    /// True when no flag and no file was given.
    pub fn is_empty(&self) -> bool {
        self.config.is_none()
            && self.input_dim.is_none()
            && self.codebooks.is_none()
            && self.centroids.is_none()
            && self.outputs.is_none()
            && self.lanes.is_none()
            && self.encoder.is_none()
            && self.activation_bits.is_none()
            && self.centroid_bits.is_none()
            && self.table_bits.is_none()
            && self.bias_bits.is_none()
            && self.entries_per_read.is_none()
    }

    /// True when nothing but `--entries-per-read` was given (so an image
    /// file's shape is the engine's, with that R).
    pub fn only_entries_per_read(&self) -> bool {
        EngineArgs {
            entries_per_read: None,
            ..self.clone()
        }
        .is_empty()
    }

    /// The validated configuration these arguments describe.
    pub fn resolve(&self) -> Result<EngineConfig, Error> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| Error::ConfigFile {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => EngineConfig::default(),
        };
        macro_rules! apply {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field { config.$field = v; }
            )*};
        }
        apply!(
            input_dim,
            codebooks,
            centroids,
            outputs,
            lanes,
            encoder,
            activation_bits,
            centroid_bits,
            table_bits,
            bias_bits,
            entries_per_read
        );
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("lutgen-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("engine.toml");
        std::fs::write(&path, "codebooks = 8\noutputs = 10\n").unwrap();
        let args = EngineArgs {
            config: Some(path.clone()),
            outputs: Some(12),
            ..Default::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!((config.codebooks, config.outputs), (8, 12));
        std::fs::write(&path, "codebok = 8\n").unwrap();
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains("codebok"), "{err}");
        let args = EngineArgs {
            centroids: Some(3),
            ..Default::default()
        };
        assert!(args
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("power of two"));
    }
}
