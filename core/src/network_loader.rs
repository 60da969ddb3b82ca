//! The network device's loader: how the bytes of a network file (`LUTNET`
//! v3, [`Network::to_bytes`](crate::Network::to_bytes)), as they arrive in
//! file order, become writes to the network top's memories.
//!
//! This is to a network what [`crate::loader`] is to one image, and it is
//! made of it: a device built for a chain of layer configurations takes the
//! network file as it is, checks every field a device can check with
//! comparators (no floating point, no multiplier), walks each layer's image
//! with that layer's [`Loader`], and checks the file's CRC at the end. This
//! module describes the walk as a list of [`Field`]s ([`NetworkLoader::fields`])
//! and runs it in software ([`NetworkLoader::load`]); tests check that the
//! walk writes exactly [`network_load_words`](crate::memory_map::network_load_words)
//! and accepts exactly the files [`Network::from_bytes`](crate::Network::from_bytes)
//! accepts for these layers.
//!
//! What a device cannot compare with a constant it range-checks: the scales
//! (f32, finite and positive: sign bit clear, exponent not all ones, not
//! zero), the requantization (multiplier from 1 to 2^31 - 1, shift from 1 to
//! 62, zero point within the next layer's activation width, `relu` and
//! `has_table` 0 or 1) and every activation table entry (within the width,
//! zero at the indices a requantized value never takes).

use crate::loader::{element_value, Loader};
use crate::memory_map::{
    LoadWord, ACTIVATION_TABLE_WORD, LAYER_SHIFT, MAX_LAYERS, PAD_VALUE_WORD, POOL_ZERO_POINT_WORD,
    REQUANTIZE_MEMORY, SPATIAL_MEMORY,
};
use crate::network::{ACTIVATION_TABLE_LEN, NETWORK_FORMAT_VERSION, NETWORK_MAGIC};
use crate::protocol::{crc32, DeviceError};
use crate::sequential::SequentialPlan;
use crate::spatial::Spatial;
use crate::{EngineConfig, ImageError};

/// What the loader does with one field of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// Bytes every file for this device has (magic, version, layer count,
    /// reserved zeros, the last layer's empty requantization, widths, image
    /// lengths).
    Fixed(Vec<u8>),
    /// A little-endian f32 that must be finite and positive.
    PositiveF32,
    /// Any byte (the input zero point).
    Any,
    /// A little-endian integer of `bytes` bytes within `min..=max`, written
    /// to the load-port word `address` when `address` is `Some`, and then
    /// also to `mirror` when that is `Some` (a pooling layer's
    /// requantization zero point is its pool stage's zero point too).
    Value {
        bytes: u32,
        signed: bool,
        min: i64,
        max: i64,
        address: Option<u32>,
        mirror: Option<u32>,
    },
    /// A byte 0 or 1 (`has_table`), written to `address`; when 1, the next
    /// field is read as this layer's activation table, otherwise skipped.
    TableFlag { address: u32 },
    /// A layer's image, walked by that layer's [`Loader`] with its writes under `base`.
    Image { layer: usize, base: u32 },
    /// An activation table: 256 bytes, entry `i` (int8) written to
    /// `address + i`, within `bits` signed bits where `i as i8` is a
    /// `bits`-bit value and zero elsewhere. Present only after a
    /// [`Field::TableFlag`] of 1.
    Table { address: u32, bits: u32 },
}

impl Field {
    /// Bytes the field takes in the file (a table's counted when present).
    pub fn bytes(&self, loaders: &[Loader]) -> usize {
        match self {
            Field::Fixed(b) => b.len(),
            Field::PositiveF32 => 4,
            Field::Any | Field::TableFlag { .. } => 1,
            Field::Value { bytes, .. } => *bytes as usize,
            Field::Image { layer, .. } => loaders[*layer].image_len(),
            Field::Table { .. } => ACTIVATION_TABLE_LEN,
        }
    }
}

/// Whether a little-endian f32's bits are a finite, positive number.
pub fn positive_f32(bits: u32) -> bool {
    bits >> 31 == 0 && (bits >> 23) & 0xFF != 0xFF && bits != 0
}

/// The loader of a network device built for a chain of layer configurations.
#[derive(Clone, Debug)]
pub struct NetworkLoader {
    loaders: Vec<Loader>,
    fields: Vec<Field>,
}

/// The load-port address of word `word` of memory `memory` in layer `layer`.
fn layer_address(layer: usize, memory: usize, word: usize) -> u32 {
    ((layer as u32) << LAYER_SHIFT) | (memory as u32) << 16 | word as u32
}

impl NetworkLoader {
    /// The loader for a network device whose layers are `layers` (each a
    /// valid image configuration, chained: outputs equal the next layer's
    /// inputs; at most [`MAX_LAYERS`]).
    pub fn new(layers: &[EngineConfig]) -> Result<Self, ImageError> {
        Self::with_spatial(layers, &vec![Spatial::DENSE; layers.len()])
    }

    /// The loader for a network device whose layers are `layers`, layer `i`
    /// running as `spatial[i]` (dense, or a convolution, maybe pooled; a
    /// chain that passes the network top's checks, one per layer). Its file
    /// holds each layer's `kind` and `pool` codes and convolution geometry
    /// as fixed bytes (the device is generated for them); the pad value is
    /// a value within the layer's activation width, written to its spatial
    /// register ([`PAD_VALUE_WORD`]), and a pooling layer's requantization
    /// zero point goes to its pool stage too ([`POOL_ZERO_POINT_WORD`]):
    /// exactly [`spatial_load_words`](crate::memory_map::spatial_load_words).
    pub fn with_spatial(layers: &[EngineConfig], spatial: &[Spatial]) -> Result<Self, ImageError> {
        assert!(
            (1..=MAX_LAYERS).contains(&layers.len()),
            "a network device has 1 to {MAX_LAYERS} layers"
        );
        assert_eq!(
            spatial.len(),
            layers.len(),
            "one spatial description per layer"
        );
        Self::with_images(layers, layers, spatial)
    }

    /// The loader of a sequential device ([`SequentialPlan`]): the file is
    /// the network's with every layer's image padded to the plan's engine
    /// ([`SequentialPlan::load_file`]), so each image is walked as one of the
    /// engine's (its writes in the padded engine's map, under the layer
    /// field: [`SequentialPlan::load_words`]); the requantization fields are
    /// checked against the layers' own widths, as on a dataflow device.
    pub fn sequential(plan: &SequentialPlan) -> Result<Self, ImageError> {
        let images = vec![plan.engine().clone(); plan.banks()];
        let dense = vec![Spatial::DENSE; plan.layers().len()];
        Self::with_images(&images, plan.layers(), &dense)
    }

    /// The walk for `layers` whose images have the configurations `images`.
    fn with_images(
        images: &[EngineConfig],
        layers: &[EngineConfig],
        spatial: &[Spatial],
    ) -> Result<Self, ImageError> {
        let loaders = images
            .iter()
            .map(Loader::new)
            .collect::<Result<Vec<_>, _>>()?;
        let mut fields = Vec::new();
        let mut header = NETWORK_MAGIC.to_vec();
        header.extend_from_slice(&NETWORK_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(layers.len() as u16).to_le_bytes());
        fields.push(Field::Fixed(header));
        fields.push(Field::PositiveF32);
        fields.push(Field::Any);
        fields.push(Field::Fixed(vec![0; 3]));
        let last = layers.len() - 1;
        for layer in 0..layers.len() {
            fields.push(Field::PositiveF32);
            let image_len = (loaders[layer].image_len() as u32).to_le_bytes();
            let s = spatial[layer];
            // kind and pool: the device is generated for them.
            let codes = [u8::from(s.conv.is_some()), s.pool.map_or(0, |p| p.code())];
            let spatial_word = |word: usize| layer_address(layer, SPATIAL_MEMORY, word);
            if layer == last {
                // has_requant, relu, zero_point, shift, multiplier, bits, has_table: zeros.
                let mut fixed = vec![0; 10];
                fixed.extend_from_slice(&codes);
                fixed.extend_from_slice(&image_len);
                fields.push(Field::Fixed(fixed));
                fields.push(Field::Image {
                    layer,
                    base: layer_address(layer, 0, 0),
                });
            } else {
                let bits = layers[layer + 1].activation_bits;
                let (lo, hi) = EngineConfig::signed_range(bits);
                let register = |word: usize| Some(layer_address(layer, REQUANTIZE_MEMORY, word));
                let byte = |min, max, signed, address| Field::Value {
                    bytes: 1,
                    signed,
                    min,
                    max,
                    address,
                    mirror: None,
                };
                fields.push(Field::Fixed(vec![1]));
                fields.push(byte(0, 1, false, register(3)));
                // The zero point; a pooling layer's pool stage averages around it too.
                fields.push(Field::Value {
                    bytes: 1,
                    signed: true,
                    min: lo,
                    max: hi,
                    address: register(2),
                    mirror: s.pool.map(|_| spatial_word(POOL_ZERO_POINT_WORD)),
                });
                fields.push(byte(1, 62, false, register(1)));
                fields.push(Field::Value {
                    bytes: 4,
                    signed: true,
                    min: 1,
                    max: i64::from(i32::MAX),
                    address: register(0),
                    mirror: None,
                });
                fields.push(Field::Fixed(vec![bits as u8]));
                fields.push(Field::TableFlag {
                    address: layer_address(layer, REQUANTIZE_MEMORY, 4),
                });
                let mut rest = codes.to_vec();
                rest.extend_from_slice(&image_len);
                fields.push(Field::Fixed(rest));
                fields.push(Field::Image {
                    layer,
                    base: layer_address(layer, 0, 0),
                });
                fields.push(Field::Table {
                    address: layer_address(layer, REQUANTIZE_MEMORY, ACTIVATION_TABLE_WORD),
                    bits,
                });
            }
            if let Some(conv) = s.conv {
                // The conv block: the geometry (fixed), the pad value (a
                // value of this layer's input width, to its register), reserved zeros.
                let g = conv.geometry;
                let mut geometry = Vec::new();
                for side in [g.in_height, g.in_width, g.in_channels] {
                    geometry.extend_from_slice(&(side as u16).to_le_bytes());
                }
                let p = g.padding;
                geometry.extend(
                    [g.kernel, g.stride, p.top, p.left, p.bottom, p.right].map(|b| b as u8),
                );
                fields.push(Field::Fixed(geometry));
                let (lo, hi) = EngineConfig::signed_range(layers[layer].activation_bits);
                fields.push(Field::Value {
                    bytes: 1,
                    signed: true,
                    min: lo,
                    max: hi,
                    address: Some(spatial_word(PAD_VALUE_WORD)),
                    mirror: None,
                });
                fields.push(Field::Fixed(vec![0; 3]));
            }
        }
        Ok(NetworkLoader { loaders, fields })
    }

    /// The fields, in file order (before the final CRC-32).
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The image loader of each layer.
    pub fn loaders(&self) -> &[Loader] {
        &self.loaders
    }

    /// The longest file this device takes (every layer with a table), CRC included.
    pub fn max_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| f.bytes(&self.loaders))
            .sum::<usize>()
            + 4
    }

    /// What the device does with a whole network file: the writes, in
    /// order, or the error it replies with (a field that differs from this
    /// device's, or a file of the wrong length: [`DeviceError::WrongImage`];
    /// a CRC, the file's or an image's: [`DeviceError::ImageCrc`]; a value
    /// outside its range: [`DeviceError::ValueRange`]). Fields are checked
    /// in file order, as the bytes arrive; the file's CRC last.
    pub fn load(&self, file: &[u8]) -> Result<Vec<LoadWord>, DeviceError> {
        let mut words = Vec::new();
        let mut at = 0;
        let mut table_follows = false;
        let take = |at: usize, n: usize| file.get(at..at + n).ok_or(DeviceError::WrongImage);
        for field in &self.fields {
            if let Field::Table { .. } = field {
                if !std::mem::take(&mut table_follows) {
                    continue;
                }
            }
            let n = field.bytes(&self.loaders);
            let bytes = take(at, n)?;
            at += n;
            match field {
                Field::Fixed(expected) => {
                    if bytes != expected.as_slice() {
                        return Err(DeviceError::WrongImage);
                    }
                }
                Field::PositiveF32 => {
                    let bits = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
                    if !positive_f32(bits) {
                        return Err(DeviceError::ValueRange);
                    }
                }
                Field::Any => {}
                Field::Value {
                    signed,
                    min,
                    max,
                    address,
                    mirror,
                    ..
                } => {
                    let (unsigned, value) = element_value(bytes, *signed);
                    if value < *min || value > *max {
                        return Err(DeviceError::ValueRange);
                    }
                    for address in [address, mirror].into_iter().flatten() {
                        words.push(LoadWord {
                            address: *address,
                            data: unsigned,
                        });
                    }
                }
                Field::TableFlag { address } => {
                    if bytes[0] > 1 {
                        return Err(DeviceError::ValueRange);
                    }
                    table_follows = bytes[0] == 1;
                    words.push(LoadWord {
                        address: *address,
                        data: u32::from(bytes[0]),
                    });
                }
                Field::Image { layer, base } => {
                    let image = self.loaders[*layer].load(bytes)?;
                    words.extend(image.into_iter().map(|w| LoadWord {
                        address: base | w.address,
                        data: w.data,
                    }));
                }
                Field::Table { address, bits } => {
                    let (lo, hi) = EngineConfig::signed_range(*bits);
                    for (i, &b) in bytes.iter().enumerate() {
                        let reachable = (lo..=hi).contains(&i64::from(i as u8 as i8));
                        let value = i64::from(b as i8);
                        let ok = if reachable {
                            (lo..=hi).contains(&value)
                        } else {
                            value == 0
                        };
                        if !ok {
                            return Err(DeviceError::ValueRange);
                        }
                        words.push(LoadWord {
                            address: address + i as u32,
                            data: u32::from(b),
                        });
                    }
                }
            }
        }
        let crc = take(at, 4)?;
        if file.len() != at + 4 {
            return Err(DeviceError::WrongImage);
        }
        if crc32(&file[..at]) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(DeviceError::ImageCrc);
        }
        Ok(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_map::network_load_words;
    use crate::network::{random_network, ActivationTable, Network, CONV_BLOCK_LEN};
    use crate::EncoderKind;

    fn configs() -> Vec<EngineConfig> {
        let first = EngineConfig {
            input_dim: 16,
            codebooks: 4,
            centroids: 8,
            outputs: 12,
            lanes: 2,
            ..EngineConfig::default()
        };
        let second = EngineConfig {
            input_dim: 12,
            codebooks: 3,
            centroids: 16,
            outputs: 8,
            encoder: EncoderKind::Tree,
            activation_bits: 6,
            ..EngineConfig::default()
        };
        let third = EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: 4,
            outputs: 5,
            ..EngineConfig::default()
        };
        vec![first, second, third]
    }

    fn sorted(mut words: Vec<LoadWord>) -> Vec<(u32, u32)> {
        words.sort_by_key(|w| w.address);
        words.into_iter().map(|w| (w.address, w.data)).collect()
    }

    /// A network of `configs` with an activation table after every layer
    /// but the last (`tables`), or none.
    fn network(seed: u64, tables: bool) -> Network {
        let net = random_network(&configs(), seed).unwrap();
        let mut layers = net.layers().to_vec();
        let last = layers.len() - 1;
        for layer in &mut layers[..last] {
            let bits = layer.requantize.unwrap().bits;
            let (lo, hi) = EngineConfig::signed_range(bits);
            layer.activation = tables.then(|| {
                ActivationTable::from_fn(bits, |q| (i64::from(q) / 2).clamp(lo, hi) as i8).unwrap()
            });
        }
        Network::new(net.input_quantization(), layers).unwrap()
    }

    #[test]
    fn the_walk_writes_what_the_network_top_is_loaded_with() {
        let loader = NetworkLoader::new(&configs()).unwrap();
        for seed in 0..8 {
            for net in [network(seed, false), network(seed, true)] {
                let bytes = net.to_bytes();
                assert!(bytes.len() <= loader.max_len());
                let words = loader.load(&bytes).expect("the device takes the file");
                assert_eq!(sorted(words), sorted(network_load_words(&net)));
            }
        }
        // Every field of the longest file is counted.
        assert_eq!(network(0, true).to_bytes().len(), loader.max_len());
    }

    /// A sequential device's file (every image padded to the engine) walks
    /// to exactly the plan's writes; the plain file is refused.
    #[test]
    fn the_sequential_walk_writes_the_padded_images() {
        // Three `l2` layers of V = 4 that differ in C, K, N and widths.
        let layer = |d: usize, k: usize, n: usize, bits: u32| EngineConfig {
            input_dim: d,
            codebooks: d / 4,
            centroids: k,
            outputs: n,
            activation_bits: bits,
            ..EngineConfig::default()
        };
        let layers = [layer(16, 8, 12, 8), layer(12, 16, 8, 6), layer(8, 4, 5, 8)];
        let plan = SequentialPlan::new(&layers).unwrap();
        let loader = NetworkLoader::sequential(&plan).unwrap();
        for seed in 0..4 {
            let net = random_network(&layers, seed).unwrap();
            let file = plan.load_file(&net).unwrap();
            assert!(file.len() <= loader.max_len());
            let words = loader
                .load(&file)
                .expect("the device takes the padded file");
            assert_eq!(sorted(words), sorted(plan.load_words(&net).unwrap()));
            assert_eq!(loader.load(&net.to_bytes()), Err(DeviceError::WrongImage));
        }
    }

    #[test]
    fn files_for_other_devices_or_damaged_are_refused() {
        let loader = NetworkLoader::new(&configs()).unwrap();
        let good = network(3, true).to_bytes();
        // Another chain of layers (the last layer one output wider).
        let mut other = configs();
        other[2].outputs = 6;
        let foreign = random_network(&other, 1).unwrap().to_bytes();
        assert_eq!(loader.load(&foreign), Err(DeviceError::WrongImage));
        // Fewer layers.
        let short = random_network(&configs()[..2], 1).unwrap().to_bytes();
        assert_eq!(loader.load(&short), Err(DeviceError::WrongImage));
        // Truncated, or a byte past the end.
        assert_eq!(
            loader.load(&good[..good.len() - 1]),
            Err(DeviceError::WrongImage)
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(loader.load(&long), Err(DeviceError::WrongImage));
        // A flipped bit in the last layer's table-free body: the file CRC.
        let mut damaged = good.clone();
        let n = damaged.len();
        damaged[n - 5] ^= 1;
        assert!(matches!(
            loader.load(&damaged),
            Err(DeviceError::ImageCrc | DeviceError::ValueRange)
        ));
        // A requantization shift of 63: out of range.
        let mut bad = good.clone();
        let shift_at = 20 + 4 + 3; // header, acc_scale, has/relu/zero_point
        assert_eq!(bad[shift_at - 3], 1, "has_requant of layer 0");
        bad[shift_at] = 63;
        assert_eq!(loader.load(&bad), Err(DeviceError::ValueRange));
        assert!(Network::from_bytes(&bad).is_err());
    }

    /// A conv network: a 5x6x2 map, a 3x3 convolution (pad 1, 6-bit
    /// input, so the pad value has a range to check) to 4 channels, MaxPool
    /// 2x2; a 1x1 convolution to 3 channels, GlobalAveragePool; a dense
    /// layer 3 -> 5. Pad value `pad`; tables as `random_network` draws them.
    fn conv_network(seed: u64, pad: i8) -> Network {
        use crate::conv::{ConvGeometry, Padding};
        use crate::spatial::{Conv, Pool};
        let config = |d, c, n, bits| EngineConfig {
            input_dim: d,
            codebooks: c,
            centroids: 4,
            outputs: n,
            activation_bits: bits,
            ..EngineConfig::default()
        };
        let configs = [config(18, 2, 4, 6), config(4, 1, 3, 8), config(3, 3, 5, 8)];
        let net = random_network(&configs, seed).unwrap();
        let conv = |h, w, c, k, p, pad_value| Conv {
            geometry: ConvGeometry {
                in_height: h,
                in_width: w,
                in_channels: c,
                kernel: k,
                stride: 1,
                padding: Padding::uniform(p),
            },
            pad_value,
        };
        let spatial = vec![
            Spatial {
                conv: Some(conv(5, 6, 2, 3, 1, pad)),
                pool: Some(Pool::Max2),
            },
            Spatial {
                conv: Some(conv(2, 3, 4, 1, 0, 0)),
                pool: Some(Pool::GlobalAvg),
            },
            Spatial::DENSE,
        ];
        Network::with_spatial(net.input_quantization(), net.layers().to_vec(), spatial).unwrap()
    }

    fn conv_loader(net: &Network) -> NetworkLoader {
        let shapes: Vec<Spatial> = net.spatial().iter().map(Spatial::device_shape).collect();
        NetworkLoader::with_spatial(&net.configs(), &shapes).unwrap()
    }

    /// A conv network's walk writes exactly `network_load_words`: the pad
    /// value to the layer's spatial register, and a pooling layer's
    /// requantization zero point to its requantization stage and to its
    /// pool stage (one byte, two writes).
    #[test]
    fn the_conv_walk_writes_the_spatial_registers() {
        for (seed, pad) in [(0, -3), (1, 31), (2, -32), (3, 0)] {
            let net = conv_network(seed, pad);
            let loader = conv_loader(&net);
            let bytes = net.to_bytes();
            assert!(bytes.len() <= loader.max_len());
            let words = loader.load(&bytes).expect("the device takes the file");
            let spatial =
                |layer: u32, word: u32| layer << LAYER_SHIFT | (SPATIAL_MEMORY as u32) << 16 | word;
            let find = |address: u32| -> Vec<u32> {
                words
                    .iter()
                    .filter(|w| w.address == address)
                    .map(|w| w.data)
                    .collect()
            };
            assert_eq!(find(spatial(0, 0)), [u32::from(pad as u8)], "pad value");
            for layer in 0..2 {
                let zero = net.layers()[layer].requantize.unwrap().zero_point;
                assert_eq!(find(spatial(layer as u32, 1)), [u32::from(zero as u8)]);
            }
            assert_eq!(sorted(words), sorted(network_load_words(&net)));
        }
    }

    /// The device's walk and the host's reader agree on every conv file
    /// with one byte changed anywhere (its CRC made right again): the
    /// device accepts exactly the files the reader accepts for its layers
    /// and geometries, and then writes exactly their load words. Files for
    /// another geometry or pooling, or with a pad value past the layer's
    /// width, are refused.
    #[test]
    fn conv_files_are_refused_exactly_as_the_reader_refuses_them() {
        let net = conv_network(5, -7);
        let loader = conv_loader(&net);
        let good = net.to_bytes();
        let fix = |mut b: Vec<u8>| {
            let n = b.len() - 4;
            let crc = crc32(&b[..n]);
            b[n..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let shapes: Vec<Spatial> = net.spatial().iter().map(Spatial::device_shape).collect();
        let (mut accepted, mut refused) = (0, 0);
        for at in 0..good.len() - 4 {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut b = good.clone();
                b[at] ^= flip;
                let b = fix(b);
                let host = Network::from_bytes(&b).ok().filter(|n| {
                    n.configs() == net.configs()
                        && n.spatial()
                            .iter()
                            .map(Spatial::device_shape)
                            .eq(shapes.clone())
                });
                match (loader.load(&b), host) {
                    (Ok(words), Some(host)) => {
                        assert_eq!(
                            sorted(words),
                            sorted(network_load_words(&host)),
                            "byte {at}"
                        );
                        accepted += 1;
                    }
                    (Err(_), None) => refused += 1,
                    (device, host) => panic!(
                        "byte {at} ^ {flip:#04x}: device {:?}, host {:?}",
                        device.map(|_| ()),
                        host.map(|_| ())
                    ),
                }
            }
        }
        assert!(accepted > 0 && refused > 0, "{accepted} {refused}");
        // Another geometry (stride 2 on layer 1's 1x1 map would not chain:
        // change the padding of layer 0 instead), another pooling: WrongImage.
        let mut other = shapes.clone();
        other[0].pool = Some(crate::spatial::Pool::Avg2);
        let avg = NetworkLoader::with_spatial(&net.configs(), &other).unwrap();
        assert_eq!(avg.load(&good), Err(DeviceError::WrongImage));
        let mut other = shapes.clone();
        other[0].conv.as_mut().unwrap().geometry.padding.left = 0;
        let pads = NetworkLoader::with_spatial(&net.configs(), &other).unwrap();
        assert_eq!(pads.load(&good), Err(DeviceError::WrongImage));
        // The dense device for the same engines: WrongImage at layer 0's kind.
        let dense = NetworkLoader::new(&net.configs()).unwrap();
        assert_eq!(dense.load(&good), Err(DeviceError::WrongImage));
        // A pad value past layer 0's 6 bits (32): ValueRange, and the reader refuses it too.
        let pad_at = (0..good.len())
            .find(|&i| {
                let mut b = good.clone();
                b[i] = 32;
                let b = fix(b);
                matches!(
                    Network::from_bytes(&b),
                    Err(crate::network::NetworkError::PadValue { layer: 0, .. })
                )
            })
            .expect("the pad value byte");
        // It is the 13th byte of layer 0's conv block.
        assert_eq!(good[pad_at - 12..pad_at - 6], [5, 0, 6, 0, 2, 0]);
        assert_eq!(CONV_BLOCK_LEN, 16);
        let mut b = good.clone();
        b[pad_at] = 32;
        assert_eq!(loader.load(&fix(b)), Err(DeviceError::ValueRange));
    }

    #[test]
    fn positive_f32_is_finite_and_above_zero() {
        for (v, ok) in [
            (1.0f32, true),
            (f32::MIN_POSITIVE, true),
            (1e-45, true),
            (f32::MAX, true),
            (0.0, false),
            (-0.0, false),
            (-1.0, false),
            (f32::INFINITY, false),
            (f32::NAN, false),
        ] {
            assert_eq!(positive_f32(v.to_bits()), ok, "{v}");
            assert_eq!(v.is_finite() && v > 0.0, ok, "{v}");
        }
    }
}
