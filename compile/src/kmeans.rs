//! Deterministic k-means with k-means++ seeding.
//!
//! Sequential f64 arithmetic and a ChaCha8 generator: the same points and
//! seed give the same centroids on every platform.

use rand::{Rng, SeedableRng};

/// `k` centroids of `dim`-dimensional `points` (row-major), after at most `iterations` Lloyd steps.
///
/// Seeding is k-means++ (each next seed drawn with probability proportional
/// to the squared distance to the nearest seed so far). A cluster that
/// empties keeps its previous centroid. If there are fewer distinct points
/// than `k`, the surplus seeds duplicate existing points; the encoder's
/// lowest-index tie-break makes such duplicates harmless.
pub fn kmeans(points: &[f64], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f64> {
    let n = points.len() / dim;
    assert!(n > 0 && dim > 0 && k > 0, "k-means needs points");
    let point = |i: usize| &points[i * dim..(i + 1) * dim];
    let dist =
        |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum() };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);

    // k-means++ seeding.
    let mut centroids: Vec<f64> = Vec::with_capacity(k * dim);
    centroids.extend_from_slice(point(rng.gen_range(0..n)));
    let mut nearest: Vec<f64> = (0..n).map(|i| dist(point(i), &centroids[..dim])).collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let chosen = if total > 0.0 {
            let mut target = rng.gen::<f64>() * total;
            let mut chosen = n - 1;
            for (i, &d) in nearest.iter().enumerate() {
                if target < d {
                    chosen = i;
                    break;
                }
                target -= d;
            }
            chosen
        } else {
            rng.gen_range(0..n)
        };
        let start = centroids.len();
        centroids.extend_from_slice(point(chosen));
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(dist(point(i), &centroids[start..start + dim]));
        }
    }

    // Lloyd iterations.
    let mut assignment = vec![usize::MAX; n];
    for _ in 0..iterations {
        let mut changed = false;
        for (i, a) in assignment.iter_mut().enumerate() {
            let best = nearest_index(&centroids, dim, point(i));
            if *a != best {
                *a = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &a) in assignment.iter().enumerate() {
            counts[a] += 1;
            for (s, &x) in sums[a * dim..(a + 1) * dim].iter_mut().zip(point(i)) {
                *s += x;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for d in 0..dim {
                    centroids[c * dim + d] = sums[c * dim + d] / counts[c] as f64;
                }
            }
        }
    }
    centroids
}

/// Index of the nearest centroid (squared Euclidean), lowest index on a tie.
pub fn nearest_index(centroids: &[f64], dim: usize, x: &[f64]) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (c, centroid) in centroids.chunks_exact(dim).enumerate() {
        let d: f64 = centroid.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best.0 {
            best = (d, c);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters_deterministically() {
        let mut points = Vec::new();
        for i in 0..30 {
            let jitter = (i % 5) as f64 * 0.01;
            points.extend_from_slice(&[0.0 + jitter, 0.0]);
            points.extend_from_slice(&[10.0 + jitter, 10.0]);
            points.extend_from_slice(&[-10.0, 5.0 + jitter]);
        }
        let a = kmeans(&points, 2, 3, 50, 7);
        assert_eq!(a, kmeans(&points, 2, 3, 50, 7));
        let mut xs: Vec<i64> = a.chunks(2).map(|c| c[0].round() as i64).collect();
        xs.sort();
        assert_eq!(xs, vec![-10, 0, 10]);
    }

    #[test]
    fn more_clusters_than_distinct_points() {
        let points = vec![1.0, 1.0, 1.0, 1.0];
        let c = kmeans(&points, 1, 4, 10, 1);
        assert_eq!(c, vec![1.0; 4]);
    }
}
