//! Learned centroids and tables (LUT-NN's training), with candle's autodiff.
//!
//! Starting point: the `refit` compile (k-means centroids, ridge-refit
//! tables). Then, through the whole network, on the training split less a
//! validation part:
//!
//! - each layer's argmin becomes, for the gradient, a softmax over negative
//!   squared distances with a learned temperature per layer; the forward pass
//!   keeps the hard one-hot choice (straight-through: `hard + soft -
//!   detach(soft)`), so the loss is the loss of the network the device runs;
//! - tables and biases are rounded to the table width at the compiler's
//!   scale (`max|T| / 127` for int8) in the forward pass (straight-through;
//!   `quantize_tables` off: not rounded);
//! - the inputs of every layer are quantized as the device's are: the
//!   network's input quantization for the first layer, the ReLU
//!   requantization (calibrated on the training split at the start of every
//!   epoch) for the others (straight-through);
//! - a convolution layer gathers each output pixel's patch (im2col through
//!   a fixed index tensor with a pad slot of real 0, the input zero point's
//!   value), runs the dense machinery on the `(rows * pixels, D)` patches
//!   and reshapes to the HWC map; after the step, the layer's pooling as
//!   the device pools (2x2 max exactly; averages rounded to the next input's
//!   step, straight-through);
//! - the loss is the cross entropy of the last layer's real outputs; Adam.
//!
//! Centroids are trained in real units (the layer's dequantized input), so
//! they stay meaningful when the requantization scale before them moves.
//! After training, [`compile_with`] freezes them: centroids rounded to int8 in
//! the calibrated input domain, tables and biases quantized, requantization
//! calibrated, exactly as for the other methods. The validation accuracy
//! printed after every epoch is that compiled network's, in the integer
//! reference.
//!
//! Deterministic for a fixed seed: ChaCha8 for the split and batch order, and
//! candle's CPU kernels compute every output element in one thread in a
//! fixed order (checked by a test: same network bytes twice).

use crate::error::CompileError;
use crate::eval::accuracy;
use crate::layers::{check_calibration, compile_steps, compile_with, LayerParams};
use crate::mlp::{Activation, Mlp};
use crate::options::{CompileOptions, Method};
use crate::quantize::{between, Between};
use candle_core::{DType, Device, Tensor, Var, D};
use indicatif::ProgressBar;
use lutgen_core::network::{ActivationTable, Network};
use lutgen_core::spatial::{Conv, MapShape, Pool};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// One epoch's progress.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training cross entropy over the epoch's batches.
    pub loss: f64,
    /// Accuracy of the compiled (integer) network on the validation rows.
    pub validation_accuracy: f64,
}

fn err(e: candle_core::Error) -> CompileError {
    CompileError::Learn(e.to_string())
}

/// One layer's trainable state, in normalized units.
struct LayerVars {
    c: usize,
    k: usize,
    v: usize,
    /// Input scale at the start: centroids are `centroids * in_unit` in real units.
    in_unit: f64,
    /// Accumulator scale at the start: tables and bias are `x * acc_unit` in real units.
    acc_unit: f64,
    centroids: Var,
    tables: Var,
    /// With derived tables: the layer's weights `(C, V, N)` in units of `w_unit`.
    weight: Option<Var>,
    w_unit: f64,
    bias: Var,
    log_temperature: Var,
    /// A convolution's im2col gather: per output pixel, its patch's indices
    /// `(P * D)` into the input map with one pad slot appended (index
    /// `input_len`, real value 0: the pad value is the input zero point).
    gather: Option<Gather>,
    /// The pooling after the layer's step, and the map it pools (HWC).
    pool: Option<(Pool, MapShape)>,
}

/// A convolution layer's patch gather (see [`LayerVars::gather`]).
struct Gather {
    index: Tensor,
    pixels: usize,
}

impl Gather {
    fn new(conv: &Conv, device: &Device) -> candle_core::Result<Self> {
        let g = conv.geometry;
        let pad = g.input_len() as u32;
        let mut index = Vec::with_capacity(g.out_pixels() * g.patch_len());
        for oy in 0..g.out_height() {
            for ox in 0..g.out_width() {
                index.extend(
                    (0..g.patch_len()).map(|i| g.source(oy, ox, i).map_or(pad, |j| j as u32)),
                );
            }
        }
        let len = index.len();
        Ok(Gather {
            index: Tensor::from_vec(index, len, device)?,
            pixels: g.out_pixels(),
        })
    }

    /// The patches `(b * P, D)` of the input maps `h` `(b, H * W * C)` (real units).
    fn patches(&self, h: &Tensor, d: usize) -> candle_core::Result<Tensor> {
        let b = h.dim(0)?;
        let pad = Tensor::zeros((b, 1), h.dtype(), h.device())?;
        let padded = Tensor::cat(&[h, &pad], 1)?.contiguous()?;
        padded
            .index_select(&self.index, 1)?
            .reshape((b * self.pixels, d))
    }
}

impl LayerVars {
    /// The layer's input rows `(b', D)` for inputs `h` `(b, in)`: `h` itself,
    /// or a convolution's patches (`b' = b * P`).
    fn rows(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        match &self.gather {
            Some(g) => g.patches(h, self.c * self.v),
            None => Ok(h.clone()),
        }
    }

    /// The layer's outputs `(b, P * N)` (HWC) from its rows' outputs `(b * P, N)`.
    fn maps(&self, y: &Tensor, b: usize) -> candle_core::Result<Tensor> {
        match &self.gather {
            Some(_) => {
                let n = y.dim(1)?;
                y.reshape((b, y.dim(0)? / b * n))
            }
            None => Ok(y.clone()),
        }
    }

    /// The tables `(C*K, N)` in units of `acc_unit`: free, or the centroids' dot products with the weights.
    fn table(&self) -> candle_core::Result<Tensor> {
        let Some(w) = &self.weight else {
            return Ok(self.tables.as_tensor().clone());
        };
        let (c, k, v) = (self.c, self.k, self.v);
        let p = self.centroids.as_tensor().reshape((c, k, v))?;
        let t = p.matmul(w.as_tensor())?; // (c, k, n)
        let n = t.dim(2)?;
        t.reshape((c * k, n))?
            .affine(self.in_unit * self.w_unit / self.acc_unit, 0.0)
    }
}

/// Straight-through rounding of the tables to `[-q, q]` at scale `max|x| / q`
/// (q = 127 for int8 tables): forward quantized, backward identity. `q = None`:
/// no rounding (the scale is still returned). Also returns that scale (in the units of `t`).
fn fake_quant_tables(
    t: &Tensor,
    b: &Tensor,
    q: Option<f64>,
) -> candle_core::Result<(Tensor, Tensor, f64)> {
    let tmax = t.detach().abs()?.max_all()?.to_vec0::<f32>()?;
    let Some(q) = q else {
        let s = if tmax > 0.0 { f64::from(tmax) } else { 1.0 };
        return Ok((t.clone(), b.clone(), s));
    };
    let s = if tmax > 0.0 { f64::from(tmax) / q } else { 1.0 };
    let tq = t
        .detach()
        .affine(1.0 / s, 0.0)?
        .round()?
        .clamp(-q, q)?
        .affine(s, 0.0)?;
    let bq = b.detach().affine(1.0 / s, 0.0)?.round()?.affine(s, 0.0)?;
    let t = (t + (tq - t.detach())?)?;
    let b = (b + (bq - b.detach())?)?;
    Ok((t, b, s))
}

/// The integer step after a hidden layer (requantization, then the
/// activation table if there is one), applied to real values as the device
/// applies it to accumulators: calibrated like the compiler's, by [`between`].
struct TrainStep {
    /// Real value of one requantized code, its zero point, and whether the requantization is a ReLU.
    s_r: f64,
    z_r: i32,
    relu: bool,
    /// With an activation table: the table, the next input's scale and zero
    /// point, and the float activation's slope at each of the 256 codes.
    table: Option<(ActivationTable, f64, i32, Vec<f32>)>,
}

impl TrainStep {
    fn new(step: &Between, activation: &Activation) -> Self {
        let (s_r, z_r) = (step.requantize_scale, i32::from(step.requantize.zero_point));
        let table = step.table.map(|t| {
            // Slope at code q: f over one code's width around the code's value.
            let x: Vec<f64> = (-128i32..=127).map(|q| f64::from(q - z_r) * s_r).collect();
            let up = activation.apply(&x.iter().map(|&x| x + s_r / 2.0).collect::<Vec<_>>());
            let down = activation.apply(&x.iter().map(|&x| x - s_r / 2.0).collect::<Vec<_>>());
            let slope = up
                .iter()
                .zip(&down)
                .map(|(u, d)| ((u - d) / s_r) as f32)
                .map(|d| if d.is_finite() { d } else { 0.0 })
                .collect();
            (t, step.scale, i32::from(step.zero_point), slope)
        });
        TrainStep {
            s_r,
            z_r,
            relu: step.requantize.relu,
            table,
        }
    }

    /// The next layer's real input for each real output `y` (forward: the
    /// device's value) and its derivative with respect to `y` (backward:
    /// straight-through the roundings, the float activation's slope).
    fn apply(&self, y: &[f32]) -> (Vec<f32>, Vec<f32>) {
        y.iter()
            .map(|&y| {
                let mut q = ((f64::from(y) / self.s_r).round() + f64::from(self.z_r))
                    .clamp(-128.0, 127.0) as i32;
                if self.relu {
                    q = q.max(self.z_r);
                }
                match &self.table {
                    Some((table, s_o, z_o, slope)) => {
                        let a = i32::from(table.apply(q as i8));
                        ((f64::from(a - z_o) * s_o) as f32, slope[(q + 128) as usize])
                    }
                    None => {
                        let d = if self.relu && y <= 0.0 { 0.0 } else { 1.0 };
                        ((f64::from(q - self.z_r) * self.s_r) as f32, d)
                    }
                }
            })
            .unzip()
    }
}

struct Model {
    layers: Vec<LayerVars>,
    /// The activation after each layer but the last.
    activations: Vec<Activation>,
    /// The integer step after each layer but the last, recalibrated every epoch.
    steps: Vec<TrainStep>,
    device: Device,
    /// The largest table code in the training's forward pass (None: tables not rounded).
    table_max: Option<f64>,
}

impl Model {
    /// Squared distances `(b, c, k)` of layer `lv`'s input rows `h` `(b, D)`
    /// (real units; a convolution's: its patches, [`Gather::patches`]) to its centroids.
    fn distances(&self, lv: &LayerVars, h: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, k, v) = (h.dim(0)?, lv.c, lv.k, lv.v);
        let u = h.affine(1.0 / lv.in_unit, 0.0)?.reshape((b, c, 1, v))?;
        let p = lv.centroids.as_tensor().reshape((1, c, k, v))?;
        u.broadcast_sub(&p)?.sqr()?.sum(3)
    }

    /// The layer's real outputs `(b, N)` for the choices `a` `(b, c, k)`, and
    /// the real value of one accumulator unit.
    fn outputs(&self, lv: &LayerVars, a: &Tensor) -> candle_core::Result<(Tensor, f64)> {
        let b = a.dim(0)?;
        let (tq, bq, s) = fake_quant_tables(&lv.table()?, lv.bias.as_tensor(), self.table_max)?;
        let y = a
            .reshape((b, lv.c * lv.k))?
            .matmul(&tq)?
            .broadcast_add(&bq)?
            .affine(lv.acc_unit, 0.0)?;
        Ok((y, s * lv.acc_unit))
    }

    /// One-hot nearest choices `(b, c, k)` for the distances.
    fn hard(&self, dist: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        let idx = dist.detach().argmin_keepdim(2)?; // (b, c, 1) u32
        let ks = Tensor::arange(0u32, k as u32, &self.device)?.reshape((1, 1, k))?;
        ks.broadcast_eq(&idx)?.to_dtype(DType::F32)
    }

    /// `step` on the real outputs `y`: the device's values forward, straight-through backward.
    fn step(&self, y: &Tensor, step: &TrainStep) -> candle_core::Result<Tensor> {
        let shape = y.dims2()?;
        let (out, slope) = step.apply(&y.detach().flatten_all()?.to_vec1::<f32>()?);
        let out = Tensor::from_vec(out, shape, &self.device)?;
        let slope = Tensor::from_vec(slope, shape, &self.device)?;
        out + ((y - y.detach())? * slope)?
    }

    /// The layer's pooling on its stepped outputs `h` `(b, H * W * C)` (real
    /// units, each a multiple of the next input's scale around its zero):
    /// 2x2 max exactly as the device (the max of the codes); averages as the
    /// mean rounded to the next input's step half away from zero forward,
    /// the mean backward.
    fn pool(&self, lv: &LayerVars, h: &Tensor, step: &TrainStep) -> candle_core::Result<Tensor> {
        let Some((pool, map)) = lv.pool else {
            return Ok(h.clone());
        };
        let b = h.dim(0)?;
        let (hh, ww, c) = (map.height, map.width, map.channels);
        let m = h.reshape((b, hh, ww, c))?;
        let pooled = match pool {
            Pool::Max2 | Pool::Avg2 => {
                let (ho, wo) = (hh / 2, ww / 2);
                let m = m.narrow(1, 0, 2 * ho)?.narrow(2, 0, 2 * wo)?;
                let m = m.reshape((b, ho, 2, wo, 2, c))?;
                if pool == Pool::Max2 {
                    return m.max(4)?.max(2)?.reshape((b, ho * wo * c));
                }
                m.mean(4)?.mean(2)?.reshape((b, ho * wo * c))?
            }
            Pool::GlobalAvg => m.reshape((b, hh * ww, c))?.mean(1)?,
        };
        let s = step.table.as_ref().map_or(step.s_r, |t| t.1);
        let shape = pooled.dims2()?;
        let rounded: Vec<f32> = pooled
            .detach()
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|x| {
                let q = f64::from(x) / s;
                // Half away from zero: the device's rule around the zero point.
                ((q.abs() + 0.5).floor() * q.signum() * s) as f32
            })
            .collect();
        let rounded = Tensor::from_vec(rounded, shape, &self.device)?;
        &pooled + (rounded - pooled.detach())?
    }

    /// Forward pass; returns the logits (real units).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (l, lv) in self.layers.iter().enumerate() {
            let b = h.dim(0)?;
            let rows = lv.rows(&h)?;
            let dist = self.distances(lv, &rows)?;
            let t = lv.log_temperature.as_tensor().exp()?;
            let logits = dist.neg()?.broadcast_div(&t)?;
            let m = logits.max_keepdim(2)?.detach();
            let e = logits.broadcast_sub(&m)?.exp()?;
            let soft = e.broadcast_div(&e.sum_keepdim(2)?)?;
            let a = (self.hard(&dist, lv.k)? + (&soft - soft.detach())?)?;
            let (y, _) = self.outputs(lv, &a)?;
            let y = lv.maps(&y, b)?;
            if l == last {
                return Ok(y);
            }
            h = self.pool(lv, &self.step(&y, &self.steps[l])?, &self.steps[l])?;
        }
        unreachable!("the last layer returns")
    }

    /// Walks the layers with hard choices on `x` (all training rows), as the
    /// compiler calibrates: each layer's step from its real outputs' range,
    /// then the next layer's input through it. Returns the steps and each
    /// layer's mean nearest distance (normalized units).
    fn calibrate(&self, x: &Tensor) -> Result<(Vec<TrainStep>, Vec<f64>), CompileError> {
        let mut h = x.clone();
        let mut steps = Vec::new();
        let mut nearest = Vec::new();
        for (l, lv) in self.layers.iter().enumerate() {
            let b = h.dim(0).map_err(err)?;
            let rows = lv.rows(&h).map_err(err)?;
            let dist = self.distances(lv, &rows).map_err(err)?;
            let near = dist.min_keepdim(2).and_then(|d| d.mean_all());
            nearest.push(f64::from(
                near.and_then(|d| d.to_vec0::<f32>()).map_err(err)?,
            ));
            if l + 1 == self.layers.len() {
                break;
            }
            let a = self.hard(&dist, lv.k).map_err(err)?;
            let (y, acc_scale) = self.outputs(lv, &a).map_err(err)?;
            let y = lv.maps(&y, b).map_err(err)?;
            let lo = y.min_all().and_then(|m| m.to_vec0::<f32>()).map_err(err)?;
            let hi = y.max_all().and_then(|m| m.to_vec0::<f32>()).map_err(err)?;
            let b = between(
                &self.activations[l],
                acc_scale,
                f64::from(lo).min(0.0),
                f64::from(hi).max(0.0),
                l,
            )?;
            let step = TrainStep::new(&b, &self.activations[l]);
            h = self
                .step(&y, &step)
                .and_then(|h| self.pool(lv, &h, &step))
                .map_err(err)?;
            steps.push(step);
        }
        Ok((steps, nearest))
    }

    fn vars(&self) -> Vec<(&Var, f64)> {
        let mut out = Vec::new();
        for lv in &self.layers {
            out.push((&lv.centroids, 1.0));
            match &lv.weight {
                Some(w) => out.push((w, 1.0)),
                None => out.push((&lv.tables, 1.0)),
            }
            out.push((&lv.bias, 1.0));
            out.push((&lv.log_temperature, 1.0));
        }
        out
    }

    fn params(&self) -> candle_core::Result<Vec<LayerParams>> {
        self.layers
            .iter()
            .map(|lv| {
                let f = |t: &Var, unit: f64| -> candle_core::Result<Vec<f64>> {
                    Ok(t.as_tensor()
                        .flatten_all()?
                        .to_vec1::<f32>()?
                        .into_iter()
                        .map(|x| f64::from(x) * unit)
                        .collect())
                };
                Ok(LayerParams {
                    centroids: f(&lv.centroids, lv.in_unit)?,
                    tables: lv
                        .table()?
                        .flatten_all()?
                        .to_vec1::<f32>()?
                        .into_iter()
                        .map(|x| f64::from(x) * lv.acc_unit)
                        .collect(),
                    bias: f(&lv.bias, lv.acc_unit)?,
                })
            })
            .collect()
    }
}

fn rows_tensor(rows: &[Vec<f64>], device: &Device) -> candle_core::Result<Tensor> {
    let width = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
    Tensor::from_vec(flat, (rows.len(), width), device)
}

/// Trains centroids, tables and biases of `mlp` for the labels, then compiles
/// the result exactly as [`compile_with`] does. Returns the network and the
/// per-epoch log.
pub fn learn(
    mlp: &Mlp,
    calibration: &[Vec<f32>],
    labels: &[usize],
    options: &CompileOptions,
    progress: &ProgressBar,
) -> Result<(Network, Vec<EpochLog>), CompileError> {
    check_calibration(mlp, calibration)?;
    if labels.len() != calibration.len() {
        return Err(CompileError::Learn(format!(
            "{} calibration rows but {} labels",
            calibration.len(),
            labels.len()
        )));
    }
    let classes = mlp.layers.last().expect("at least one layer").outputs;
    if let Some(&bad) = labels.iter().find(|&&y| y >= classes) {
        return Err(CompileError::Learn(format!(
            "label {bad} is not below the network's {classes} outputs"
        )));
    }
    let lo = &options.learn;
    if !(lo.mixup >= 0.0 && lo.mixup.is_finite()) {
        return Err(CompileError::Learn(format!(
            "mixup {} is not a number of rows per batch row (0 or more)",
            lo.mixup
        )));
    }
    if lo.mixup > 0.0 && lo.distill <= 0.0 {
        return Err(CompileError::Learn(
            "mixup needs distillation (--distill above 0): the mixed rows have no labels, \
             only the float network's outputs"
                .into(),
        ));
    }
    let refit = CompileOptions {
        method: Method::Refit,
        ..options.clone()
    };
    let (init, init_steps) = compile_steps(mlp, calibration, &refit, None, progress)?;
    let device = Device::Cpu;
    options.shapes(mlp.layers.len())?;
    let table_max = options.table_max()?;
    // The real input scale and zero point of every layer at the start.
    let input = init.input_quantization();
    let mut scales = vec![f64::from(input.scale)];
    let mut zero_points = vec![f64::from(input.zero_point)];
    for step in &init_steps {
        scales.push(step.scale);
        zero_points.push(f64::from(step.zero_point));
    }

    // Split the training rows: a fixed-seed shuffle, the first part validates.
    let n = calibration.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed ^ 0x5EED_1EA2_0000_0007);
    order.shuffle(&mut rng);
    let n_val = ((n as f64 * lo.validation).round() as usize).min(n.saturating_sub(1));
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut train_idx = train_idx.to_vec();

    // The first layer's input as the device sees it (dequantized int8), once.
    let dequantized = |x: &[f32]| -> Vec<f64> {
        input
            .quantize(x)
            .iter()
            .map(|&q| (f64::from(q) - f64::from(input.zero_point)) * f64::from(input.scale))
            .collect()
    };
    let x_real: Vec<Vec<f64>> = calibration.iter().map(|x| dequantized(x)).collect();
    let x_all = rows_tensor(&x_real, &device).map_err(err)?;
    let y_all = Tensor::from_vec(
        labels.iter().map(|&y| y as u32).collect::<Vec<_>>(),
        n,
        &device,
    )
    .map_err(err)?;

    // Variables from the refit compile.
    let mut layers = Vec::new();
    for (l, (layer, dense)) in init.layers().iter().zip(&mlp.layers).enumerate() {
        let cfg = layer.image.config();
        // The compiled shape: a k x k convolution's V is k * k, whatever the options say.
        let (c, nout, k) = (cfg.codebooks, cfg.outputs, cfg.centroids);
        let v = cfg.input_dim / c;
        let spatial = mlp.spatial_of(l);
        let gather = match &spatial.conv {
            Some(conv) => Some(Gather::new(conv, &device).map_err(err)?),
            None => None,
        };
        let pool = match (spatial.pool, spatial.output_map(nout)) {
            (Some(pool), Some(map)) => Some((pool, map)),
            _ => None,
        };
        let zp = zero_points[l];
        let cent: Vec<f32> = layer
            .image
            .centroids()
            .iter()
            .map(|&p| (f64::from(p) - zp) as f32)
            .collect();
        let tabs: Vec<f32> = layer.image.tables().iter().map(|&t| f32::from(t)).collect();
        let acc = f64::from(layer.accumulator_scale);
        let bias: Vec<f32> = dense
            .bias
            .iter()
            .map(|&b| (f64::from(b) / acc) as f32)
            .collect();
        let var = |data: Vec<f32>, shape: (usize, usize)| {
            Var::from_tensor(&Tensor::from_vec(data, shape, &device)?)
        };
        // Derived tables: W (N, D) as (C, V, N), in int8 weight units.
        let wmax = dense.weight.iter().fold(0f32, |m, &w| m.max(w.abs()));
        let w_unit = if wmax > 0.0 {
            f64::from(wmax) / 127.0
        } else {
            1.0
        };
        let mut wt = vec![0f32; c * v * nout];
        for o in 0..nout {
            for (i, &w) in dense.row(o).iter().enumerate() {
                wt[i * nout + o] = (f64::from(w) / w_unit) as f32;
            }
        }
        let weight = if lo.free_tables {
            None
        } else {
            Some(
                Var::from_tensor(&Tensor::from_vec(wt, (c, v, nout), &device).map_err(err)?)
                    .map_err(err)?,
            )
        };
        let lv = LayerVars {
            weight,
            w_unit,
            c,
            k,
            v,
            in_unit: scales[l],
            acc_unit: acc,
            centroids: var(cent, (c * k, v)).map_err(err)?,
            tables: var(tabs, (c * k, nout)).map_err(err)?,
            bias: var(bias, (1, nout)).map_err(err)?,
            log_temperature: Var::from_tensor(&Tensor::new(&[0f32], &device).map_err(err)?)
                .map_err(err)?,
            gather,
            pool,
        };
        layers.push(lv);
    }
    // The float network's outputs: the distillation targets (softmax at temperature DISTILL_T).
    let soft_targets = |x: &[f32]| -> Vec<f32> {
        let z = mlp.forward(&x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let m = z.iter().fold(f64::MIN, |a, &b| a.max(b));
        let e: Vec<f64> = z.iter().map(|&v| ((v - m) / DISTILL_T).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.into_iter().map(|v| (v / sum) as f32).collect()
    };
    let teacher: Vec<f32> = calibration.iter().flat_map(|x| soft_targets(x)).collect();
    let teacher = Tensor::from_vec(teacher, (n, classes), &device).map_err(err)?;
    let mut model = Model {
        layers,
        activations: mlp.activations.clone(),
        steps: Vec::new(),
        device: device.clone(),
        table_max: lo.quantize_tables.then_some(table_max),
    };
    // Temperature: the mean nearest distance (normalized units) at the start, per layer.
    let (steps, nearest) = model.calibrate(&x_all)?;
    model.steps = steps;
    for (lv, d) in model.layers.iter().zip(nearest) {
        let t = d.max(1.0);
        lv.log_temperature
            .set(&Tensor::new(&[t.ln() as f32], &device).map_err(err)?)
            .map_err(err)?;
    }

    let vars = model.vars();
    let mut adam: Vec<(Tensor, Tensor)> = vars
        .iter()
        .map(|(var, _)| {
            let z = var.as_tensor().zeros_like()?;
            Ok((z.clone(), z))
        })
        .collect::<candle_core::Result<_>>()
        .map_err(err)?;
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let batch = lo.batch.max(1);
    let steps_per_epoch = train_idx.len().div_ceil(batch);
    let total_steps = (steps_per_epoch * lo.epochs).max(1);
    let mut step = 0usize;
    let mut log = Vec::new();
    // Accuracy of a compiled network on the validation rows (integer reference).
    let validate = |network: &Network| -> Result<f64, CompileError> {
        if val_idx.is_empty() {
            return Ok(f64::NAN);
        }
        let outs: Vec<Vec<i32>> = val_idx
            .iter()
            .map(|&i| {
                network
                    .infer(&input.quantize(&calibration[i]))
                    .map(|r| r.outputs)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| CompileError::Learn(e.to_string()))?;
        let ys: Vec<usize> = val_idx.iter().map(|&i| labels[i]).collect();
        Ok(accuracy(&outs, &ys))
    };
    // With `best_epoch`, the refit start competes as epoch 0.
    let mut best: Option<(f64, Network)> = None;
    if lo.best_epoch && lo.epochs > 0 {
        best = Some((validate(&init)?, init.clone()));
    }
    drop(vars);
    progress.set_length(lo.epochs as u64);
    progress.set_position(0);
    for epoch in 1..=lo.epochs {
        // Recalibrate the steps between layers on all training rows, as the compiler will.
        model.steps = model.calibrate(&x_all)?.0;
        train_idx.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for chunk in train_idx.chunks(batch) {
            let ids = Tensor::from_vec(
                chunk.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                chunk.len(),
                &device,
            )
            .map_err(err)?;
            let xb = x_all.index_select(&ids, 0).map_err(err)?;
            let yb = y_all.index_select(&ids, 0).map_err(err)?;
            let logits = model.forward(&xb).map_err(err)?;
            let mut loss = cross_entropy(&logits, &yb).map_err(err)?;
            if lo.distill > 0.0 {
                let tb = teacher.index_select(&ids, 0).map_err(err)?;
                let kd =
                    soft_cross_entropy(&(&logits / DISTILL_T).map_err(err)?, &tb).map_err(err)?;
                loss = (loss + (kd * (lo.distill * DISTILL_T * DISTILL_T)).map_err(err)?)
                    .map_err(err)?;
            }
            if lo.mixup > 0.0 {
                // Unlabelled inputs between two training rows, scored by the float network.
                let rows = ((chunk.len() as f64 * lo.mixup).round() as usize).max(1);
                let (mut xs, mut ts) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
                for _ in 0..rows {
                    let a = &calibration[*train_idx.choose(&mut rng).expect("training rows")];
                    let b = &calibration[*train_idx.choose(&mut rng).expect("training rows")];
                    let t: f32 = rng.gen();
                    let mixed: Vec<f32> = a
                        .iter()
                        .zip(b)
                        .map(|(&a, &b)| t * a + (1.0 - t) * b)
                        .collect();
                    xs.push(dequantized(&mixed));
                    ts.push(soft_targets(&mixed));
                }
                let xm = rows_tensor(&xs, &device).map_err(err)?;
                let tm = Tensor::from_vec(ts.concat(), (rows, classes), &device).map_err(err)?;
                let lm = model.forward(&xm).map_err(err)?;
                let kd = soft_cross_entropy(&(&lm / DISTILL_T).map_err(err)?, &tm).map_err(err)?;
                loss = (loss + (kd * (lo.distill * DISTILL_T * DISTILL_T)).map_err(err)?)
                    .map_err(err)?;
            }
            loss_sum += f64::from(loss.to_vec0::<f32>().map_err(err)?);
            let grads = loss.backward().map_err(err)?;
            step += 1;
            // Cosine decay of the step size over the whole run.
            let lr = lo.learning_rate
                * 0.5
                * (1.0 + (std::f64::consts::PI * step as f64 / total_steps as f64).cos());
            for ((var, scale), (m, s)) in model.vars().into_iter().zip(adam.iter_mut()) {
                let Some(g) = grads.get(var.as_tensor()) else {
                    continue;
                };
                let update = (|| -> candle_core::Result<()> {
                    *m = ((&*m * beta1)? + (g * (1.0 - beta1))?)?;
                    *s = ((&*s * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                    let mh = (&*m / (1.0 - beta1.powi(step as i32)))?;
                    let sh = (&*s / (1.0 - beta2.powi(step as i32)))?;
                    let delta = (mh / (sh.sqrt()? + eps)?)?;
                    var.set(&(var.as_tensor() - (delta * (lr * scale))?)?)
                })();
                update.map_err(err)?;
            }
        }
        // Validation: the compiled integer network.
        let params = model.params().map_err(err)?;
        let network = compile_with(
            mlp,
            calibration,
            options,
            Some(&params),
            &ProgressBar::hidden(),
        )?;
        let validation_accuracy = validate(&network)?;
        let entry = EpochLog {
            epoch,
            loss: loss_sum / steps_per_epoch.max(1) as f64,
            validation_accuracy,
        };
        if lo.verbose {
            progress.suspend(|| {
                eprintln!(
                    "epoch {:>3}/{}: loss {:.4}, validation accuracy {:.2}% ({} rows, compiled network)",
                    entry.epoch,
                    lo.epochs,
                    entry.loss,
                    100.0 * entry.validation_accuracy,
                    val_idx.len()
                )
            });
        }
        progress.set_message(format!(
            "epoch {epoch}: loss {:.4}, validation {:.2}%",
            entry.loss,
            100.0 * entry.validation_accuracy
        ));
        progress.inc(1);
        // The best so far (ties: the later epoch), or the last.
        if !lo.best_epoch
            || best
                .as_ref()
                .is_none_or(|(a, _)| validation_accuracy >= *a || a.is_nan())
        {
            best = Some((validation_accuracy, network));
        }
        log.push(entry);
    }
    let network = match best {
        Some((_, network)) => network,
        None => {
            let params = model.params().map_err(err)?;
            compile_with(mlp, calibration, options, Some(&params), progress)?
        }
    };
    Ok((network, log))
}

/// Temperature of the distillation targets and outputs.
const DISTILL_T: f64 = 2.0;

/// Mean cross entropy of `logits` (b, classes) against target distributions `p` (b, classes).
fn soft_cross_entropy(logits: &Tensor, p: &Tensor) -> candle_core::Result<Tensor> {
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let logp = shifted.broadcast_sub(&lse)?;
    (p * logp)?.sum(D::Minus1)?.neg()?.mean_all()
}

/// Mean cross entropy of `logits` (b, classes) for `labels` (b) u32.
fn cross_entropy(logits: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&labels.unsqueeze(1)?, D::Minus1)?;
    (lse - picked)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_of_a_sure_answer_is_small() {
        let d = Device::Cpu;
        let logits = Tensor::new(&[[10f32, 0.0, 0.0], [0.0, 0.0, 0.0]], &d).unwrap();
        let labels = Tensor::new(&[0u32, 2], &d).unwrap();
        let ce = cross_entropy(&logits, &labels)
            .unwrap()
            .to_vec0::<f32>()
            .unwrap();
        let want = ((1.0 + 2.0 * (-10f32).exp()).ln() + 3f32.ln()) / 2.0;
        assert!((ce - want).abs() < 1e-5, "{ce} vs {want}");
    }
}
