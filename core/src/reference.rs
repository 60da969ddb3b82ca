//! The bit-exact integer reference: the oracle for every hardware test.
//!
//! For each codebook: encode the sub-vector (see [`crate::encoder`]), then add
//! the selected table row to the accumulators, which start at the bias. All
//! arithmetic is exact; [`crate::EngineConfig::validate`] guarantees the
//! hardware's fixed widths never overflow, so no wrapping or saturation occurs.

use crate::encoder::{encode, Encoding};
use crate::image::Image;
use thiserror::Error;

/// A vector the engine cannot take.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InputError {
    #[error("input vector has {got} elements but the engine takes {expected}")]
    Length { expected: usize, got: usize },
    #[error("input element {index} is {value}, outside the {bits}-bit activation range")]
    Range { index: usize, value: i64, bits: u32 },
    #[error("input feature map has {got} elements but the convolution takes {expected} ({height}x{width}x{channels}, HWC)")]
    Map {
        expected: usize,
        got: usize,
        height: usize,
        width: usize,
        channels: usize,
    },
}

/// One inference with its intermediate stages, for per-stage traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    /// The encoder's choice for each codebook.
    pub encodings: Vec<Encoding>,
    /// The N outputs: bias plus the selected table rows.
    pub outputs: Vec<i32>,
}

/// Runs the integer model of an engine loaded with `image`.
#[derive(Clone, Copy, Debug)]
pub struct Reference<'a> {
    image: &'a Image,
}

impl<'a> Reference<'a> {
    /// A reference model for `image`.
    pub fn new(image: &'a Image) -> Self {
        Reference { image }
    }

    /// Checks that `input` is a vector this engine accepts.
    pub fn check_input(&self, input: &[i8]) -> Result<(), InputError> {
        let config = self.image.config();
        if input.len() != config.input_dim {
            return Err(InputError::Length {
                expected: config.input_dim,
                got: input.len(),
            });
        }
        let (lo, hi) = crate::EngineConfig::signed_range(config.activation_bits);
        match input
            .iter()
            .position(|&x| !(lo..=hi).contains(&i64::from(x)))
        {
            Some(index) => Err(InputError::Range {
                index,
                value: i64::from(input[index]),
                bits: config.activation_bits,
            }),
            None => Ok(()),
        }
    }

    /// The full inference of one vector, with the per-codebook encodings.
    pub fn infer(&self, input: &[i8]) -> Result<Inference, InputError> {
        self.check_input(input)?;
        let config = self.image.config();
        let v = config.sub_vector_len();
        let mut acc: Vec<i64> = self.image.bias().iter().map(|&b| i64::from(b)).collect();
        let encodings: Vec<Encoding> = input
            .chunks_exact(v)
            .enumerate()
            .map(|(c, sub)| {
                let e = encode(self.image, c, sub);
                for (a, &t) in acc.iter_mut().zip(self.image.table_row(c, e.index)) {
                    *a += i64::from(t);
                }
                e
            })
            .collect();
        let outputs = acc
            .into_iter()
            .map(|a| i32::try_from(a).expect("validated configs cannot overflow the accumulator"))
            .collect();
        Ok(Inference { encodings, outputs })
    }

    /// The N outputs for one vector.
    pub fn outputs(&self, input: &[i8]) -> Result<Vec<i32>, InputError> {
        Ok(self.infer(input)?.outputs)
    }
}
