//! ITLUMM's table refit: ridge least squares for the tables given the encodings.

/// Ridge least squares for the tables given the encodings (ITLUMM's table refit).
///
/// Minimizes `sum_i || sum_c T[c][codes[i][c]] - y_i ||^2 + lambda * ||T - T0||^2`
/// through the normal equations `(A^T A + lambda I) T = A^T Y + lambda T0`,
/// with `A` the one-hot encoding matrix (n x C*K), solved by Cholesky
/// (nalgebra). The ridge pulls toward the prior tables `T0` (the k-means
/// tables), not toward zero, so it regularizes rarely used rows without
/// shrinking the outputs.
pub fn refit(
    codes: &[Vec<usize>],
    y: &[Vec<f64>],
    prior: &[f64],
    c: usize,
    k: usize,
    lambda: f64,
) -> Option<Vec<f64>> {
    refit_weighted(codes, None, y, prior, c, k, lambda)
}

/// [`refit`] where input `i`'s row of codebook `c` counts `weights[i][c]`
/// instead of 1 (`A` holds the weights instead of ones): the tables of a
/// layer whose output is `sum_c weights[i][c] * T[c][codes[i][c]]`.
pub fn refit_weighted(
    codes: &[Vec<usize>],
    weights: Option<&[Vec<f64>]>,
    y: &[Vec<f64>],
    prior: &[f64],
    c: usize,
    k: usize,
    lambda: f64,
) -> Option<Vec<f64>> {
    let m = c * k;
    let outputs = y.first().map_or(0, Vec::len);
    let mut gram = nalgebra::DMatrix::<f64>::zeros(m, m);
    let mut rhs = nalgebra::DMatrix::<f64>::zeros(m, outputs);
    for (i, (row, target)) in codes.iter().zip(y).enumerate() {
        let cols: Vec<(usize, f64)> = row
            .iter()
            .enumerate()
            .map(|(cb, &kk)| (cb * k + kk, weights.map_or(1.0, |w| w[i][cb])))
            .collect();
        for &(a, wa) in &cols {
            for &(b, wb) in &cols {
                gram[(a, b)] += wa * wb;
            }
            for (o, &t) in target.iter().enumerate() {
                rhs[(a, o)] += wa * t;
            }
        }
    }
    let lambda = lambda.max(1e-9);
    for i in 0..m {
        gram[(i, i)] += lambda;
        for o in 0..outputs {
            rhs[(i, o)] += lambda * prior[i * outputs + o];
        }
    }
    let solution = gram.cholesky()?.solve(&rhs);
    // [c][k][n] row-major: row a of the solution is table row (c, k).
    let mut tables = vec![0.0; m * outputs];
    for a in 0..m {
        for o in 0..outputs {
            tables[a * outputs + o] = solution[(a, o)];
        }
    }
    Some(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refit_recovers_an_exact_table() {
        // Two codebooks of two centroids; y = T0[k0] + T1[k1] exactly.
        let truth = [[1.0, -2.0], [3.0, 0.5]];
        let mut codes = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let (a, b) = (i % 2, (i / 2) % 2);
            codes.push(vec![a, b]);
            y.push(vec![truth[0][a] + truth[1][b]]);
        }
        let t = refit(&codes, &y, &[0.0; 4], 2, 2, 1e-9).unwrap();
        for (i, row) in codes
            .iter()
            .zip(&y)
            .map(|(r, y)| (r, y[0]))
            .enumerate()
            .take(4)
        {
            let (r, want) = row;
            let got = t[r[0]] + t[2 + r[1]];
            assert!((got - want).abs() < 1e-6, "{i}: {got} vs {want}");
        }
    }
}
