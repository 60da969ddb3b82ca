//! What a compile is asked to do: the method, the codebook shape, the encoders and the training.

use crate::error::CompileError;
use lutgen_core::EncoderKind;

/// How tables are computed from the centroids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Tables are the dot products of the k-means centroids with the weights.
    Kmeans,
    /// Tables are refit by ridge least squares to the float layer's outputs.
    Refit,
    /// Centroids, tables and biases learned end to end (LUT-NN), starting from `refit`.
    Learned,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Kmeans => "kmeans",
            Method::Refit => "refit",
            Method::Learned => "learned",
        }
    }
}

/// Everything a compile depends on.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Centroids per codebook K.
    pub centroids: usize,
    /// Sub-vector length V (codebooks C = D / V for each layer).
    pub sub_vector_len: usize,
    pub method: Method,
    /// Seed of k-means++ seeding.
    pub seed: u64,
    /// Most Lloyd iterations of k-means.
    pub iterations: usize,
    /// Ridge term of the refit, relative to the average count of one centroid (n / K).
    pub ridge: f64,
    /// Engine lanes of every layer (capped at the layer's outputs).
    pub lanes: usize,
    /// The encoder of every layer (one entry), or of each layer in order.
    /// `tree` layers have K = 16 and `sign` layers K = 2^V, whatever `centroids` says.
    pub encoders: Vec<EncoderKind>,
    /// Training of `Method::Learned` (ignored by the other methods).
    pub learn: LearnOptions,
    /// (K, V) of each layer in order, overriding `centroids` and
    /// `sub_vector_len`; empty: every layer takes those.
    pub layer_shapes: Vec<LayerShape>,
    /// Width of the table entries (2 to 8): tables and the bias share one
    /// scale per layer, the largest magnitude at `2^(bits-1) - 1`.
    pub table_bits: u32,
    /// ITLUMM's grouping: permute every hidden layer's units so that each
    /// codebook of the next layer holds correlated inputs (an exact
    /// reparametrization of the float network; the network's input and
    /// output order are unchanged).
    pub group_inputs: bool,
}

/// One layer's codebook shape: K centroids per codebook, sub-vectors of V.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerShape {
    pub k: usize,
    pub v: usize,
}

impl std::fmt::Display for LayerShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.k, self.v)
    }
}

impl std::str::FromStr for LayerShape {
    type Err = String;
    /// `KxV`, e.g. `16x4`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a layer shape KxV (e.g. 16x4)");
        let (k, v) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let k: usize = k.parse().map_err(|_| bad())?;
        let v: usize = v.parse().map_err(|_| bad())?;
        if k < 2 || v == 0 {
            return Err(format!("{s}: K must be at least 2 and V at least 1"));
        }
        Ok(LayerShape { k, v })
    }
}

impl LayerShape {
    /// Table entries over int8 weights of a layer of this shape: K / V.
    pub fn ratio(self) -> f64 {
        self.k as f64 / self.v as f64
    }
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            centroids: 16,
            sub_vector_len: 4,
            method: Method::Refit,
            seed: 0,
            iterations: 50,
            ridge: 1.0,
            lanes: 1,
            encoders: vec![EncoderKind::L2],
            learn: LearnOptions::default(),
            layer_shapes: Vec::new(),
            table_bits: 8,
            group_inputs: false,
        }
    }
}

impl CompileOptions {
    /// The (K, V) of each of `layers` layers (K as given; encoders without
    /// centroids choose their own, see [`crate::encoders::centroids_for`]).
    pub fn shapes(&self, layers: usize) -> Result<Vec<LayerShape>, CompileError> {
        match self.layer_shapes.as_slice() {
            [] => Ok(vec![
                LayerShape {
                    k: self.centroids,
                    v: self.sub_vector_len,
                };
                layers
            ]),
            many if many.len() == layers => Ok(many.to_vec()),
            many => Err(CompileError::ShapeCount {
                given: many.len(),
                layers,
            }),
        }
    }

    /// The largest table entry magnitude: `2^(table_bits - 1) - 1`.
    pub fn table_max(&self) -> Result<f64, CompileError> {
        if !(2..=8).contains(&self.table_bits) {
            return Err(CompileError::TableBits {
                bits: self.table_bits,
            });
        }
        Ok(f64::from((1u32 << (self.table_bits - 1)) - 1))
    }

    /// The encoder of each of `layers` layers.
    pub fn layer_encoders(&self, layers: usize) -> Result<Vec<EncoderKind>, CompileError> {
        match self.encoders.as_slice() {
            [one] => Ok(vec![*one; layers]),
            many if many.len() == layers => Ok(many.to_vec()),
            many => Err(CompileError::EncoderCount {
                given: many.len(),
                layers,
            }),
        }
    }
}

/// Settings of the training (`compile --method learned`).
#[derive(Clone, Debug, PartialEq)]
pub struct LearnOptions {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per gradient step.
    pub batch: usize,
    /// Adam step size in normalized units (centroids in input codes, tables in table codes).
    pub learning_rate: f64,
    /// Fraction of the training split held out for validation (fixed seed).
    pub validation: f64,
    /// Class labels of the calibration rows (required by the learned method).
    pub labels: Option<Vec<usize>>,
    /// Weight of the distillation term: cross entropy against the float
    /// network's softened outputs (temperature 2), added to the label loss.
    pub distill: f64,
    /// Mixup distillation: per batch, this many times the batch's rows of
    /// unlabelled inputs, each a random convex combination of two training
    /// rows, added to the distillation term (weight `distill`) with the float
    /// network's softened outputs as targets. 0: off; needs `distill > 0`.
    pub mixup: f64,
    /// Train the tables as free parameters (from the refit tables) instead of
    /// deriving them from the centroids and the layer's weights (LUT-NN's way,
    /// which trains the weights).
    pub free_tables: bool,
    /// Keep the epoch whose compiled network is the most accurate on the
    /// validation rows (the refit start counts as epoch 0; ties: the later
    /// epoch) instead of the last.
    pub best_epoch: bool,
    /// Round the tables to the compile's table width in the training's
    /// forward pass (straight-through), as LUT-NN does; false: train on
    /// unrounded tables (they are rounded when compiled either way).
    pub quantize_tables: bool,
    /// Print one line per epoch on stderr.
    pub verbose: bool,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            epochs: 30,
            batch: 32,
            learning_rate: 0.2,
            validation: 0.1,
            labels: None,
            distill: 0.5,
            mixup: 0.0,
            free_tables: false,
            best_epoch: false,
            quantize_tables: true,
            verbose: false,
        }
    }
}
