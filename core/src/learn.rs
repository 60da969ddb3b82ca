//! Learning encoder parameters from calibration sub-vectors, for the compiler.
//!
//! Each function works on one codebook: `samples` are the calibration
//! sub-vectors of that codebook (V elements each, already quantized to the
//! activation width). The compiler calls them per codebook, assembles an
//! [`crate::image::EncoderParams`], then fits the tables for the resulting
//! encodings (for instance as the mean layer output per row, or by least
//! squares) exactly as it does for `l2`:
//!
//! - `tree`: [`learn_tree`] gives the split dimensions and thresholds
//!   (MADDNESS's greedy construction); rows are [`crate::encoder::tree_leaf`].
//! - `two-level`: learn K keys as for `l2` (k-means), then
//!   [`group_keys`] orders them into G equal clusters and gives the centres;
//!   permute the keys (and anything indexed by key) by the returned order.
//! - `l1`: [`l1_weights`] gives per-dimension weights from the spread of each
//!   dimension (a simple stand-in for MBI's Bayesian optimization).
//! - `sign`: nothing to learn in the encoder; fit the 2^V rows per codebook.

use crate::config::{MAX_WEIGHT, TREE_DEPTH};
use crate::encoder::weighted_l1;
use crate::image::TREE_NODES;

/// Sum of squared deviations from the mean, over all dimensions, of `rows`.
fn sse(samples: &[&[i8]], rows: &[usize], v: usize) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    (0..v)
        .map(|d| {
            let n = rows.len() as f64;
            let sum: f64 = rows.iter().map(|&r| f64::from(samples[r][d])).sum();
            let sq: f64 = rows.iter().map(|&r| f64::from(samples[r][d]).powi(2)).sum();
            sq - sum * sum / n
        })
        .sum()
}

/// The best cut of `rows` on dimension `dim`: `(threshold, loss)`, where
/// rows with `x[dim] >= threshold` go right and the loss is the summed SSE
/// of both sides. Candidate thresholds are the distinct values of the
/// dimension (so a cut never separates equal values).
fn best_cut(samples: &[&[i8]], rows: &[usize], dim: usize, v: usize) -> (i8, f64) {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|&r| samples[r][dim]);
    let whole = sse(samples, &sorted, v);
    let mut best = (sorted.last().map_or(0, |&r| samples[r][dim]), whole);
    // Prefix sums over every dimension, so each cut costs O(V).
    let n = sorted.len();
    let mut sum = vec![0.0; v];
    let mut sq = vec![0.0; v];
    let total_sum: Vec<f64> = (0..v)
        .map(|d| sorted.iter().map(|&r| f64::from(samples[r][d])).sum())
        .collect();
    let total_sq: Vec<f64> = (0..v)
        .map(|d| {
            sorted
                .iter()
                .map(|&r| f64::from(samples[r][d]).powi(2))
                .sum()
        })
        .collect();
    for i in 1..n {
        for d in 0..v {
            let x = f64::from(samples[sorted[i - 1]][d]);
            sum[d] += x;
            sq[d] += x * x;
        }
        let (a, b) = (samples[sorted[i - 1]][dim], samples[sorted[i]][dim]);
        if a == b {
            continue;
        }
        let (left, right) = (i as f64, (n - i) as f64);
        let loss: f64 = (0..v)
            .map(|d| {
                let (rs, rq) = (total_sum[d] - sum[d], total_sq[d] - sq[d]);
                (sq[d] - sum[d] * sum[d] / left) + (rq - rs * rs / right)
            })
            .sum();
        if loss < best.1 {
            best = (b, loss);
        }
    }
    best
}

/// A depth-4 tree for one codebook, learned greedily level by level: each
/// level picks the dimension whose best per-node cuts leave the smallest
/// total squared error of the buckets (MADDNESS). Returns the split
/// dimensions `[l]` and thresholds `[2^l - 1 + node]`, clamped to
/// `[lo, hi]` (the `centroid_bits` range).
pub fn learn_tree(
    samples: &[&[i8]],
    v: usize,
    lo: i8,
    hi: i8,
) -> ([u16; TREE_DEPTH], [i8; TREE_NODES]) {
    let mut splits = [0u16; TREE_DEPTH];
    let mut thresholds = [0i8; TREE_NODES];
    let mut buckets: Vec<Vec<usize>> = vec![(0..samples.len()).collect()];
    for (l, split) in splits.iter_mut().enumerate() {
        let (dim, cuts) = (0..v)
            .map(|dim| {
                let cuts: Vec<(i8, f64)> = buckets
                    .iter()
                    .map(|rows| best_cut(samples, rows, dim, v))
                    .collect();
                (dim, cuts)
            })
            .min_by(|(_, a), (_, b)| {
                let loss = |c: &Vec<(i8, f64)>| c.iter().map(|x| x.1).sum::<f64>();
                loss(a).total_cmp(&loss(b))
            })
            .expect("V >= 1");
        *split = dim as u16;
        let mut next = Vec::with_capacity(2 * buckets.len());
        for (node, (rows, &(t, _))) in buckets.iter().zip(&cuts).enumerate() {
            let t = t.clamp(lo, hi);
            thresholds[(1 << l) - 1 + node] = t;
            let (right, left): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|&&r| samples[r][dim] >= t);
            next.push(left);
            next.push(right);
        }
        buckets = next;
    }
    (splits, thresholds)
}

/// Weights for the `l1` distance of one codebook: inversely proportional
/// to each dimension's mean absolute deviation (so every dimension counts
/// about equally), scaled so the largest is [`MAX_WEIGHT`]; at least 1.
pub fn l1_weights(samples: &[&[i8]], v: usize) -> Vec<u8> {
    let spread: Vec<f64> = (0..v)
        .map(|d| {
            let n = samples.len().max(1) as f64;
            let mean = samples.iter().map(|s| f64::from(s[d])).sum::<f64>() / n;
            let mad = samples
                .iter()
                .map(|s| (f64::from(s[d]) - mean).abs())
                .sum::<f64>()
                / n;
            mad.max(0.5)
        })
        .collect();
    let smallest = spread.iter().copied().fold(f64::INFINITY, f64::min);
    spread
        .iter()
        .map(|&s| ((f64::from(MAX_WEIGHT) * smallest / s).round() as u8).clamp(1, MAX_WEIGHT))
        .collect()
}

/// Groups K keys of one codebook into `g` clusters of `K / g` keys for the
/// `two-level` encoder. Returns the key order (new key `i` is old key
/// `order[i]`, cluster `c` holds new keys `c*S .. c*S+S-1`) and the `g`
/// centres (`[g][v]`, the rounded mean of each cluster's keys).
///
/// Balanced assignment: from a farthest-point start, a few rounds of assigning keys to their nearest
/// centre (by the weighted L1 distance) under a capacity of S keys, nearest
/// pairs first, then moving each centre to its keys' mean.
pub fn group_keys(keys: &[Vec<i8>], g: usize, weights: &[u8]) -> (Vec<usize>, Vec<Vec<i8>>) {
    let k = keys.len();
    let s = k / g;
    // Farthest-point start: each new centre is the key farthest from the others.
    let mut centres: Vec<Vec<i8>> = vec![keys[0].clone()];
    while centres.len() < g {
        let far = (0..k)
            .max_by_key(|&key| {
                let nearest = centres
                    .iter()
                    .map(|c| weighted_l1(&keys[key], c, weights))
                    .min();
                (nearest, std::cmp::Reverse(key))
            })
            .expect("K >= 1");
        centres.push(keys[far].clone());
    }
    let mut cluster_of = vec![0usize; k];
    for _ in 0..8 {
        let mut pairs: Vec<(u64, usize, usize)> = (0..k)
            .flat_map(|key| {
                let centres = &centres;
                (0..g).map(move |c| (weighted_l1(&keys[key], &centres[c], weights), key, c))
            })
            .collect();
        pairs.sort_unstable();
        let mut room = vec![s; g];
        let mut placed = vec![false; k];
        for (_, key, c) in pairs {
            if !placed[key] && room[c] > 0 {
                placed[key] = true;
                room[c] -= 1;
                cluster_of[key] = c;
            }
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<i8>> = (0..k)
                .filter(|&key| cluster_of[key] == c)
                .map(|key| &keys[key])
                .collect();
            for (d, x) in centre.iter_mut().enumerate() {
                let sum: i64 = members.iter().map(|m| i64::from(m[d])).sum();
                *x = (sum as f64 / members.len() as f64).round() as i8;
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by_key(|&key| (cluster_of[key], key));
    (order, centres)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::tree_leaf;

    #[test]
    fn tree_separates_clusters_on_the_informative_dimension() {
        // Dimension 1 is noise-free and carries 16 well-separated groups; dimension 0 is constant.
        let data: Vec<Vec<i8>> = (0..160)
            .map(|i| vec![3, ((i % 16) * 15 - 120) as i8])
            .collect();
        let samples: Vec<&[i8]> = data.iter().map(|d| &d[..]).collect();
        let (splits, thresholds) = learn_tree(&samples, 2, -128, 127);
        assert_eq!(splits, [1; 4]);
        let leaf = |x: &[i8]| {
            tree_leaf(
                |l| usize::from(splits[l]),
                |l, node| thresholds[(1 << l) - 1 + node],
                x,
            )
        };
        // Every group gets its own leaf, in order.
        let leaves: Vec<usize> = (0..16).map(|i| leaf(&data[i])).collect();
        assert_eq!(leaves, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn tree_handles_constant_and_tiny_data() {
        let data = [vec![5i8, 5], vec![5, 5]];
        let samples: Vec<&[i8]> = data.iter().map(|d| &d[..]).collect();
        let (splits, thresholds) = learn_tree(&samples, 2, -8, 7);
        assert!(splits.iter().all(|&s| s < 2));
        assert!(thresholds.iter().all(|&t| (-8..=7).contains(&t)));
        let (_, thresholds) = learn_tree(&[], 3, -128, 127);
        assert_eq!(thresholds.len(), TREE_NODES);
    }

    #[test]
    fn weights_equalize_spread() {
        let data: Vec<Vec<i8>> = (0..100)
            .map(|i| vec![(i % 10) as i8, ((i % 10) * 10) as i8, 0])
            .collect();
        let samples: Vec<&[i8]> = data.iter().map(|d| &d[..]).collect();
        // Mean absolute deviations 2.5, 25 and 0 (counted as 0.5): the
        // constant dimension gets the largest weight, the widest at least 1.
        let w = l1_weights(&samples, 3);
        assert_eq!(w, [3, 1, MAX_WEIGHT]);
    }

    #[test]
    fn groups_are_balanced_and_near() {
        // Keys around two far points, interleaved: the grouping must separate them.
        let keys: Vec<Vec<i8>> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    vec![-100 + i as i8, -100]
                } else {
                    vec![100 - i as i8, 100]
                }
            })
            .collect();
        let (order, centres) = group_keys(&keys, 2, &[1, 1]);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>());
        let first: Vec<usize> = order[..4].to_vec();
        assert!(first.iter().all(|&k| k % 2 == first[0] % 2), "{order:?}");
        assert_eq!(centres.len(), 2);
        assert!(centres.iter().any(|c| c[1] == -100) && centres.iter().any(|c| c[1] == 100));
    }
}
