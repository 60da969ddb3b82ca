//! The geometry of a convolution layer run on a lookup-table engine, and the
//! order in which a window generator hands its patches to the engine.
//!
//! A convolution is a fully connected layer applied at every output pixel to
//! that pixel's patch (im2col). lutgen keeps that identity exact:
//!
//! - **Feature maps stream in HWC order**: row by row, left to right, and
//!   within a pixel channel by channel. Element `(y, x, c)` of an `H x W x C`
//!   map is at index `(y * W + x) * C + c`. A convolution's output map is the
//!   engine's outputs for each output pixel in the same order: output pixel
//!   `(oy, ox)`'s `N` outputs are channels `0..N` of that pixel.
//! - **A patch is channel-major**: for input channel `c`, then kernel row
//!   `ky`, then kernel column `kx`, element `c * k * k + ky * k + kx` of the
//!   engine's input vector is input pixel `(oy * s + ky - pad_top,
//!   ox * s + kx - pad_left)`, channel `c`, or the pad value when that pixel
//!   lies outside the map. With `V = k * k` each codebook sees one input
//!   channel's `k x k` window, the split LUT-NN uses for convolutions.
//! - **Padding is the zero of the input's quantization**: a float zero is
//!   the int8 zero point, so the pad value is the input zero point, not 0.
//! - **Output size** is ONNX's: `(H + pad_top + pad_bottom - k) / s + 1`
//!   (floor), and likewise for the width.
//!
//! [`ConvGeometry::patch`] is the definition every window generator (software
//! or hardware) is checked against.

use thiserror::Error;

/// Zero padding on each border of a feature map, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Padding {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Padding {
    /// The same padding on every border.
    pub fn uniform(p: usize) -> Self {
        Self {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }
}

/// A square-kernel convolution's input map, kernel, stride and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConvGeometry {
    pub in_height: usize,
    pub in_width: usize,
    pub in_channels: usize,
    /// Kernel side `k` (the kernel is `k x k`).
    pub kernel: usize,
    pub stride: usize,
    pub padding: Padding,
}

/// The largest kernel side lutgen supports.
pub const MAX_KERNEL: usize = 5;
/// The largest stride lutgen supports.
pub const MAX_STRIDE: usize = 2;

/// A convolution geometry lutgen cannot run, naming what is wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConvError {
    #[error(
        "convolution kernel {0}x{0} is not supported: lutgen runs square kernels from 1x1 to \
         {MAX_KERNEL}x{MAX_KERNEL}"
    )]
    Kernel(usize),
    #[error("convolution stride {0} is not supported: lutgen runs strides 1 to {MAX_STRIDE}")]
    Stride(usize),
    #[error("convolution input map {height}x{width}x{channels} is empty")]
    EmptyInput {
        height: usize,
        width: usize,
        channels: usize,
    },
    #[error(
        "convolution padding {padding:?} is not smaller than the {kernel}x{kernel} kernel: \
         some outputs would see only padding"
    )]
    Padding { padding: Padding, kernel: usize },
    #[error(
        "convolution input map {height}x{width} with padding {padding:?} is smaller than the \
         {kernel}x{kernel} kernel: there is no output pixel"
    )]
    TooSmall {
        height: usize,
        width: usize,
        padding: Padding,
        kernel: usize,
    },
    #[error("input feature map has {got} elements, the convolution takes {expected} ({height}x{width}x{channels}, HWC)")]
    InputLength {
        got: usize,
        expected: usize,
        height: usize,
        width: usize,
        channels: usize,
    },
}

impl ConvGeometry {
    /// Checks the geometry is one lutgen runs.
    pub fn validate(&self) -> Result<(), ConvError> {
        let k = self.kernel;
        if !(1..=MAX_KERNEL).contains(&k) {
            return Err(ConvError::Kernel(k));
        }
        if !(1..=MAX_STRIDE).contains(&self.stride) {
            return Err(ConvError::Stride(self.stride));
        }
        if self.in_height == 0 || self.in_width == 0 || self.in_channels == 0 {
            return Err(ConvError::EmptyInput {
                height: self.in_height,
                width: self.in_width,
                channels: self.in_channels,
            });
        }
        let p = self.padding;
        if [p.top, p.left, p.bottom, p.right].iter().any(|&x| x >= k) {
            return Err(ConvError::Padding {
                padding: p,
                kernel: k,
            });
        }
        if self.in_height + p.top + p.bottom < k || self.in_width + p.left + p.right < k {
            return Err(ConvError::TooSmall {
                height: self.in_height,
                width: self.in_width,
                padding: p,
                kernel: k,
            });
        }
        Ok(())
    }

    /// Output map height (ONNX's floor rule). Assumes a valid geometry.
    pub fn out_height(&self) -> usize {
        (self.in_height + self.padding.top + self.padding.bottom - self.kernel) / self.stride + 1
    }

    /// Output map width (ONNX's floor rule). Assumes a valid geometry.
    pub fn out_width(&self) -> usize {
        (self.in_width + self.padding.left + self.padding.right - self.kernel) / self.stride + 1
    }

    /// Output pixels per input map: how many engine passes one map takes.
    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Elements of one patch: the engine's input dimension `D = C * k * k`.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// The geometry in words, as reports, messages and generated headers
    /// name it: `3x3 convolution, stride 1, pads (top, left, bottom, right)
    /// (1, 1, 1, 1), over the 4x4x1 input map (16 output pixels)`.
    pub fn describe(&self) -> String {
        let p = self.padding;
        format!(
            "{k}x{k} convolution, stride {}, pads (top, left, bottom, right) ({}, {}, {}, {}), \
             over the {}x{}x{} input map ({} output pixels)",
            self.stride,
            p.top,
            p.left,
            p.bottom,
            p.right,
            self.in_height,
            self.in_width,
            self.in_channels,
            self.out_pixels(),
            k = self.kernel
        )
    }

    /// Elements of one input map (`H * W * C`).
    pub fn input_len(&self) -> usize {
        self.in_height * self.in_width * self.in_channels
    }

    /// Where patch element `i` of output pixel `(oy, ox)` comes from: the
    /// HWC index into the input map, or `None` for padding.
    pub fn source(&self, oy: usize, ox: usize, i: usize) -> Option<usize> {
        let k = self.kernel;
        let (c, ky, kx) = (i / (k * k), (i / k) % k, i % k);
        let y = (oy * self.stride + ky).checked_sub(self.padding.top)?;
        let x = (ox * self.stride + kx).checked_sub(self.padding.left)?;
        (y < self.in_height && x < self.in_width)
            .then(|| (y * self.in_width + x) * self.in_channels + c)
    }

    /// The patch of output pixel `(oy, ox)`: the engine's input vector, in
    /// the channel-major order the module documentation defines.
    pub fn patch(&self, input: &[i8], oy: usize, ox: usize, pad_value: i8) -> Vec<i8> {
        (0..self.patch_len())
            .map(|i| self.source(oy, ox, i).map_or(pad_value, |j| input[j]))
            .collect()
    }

    /// Every patch of one input map, output pixel by output pixel (row-major),
    /// concatenated: what a window generator emits for one map.
    pub fn patches(&self, input: &[i8], pad_value: i8) -> Result<Vec<i8>, ConvError> {
        self.validate()?;
        if input.len() != self.input_len() {
            return Err(ConvError::InputLength {
                got: input.len(),
                expected: self.input_len(),
                height: self.in_height,
                width: self.in_width,
                channels: self.in_channels,
            });
        }
        let mut out = Vec::with_capacity(self.out_pixels() * self.patch_len());
        for oy in 0..self.out_height() {
            for ox in 0..self.out_width() {
                out.extend(self.patch(input, oy, ox, pad_value));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(h: usize, w: usize, c: usize, k: usize, s: usize, p: usize) -> ConvGeometry {
        ConvGeometry {
            in_height: h,
            in_width: w,
            in_channels: c,
            kernel: k,
            stride: s,
            padding: Padding::uniform(p),
        }
    }

    #[test]
    fn output_size_follows_onnx() {
        assert_eq!(geometry(8, 8, 1, 3, 1, 1).out_height(), 8);
        assert_eq!(geometry(8, 8, 1, 3, 2, 1).out_height(), 4);
        assert_eq!(geometry(7, 5, 1, 3, 2, 0).out_height(), 3);
        assert_eq!(geometry(7, 5, 1, 3, 2, 0).out_width(), 2);
        assert_eq!(geometry(8, 8, 4, 5, 1, 2).patch_len(), 100);
    }

    #[test]
    fn patch_is_channel_major_with_the_pad_value_outside() {
        // 3x3 map, 2 channels: element (y, x, c) = 10 * (y * 3 + x) + c.
        let g = geometry(3, 3, 2, 3, 1, 1);
        let input: Vec<i8> = (0..9).flat_map(|p| [10 * p, 10 * p + 1]).collect();
        let patch = g.patch(&input, 0, 0, -7);
        #[rustfmt::skip]
        let expected = vec![
            -7, -7, -7,  -7, 0, 10,  -7, 30, 40,   // channel 0
            -7, -7, -7,  -7, 1, 11,  -7, 31, 41,   // channel 1
        ];
        assert_eq!(patch, expected);
        let centre = g.patch(&input, 1, 1, -7);
        assert_eq!(&centre[..9], &[0, 10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(g.patches(&input, -7).unwrap().len(), 9 * 18);
    }

    #[test]
    fn one_by_one_kernels_pass_pixels_through() {
        let g = geometry(2, 3, 4, 1, 1, 0);
        let input: Vec<i8> = (0..24).collect();
        assert_eq!(g.patches(&input, 0).unwrap(), input);
    }

    #[test]
    fn unsupported_geometries_are_refused() {
        assert_eq!(
            geometry(8, 8, 1, 7, 1, 0).validate(),
            Err(ConvError::Kernel(7))
        );
        assert_eq!(
            geometry(8, 8, 1, 3, 3, 0).validate(),
            Err(ConvError::Stride(3))
        );
        assert!(matches!(
            geometry(8, 8, 1, 3, 1, 3).validate(),
            Err(ConvError::Padding { .. })
        ));
        assert!(matches!(
            geometry(2, 2, 1, 5, 1, 0).validate(),
            Err(ConvError::TooSmall { .. })
        ));
        assert!(matches!(
            geometry(0, 2, 1, 1, 1, 0).validate(),
            Err(ConvError::EmptyInput { .. })
        ));
        assert!(matches!(
            geometry(2, 2, 1, 1, 1, 0).patches(&[0; 3], 0),
            Err(ConvError::InputLength {
                got: 3,
                expected: 4,
                ..
            })
        ));
    }
}
