//! What a network layer does across a feature map: whether the engine runs
//! once per output pixel of a convolution, and the pooling after it.
//!
//! A layer is **dense** (the engine runs once on the layer's input vector)
//! or a **convolution** ([`Conv`]): the engine runs once per output pixel on
//! that pixel's patch ([`ConvGeometry::patch`], with [`Conv::pad_value`]
//! outside the map), and the layer's accumulators are the output map in HWC
//! order, `N` channels per pixel ([`crate::conv`] defines both orders).
//!
//! After the layer's requantization and activation table (so on the next
//! layer's int8 input, never on 32-bit accumulators) a layer may **pool**
//! its output map ([`Pool`]), integer-exactly:
//!
//! - [`Pool::Max2`]: the largest of each 2x2 window, stride 2;
//! - [`Pool::Avg2`]: the average of each 2x2 window, stride 2;
//! - [`Pool::GlobalAvg`]: the average of every pixel, per channel (a `1x1xC` map).
//!
//! The 2x2 pools follow ONNX's floor rule (`H / 2` by `W / 2` outputs; an odd
//! last row or column is dropped). An average of `n` values `q_i` around the
//! zero point `z` of their quantization is
//!
//! ```text
//! s = sum(q_i - z)
//! q = z + sign(s) * floor((2|s| + n) / (2n))     (s / n rounded half away from zero)
//! ```
//!
//! so it is the real average rounded to the nearest step, ties away from
//! the real zero, and it lies between the smallest and the largest `q_i`
//! (no clamp is needed). Why pooling sits after the requantization: the
//! float graph pools the activated values (Conv, Relu, MaxPool), and the
//! requantization with its ReLU is non-decreasing, so the max of the
//! requantized values is exactly the requantized max: MaxPool adds no error
//! at all; AveragePool adds at most half a step of the next layer's input.
//! The last layer (32-bit outputs, no requantization) cannot pool.
//!
//! Flatten is implicit: a dense layer after a map reads it in HWC order.

use crate::conv::ConvGeometry;
use crate::reference::InputError;
use crate::EngineConfig;

/// A convolution layer: its geometry and the value its padding reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conv {
    pub geometry: ConvGeometry,
    /// The int8 code of a real zero in the layer's input (its zero point).
    pub pad_value: i8,
}

/// A pooling stage on a layer's requantized output map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Pool {
    /// 2x2 max, stride 2.
    Max2,
    /// 2x2 average, stride 2, rounded half away from the zero point.
    Avg2,
    /// Average over the whole map, per channel, rounded likewise.
    GlobalAvg,
}

/// The height, width and channels of an HWC feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl MapShape {
    /// Elements of the map (`H * W * C`).
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Whether the map has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a layer runs across a feature map: dense (no convolution, no
/// pooling, the default) or a convolution, optionally pooled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Spatial {
    pub conv: Option<Conv>,
    pub pool: Option<Pool>,
}

impl Spatial {
    /// A dense layer.
    pub const DENSE: Spatial = Spatial {
        conv: None,
        pool: None,
    };

    /// What a device fixes about the layer when it is generated: the
    /// convolution's geometry and the pooling, with the pad value 0 (a
    /// device loads the pad value from the network file, so it is not part
    /// of the device's shape).
    pub fn device_shape(&self) -> Spatial {
        Spatial {
            conv: self.conv.map(|c| Conv { pad_value: 0, ..c }),
            pool: self.pool,
        }
    }

    /// The layer in words: `dense`, or its convolution
    /// ([`ConvGeometry::describe`](crate::conv::ConvGeometry::describe)), then
    /// `, then MaxPool 2x2` (its pooling) when it pools.
    pub fn describe(&self) -> String {
        let layer = self
            .conv
            .map_or_else(|| "dense".to_string(), |c| c.geometry.describe());
        match self.pool {
            Some(pool) => format!("{layer}, then {}", pool.name()),
            None => layer,
        }
    }

    /// Whether the layer is dense and does not pool.
    pub fn is_dense(&self) -> bool {
        self.conv.is_none() && self.pool.is_none()
    }

    /// Elements of the layer's input: its convolution's input map (HWC), or
    /// the engine's input vector (`config.input_dim`) for a dense layer.
    pub fn input_len(&self, config: &EngineConfig) -> usize {
        self.conv
            .map_or(config.input_dim, |c| c.geometry.input_len())
    }

    /// Elements the layer hands on: its output map after the pooling (HWC),
    /// or its engine's `config.outputs` for a dense layer.
    pub fn output_len(&self, config: &EngineConfig) -> usize {
        match self.output_map(config.outputs) {
            None => config.outputs,
            Some(map) => self.pool.and_then(|p| p.output(map)).unwrap_or(map).len(),
        }
    }

    /// Runs a layer's engine (`engine`: one input vector to its `N`
    /// accumulators) on the layer's input `x`: once (dense), or on every
    /// output pixel's patch, concatenated (the output map, HWC). The one
    /// loop the integer reference, the compiler and the dense baseline share.
    pub fn accumulate<E: From<InputError>>(
        &self,
        x: &[i8],
        mut engine: impl FnMut(&[i8]) -> Result<Vec<i32>, E>,
    ) -> Result<Vec<i32>, E> {
        let Some(conv) = self.conv else {
            return engine(x);
        };
        let g = conv.geometry;
        if x.len() != g.input_len() {
            return Err(InputError::Map {
                expected: g.input_len(),
                got: x.len(),
                height: g.in_height,
                width: g.in_width,
                channels: g.in_channels,
            }
            .into());
        }
        let mut acc = Vec::new();
        for oy in 0..g.out_height() {
            for ox in 0..g.out_width() {
                acc.extend(engine(&g.patch(x, oy, ox, conv.pad_value))?);
            }
        }
        Ok(acc)
    }

    /// Pools a layer's requantized outputs (`n` per pixel) around
    /// `zero_point` if the layer pools; otherwise returns them as they are.
    pub fn pool(&self, activations: Vec<i8>, n: usize, zero_point: i8) -> Vec<i8> {
        match (self.pool, self.output_map(n)) {
            (Some(pool), Some(map)) => pool.apply(&activations, map, zero_point),
            _ => activations,
        }
    }

    /// The layer's output map before pooling, given its engine outputs `n`:
    /// the convolution's output map, or `None` for a dense layer (a vector).
    pub fn output_map(&self, n: usize) -> Option<MapShape> {
        self.conv.map(|c| MapShape {
            height: c.geometry.out_height(),
            width: c.geometry.out_width(),
            channels: n,
        })
    }
}

impl Pool {
    /// The name ONNX gives the op.
    pub fn name(&self) -> &'static str {
        match self {
            Pool::Max2 => "MaxPool 2x2",
            Pool::Avg2 => "AveragePool 2x2",
            Pool::GlobalAvg => "GlobalAveragePool",
        }
    }

    /// The code stored in a network file (1, 2, 3; 0 is no pooling).
    pub fn code(&self) -> u8 {
        match self {
            Pool::Max2 => 1,
            Pool::Avg2 => 2,
            Pool::GlobalAvg => 3,
        }
    }

    /// The pooling a file code stores (`None` for 0 or an unknown code).
    pub fn from_code(code: u8) -> Option<Pool> {
        match code {
            1 => Some(Pool::Max2),
            2 => Some(Pool::Avg2),
            3 => Some(Pool::GlobalAvg),
            _ => None,
        }
    }

    /// The pooled map of an `input` map, or `None` if the map is too small
    /// (a 2x2 pool needs at least 2x2 pixels).
    pub fn output(&self, input: MapShape) -> Option<MapShape> {
        match self {
            Pool::Max2 | Pool::Avg2 => {
                (input.height >= 2 && input.width >= 2).then_some(MapShape {
                    height: input.height / 2,
                    width: input.width / 2,
                    channels: input.channels,
                })
            }
            Pool::GlobalAvg => (!input.is_empty()).then_some(MapShape {
                height: 1,
                width: 1,
                channels: input.channels,
            }),
        }
    }

    /// Pools `map` (HWC, of shape `shape`, `shape.len()` elements, which the
    /// caller has checked) whose values are quantized around `zero_point`;
    /// see the module documentation for the exact rule.
    ///
    /// ```
    /// use lutgen_core::spatial::{MapShape, Pool};
    /// // A 2x2 map, one channel: 1, 2 / 3, 5 around zero point 0.
    /// let shape = MapShape { height: 2, width: 2, channels: 1 };
    /// assert_eq!(Pool::Max2.apply(&[1, 2, 3, 5], shape, 0), [5]);
    /// // Average 11 / 4 = 2.75 -> 3; around zero point 1: 1 + 7 / 4 = 1 + 1.75 -> 3.
    /// assert_eq!(Pool::Avg2.apply(&[1, 2, 3, 5], shape, 0), [3]);
    /// assert_eq!(Pool::Avg2.apply(&[1, 2, 3, 5], shape, 1), [3]);
    /// // Ties round away from the zero point: -2 / 4 = -0.5 -> -1.
    /// assert_eq!(Pool::GlobalAvg.apply(&[0, 0, -1, -1], shape, 0), [-1]);
    /// ```
    pub fn apply(&self, map: &[i8], shape: MapShape, zero_point: i8) -> Vec<i8> {
        let z = i64::from(zero_point);
        self.windows(shape)
            .iter()
            .map(|window| {
                let values = window.iter().map(|&i| map[i]);
                match self {
                    Pool::Max2 => values.max().expect("a window is never empty"),
                    Pool::Avg2 | Pool::GlobalAvg => {
                        let s: i64 = values.map(|q| i64::from(q) - z).sum();
                        let n = window.len() as i64;
                        let magnitude = (2 * s.abs() + n) / (2 * n);
                        (z + s.signum() * magnitude) as i8
                    }
                }
            })
            .collect()
    }

    /// The window of every output element (HWC order): the HWC indices of
    /// the input map it reads. Empty if the map is too small.
    pub fn windows(&self, input: MapShape) -> Vec<Vec<usize>> {
        let Some(out) = self.output(input) else {
            return Vec::new();
        };
        let (w, c) = (input.width, input.channels);
        let mut windows = Vec::with_capacity(out.len());
        for oy in 0..out.height {
            for ox in 0..out.width {
                for ch in 0..c {
                    windows.push(match self {
                        Pool::Max2 | Pool::Avg2 => (0..4)
                            .map(|i| ((2 * oy + i / 2) * w + 2 * ox + i % 2) * c + ch)
                            .collect(),
                        Pool::GlobalAvg => (0..input.height * w).map(|p| p * c + ch).collect(),
                    });
                }
            }
        }
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_pools_follow_the_floor_rule_per_channel() {
        // 3x5 map, 2 channels: element (y, x, c) = 10 * y + x (c = 0), -(...) (c = 1).
        let shape = MapShape {
            height: 3,
            width: 5,
            channels: 2,
        };
        let map: Vec<i8> = (0..15)
            .flat_map(|p| {
                let v = (10 * (p / 5) + p % 5) as i8;
                [v, -v]
            })
            .collect();
        let out = Pool::Max2.output(shape).unwrap();
        assert_eq!((out.height, out.width, out.channels), (1, 2, 2));
        assert_eq!(Pool::Max2.apply(&map, shape, 0), [11, 0, 13, -2]);
        // Averages: (0 + 1 + 10 + 11) / 4 = 5.5 -> 6, (2 + 3 + 12 + 13) / 4 = 7.5 -> 8.
        assert_eq!(Pool::Avg2.apply(&map, shape, 0), [6, -6, 8, -8]);
        assert_eq!(
            Pool::Max2.output(MapShape {
                height: 1,
                width: 4,
                channels: 1
            }),
            None
        );
    }

    #[test]
    fn averages_round_half_away_from_the_zero_point() {
        let shape = MapShape {
            height: 1,
            width: 2,
            channels: 1,
        };
        // Around zero point -128: (-127 + 128) + (-128 + 128) = 1, / 2 = 0.5 -> 1.
        assert_eq!(Pool::GlobalAvg.apply(&[-127, -128], shape, -128), [-127]);
        assert_eq!(Pool::GlobalAvg.apply(&[3, 4], shape, 0), [4]);
        assert_eq!(Pool::GlobalAvg.apply(&[-3, -4], shape, 0), [-4]);
        assert_eq!(Pool::GlobalAvg.apply(&[127, 127], shape, -128), [127]);
        // Three values: no ties; 1 / 3 -> 0, 2 / 3 -> 1.
        let three = MapShape {
            height: 3,
            width: 1,
            channels: 1,
        };
        assert_eq!(Pool::GlobalAvg.apply(&[1, 0, 0], three, 0), [0]);
        assert_eq!(Pool::GlobalAvg.apply(&[1, 1, 0], three, 0), [1]);
        assert_eq!(Pool::GlobalAvg.apply(&[-1, -1, 0], three, 0), [-1]);
    }

    use crate::conv::Padding;
    use crate::network::{random_network, Network, NetworkError, CONV_BLOCK_LEN};
    use crate::reference::Reference;
    use crate::EngineConfig;

    fn config(input_dim: usize, codebooks: usize, outputs: usize, bits: u32) -> EngineConfig {
        EngineConfig {
            input_dim,
            codebooks,
            centroids: 4,
            outputs,
            activation_bits: bits,
            ..EngineConfig::default()
        }
    }

    fn conv(h: usize, w: usize, c: usize, k: usize, s: usize, p: Padding, pad: i8) -> Conv {
        Conv {
            geometry: ConvGeometry {
                in_height: h,
                in_width: w,
                in_channels: c,
                kernel: k,
                stride: s,
                padding: p,
            },
            pad_value: pad,
        }
    }

    /// A 5x6x2 map; a 3x3 convolution (pad 1) to 4 channels, MaxPool 2x2
    /// (2x3x4); a 1x1 convolution to 3 channels (V = 4), GlobalAveragePool;
    /// a dense layer 3 -> 5.
    fn layers() -> (Vec<crate::network::Layer>, Vec<Spatial>) {
        let configs = [config(18, 2, 4, 8), config(4, 1, 3, 8), config(3, 3, 5, 8)];
        let net = random_network(&configs, 7).unwrap();
        let spatial = vec![
            Spatial {
                conv: Some(conv(5, 6, 2, 3, 1, Padding::uniform(1), -3)),
                pool: Some(Pool::Max2),
            },
            Spatial {
                conv: Some(conv(2, 3, 4, 1, 1, Padding::default(), 0)),
                pool: Some(Pool::GlobalAvg),
            },
            Spatial::DENSE,
        ];
        (net.layers().to_vec(), spatial)
    }

    fn network() -> Network {
        let (layers, spatial) = layers();
        let input = random_network(&[config(4, 1, 4, 8)], 0)
            .unwrap()
            .input_quantization();
        Network::with_spatial(input, layers, spatial).unwrap()
    }

    #[test]
    fn infer_runs_convolutions_per_pixel_then_pools() {
        let net = network();
        assert_eq!((net.input_dim(), net.outputs()), (60, 5));
        let x: Vec<i8> = (0..60).map(|i| (i * 37 % 256) as u8 as i8).collect();
        let inf = net.infer(&x).unwrap();
        let sizes: Vec<usize> = inf.activations.iter().map(Vec::len).collect();
        assert_eq!(sizes, [60, 24, 3]);
        // Layer 0 by hand: every patch through the engine, requantized, pooled.
        let l0 = &net.layers()[0];
        let c0 = net.spatial()[0].conv.unwrap();
        let patches = c0.geometry.patches(&x, -3).unwrap();
        let acts: Vec<i8> = patches
            .chunks(18)
            .flat_map(|p| Reference::new(&l0.image).outputs(p).unwrap())
            .map(|a| l0.next_activation(a).unwrap())
            .collect();
        assert_eq!(acts.len(), 5 * 6 * 4);
        let map = MapShape {
            height: 5,
            width: 6,
            channels: 4,
        };
        let zero = l0.requantize.unwrap().zero_point;
        assert_eq!(inf.activations[1], Pool::Max2.apply(&acts, map, zero));
        // Layer 2 is dense on the pooled 1x1x3 map.
        assert_eq!(
            inf.outputs,
            Reference::new(&net.layers()[2].image)
                .outputs(&inf.activations[2])
                .unwrap()
        );
        // A map of the wrong size is refused, naming the map.
        let e = net.infer(&x[..59]).unwrap_err();
        assert!(
            matches!(
                e,
                InputError::Map {
                    expected: 60,
                    got: 59,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("5x6x2, HWC"), "{e}");
    }

    #[test]
    fn conv_networks_round_trip_and_bad_fields_are_refused() {
        let net = network();
        let bytes = net.to_bytes();
        assert_eq!(Network::from_bytes(&bytes).unwrap(), net);
        assert_eq!(Network::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        // Layer 0's header: kind 1, pool 1; its conv block after image and table.
        let header = 20;
        assert_eq!(&bytes[header + 14..header + 16], &[1, 1]);
        let len = u32::from_le_bytes(bytes[header + 16..header + 20].try_into().unwrap()) as usize;
        let table = usize::from(bytes[header + 13]) * 256;
        let block = header + 20 + len + table;
        assert_eq!(
            &bytes[block..block + CONV_BLOCK_LEN],
            &[5, 0, 6, 0, 2, 0, 3, 1, 1, 1, 1, 1, (-3i8) as u8, 0, 0, 0]
        );
        let fix = |mut b: Vec<u8>| {
            b.truncate(b.len() - 4);
            let crc = crc32fast::hash(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            b
        };
        let refused = |at: usize, value: u8| {
            let mut b = bytes.clone();
            b[at] = value;
            Network::from_bytes(&fix(b)).unwrap_err().to_string()
        };
        assert!(refused(header + 14, 2).contains("field kind has invalid value 2"));
        assert!(refused(header + 15, 4).contains("field pool has invalid value 4"));
        assert!(refused(block + 13, 1).contains("reserved"));
        let e = refused(block + 6, 7);
        assert!(
            e.contains("layer 0: convolution kernel 7x7 is not supported"),
            "{e}"
        );
        let e = refused(block + 8, 3);
        assert!(e.contains("layer 0: convolution padding"), "{e}");
    }

    #[test]
    fn every_unsupported_layout_is_refused_by_name() {
        let input = network().input_quantization();
        let build = |edit: &dyn Fn(&mut Vec<crate::network::Layer>, &mut Vec<Spatial>)| {
            let (mut layers, mut spatial) = layers();
            edit(&mut layers, &mut spatial);
            Network::with_spatial(input, layers, spatial).unwrap_err()
        };
        let e = build(&|_, s| {
            s.pop();
        });
        assert!(
            matches!(
                e,
                NetworkError::SpatialCount {
                    layers: 3,
                    spatial: 2
                }
            ),
            "{e}"
        );
        let e = build(&|_, s| s[0].conv.as_mut().unwrap().geometry.stride = 3);
        assert!(matches!(e, NetworkError::Conv { layer: 0, .. }), "{e}");
        let e = build(&|_, s| s[1].conv = Some(conv(2, 3, 4, 3, 1, Padding::uniform(1), 0)));
        assert!(
            matches!(
                e,
                NetworkError::ConvPatch {
                    layer: 1,
                    patch_len: 36,
                    input_dim: 4
                }
            ),
            "{e}"
        );
        let e = build(&|_, s| s[2].pool = Some(Pool::Avg2));
        assert!(
            matches!(e, NetworkError::TrailingPool { layer: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("AveragePool 2x2"), "{e}");
        let e = build(&|_, s| {
            s[1].conv = None;
            s[0].pool = None;
        });
        assert!(
            matches!(
                e,
                NetworkError::Shape {
                    layer: 0,
                    outputs: 120,
                    inputs: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = build(&|_, s| s[1].conv.as_mut().unwrap().geometry.in_height = 1);
        assert!(matches!(e, NetworkError::Shape { layer: 0, .. }), "{e}");
        let e = build(&|_, s| {
            let g = &mut s[1].conv.as_mut().unwrap().geometry;
            (g.in_height, g.in_width) = (3, 2);
        });
        assert!(
            matches!(
                e,
                NetworkError::MapShape {
                    layer: 0,
                    next: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("output map is 2x3x4"), "{e}");
        // A dense layer cannot pool; a pad value must fit the activations.
        let configs = [config(4, 1, 4, 8), config(4, 1, 2, 4)];
        let dense = random_network(&configs, 1).unwrap();
        let pooled = [
            Spatial {
                conv: None,
                pool: Some(Pool::GlobalAvg),
            },
            Spatial::DENSE,
        ];
        let e = Network::with_spatial(input, dense.layers().to_vec(), pooled.to_vec()).unwrap_err();
        assert!(
            matches!(e, NetworkError::PoolWithoutMap { layer: 0, .. }),
            "{e}"
        );
        let padded = [
            Spatial::DENSE,
            Spatial {
                conv: Some(conv(2, 2, 1, 2, 1, Padding::default(), 100)),
                pool: None,
            },
        ];
        let e = Network::with_spatial(input, dense.layers().to_vec(), padded.to_vec()).unwrap_err();
        assert!(
            matches!(
                e,
                NetworkError::PadValue {
                    layer: 1,
                    pad_value: 100,
                    bits: 4
                }
            ),
            "{e}"
        );
        // A too-small map for a 2x2 pool.
        let tiny = [
            Spatial {
                conv: Some(conv(1, 4, 4, 1, 1, Padding::default(), 0)),
                pool: Some(Pool::Max2),
            },
            Spatial::DENSE,
        ];
        let e = Network::with_spatial(input, dense.layers().to_vec(), tiny.to_vec()).unwrap_err();
        assert!(
            matches!(
                e,
                NetworkError::PoolTooSmall {
                    layer: 0,
                    height: 1,
                    width: 4,
                    ..
                }
            ),
            "{e}"
        );
    }

    /// The sequential schedule runs dense layers only: the check names the
    /// first conv layer and the schedule that runs it.
    #[test]
    fn require_dense_names_the_convolution() {
        let e = network().require_dense().unwrap_err();
        assert!(
            matches!(e, NetworkError::HardwareConvolution { layer: 0, .. }),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("layer 0 is a 3x3 convolution (stride 1)"), "{e}");
        assert!(
            e.contains("does not run convolutions or pooling") && e.contains("--schedule dataflow"),
            "{e}"
        );
        let configs = [config(4, 1, 4, 8), config(4, 1, 2, 8)];
        random_network(&configs, 1)
            .unwrap()
            .require_dense()
            .unwrap();
    }

    #[test]
    fn codes_round_trip() {
        for pool in [Pool::Max2, Pool::Avg2, Pool::GlobalAvg] {
            assert_eq!(Pool::from_code(pool.code()), Some(pool));
        }
        assert_eq!(Pool::from_code(0), None);
        assert_eq!(Pool::from_code(4), None);
    }
}
