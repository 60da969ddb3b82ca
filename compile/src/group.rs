//! ITLUMM's grouping of correlated input dimensions into the same codebook.
//!
//! A codebook quantizes V consecutive inputs of a layer. ITLUMM (McCarter and
//! Dronen) permutes the inputs so that each sub-vector holds dimensions that
//! are correlated with one another: such a sub-vector has fewer effective
//! dimensions, so K centroids cover it better.
//!
//! The hardware takes the inputs in order, so the permutation must be free:
//! for a hidden layer it is. Reordering the units of layer l - 1 (its weight
//! rows and biases) and the input columns of layer l in the same way leaves
//! the float network's function unchanged (the activation, the
//! requantization and the activation table between them act elementwise with
//! one scale per layer), so the compiled network takes the same inputs and
//! gives the same outputs in the same order. The first layer's input order is
//! the network's interface (the host sends vectors in its own order; the
//! network file has no input permutation), so it is never permuted.

use crate::error::CompileError;
use crate::mlp::Mlp;
use crate::options::LayerShape;

/// Squared correlations `(d, d)` of the columns of `rows`; a constant column
/// correlates with nothing (0), and with itself 1.
pub fn squared_correlations(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let d = rows.first().map_or(0, Vec::len);
    let n = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for r in rows {
        let c: Vec<f64> = r.iter().zip(&mean).map(|(x, m)| x - m).collect();
        for i in 0..d {
            if c[i] == 0.0 {
                continue;
            }
            for j in i..d {
                cov[i][j] += c[i] * c[j];
            }
        }
    }
    let mut r2 = vec![vec![0.0; d]; d];
    for i in 0..d {
        for j in i..d {
            let denom = cov[i][i] * cov[j][j];
            let v = if i == j {
                1.0
            } else if denom > 0.0 {
                cov[i][j] * cov[i][j] / denom
            } else {
                0.0
            };
            r2[i][j] = v;
            r2[j][i] = v;
        }
    }
    r2
}

/// A permutation of `0..d` (`perm[position] = dimension`) in groups of `v`
/// consecutive positions, each group of mutually correlated dimensions:
/// greedily, the unplaced dimension most correlated with any other unplaced
/// one starts a group, which then takes the unplaced dimension of the largest
/// mean squared correlation with the group's members until it holds `v`
/// (ties: the lowest index; deterministic).
pub fn correlated_groups(r2: &[Vec<f64>], v: usize) -> Vec<usize> {
    let d = r2.len();
    let mut placed = vec![false; d];
    let mut perm = Vec::with_capacity(d);
    while perm.len() < d {
        let free: Vec<usize> = (0..d).filter(|&i| !placed[i]).collect();
        let best_pair = |i: usize| {
            free.iter()
                .filter(|&&j| j != i)
                .map(|&j| r2[i][j])
                .fold(0.0, f64::max)
        };
        let seed = free
            .iter()
            .copied()
            .fold(None::<(usize, f64)>, |best, i| {
                let s = best_pair(i);
                match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((i, s)),
                }
            })
            .map(|(i, _)| i)
            .expect("a free dimension");
        let mut group = vec![seed];
        placed[seed] = true;
        while group.len() < v {
            let next = (0..d)
                .filter(|&j| !placed[j])
                .fold(None::<(usize, f64)>, |best, j| {
                    let s = group.iter().map(|&g| r2[g][j]).sum::<f64>() / group.len() as f64;
                    match best {
                        Some((_, b)) if b >= s => best,
                        _ => Some((j, s)),
                    }
                });
            let Some((j, _)) = next else { break };
            placed[j] = true;
            group.push(j);
        }
        perm.extend(group);
    }
    perm
}

/// Reorders the units of hidden layer `l` (outputs of layer `l`, inputs of
/// layer `l + 1`) so that unit `perm[i]` becomes unit `i`. The function of the
/// network is unchanged.
pub fn permute_hidden(mlp: &mut Mlp, l: usize, perm: &[usize]) {
    let (a, b) = mlp.layers.split_at_mut(l + 1);
    let (producer, consumer) = (&mut a[l], &mut b[0]);
    let d = producer.inputs;
    let weight: Vec<f32> = perm
        .iter()
        .flat_map(|&p| producer.weight[p * d..(p + 1) * d].to_vec())
        .collect();
    producer.weight = weight;
    producer.bias = perm.iter().map(|&p| producer.bias[p]).collect();
    let n = consumer.inputs;
    let mut weight = Vec::with_capacity(consumer.weight.len());
    for o in 0..consumer.outputs {
        let row = &consumer.weight[o * n..(o + 1) * n];
        weight.extend(perm.iter().map(|&p| row[p]));
    }
    consumer.weight = weight;
}

/// The network with every hidden layer's units grouped for the codebooks
/// of the layer after it (`shapes[l].v` of layer l), by the squared
/// correlations of the float network's hidden activations on `calibration`.
/// Also returns each hidden layer's permutation. Refused for a network
/// without hidden layers.
pub fn group_inputs(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    shapes: &[LayerShape],
) -> Result<(Mlp, Vec<Vec<usize>>), CompileError> {
    if mlp.layers.len() < 2 {
        return Err(CompileError::GroupNoHidden);
    }
    let mut out = mlp.clone();
    let mut perms = Vec::new();
    for l in 0..mlp.layers.len() - 1 {
        // The float activations after layer l (the input of layer l + 1).
        let hidden: Vec<Vec<f64>> = calibration
            .iter()
            .map(|x| {
                let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let y = out.pre_activations(&x).swap_remove(l);
                out.activations[l].apply(&y)
            })
            .collect();
        let perm = correlated_groups(&squared_correlations(&hidden), shapes[l + 1].v.max(1));
        permute_hidden(&mut out, l, &perm);
        perms.push(perm);
    }
    Ok((out, perms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_correlated_dimensions() {
        // Dimensions 0 and 2 move together, 1 and 3 together (opposite signs count).
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                let a = (i as f64 * 0.37).sin();
                let b = (i as f64 * 1.91).cos();
                vec![a, b, 2.0 * a + 0.01, -b]
            })
            .collect();
        let perm = correlated_groups(&squared_correlations(&rows), 2);
        let mut groups: Vec<Vec<usize>> = perm
            .chunks(2)
            .map(|g| {
                let mut g = g.to_vec();
                g.sort();
                g
            })
            .collect();
        groups.sort();
        assert_eq!(groups, vec![vec![0, 2], vec![1, 3]]);
    }

    #[test]
    fn a_permutation_covers_every_dimension_once() {
        let rows: Vec<Vec<f64>> = (0..20)
            .map(|i| (0..7).map(|j| ((i * j) as f64).sin()).collect())
            .collect();
        let mut perm = correlated_groups(&squared_correlations(&rows), 3);
        perm.sort();
        assert_eq!(perm, (0..7).collect::<Vec<_>>());
    }
}
