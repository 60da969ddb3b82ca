//! The one `.npy` reader: calibration data, labels, `.npz` members, and the
//! command line's activation vectors and results all come through [`read`].
//!
//! A `.npy` file is a small header (magic, version, a Python dict literal
//! with `descr`, `fortran_order` and `shape`) and the raw values. Before
//! anything is parsed or allocated, [`read`] checks the header's length and
//! shape against the bytes actually present, with checked arithmetic: a
//! header that claims more than the file holds is refused, never read as
//! fewer values and never turned into a huge allocation. Reading allocates
//! at most a small multiple of the input's size.

use npyz::{DType, NpyFile, Order, TypeChar};

/// The values of an array: integers widened to `i64`, floats to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value as `f32` (integers rounded to the nearest `f32`).
    pub fn into_f32(self) -> Vec<f32> {
        match self {
            Values::Int(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::Float(v) => v.into_iter().map(|x| x as f32).collect(),
        }
    }
}

/// A `.npy` array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Values,
    /// The dtype was int8: values that are already int8 activations.
    pub int8: bool,
}

/// Longest header accepted, in bytes: NumPy's own limit when it reads
/// (`max_header_size`, 10,000 since NumPy 1.24), far above the 128 bytes it
/// writes for a plain array.
const MAX_HEADER_BYTES: usize = 10_000;

/// Deepest bracket nesting accepted in the header's dict literal. A plain
/// array's header nests 2 deep (`{... 'shape': (3, 4)}`); the limit keeps
/// the literal parser's recursion shallow whatever the file holds.
const MAX_HEADER_NESTING: usize = 16;

/// Reads a `.npy` array of any integer (up to 64 bits signed, 32 unsigned)
/// or float (32 or 64 bits) dtype. Refuses, with a message that says what
/// to do: a header longer than the file, a shape whose data is not exactly
/// the bytes present, an empty first dimension ("no rows"), Fortran order
/// (unless at most one dimension is above 1, where both orders agree), and
/// other dtypes.
pub fn read(bytes: &[u8]) -> Result<Array, String> {
    let text = header_text(bytes)?;
    let shape = header_shape(text)?;
    let npy = NpyFile::new(bytes).map_err(|e| format!("not a .npy array: {e}"))?;
    let DType::Plain(t) = npy.dtype() else {
        return Err(format!("unsupported dtype {}", npy.dtype().descr()));
    };
    if npy.order() == Order::Fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let item = t.size_field() as u128;
    // header_shape checked the product fits u64.
    let count: u128 = shape.iter().map(|&d| d as u128).product();
    let data = (bytes.len() - npy_data_offset(bytes, text)) as u128;
    if count.checked_mul(item) != Some(data) {
        return Err(format!(
            "the header's shape {shape:?} of {}-byte values needs {} bytes of data but the file \
             has {data} after the header: it is truncated or its header is damaged; save it again",
            t.size_field(),
            count.saturating_mul(item),
        ));
    }
    if shape.first() == Some(&0) {
        return Err(format!(
            "the array has no rows (shape {shape:?}); save at least one"
        ));
    }
    let e = |e: std::io::Error| format!("cannot read data: {e}");
    fn widen<T: Into<i64>>(v: Vec<T>) -> Values {
        Values::Int(v.into_iter().map(Into::into).collect())
    }
    let values = match (t.type_char(), t.size_field()) {
        (TypeChar::Int, 1) => widen(npy.into_vec::<i8>().map_err(e)?),
        (TypeChar::Int, 2) => widen(npy.into_vec::<i16>().map_err(e)?),
        (TypeChar::Int, 4) => widen(npy.into_vec::<i32>().map_err(e)?),
        (TypeChar::Int, 8) => Values::Int(npy.into_vec::<i64>().map_err(e)?),
        (TypeChar::Uint, 1) => widen(npy.into_vec::<u8>().map_err(e)?),
        (TypeChar::Uint, 2) => widen(npy.into_vec::<u16>().map_err(e)?),
        (TypeChar::Uint, 4) => widen(npy.into_vec::<u32>().map_err(e)?),
        (TypeChar::Float, 4) => Values::Float(
            npy.into_vec::<f32>()
                .map_err(e)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        (TypeChar::Float, 8) => Values::Float(npy.into_vec::<f64>().map_err(e)?),
        _ => return Err(format!("unsupported dtype {t}")),
    };
    let int8 = matches!((t.type_char(), t.size_field()), (TypeChar::Int, 1));
    Ok(Array {
        shape,
        values,
        int8,
    })
}

/// A `.npy` file as NumPy writes it: magic, `version` (1, 2 or 3), header
/// length, the dict literal (`descr`, `fortran_order`, `shape`, the shape
/// as Python text, e.g. `(3, 4)`), then `data`. Nothing is checked: tests
/// use it to write files [`read`] must refuse.
pub fn file(version: u8, descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let fortran = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    file_of_dict(version, &dict, data)
}

/// A `.npy` file of any header text: `dict` padded with spaces and a
/// newline to a multiple of 64 bytes, as NumPy pads it.
pub fn file_of_dict(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut text = dict.to_string();
    let preamble = if version == 1 { 10 } else { 12 };
    while !(preamble + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version, 0]);
    if version == 1 {
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// The header's dict literal, after checking the magic, the version and
/// that the header length fits in the file.
fn header_text(bytes: &[u8]) -> Result<&str, String> {
    if bytes.len() < 8 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array: it does not start with \\x93NUMPY".into());
    }
    let (start, len) = match (bytes[6], bytes[7]) {
        (1, 0) if bytes.len() >= 10 => (10, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
        (2 | 3, 0) if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        (1..=3, 0) => return Err("not a .npy array: the header is truncated".into()),
        (major, minor) => {
            return Err(format!(
                "not a .npy array: format version {major}.{minor} is not 1.0, 2.0 or 3.0"
            ))
        }
    };
    let text = bytes
        .get(start..)
        .and_then(|rest| rest.get(..len))
        .ok_or_else(|| {
            format!(
                "not a .npy array: the header says it is {len} bytes but the file has {} after \
                 the preamble",
                bytes.len() - start.min(bytes.len())
            )
        })?;
    if len > MAX_HEADER_BYTES {
        return Err(format!(
            "not a .npy array: its header is {len} bytes, more than the {MAX_HEADER_BYTES} \
             NumPy itself reads"
        ));
    }
    let text = std::str::from_utf8(text).map_err(|_| "not a .npy array: header is not text")?;
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_HEADER_NESTING {
            return Err("not a .npy array: the header nests too deep".into());
        }
    }
    Ok(text)
}

/// Offset of the data: after the preamble and the header text.
fn npy_data_offset(bytes: &[u8], text: &str) -> usize {
    let preamble = if bytes[6] == 1 { 10 } else { 12 };
    preamble + text.len()
}

/// The `shape` entry of the header's dict, each dimension a u64 that fits
/// `usize` and the product of the nonzero ones a u64 (what npyz will read,
/// checked here first, so its own unchecked products of the shape never
/// overflow).
fn header_shape(text: &str) -> Result<Vec<usize>, String> {
    use py_literal::Value;
    let bad = |what: &str| format!("not a .npy array: {what}");
    let value: Value = text
        .trim_end_matches('\n')
        .parse()
        .map_err(|e| bad(&format!("cannot parse its header: {e}")))?;
    let Value::Dict(entries) = value else {
        return Err(bad("its header is not a dict"));
    };
    // The last entry wins, as in npyz (and Python).
    let shape = entries
        .iter()
        .rev()
        .find(|(k, _)| matches!(k, Value::String(s) if s == "shape"))
        .map(|(_, v)| v)
        .ok_or_else(|| bad("its header has no shape"))?;
    let (Value::Tuple(dims) | Value::List(dims)) = shape else {
        return Err(bad("its shape is not a tuple"));
    };
    let shape = dims
        .iter()
        .map(|d| match d {
            Value::Integer(n) => u64::try_from(n)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(&format!("dimension {n} is negative or too large"))),
            _ => Err(bad("a dimension is not an integer")),
        })
        .collect::<Result<Vec<usize>, String>>()?;
    // npyz multiplies the dimensions (and their prefixes and suffixes) in
    // u64 unchecked: every such product must fit, zeros or not.
    shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| {
            format!(
                "the header's shape {shape:?} asks for more data than any file holds (over 2^64 \
                 values): the header is damaged; save the array again"
            )
        })?;
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        file_of_dict(1, dict, data)
    }

    fn int8(shape: &str, data: &[u8]) -> Vec<u8> {
        file(1, "|i1", false, shape, data)
    }

    #[test]
    fn reads_integers_and_floats() {
        let a = read(&int8("(2, 3)", &[1, 2, 3, 0xFF, 0x80, 0])).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.values, Values::Int(vec![1, 2, 3, -1, -128, 0]));
        let f = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0],
        );
        assert_eq!(read(&f).unwrap().values, Values::Float(vec![1.0, -2.0]));
    }

    /// A 0-D array (a scalar, shape `()`) holds one value; callers that
    /// want rows refuse its shape. (The fuzz target once assumed a first
    /// dimension.)
    #[test]
    fn a_scalar_has_an_empty_shape_and_one_value() {
        let a = read(&int8("()", &[7])).unwrap();
        assert_eq!((a.shape, a.values), (vec![], Values::Int(vec![7])));
    }

    /// The shape is checked against the bytes present, with checked
    /// arithmetic: a header claiming 2^62 rows and no data is refused (it
    /// was read as zero rows), and so is any shape whose product overflows.
    #[test]
    fn the_shape_must_match_the_data() {
        for (shape, data) in [
            ("(4611686018427387904, 64)", &[][..]),
            ("(18446744073709551615, 18446744073709551615)", &[][..]),
            ("(2, 3)", &[1, 2, 3, 4, 5][..]),
            ("(2, 3)", &[1, 2, 3, 4, 5, 6, 7][..]),
        ] {
            let e = read(&int8(shape, data)).unwrap_err();
            assert!(
                e.contains("needs") || e.contains("more data than any file holds"),
                "{shape}: {e}"
            );
        }
        let e = read(&int8("(18446744073709551616,)", &[])).unwrap_err();
        assert!(e.contains("is negative or too large"), "{e}");
        let e = read(&int8("(0, 64)", &[])).unwrap_err();
        assert!(e.contains("has no rows"), "{e}");
        // No elements, but npyz's own product of the shape (2 * (2^64 - 1)
        // before the 0) overflows: refused before npyz sees it. (Found by
        // the fuzz target's long run.)
        let e = read(&int8("(2, 18446744073709551615, 0)", &[])).unwrap_err();
        assert!(e.contains("more data than any file holds"), "{e}");
    }

    /// A header length past the end of the file is refused before anything
    /// is allocated for it (npyz would allocate the whole length first).
    #[test]
    fn the_header_must_fit_in_the_file() {
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = read(&bytes).unwrap_err();
        assert!(e.contains("the header says it is 4294967295 bytes"), "{e}");
        let long = format!("{{'shape': (1,), 'x': '{}'}}", "x".repeat(MAX_HEADER_BYTES));
        let e = read(&npy(&long, &[0])).unwrap_err();
        assert!(e.contains("more than the 10000"), "{e}");
        for cut in 0..12 {
            assert!(read(&bytes[..cut]).is_err());
        }
        let deep = format!("{{'shape': {}1{}}}", "(".repeat(4000), ")".repeat(4000));
        let e = read(&npy(&deep, &[])).unwrap_err();
        assert!(e.contains("nests too deep"), "{e}");
    }
}
