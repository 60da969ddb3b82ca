//! The configurations `lutgen report` sweeps, by name.

use crate::BoardError;
use lutgen_core::EngineConfig;

/// The configurations `lutgen report` knows by name.
pub fn preset(name: &str) -> Result<EngineConfig, BoardError> {
    let d = EngineConfig::default();
    let config = match name {
        "small" => EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 4,
            outputs: 4,
            ..d
        },
        "default" => d,
        "lanes4" => EngineConfig { lanes: 4, ..d },
        "k8" => EngineConfig { centroids: 8, ..d },
        // Twice the outputs: the search is shared by more table reads.
        "wide" => EngineConfig { outputs: 32, ..d },
        // The default shape with another encoder: a hardware row per encoder.
        "l1" | "two-level" | "tree" | "sign" => EngineConfig {
            encoder: name.parse().map_err(BoardError::Usage)?,
            ..d
        },
        _ => {
            return Err(BoardError::Usage(format!(
                "unknown preset `{name}`; known: small, default, lanes4, k8, wide (N = 32), \
                 and the default shape with another encoder: l1, two-level, tree, sign"
            )))
        }
    };
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_preset_is_refused() {
        assert!(matches!(preset("huge"), Err(BoardError::Usage(_))));
        assert_eq!(preset("default").unwrap(), EngineConfig::default());
        assert_eq!(
            preset("tree").unwrap().encoder,
            lutgen_core::EncoderKind::Tree
        );
        assert_eq!(preset("two-level").unwrap().clusters(), 4);
    }
}
