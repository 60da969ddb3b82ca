//! The encoder stage: which table row does a sub-vector select?
//!
//! Each [`EncoderKind`] maps one sub-vector of the input to a row index in
//! `[0, K)`. The hardware implements the same stage; the functions here are
//! its bit-exact definition. All arithmetic is exact integer arithmetic.
//!
//! | encoder | index | score |
//! |---|---|---|
//! | `l2` | `argmin_k sum_v (x_v - P[c][k][v])^2` | that squared distance |
//! | `l1` | `argmin_k sum_v w[c*V+v] * abs(x_v - P[c][k][v])` | that weighted distance |
//! | `two-level` | `g = argmin_g dist(x, centre[c][g])`, then `argmin` of `dist(x, P[c][k])` over `k` in `g*S .. g*S+S-1` (S = K/G), both with the `l1` distance | the key's distance |
//! | `tree` | `node = 0`; for level `l` in 0..4: `node = 2*node + (x[j(c,l)] >= t(c,l,node))` | 0 |
//! | `sign` | `sum_v (x_v < 0) << (V-1-v)`: element 0 is the most significant bit | 0 |
//!
//! Every argmin takes the lowest index on a tie (`two-level`: the lowest
//! centre, then the lowest key of its cluster).

use crate::config::{EncoderKind, TREE_DEPTH};
use crate::image::Image;

/// The row an encoder picked for one sub-vector, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// The selected row (centroid index) in `[0, K)`.
    pub index: usize,
    /// The winning score: the distance to the chosen centroid for `l2`
    /// (squared), `l1` and `two-level` (weighted); 0 for `tree` and `sign`.
    pub score: u64,
}

/// Encodes sub-vector `sub` of codebook `codebook` with the image's encoder.
pub fn encode(image: &Image, codebook: usize, sub: &[i8]) -> Encoding {
    let config = image.config();
    let centroids = |range: std::ops::Range<usize>| range.map(|k| image.centroid(codebook, k));
    match config.encoder {
        EncoderKind::L2 => nearest_l2(centroids(0..config.centroids), sub),
        EncoderKind::L1 => nearest_l1(centroids(0..config.centroids), image.weights(codebook), sub),
        EncoderKind::TwoLevel => {
            let weights = image.weights(codebook);
            let centres = (0..config.clusters()).map(|g| image.centre(codebook, g));
            let g = nearest_l1(centres, weights, sub).index;
            let s = config.keys_per_cluster();
            let key = nearest_l1(centroids(g * s..g * s + s), weights, sub);
            Encoding {
                index: g * s + key.index,
                score: key.score,
            }
        }
        EncoderKind::Tree => Encoding {
            index: tree_leaf(
                |l| image.split_dim(codebook, l),
                |l, node| image.threshold(codebook, l, node),
                sub,
            ),
            score: 0,
        },
        EncoderKind::Sign => Encoding {
            index: sign_bits(sub),
            score: 0,
        },
    }
}

/// Squared Euclidean distance between two equally long integer vectors.
pub fn squared_l2(a: &[i8], b: &[i8]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(&x, &p)| {
            let d = i64::from(x) - i64::from(p);
            (d * d) as u64
        })
        .sum()
}

/// Weighted Manhattan distance `sum_v w_v * |a_v - b_v|`.
pub fn weighted_l1(a: &[i8], b: &[i8], weights: &[u8]) -> u64 {
    a.iter()
        .zip(b)
        .zip(weights)
        .map(|((&x, &p), &w)| u64::from(w) * (i64::from(x) - i64::from(p)).unsigned_abs())
        .sum()
}

/// Argmin of a score; on a tie the lowest index wins.
fn argmin(scores: impl Iterator<Item = u64>) -> Encoding {
    let mut best = Encoding {
        index: 0,
        score: u64::MAX,
    };
    for (k, score) in scores.enumerate() {
        // Strictly less: an equal distance later in the list never wins.
        if score < best.score {
            best = Encoding { index: k, score };
        }
    }
    best
}

/// Argmin of the squared distance; on a tie the lowest index wins.
pub fn nearest_l2<'a>(centroids: impl Iterator<Item = &'a [i8]>, sub: &[i8]) -> Encoding {
    argmin(centroids.map(|p| squared_l2(sub, p)))
}

/// Argmin of the weighted L1 distance; on a tie the lowest index wins.
pub fn nearest_l1<'a>(
    centroids: impl Iterator<Item = &'a [i8]>,
    weights: &[u8],
    sub: &[i8],
) -> Encoding {
    argmin(centroids.map(|p| weighted_l1(sub, p, weights)))
}

/// The leaf a depth-4 tree sends `sub` to: at level `l` the element
/// `sub[split(l)]` goes right (bit 1) when it is `>= threshold(l, node)`.
pub fn tree_leaf(
    split: impl Fn(usize) -> usize,
    threshold: impl Fn(usize, usize) -> i8,
    sub: &[i8],
) -> usize {
    (0..TREE_DEPTH).fold(0, |node, l| {
        2 * node + usize::from(sub[split(l)] >= threshold(l, node))
    })
}

/// The sign code of `sub`: bit `V - 1 - v` is 1 when element `v` is negative.
pub fn sign_bits(sub: &[i8]) -> usize {
    sub.iter()
        .fold(0, |code, &x| (code << 1) | usize::from(x < 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::EncoderParams;
    use crate::EngineConfig;

    #[test]
    fn ties_go_to_the_lowest_index() {
        let c: [&[i8]; 4] = [&[5, 5], &[1, 1], &[-1, -1], &[1, 1]];
        let e = nearest_l2(c.into_iter(), &[0, 0]);
        assert_eq!(e, Encoding { index: 1, score: 2 });
        let e = nearest_l1(c.into_iter(), &[3, 1], &[0, 0]);
        assert_eq!(e, Encoding { index: 1, score: 4 });
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let e = nearest_l2([&[127i8; 8][..]].into_iter(), &[-128; 8]);
        assert_eq!(e.score, 8 * 255 * 255);
        let e = nearest_l1([&[127i8; 8][..]].into_iter(), &[15; 8], &[-128; 8]);
        assert_eq!(e.score, 8 * 15 * 255);
    }

    #[test]
    fn weights_change_the_winner_and_zero_weights_ignore_a_dimension() {
        let c: [&[i8]; 2] = [&[0, 10], &[10, 0]];
        // Unweighted: (9, 0) is 11 from centroid 0 and 1 from centroid 1.
        assert_eq!(nearest_l1(c.into_iter(), &[1, 1], &[9, 0]).index, 1);
        // Ignore dimension 0: centroid 0 is 10 away, centroid 1 is 0 away.
        assert_eq!(nearest_l1(c.into_iter(), &[0, 1], &[9, 0]).index, 1);
        // Weight dimension 1 heavily: (5, 6) is 5 + 15*4 from 0, 5 + 15*6 from 1.
        assert_eq!(
            nearest_l1(c.into_iter(), &[1, 15], &[5, 6]),
            Encoding {
                index: 0,
                score: 65
            }
        );
    }

    #[test]
    fn sign_bits_put_element_zero_first() {
        assert_eq!(sign_bits(&[-1]), 1);
        assert_eq!(sign_bits(&[0]), 0);
        assert_eq!(sign_bits(&[-128, 0, 127, -1]), 0b1001);
        assert_eq!(sign_bits(&[-5; 10]), 1023);
    }

    #[test]
    fn tree_goes_right_on_greater_or_equal() {
        // Level l splits on element l; every threshold is 0 except node 1 of level 1 (= 5).
        let threshold = |l: usize, node: usize| if (l, node) == (1, 1) { 5 } else { 0 };
        assert_eq!(tree_leaf(|l| l, threshold, &[0, 0, 0, 0]), 0b1011);
        assert_eq!(tree_leaf(|l| l, threshold, &[0, 5, 0, 0]), 0b1111);
        assert_eq!(tree_leaf(|l| l, threshold, &[-1, 5, -1, -1]), 0b0100);
        assert_eq!(tree_leaf(|_| 0, |_, _| -128, &[-128]), 15);
        assert_eq!(tree_leaf(|_| 0, |_, _| 127, &[126]), 0);
    }

    fn image(encoder: EncoderKind, d: usize, c: usize, k: usize, seed: u64) -> Image {
        let config = EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: k,
            outputs: 3,
            encoder,
            ..EngineConfig::default()
        };
        Image::random(config, seed).unwrap()
    }

    #[test]
    fn two_level_searches_the_nearest_cluster_only() {
        let random = image(EncoderKind::TwoLevel, 2, 1, 4, 1);
        let config = random.config().clone();
        assert_eq!((config.clusters(), config.keys_per_cluster()), (2, 2));
        // Centre 0 at the origin owns keys 0, 1; centre 1 at (100, 100) owns keys 2, 3.
        // Key 2 is the nearest key to (10, 10) overall, but its cluster is farther.
        let keys = vec![50, 50, 40, 40, 10, 10, 90, 90];
        let params = EncoderParams {
            weights: vec![1, 1],
            centres: vec![0, 0, 100, 100],
            ..EncoderParams::default()
        };
        let image = Image::with_params(
            config,
            keys,
            random.tables().to_vec(),
            random.bias().to_vec(),
            params,
        )
        .unwrap();
        assert_eq!(
            encode(&image, 0, &[10, 10]),
            Encoding {
                index: 1,
                score: 60
            }
        );
        assert_eq!(encode(&image, 0, &[80, 80]).index, 3);
        // A tie between centres goes to centre 0, then key 0 (50 from (50,50))... at (50, 50): key 0.
        assert_eq!(encode(&image, 0, &[50, 50]).index, 0);
    }

    #[test]
    fn every_encoder_stays_in_range_on_random_images() {
        for (encoder, d, c, k) in [
            (EncoderKind::L2, 8, 2, 16),
            (EncoderKind::L1, 8, 2, 16),
            (EncoderKind::TwoLevel, 8, 1, 256),
            (EncoderKind::TwoLevel, 8, 2, 2),
            (EncoderKind::Tree, 12, 3, 16),
            (EncoderKind::Sign, 12, 3, 16),
            (EncoderKind::Sign, 3, 3, 2),
        ] {
            let image = image(encoder, d, c, k, 5);
            let v = d / c;
            for x in [-128i8, -1, 0, 1, 127] {
                for cb in 0..c {
                    let e = encode(&image, cb, &vec![x; v]);
                    assert!(e.index < k, "{encoder}");
                }
            }
        }
    }
}
