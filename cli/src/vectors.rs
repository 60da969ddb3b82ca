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

/// A 2-D integer `.npy` array as `(rows, columns, values)`, values widened
/// to i64, read by [`lutgen_compile::npy::read`] (which checks the shape
/// against the data and refuses an array with no rows).
///
/// Any integer dtype is accepted; floats are refused (quantize them first),
/// so nothing is silently rounded.
fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<i64>), Error> {
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
    match array.values {
        Values::Int(values) => Ok((rows, cols, values)),
        Values::Float(_) => Err(npy_error(
            path,
            "the array holds floats, not integers; quantize to int8 first",
        )),
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
}
