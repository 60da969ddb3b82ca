//! The model file in: the frontend is picked by the file's type, and the
//! result is one [`Mlp`] either way.
//!
//! - `.onnx` ([`crate::onnx`]): the graph says the layers, the activations
//!   and the head; tract runs the graph itself as the float reference.
//! - `.safetensors`, `.npz` ([`crate::mlp`]): tensors by name; a weights file
//!   carries no graph, so the activation between layers is the caller's
//!   explicit choice (ReLU when none is given), so is folding its BatchNorms
//!   (`--batch-norm after-linear`), and the float reference is the
//!   [`Mlp`]'s own forward pass.

use crate::batch_norm::Fold;
use crate::error::CompileError;
use crate::mlp::{Activation, Mlp};
use crate::onnx::{self, OnnxModel};
use std::path::Path;

/// A model as read, and how to run it in float.
#[derive(Debug)]
pub struct Model {
    pub mlp: Mlp,
    onnx: Option<OnnxModel>,
}

/// How a weights file is read (an ONNX graph needs neither).
#[derive(Clone, Debug, Default)]
pub struct WeightsOptions {
    /// Module prefixes in order, linear layers and BatchNorms (default: every
    /// 2-D `*.weight` and every BatchNorm, in natural order).
    pub layers: Vec<String>,
    /// The activation between layers (default ReLU).
    pub activation: Option<Activation>,
    /// Where the file's BatchNorms sit, so they are folded (default: none
    /// chosen, and BatchNorm tensors are an error).
    pub batch_norm: Option<Fold>,
}

fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Reads the model at `path` with the frontend its extension names.
pub fn read(path: &Path, options: &WeightsOptions) -> Result<Model, CompileError> {
    if is_onnx(path) {
        if !options.layers.is_empty()
            || options.activation.is_some()
            || options.batch_norm.is_some()
        {
            return Err(CompileError::OnnxOptions {
                path: path.to_path_buf(),
            });
        }
        let (mlp, graph) = onnx::read(path)?;
        return Ok(Model {
            mlp,
            onnx: Some(graph),
        });
    }
    let mut mlp = Mlp::read_with(path, &options.layers, options.batch_norm)?;
    if let Some(a) = &options.activation {
        mlp = mlp.with_activation(a.clone());
    }
    Ok(Model { mlp, onnx: None })
}

impl Model {
    /// The float model's outputs on `rows`: the ONNX graph run by tract, or the Mlp's forward pass.
    pub fn float_outputs(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<f64>>, CompileError> {
        match &self.onnx {
            Some(onnx) => Ok(onnx
                .float_outputs(rows)?
                .into_iter()
                .map(|r| r.into_iter().map(f64::from).collect())
                .collect()),
            None => Ok(rows
                .iter()
                .map(|x| {
                    self.mlp
                        .forward(&x.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>())
                })
                .collect()),
        }
    }

    /// Where the float reference comes from, for summaries.
    pub fn source(&self) -> &'static str {
        if self.onnx.is_some() {
            "the ONNX graph, run by tract"
        } else {
            "the weights, with the chosen activation"
        }
    }
}
