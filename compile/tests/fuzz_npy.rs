//! Fuzz target for the `.npy` reader (`lutgen_compile::npy::read`), which
//! reads calibration data, labels, `.npz` members and the command line's
//! vectors. See `docs/fuzzing.md`; the harness is core's
//! (`core/tests/support`).
//!
//! ```sh
//! cargo test --release -p lutgen-compile --test fuzz_npy -- --nocapture
//! ```

#[path = "../../core/tests/support/mod.rs"]
mod support;

use lutgen_compile::npy::{file, read, Array, Values};
use proptest::prelude::*;
use support::{apply, fuzz_byte, mutations, peak_allocation, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A shape as Python writes it: `(3,)`, `(2, 3)`.
fn shape_text(dims: &[String]) -> String {
    match dims {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

/// The dtypes NumPy writes (and two lutgen does not read).
const DTYPES: [(&str, usize); 14] = [
    ("|i1", 1),
    ("|u1", 1),
    ("<i2", 2),
    (">i2", 2),
    ("<u2", 2),
    ("<i4", 4),
    ("<u4", 4),
    ("<i8", 8),
    (">i8", 8),
    ("<f4", 4),
    ("<f8", 8),
    (">f8", 8),
    ("|b1", 1),
    ("<c8", 8),
];

/// A dimension: mostly small, sometimes an extreme one (as text, so it can
/// be negative or past u64).
fn dim() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (0..=5u64).prop_map(|d| d.to_string()),
        1 => Just((1u64 << 62).to_string()),
        1 => Just(u64::MAX.to_string()),
        1 => Just("18446744073709551616".to_string()),
        1 => Just("-1".to_string()),
    ]
}

/// What `read` must give for an unmutated file: the values, decoded here
/// independently, if the dtype is one it reads.
fn expected(descr: &str, data: &[u8]) -> Option<Values> {
    let size = DTYPES.iter().find(|d| d.0 == descr)?.1;
    let big = descr.starts_with('>');
    let word = |c: &[u8]| -> u64 {
        let mut b = [0u8; 8];
        if big {
            for (i, &x) in c.iter().rev().enumerate() {
                b[i] = x;
            }
        } else {
            b[..c.len()].copy_from_slice(c);
        }
        u64::from_le_bytes(b)
    };
    let words = data.chunks_exact(size).map(word);
    let sign = |w: u64| {
        let shift = 64 - 8 * size as u32;
        ((w << shift) as i64) >> shift
    };
    Some(match &descr[1..] {
        "i1" | "i2" | "i4" | "i8" => Values::Int(words.map(sign).collect()),
        "u1" | "u2" | "u4" => Values::Int(words.map(|w| w as i64).collect()),
        "f4" => Values::Float(words.map(|w| f64::from(f32::from_bits(w as u32))).collect()),
        "f8" => Values::Float(words.map(f64::from_bits).collect()),
        _ => return None,
    })
}

/// Values compared bit for bit (NaN is NaN).
fn same(a: &Values, b: &Values) -> bool {
    match (a, b) {
        (Values::Int(a), Values::Int(b)) => a == b,
        (Values::Float(a), Values::Float(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        _ => false,
    }
}

/// The canonical file of an array: C order, `<i8` or `<f8`.
fn canonical(array: &Array) -> Vec<u8> {
    let dims: Vec<String> = array.shape.iter().map(|d| d.to_string()).collect();
    let (descr, data): (&str, Vec<u8>) = match &array.values {
        Values::Int(v) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Values::Float(v) => ("<f8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    file(1, descr, false, &shape_text(&dims), &data)
}

#[test]
fn fuzz_npy_reader() {
    let strategy = (
        prop_oneof![4 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        0..DTYPES.len(),
        prop::bool::weighted(0.1),
        proptest::collection::vec(dim(), 1..=3),
        proptest::collection::vec(fuzz_byte(), 0..256),
        mutations(),
    );
    support::run(
        "npy",
        strategy,
        |(version, dtype, fortran, dims, noise, edits)| {
            let (descr, size) = DTYPES[dtype];
            // The data the shape asks for, when the shape is small; noise else.
            let data_len: Option<usize> = dims
                .iter()
                .try_fold(size, |n, d| n.checked_mul(d.parse::<usize>().ok()?));
            let data: Vec<u8> = match data_len {
                Some(len) if len <= 1024 => (0..len)
                    .map(|i| noise.get(i % noise.len().max(1)).copied().unwrap_or(0) ^ i as u8)
                    .collect(),
                _ => noise.clone(),
            };
            let mut bytes = file(version, descr, fortran, &shape_text(&dims), &data);
            let length_field = if version == 1 { (8, 2) } else { (8, 4) };
            for m in &edits {
                apply(&mut bytes, m, &[length_field]);
            }
            let (result, peak) = peak_allocation(|| read(&bytes));
            prop_assert!(
                peak <= 20 * bytes.len() + 64 * 1024,
                "{peak} bytes for {}",
                bytes.len()
            );
            if let Ok(array) = &result {
                let n: usize = array.shape.iter().product();
                prop_assert_eq!(n, array.values.len());
                // No rows is refused; a 0-D array (a scalar, shape ()) is read.
                prop_assert!(array.shape.first() != Some(&0));
                // Written again in canonical form, it reads back the same.
                let again = read(&canonical(array)).expect("the canonical form reads");
                prop_assert_eq!(&again.shape, &array.shape);
                prop_assert!(same(&again.values, &array.values));
            }
            // Unmutated, a file of a readable dtype with rows, data matching its
            // shape, C order (or one dimension above 1) and dimensions whose
            // nonzero product fits u64 reads to its values.
            let dims_above_one = dims
                .iter()
                .filter(|d| d.parse::<u64>().map_or(true, |d| d > 1))
                .count();
            let huge = dims
                .iter()
                .filter_map(|d| d.parse::<u64>().ok())
                .filter(|&d| d != 0)
                .try_fold(1u64, |n, d| n.checked_mul(d))
                .is_none();
            if edits.is_empty() && data_len == Some(data.len()) {
                match (expected(descr, &data), &result) {
                    (Some(values), Ok(array)) => prop_assert!(same(&values, &array.values)),
                    (Some(_), Err(e)) => prop_assert!(
                        dims[0] == "0" || huge || (fortran && dims_above_one > 1),
                        "refused a good file: {e}"
                    ),
                    (None, _) => prop_assert!(result.is_err()),
                }
            }
            // The outcome: accepted, or the error's first words (its kind).
            Ok(match &result {
                Ok(_) => "accepted".to_string(),
                Err(e) => e
                    .split_whitespace()
                    .take_while(|w| !w.contains(|c: char| c.is_ascii_digit() || "[<|".contains(c)))
                    .take(6)
                    .collect::<Vec<_>>()
                    .join(" "),
            })
        },
    );
}
