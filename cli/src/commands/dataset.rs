//! The model and the data `eval` and `encoders` score it on.

use crate::error::Error;
use clap::Args;
pub use lutgen_compile::dataset::Dataset;
use lutgen_core::Network;
use lutgen_sim::whole_network::run_network_top;
use lutgen_sim::{Backpressure, SimOptions};
use std::path::PathBuf;
use std::time::Instant;

/// A trained MLP, its calibration inputs and a labelled test split (default: the committed digits set).
#[derive(Args, Debug)]
pub struct DatasetArgs {
    /// Trained model (.onnx, .safetensors or .npz) [default: tests/data/digits_mlp.safetensors;
    /// with `eval --network`, the float model to compare with, if given].
    #[arg(long, value_name = "MODEL")]
    pub weights: Option<PathBuf>,
    /// Calibration inputs (the training split).
    #[arg(long, default_value = "tests/data/digits_train_x.npy")]
    pub calibration: PathBuf,
    /// Test inputs.
    #[arg(long, default_value = "tests/data/digits_test_x.npy")]
    pub test_x: PathBuf,
    /// Test labels.
    #[arg(long, default_value = "tests/data/digits_test_y.npy")]
    pub test_y: PathBuf,
}

/// The model `eval` and `encoders` score when given none: the project's digits MLP.
pub const DEFAULT_MODEL: &str = "tests/data/digits_mlp.safetensors";

impl DatasetArgs {
    /// Reads the model and the data, checking widths and that every test input has a label.
    pub fn load(&self) -> Result<Dataset, Error> {
        Ok(Dataset::read(
            self.weights
                .as_deref()
                .unwrap_or(std::path::Path::new(DEFAULT_MODEL)),
            &self.calibration,
            &self.test_x,
            &self.test_y,
        )?)
    }
}

/// A compiled network scored on the test split.
pub struct Score {
    pub accuracy_reference: f64,
    /// Present when at least one vector ran on the device.
    pub device: Option<DeviceScore>,
}

/// The simulated device's part of a [`Score`].
pub struct DeviceScore {
    /// Over the first `vectors` test inputs.
    pub accuracy: f64,
    pub vectors: usize,
    /// Vectors whose outputs differ from the reference's (must be 0).
    pub mismatched: usize,
    /// The first differing vector and output, when one differs.
    pub first_mismatch: Option<String>,
    /// Cycles of the whole run on the network top.
    pub cycles: u64,
    /// Steady-state cycles per inference on the network top.
    pub cycles_per_inference: f64,
    pub seconds: f64,
}

impl DeviceScore {
    /// The device returned every vector and each equals the reference bit for bit.
    pub fn matches(&self) -> bool {
        self.mismatched == 0
    }
}

/// Cycles of the network top from the first test input offered to its
/// last output, with nothing else in flight.
pub fn score_latency(data: &Dataset, network: &Network) -> Result<u64, Error> {
    let input = network.input_quantization();
    let first = data.test.first().map(|x| input.quantize(x));
    let run = run_network_top(
        network,
        first.as_slice(),
        &SimOptions::default(),
        Backpressure::none(),
    )?;
    Ok(run.cycles.iter().sum())
}

/// Scores `network` on the test split in the integer reference, and on
/// the simulated device (the network top: every layer in hardware) for the
/// first `device_vectors` inputs.
pub fn score(data: &Dataset, network: &Network, device_vectors: usize) -> Result<Score, Error> {
    let input = network.input_quantization();
    let test_q: Vec<Vec<i8>> = data.test.iter().map(|x| input.quantize(x)).collect();
    score_quantized(network, &test_q, &data.labels, device_vectors)
}

/// The integer reference's outputs (`Network::infer`) for every input.
pub fn reference_outputs(network: &Network, inputs: &[Vec<i8>]) -> Result<Vec<Vec<i32>>, Error> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, x)| {
            network
                .infer(x)
                .map(|i| i.outputs)
                .map_err(|source| Error::Input { index, source })
        })
        .collect()
}

/// A device's outputs for the inputs of `reference` (the reference's
/// outputs for them), scored against it and the labels; a missing output
/// is a mismatch (cycles: the simulated device's, 0 for a board).
fn device_score(
    reference: &[Vec<i32>],
    outputs: &[Vec<i32>],
    labels: &[usize],
    cycles: (u64, f64),
    seconds: f64,
) -> DeviceScore {
    let vectors = reference.len();
    let differs = |i: usize| outputs.get(i) != Some(&reference[i]);
    let mismatched = (0..vectors).filter(|&i| differs(i)).count();
    let first_mismatch = (0..vectors).find(|&i| differs(i)).map(|i| {
        let Some(got) = outputs.get(i) else {
            return format!("vector {i}: the device returned no outputs");
        };
        let n = reference[i]
            .iter()
            .zip(got)
            .position(|(w, g)| w != g)
            .unwrap_or(0);
        match got.get(n) {
            Some(g) => format!(
                "vector {i}, output {n}: reference {}, device {g}",
                reference[i][n]
            ),
            None => format!("vector {i}: the device returned {} outputs", got.len()),
        }
    });
    DeviceScore {
        accuracy: lutgen_compile::accuracy(outputs, &labels[..outputs.len().min(vectors)]),
        vectors,
        mismatched,
        first_mismatch,
        cycles: cycles.0,
        cycles_per_inference: cycles.1,
        seconds,
    }
}

/// The reference's accuracy on every input, and the simulated network
/// top's on the first `device_vectors` (none when 0).
pub fn score_quantized(
    network: &Network,
    inputs: &[Vec<i8>],
    labels: &[usize],
    device_vectors: usize,
) -> Result<Score, Error> {
    score_with(network, inputs, labels, device_vectors, |vectors| {
        // The dataflow top runs convolutions and pooling too.
        let run = run_network_top(
            network,
            vectors,
            &SimOptions::default(),
            Backpressure::none(),
        )?;
        let cycles = (
            run.cycles.iter().sum(),
            run.cycles_per_inference.iter().sum(),
        );
        Ok((run.outputs, cycles))
    })
}

/// The reference's accuracy on every input, and `device`'s on the first
/// `device_vectors` (not called when 0). `device` returns its outputs and
/// (cycles, cycles per inference), zeros where it cannot count them.
pub fn score_with(
    network: &Network,
    inputs: &[Vec<i8>],
    labels: &[usize],
    device_vectors: usize,
    device: impl FnOnce(&[Vec<i8>]) -> Result<(Vec<Vec<i32>>, (u64, f64)), Error>,
) -> Result<Score, Error> {
    let reference = reference_outputs(network, inputs)?;
    let accuracy_reference = lutgen_compile::accuracy(&reference, labels);
    let vectors = device_vectors.min(inputs.len());
    if vectors == 0 {
        return Ok(Score {
            accuracy_reference,
            device: None,
        });
    }
    let started = Instant::now();
    let (outputs, cycles) = device(&inputs[..vectors])?;
    Ok(Score {
        accuracy_reference,
        device: Some(device_score(
            &reference[..vectors],
            &outputs,
            labels,
            cycles,
            started.elapsed().as_secs_f64(),
        )),
    })
}
