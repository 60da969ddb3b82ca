//! Where a device first disagrees with the integer reference, for one
//! input vector: the first layer whose outputs differ, and the element.
//! A device shows each layer's activations through a trace (the network
//! top's trace port in simulation, the `trace` command on a board), and
//! [`Divergence::find`] walks them in order, as hls4ml's per-layer trace does.

use crate::network::NetworkInference;

/// Where a device first disagrees with the reference, for one input vector
/// (`NetworkSim::first_divergence` in simulation, the driver's on a board).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The first layer whose outputs differ.
    pub layer: usize,
    /// Whether `layer` is the last (its int32 outputs) or hands int8
    /// activations to the next layer (after requantization and any table).
    pub last: bool,
    /// The first differing element of that layer's outputs.
    pub element: usize,
    pub expected: i64,
    /// `None`: the device gave fewer elements than the layer has.
    pub got: Option<i64>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.last {
            "output"
        } else {
            "activation (requantized, to the next layer)"
        };
        write!(
            f,
            "layer {} {what} {}: reference {}, device ",
            self.layer, self.element, self.expected
        )?;
        match self.got {
            Some(g) => write!(f, "{g}"),
            None => write!(f, "none"),
        }
    }
}

/// The first element where `got` differs from `want`.
fn first_difference(want: &[i64], got: &[i64]) -> Option<(usize, i64, Option<i64>)> {
    (0..want.len().max(got.len())).find_map(|i| {
        let (w, g) = (want.get(i).copied(), got.get(i).copied());
        (w != g).then(|| (i, w.unwrap_or(0), g))
    })
}

impl Divergence {
    /// The first layer but the last whose activations differ from
    /// `reference` (the network's inference of the vector): `trace(layer)`
    /// gives the activations the device's layer `layer` hands to the next.
    pub fn in_layers<E>(
        reference: &NetworkInference,
        mut trace: impl FnMut(usize) -> Result<Vec<i8>, E>,
    ) -> Result<Option<Divergence>, E> {
        for layer in 0..reference.activations.len() - 1 {
            let want: Vec<i64> = reference.activations[layer + 1]
                .iter()
                .map(|&a| i64::from(a))
                .collect();
            let got: Vec<i64> = trace(layer)?.into_iter().map(i64::from).collect();
            if let Some((element, expected, got)) = first_difference(&want, &got) {
                return Ok(Some(Divergence {
                    layer,
                    last: false,
                    element,
                    expected,
                    got,
                }));
            }
        }
        Ok(None)
    }

    /// The first of the device's last-layer `outputs` that differs from `reference`.
    pub fn in_outputs(reference: &NetworkInference, outputs: &[i32]) -> Option<Divergence> {
        let want: Vec<i64> = reference.outputs.iter().map(|&o| i64::from(o)).collect();
        let got: Vec<i64> = outputs.iter().map(|&o| i64::from(o)).collect();
        first_difference(&want, &got).map(|(element, expected, got)| Divergence {
            layer: reference.activations.len() - 1,
            last: true,
            element,
            expected,
            got,
        })
    }
}
