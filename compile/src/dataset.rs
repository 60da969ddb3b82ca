//! A trained model with its calibration inputs and a labelled test split.

use crate::error::CompileError;
use crate::eval::accuracy;
use crate::frontend::{self, Model, WeightsOptions};
use crate::mlp;
use std::path::Path;

/// A model, its calibration inputs and a labelled test split, as read by [`Dataset::read`].
pub struct Dataset {
    /// The model as read: `source.mlp`, and its float reference (an ONNX
    /// graph runs in tract).
    pub source: Model,
    pub calibration: Vec<Vec<f32>>,
    pub test: Vec<Vec<f32>>,
    pub labels: Vec<usize>,
}

impl Dataset {
    /// Reads the model (.safetensors or .npz) and the data (.npy), checking
    /// widths and that every test input has a label.
    pub fn read(
        weights: &Path,
        calibration: &Path,
        test_x: &Path,
        test_y: &Path,
    ) -> Result<Dataset, CompileError> {
        let source = frontend::read(weights, &WeightsOptions::default())?;
        let d = source.mlp.input_dim();
        let calibration = mlp::read_matrix(calibration, d, "calibration")?;
        let test = mlp::read_matrix(test_x, d, "test inputs")?;
        let labels = mlp::read_labels(test_y)?;
        if labels.len() != test.len() {
            return Err(CompileError::LabelCount {
                inputs: test.len(),
                labels: labels.len(),
            });
        }
        Ok(Dataset {
            source,
            calibration,
            test,
            labels,
        })
    }

    /// The float model's test accuracy (an ONNX model's: the graph's own).
    pub fn float_accuracy(&self) -> Result<f64, CompileError> {
        let outputs = self.source.float_outputs(&self.test)?;
        Ok(accuracy(&outputs, &self.labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_count_that_differs_from_the_inputs_is_refused() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
        // The training split's labels beside the test inputs: more labels than inputs.
        let err = Dataset::read(
            &data.join("digits_mlp.safetensors"),
            &data.join("digits_train_x.npy"),
            &data.join("digits_test_x.npy"),
            &data.join("digits_train_y.npy"),
        )
        .err()
        .expect("refused");
        assert!(matches!(err, CompileError::LabelCount { .. }), "{err}");
        assert!(err.to_string().contains("one label per input"), "{err}");
        let ok = Dataset::read(
            &data.join("digits_mlp.safetensors"),
            &data.join("digits_train_x.npy"),
            &data.join("digits_test_x.npy"),
            &data.join("digits_test_y.npy"),
        )
        .expect("the committed split reads");
        assert_eq!(ok.test.len(), ok.labels.len());
    }
}
