//! One fully connected layer in float: the unit the frontends read and the
//! compiler turns into a table image.

/// One fully connected layer: `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// The tensor-name prefix (`fc1` for `fc1.weight`).
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// Row-major `(outputs, inputs)`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    /// Row `n` of the weight matrix.
    pub fn row(&self, n: usize) -> &[f32] {
        &self.weight[n * self.inputs..(n + 1) * self.inputs]
    }

    /// The layer applied to every output pixel's patch of the HWC map `x`
    /// (zero outside the map): the output map, HWC.
    pub fn convolve(&self, g: &lutgen_core::conv::ConvGeometry, x: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(g.out_pixels() * self.outputs);
        for oy in 0..g.out_height() {
            for ox in 0..g.out_width() {
                let patch: Vec<f64> = (0..g.patch_len())
                    .map(|i| g.source(oy, ox, i).map_or(0.0, |j| x[j]))
                    .collect();
                out.extend(self.forward(&patch));
            }
        }
        out
    }

    /// `W x + b` in f64.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        (0..self.outputs)
            .map(|n| {
                let dot: f64 = self
                    .row(n)
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(w) * v)
                    .sum();
                dot + f64::from(self.bias[n])
            })
            .collect()
    }
}
