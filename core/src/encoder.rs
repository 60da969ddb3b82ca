//! The encoder stage: which table row does a sub-vector select?
//!
//! Each [`EncoderKind`] maps one sub-vector of the input to a row index in
//! `[0, K)`. The hardware implements the same stage; the functions here are
//! its bit-exact definition.

use crate::config::EncoderKind;
use crate::image::Image;

/// The row an encoder picked for one sub-vector, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// The selected row (centroid index) in `[0, K)`.
    pub index: usize,
    /// The winning score: for `l2` the squared distance to the chosen centroid.
    pub score: u64,
}

/// Encodes sub-vector `sub` of codebook `codebook` with the image's encoder.
pub fn encode(image: &Image, codebook: usize, sub: &[i8]) -> Encoding {
    match image.config().encoder {
        EncoderKind::L2 => nearest_l2(
            (0..image.config().centroids).map(|k| image.centroid(codebook, k)),
            sub,
        ),
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

/// Argmin of the squared distance; on a tie the lowest index wins.
pub fn nearest_l2<'a>(centroids: impl Iterator<Item = &'a [i8]>, sub: &[i8]) -> Encoding {
    let mut best = Encoding {
        index: 0,
        score: u64::MAX,
    };
    for (k, centroid) in centroids.enumerate() {
        let score = squared_l2(sub, centroid);
        // Strictly less: an equal distance later in the list never wins.
        if score < best.score {
            best = Encoding { index: k, score };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lowest_index() {
        let c: [&[i8]; 4] = [&[5, 5], &[1, 1], &[-1, -1], &[1, 1]];
        let e = nearest_l2(c.into_iter(), &[0, 0]);
        assert_eq!(e, Encoding { index: 1, score: 2 });
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let e = nearest_l2([&[127i8; 8][..]].into_iter(), &[-128; 8]);
        assert_eq!(e.score, 8 * 255 * 255);
    }
}
