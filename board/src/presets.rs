//! The configurations `lutgen report` sweeps, by name, or spelled out as a
//! [`spec`] (what the layers of a network file become, see
//! [`crate::layers`]).

use crate::BoardError;
use lutgen_core::{EncoderKind, EngineConfig};

/// A configuration spelled out in full, as a preset name:
/// `ENCODER.dD.cC.kK.nN.lL.rR.aA.pP.tT.bB` (encoder; input dimension,
/// codebooks, centroids, outputs, lanes, entries per read; activation,
/// centroid, table and bias bits), e.g.
/// `tree.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16`. No commas or slashes, so it
/// is a point's preset and part of a file name; [`preset`] reads it back.
pub fn spec(c: &EngineConfig) -> String {
    format!(
        "{}.d{}.c{}.k{}.n{}.l{}.r{}.a{}.p{}.t{}.b{}",
        c.encoder,
        c.input_dim,
        c.codebooks,
        c.centroids,
        c.outputs,
        c.lanes,
        c.entries_per_read,
        c.activation_bits,
        c.centroid_bits,
        c.table_bits,
        c.bias_bits
    )
}

/// The numeric fields of a [`spec`], by their letter, in order.
const FIELDS: &str = "dcknlraptb";

/// Reads a [`spec`]; every field must be there once.
fn parse_spec(name: &str) -> Result<EngineConfig, BoardError> {
    let bad = |why: String| {
        BoardError::Usage(format!(
            "preset `{name}`: {why}; a spelled-out preset is \
             ENCODER.dD.cC.kK.nN.lL.rR.aA.pP.tT.bB, e.g. tree.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16"
        ))
    };
    let mut parts = name.split('.');
    let encoder: EncoderKind = parts.next().unwrap_or_default().parse().map_err(bad)?;
    let mut fields: [Option<u64>; 10] = [None; 10];
    for part in parts {
        let key = part.chars().next().unwrap_or(' ');
        let slot = FIELDS
            .find(key)
            .ok_or_else(|| bad(format!("unknown field `{part}`")))?;
        let value = part[key.len_utf8()..]
            .parse::<u64>()
            .map_err(|_| bad(format!("`{part}`: {key} takes a number")))?;
        if fields[slot].replace(value).is_some() {
            return Err(bad(format!("`{key}` given twice")));
        }
    }
    let missing: String = FIELDS
        .chars()
        .zip(&fields)
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!("fields `{missing}` missing")));
    }
    let f = |i: usize| fields[i].unwrap_or(0);
    let size = |i: usize| usize::try_from(f(i)).unwrap_or(usize::MAX);
    let bits = |i: usize| u32::try_from(f(i)).unwrap_or(u32::MAX);
    Ok(EngineConfig {
        input_dim: size(0),
        codebooks: size(1),
        centroids: size(2),
        outputs: size(3),
        lanes: size(4),
        entries_per_read: size(5),
        encoder,
        activation_bits: bits(6),
        centroid_bits: bits(7),
        table_bits: bits(8),
        bias_bits: bits(9),
    })
}

/// The configurations `lutgen report` knows by name, or a [`spec`].
pub fn preset(name: &str) -> Result<EngineConfig, BoardError> {
    if name.contains('.') {
        let config = parse_spec(name)?;
        config
            .validate()
            .map_err(|e| BoardError::Usage(format!("preset `{name}`: {e}")))?;
        return Ok(config);
    }
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

    #[test]
    fn specs_read_back_and_bad_ones_are_refused() {
        let c = EngineConfig {
            encoder: EncoderKind::TwoLevel,
            outputs: 10,
            entries_per_read: 4,
            table_bits: 6,
            ..EngineConfig::default()
        };
        let name = spec(&c);
        assert_eq!(name, "two-level.d64.c16.k16.n10.l1.r4.a8.p8.t6.b16");
        assert_eq!(preset(&name).unwrap(), c);
        for (bad, why) in [
            ("tree.d64.c16.k16.n10.l1.r2.a8.p8.t8", "fields `b` missing"),
            (
                "tree.d64.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16",
                "`d` given twice",
            ),
            (
                "tree.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16.x1",
                "unknown field `x1`",
            ),
            ("fast.d64.c16.k16.n10.l1.r2.a8.p8.t8.b16", "unknown encoder"),
            (
                "tree.dx.c16.k16.n10.l1.r2.a8.p8.t8.b16",
                "`dx`: d takes a number",
            ),
            // Eight 8-bit entries are a 64-bit word.
            ("l2.d64.c16.k16.n10.l1.r8.a8.p8.t8.b16", "preset `l2.d64"),
        ] {
            let err = preset(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
