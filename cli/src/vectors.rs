//! Activation vectors in and results out: random ones, and `.npy` files.

use crate::error::Error;
use lutgen_compile::npy::Values;
use lutgen_core::EngineConfig;
use std::path::Path;

/// `count` vectors of uniformly random activations over the configured width.
pub fn random(config: &EngineConfig, count: usize, seed: u64) -> Vec<Vec<i8>> {
    config.random_inputs(count, seed)
}

fn npy_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A 2-D `.npy` array as `(rows, columns, values)`, read by
/// [`lutgen_compile::npy::read`] (which checks the shape against the data
/// and refuses an array with no rows).
fn read_values(path: &Path) -> Result<(usize, usize, Values, bool), Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let array = lutgen_compile::npy::read(&bytes).map_err(|e| npy_error(path, e))?;
    let (rows, cols) = match array.shape[..] {
        [rows, cols] => (rows, cols),
        [cols] => (1, cols),
        ref shape => {
            return Err(npy_error(
                path,
                format!("expected a 2-D array (vectors, elements), got shape {shape:?}"),
            ))
        }
    };
    Ok((rows, cols, array.values, array.int8))
}

/// A 2-D integer `.npy` array, values widened to i64. Any integer dtype is
/// accepted; floats are refused (quantize them first), so nothing is
/// silently rounded.
fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<i64>), Error> {
    match read_values(path)? {
        (rows, cols, Values::Int(values), _) => Ok((rows, cols, values)),
        (_, _, Values::Float(_), _) => Err(npy_error(
            path,
            "the array holds floats, not integers; quantize to int8 first",
        )),
    }
}

/// How a network's inputs were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Real values (any dtype but int8), quantized with the network file's
    /// input scale and zero point.
    Quantized,
    /// An int8 array, taken as the first layer's activations.
    Int8,
}

impl InputKind {
    /// What the reports print.
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::Quantized => "real values, quantized with the file's input scale",
            InputKind::Int8 => "int8 (an int8 array is taken as quantized)",
        }
    }
}

/// A network's input vectors as read by [`read_network_npy`].
#[derive(Debug)]
pub struct NetworkInputs {
    /// The first layer's int8 activations, one row per vector.
    pub rows: Vec<Vec<i8>>,
    pub kind: InputKind,
    /// Real values outside the range the file's input quantization covers,
    /// clipped to -128 or 127 (0 for int8 input).
    pub clipped: usize,
    /// Values in all.
    pub values: usize,
}

impl NetworkInputs {
    /// Above this fraction of clipped values, [`NetworkInputs::warning`] speaks.
    pub const CLIPPED_WARNING: f64 = 0.01;

    /// A warning when more than 1% of the real inputs lie outside the range
    /// the compiler quantized for: the inputs are not like the calibration
    /// data (raw pixels where the model saw scaled ones, say), and the
    /// results mean little.
    pub fn warning(&self, input: &lutgen_core::network::InputQuantization) -> Option<String> {
        let fraction = self.clipped as f64 / self.values.max(1) as f64;
        (fraction > Self::CLIPPED_WARNING).then(|| {
            let lo = f64::from(-128 - i32::from(input.zero_point)) * f64::from(input.scale);
            let hi = f64::from(127 - i32::from(input.zero_point)) * f64::from(input.scale);
            format!(
                "warning: {} of {} input values ({:.1}%) lie outside the range the network \
                 was calibrated for ({lo:.4} to {hi:.4}) and were clipped: scale the inputs as \
                 the calibration data was scaled, or recompile with calibration data like them",
                self.clipped,
                self.values,
                100.0 * fraction
            )
        })
    }
}

/// Reads a network's input vectors, shape `(count, input_dim)`. An int8
/// array is taken as already quantized, each value checked against the
/// first layer's `activation_bits`; any other dtype (float, or integers such
/// as raw uint8 pixels) holds real values, quantized as the compiler
/// quantized its calibration data (`input`, from the network file), and the
/// values that quantization clips are counted.
pub fn read_network_npy(
    path: &Path,
    input_dim: usize,
    activation_bits: u32,
    input: &lutgen_core::network::InputQuantization,
) -> Result<NetworkInputs, Error> {
    let (_, cols, values, int8) = read_values(path)?;
    if cols != input_dim {
        return Err(npy_error(
            path,
            format!("rows have {cols} elements but the network takes {input_dim}"),
        ));
    }
    let values = match values {
        Values::Int(v) if !int8 => Values::Float(v.into_iter().map(|x| x as f64).collect()),
        v => v,
    };
    match values {
        Values::Float(values) => {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(npy_error(
                    path,
                    format!("value {} at flat index {i} is not finite", values[i]),
                ));
            }
            let real: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            Ok(NetworkInputs {
                rows: real
                    .chunks(cols.max(1))
                    .map(|row| input.quantize(row))
                    .collect(),
                kind: InputKind::Quantized,
                clipped: input.clipped(&real),
                values: real.len(),
            })
        }
        Values::Int(values) => {
            let (lo, hi) = EngineConfig::signed_range(activation_bits);
            if let Some(i) = values.iter().position(|v| !(lo..=hi).contains(v)) {
                return Err(npy_error(
                    path,
                    format!(
                        "int8 value {} at flat index {i} is outside the first layer's \
                         {activation_bits}-bit activations ({lo} to {hi}); an int8 array is \
                         taken as already quantized: give real values in any other dtype and \
                         lutgen quantizes them (scale {}, zero point {})",
                        values[i], input.scale, input.zero_point
                    ),
                ));
            }
            let count = values.len();
            Ok(NetworkInputs {
                rows: narrow(path, cols, values, "int8")?,
                kind: InputKind::Int8,
                clipped: 0,
                values: count,
            })
        }
    }
}

/// Converts every value of a matrix, naming the first that does not fit.
fn narrow<T: TryFrom<i64>>(
    path: &Path,
    cols: usize,
    values: Vec<i64>,
    type_name: &str,
) -> Result<Vec<Vec<T>>, Error> {
    values
        .chunks(cols.max(1))
        .enumerate()
        .map(|(r, row)| {
            row.iter()
                .enumerate()
                .map(|(c, &x)| {
                    T::try_from(x).map_err(|_| {
                        npy_error(
                            path,
                            format!("value {x} at [{r}, {c}] does not fit {type_name}"),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// Reads activation vectors: an integer `.npy` array of shape `(count, input_dim)`.
pub fn read_npy(path: &Path, input_dim: usize) -> Result<Vec<Vec<i8>>, Error> {
    let (_, cols, values) = read_matrix(path)?;
    if cols != input_dim {
        return Err(npy_error(
            path,
            format!("rows have {cols} elements but the engine takes {input_dim}"),
        ));
    }
    narrow(path, cols, values, "int8")
}

/// Reads results: an integer `.npy` array of shape `(count, outputs)`.
pub fn read_npy_i32(path: &Path) -> Result<Vec<Vec<i32>>, Error> {
    let (_, cols, values) = read_matrix(path)?;
    narrow(path, cols, values, "int32")
}

/// Writes results as a 2-D int32 `.npy` array of shape `(vectors, outputs)`.
pub fn write_npy(path: &Path, rows: &[Vec<i32>], outputs: usize) -> Result<(), Error> {
    write_npy_of(path, rows, outputs)
}

/// Writes real-valued results as a 2-D float32 `.npy` array of shape `(vectors, outputs)`.
pub fn write_npy_f32(path: &Path, rows: &[Vec<f32>], outputs: usize) -> Result<(), Error> {
    write_npy_of(path, rows, outputs)
}

fn write_npy_of<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    rows: &[Vec<T>],
    outputs: usize,
) -> Result<(), Error> {
    use npyz::WriterBuilder;
    let write_err = |source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows.len() as u64, outputs as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(write_err)?;
    for row in rows {
        writer.extend(row.iter().copied()).map_err(write_err)?;
    }
    writer.finish().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_rejections() {
        let dir = std::env::temp_dir().join(format!("lutgen-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        write_npy(&path, &[vec![1, -2, 3], vec![127, -128, 0]], 3).unwrap();
        let rows = read_npy(&path, 3).unwrap();
        assert_eq!(rows, vec![vec![1, -2, 3], vec![127, -128, 0]]);
        assert!(read_npy(&path, 4)
            .unwrap_err()
            .to_string()
            .contains("engine takes 4"));
        write_npy(&path, &[vec![1, 200, 3]], 3).unwrap();
        assert!(read_npy(&path, 3)
            .unwrap_err()
            .to_string()
            .contains("does not fit int8"));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(read_npy(&path, 3)
            .unwrap_err()
            .to_string()
            .contains("not a .npy"));
        write_npy(&path, &[], 3).unwrap();
        let e = read_npy(&path, 3).unwrap_err().to_string();
        assert!(e.contains("x.npy: the array has no rows"), "{e}");
    }

    #[test]
    fn network_inputs_float_quantized_and_integers_range_checked() {
        use lutgen_core::network::InputQuantization;
        use npyz::WriterBuilder;
        let dir = std::env::temp_dir().join(format!("lutgen-npy-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let q = InputQuantization {
            scale: 0.5,
            zero_point: -10,
        };
        let path = dir.join("f.npy");
        let file = std::fs::File::create(&path).unwrap();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[1, 3])
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .unwrap();
        w.extend([0.0f32, 1.0, -2.0]).unwrap();
        w.finish().unwrap();
        let read = read_network_npy(&path, 3, 8, &q).unwrap();
        assert_eq!(read.kind, InputKind::Quantized);
        assert_eq!(read.rows, vec![q.quantize(&[0.0, 1.0, -2.0])]);
        // Codes -128..=127 cover -59 to 68.5: nothing clipped.
        assert_eq!((read.clipped, read.values), (0, 3));
        assert!(read.warning(&q).is_none());
        // int32 (raw pixel counts, say) are real values too.
        let ints = dir.join("i.npy");
        write_npy(&ints, &[vec![0, 100, -2]], 3).unwrap();
        let read = read_network_npy(&ints, 3, 8, &q).unwrap();
        assert_eq!(read.kind, InputKind::Quantized);
        assert_eq!(read.rows, vec![q.quantize(&[0.0, 100.0, -2.0])]);
        // 100 lies past 68.5: clipped to 127, and one value in three draws a warning.
        assert_eq!(read.rows[0][1], 127);
        assert_eq!((read.clipped, read.values), (1, 3));
        let warning = read.warning(&q).unwrap();
        assert!(
            warning.contains("1 of 3 input values") && warning.contains("-59.0000 to 68.5000"),
            "{warning}"
        );
        // int8 is taken as activations, range-checked.
        let int8 = dir.join("q.npy");
        let file = |data: &[u8]| lutgen_compile::npy::file(1, "|i1", false, "(1, 3)", data);
        std::fs::write(&int8, file(&[1, 7, 0xF8])).unwrap();
        let read = read_network_npy(&int8, 3, 4, &q).unwrap();
        assert_eq!(
            (read.rows, read.kind),
            (vec![vec![1, 7, -8]], InputKind::Int8)
        );
        std::fs::write(&int8, file(&[1, 8, 3])).unwrap();
        let err = read_network_npy(&int8, 3, 4, &q).unwrap_err().to_string();
        assert!(
            err.contains("outside the first layer's 4-bit") && err.contains("any other dtype"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
