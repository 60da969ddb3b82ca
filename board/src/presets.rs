//! The configurations `lutgen report` sweeps, by name, or spelled out as a
//! [`spec`] (what the layers of a network file become, see
//! [`crate::layers`]).

use crate::BoardError;
use lutgen_core::conv::{ConvGeometry, Padding};
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

/// A convolution layer spelled out: the patch engine's [`spec`], then
/// `.convH-W-C-K-S-T-L-B-R` (input map height, width and channels, kernel,
/// stride, padding top, left, bottom and right), e.g.
/// `l2.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16.conv8-8-8-3-2-1-1-1-1`;
/// [`preset_layer`] reads it back.
pub fn conv_spec(c: &EngineConfig, g: &ConvGeometry) -> String {
    let p = g.padding;
    format!(
        "{}.conv{}-{}-{}-{}-{}-{}-{}-{}-{}",
        spec(c),
        g.in_height,
        g.in_width,
        g.in_channels,
        g.kernel,
        g.stride,
        p.top,
        p.left,
        p.bottom,
        p.right
    )
}

/// Reads the `convH-W-C-K-S-T-L-B-R` part of a [`conv_spec`].
fn parse_conv(name: &str, part: &str) -> Result<ConvGeometry, BoardError> {
    let bad = |why: &str| {
        BoardError::Usage(format!(
            "preset `{name}`: `{part}` {why}; a convolution is convH-W-C-K-S-T-L-B-R (map \
             height, width, channels, kernel, stride, padding top, left, bottom, right), e.g. \
             conv8-8-8-3-2-1-1-1-1"
        ))
    };
    let numbers = part["conv".len()..]
        .split('-')
        .map(|x| x.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("takes numbers"))?;
    let [h, w, c, k, s, t, l, b, r] = numbers[..] else {
        return Err(bad("takes 9 numbers"));
    };
    let g = ConvGeometry {
        in_height: h,
        in_width: w,
        in_channels: c,
        kernel: k,
        stride: s,
        padding: Padding {
            top: t,
            left: l,
            bottom: b,
            right: r,
        },
    };
    g.validate()
        .map_err(|e| BoardError::Usage(format!("preset `{name}`: {e}")))?;
    Ok(g)
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
    for part in parts.filter(|p| !p.starts_with("conv")) {
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

/// The engine of a preset: one `lutgen report` knows by name, a [`spec`],
/// or the patch engine of a [`conv_spec`].
pub fn preset(name: &str) -> Result<EngineConfig, BoardError> {
    preset_layer(name).map(|(config, _)| config)
}

/// A preset's engine and, for a [`conv_spec`], its convolution geometry
/// (whose patch length must be the engine's input dimension).
pub fn preset_layer(name: &str) -> Result<(EngineConfig, Option<ConvGeometry>), BoardError> {
    if name.contains('.') {
        let config = parse_spec(name)?;
        config
            .validate()
            .map_err(|e| BoardError::Usage(format!("preset `{name}`: {e}")))?;
        let convs: Vec<&str> = name.split('.').filter(|p| p.starts_with("conv")).collect();
        let conv = match convs[..] {
            [] => None,
            [part] => Some(parse_conv(name, part)?),
            _ => {
                return Err(BoardError::Usage(format!(
                    "preset `{name}`: more than one convolution part"
                )))
            }
        };
        if let Some(g) = conv {
            if g.patch_len() != config.input_dim {
                return Err(BoardError::Usage(format!(
                    "preset `{name}`: the convolution's patches have {} elements (C x k x k) \
                     but the engine takes d{}",
                    g.patch_len(),
                    config.input_dim
                )));
            }
        }
        return Ok((config, conv));
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
    Ok((config, None))
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

    #[test]
    fn conv_specs_read_back_and_bad_ones_are_refused() {
        let c = EngineConfig {
            input_dim: 72,
            codebooks: 8,
            outputs: 16,
            ..EngineConfig::default()
        };
        let g = ConvGeometry {
            in_height: 8,
            in_width: 7,
            in_channels: 8,
            kernel: 3,
            stride: 2,
            padding: Padding {
                top: 1,
                left: 0,
                bottom: 2,
                right: 1,
            },
        };
        let name = conv_spec(&c, &g);
        assert_eq!(
            name,
            "l2.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16.conv8-7-8-3-2-1-0-2-1"
        );
        assert_eq!(preset_layer(&name).unwrap(), (c.clone(), Some(g)));
        assert_eq!(preset(&name).unwrap(), c);
        let base = "l2.d72.c8.k16.n16.l1.r1.a8.p8.t8.b16";
        for (bad, why) in [
            (format!("{base}.conv8-8-8-3-2-1-1-1"), "takes 9 numbers"),
            (format!("{base}.conv8-8-8-3-x-1-1-1-1"), "takes numbers"),
            (format!("{base}.conv8-8-8-3-3-1-1-1-1"), "stride 3"),
            (format!("{base}.conv8-8-4-3-1-1-1-1-1"), "patches have 36"),
            (
                format!("{base}.conv8-8-8-3-1-1-1-1-1.conv8-8-8-3-1-1-1-1-1"),
                "more than one convolution",
            ),
        ] {
            let err = preset(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
