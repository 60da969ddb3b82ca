//! What a device says about itself: the identify reply ([`Ident`]), and
//! the checks a host makes on it before trusting it (the hash over the
//! configuration, the image length that configuration implies).

use crate::config::EngineConfig;
use crate::conv::{ConvGeometry, Padding};
use crate::network_loader::NetworkLoader;
use crate::protocol::{
    config_bytes, config_hash, BUFFER_BYTES, IDENT_LAYER_LEN, IDENT_LEN, IDENT_MAGIC,
    IDENT_SCHEDULE_LEN, IDENT_SPATIAL_LAYER_LEN, JOB_QUEUE_DEPTH, MAX_PAYLOAD, PROTOCOL_VERSION,
};
use crate::sequential::{Schedule, SequentialPlan};
use crate::spatial::{Conv, Pool, Spatial};
use thiserror::Error;

/// The hash a network device reports for its chain of layers: CRC-32 of
/// the layer count (u8) and every layer's [`config_bytes`].
pub fn network_hash(layers: &[EngineConfig]) -> u32 {
    let mut bytes = vec![layers.len() as u8];
    for layer in layers {
        bytes.extend_from_slice(&config_bytes(layer));
    }
    crate::protocol::crc32(&bytes)
}

/// The hash a sequential device reports: CRC-32 of what [`network_hash`]
/// covers, then the schedule byte (1) and its engine's [`config_bytes`].
pub fn sequential_hash(layers: &[EngineConfig], engine: &EngineConfig) -> u32 {
    let mut bytes = vec![layers.len() as u8];
    for layer in layers {
        bytes.extend_from_slice(&config_bytes(layer));
    }
    bytes.push(SCHEDULE_SEQUENTIAL);
    bytes.extend_from_slice(&config_bytes(engine));
    crate::protocol::crc32(&bytes)
}

/// The schedule byte of a sequential device's identify reply.
pub const SCHEDULE_SEQUENTIAL: u8 = 1;

/// The tag of a network device's spatial section in its identify reply:
/// [`IDENT_SPATIAL_LAYER_LEN`] bytes per layer ([`spatial_bytes`]) follow.
pub const SECTION_SPATIAL: u8 = 2;

/// The hash a network device with a convolution or pooling layer reports:
/// CRC-32 of what [`network_hash`] covers, then [`SECTION_SPATIAL`] and
/// every layer's [`spatial_bytes`].
pub fn spatial_hash(layers: &[EngineConfig], spatial: &[Spatial]) -> u32 {
    let mut bytes = vec![layers.len() as u8];
    for layer in layers {
        bytes.extend_from_slice(&config_bytes(layer));
    }
    bytes.push(SECTION_SPATIAL);
    for s in spatial {
        bytes.extend_from_slice(&spatial_bytes(s));
    }
    crate::protocol::crc32(&bytes)
}

/// A layer's entry in the spatial section ([`IDENT_SPATIAL_LAYER_LEN`]
/// bytes, little-endian): `kind` (0 dense, 1 convolution) and `pool` (0
/// none, 1 MaxPool 2x2, 2 AveragePool 2x2, 3 GlobalAveragePool), as in the
/// network file's layer header, then the convolution's geometry as in its
/// conv block: in_height, in_width, in_channels (u16 each), kernel, stride,
/// pad_top, pad_left, pad_bottom, pad_right (u8 each); zeros for a dense
/// layer. The pad value is not there: a device loads it with the file.
pub fn spatial_bytes(s: &Spatial) -> [u8; IDENT_SPATIAL_LAYER_LEN] {
    let mut out = [0u8; IDENT_SPATIAL_LAYER_LEN];
    out[0] = u8::from(s.conv.is_some());
    out[1] = s.pool.map_or(0, |p| p.code());
    if let Some(conv) = s.conv {
        let g = conv.geometry;
        for (i, side) in [g.in_height, g.in_width, g.in_channels]
            .into_iter()
            .enumerate()
        {
            out[2 + 2 * i..4 + 2 * i].copy_from_slice(&(side as u16).to_le_bytes());
        }
        let p = g.padding;
        for (i, b) in [g.kernel, g.stride, p.top, p.left, p.bottom, p.right]
            .into_iter()
            .enumerate()
        {
            out[8 + i] = b as u8;
        }
    }
    out
}

/// A layer's spatial description (pad value 0) from its [`spatial_bytes`].
fn spatial_from_bytes(b: &[u8]) -> Result<Spatial, IdentError> {
    let bad = |what: &str| IdentError::Config(format!("spatial section: {what}"));
    let pool = match b[1] {
        0 => None,
        code => Some(Pool::from_code(code).ok_or_else(|| bad(&format!("pool code {code}")))?),
    };
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let conv = match b[0] {
        0 => {
            if b[2..].iter().any(|&x| x != 0) {
                return Err(bad("a dense layer with a geometry"));
            }
            None
        }
        1 => {
            let geometry = ConvGeometry {
                in_height: u16_at(2),
                in_width: u16_at(4),
                in_channels: u16_at(6),
                kernel: usize::from(b[8]),
                stride: usize::from(b[9]),
                padding: Padding {
                    top: usize::from(b[10]),
                    left: usize::from(b[11]),
                    bottom: usize::from(b[12]),
                    right: usize::from(b[13]),
                },
            };
            geometry.validate().map_err(|e| bad(&e.to_string()))?;
            Some(Conv {
                geometry,
                pad_value: 0,
            })
        }
        kind => return Err(bad(&format!("layer kind {kind}"))),
    };
    Ok(Spatial { conv, pool })
}

/// What a device says about itself in its identify reply.
///
/// An **engine device** (it loads image files) answers [`IDENT_LEN`] bytes.
/// A **network device** (it loads network files) answers
/// `IDENT_LEN + 1 + 25 * (L - 1)`: the same fields, where `config` is its
/// first layer, `config_hash` the [`network_hash`] of all its layers and
/// `image_bytes` the longest network file it takes
/// ([`NetworkLoader::max_len`]),
/// then the layer count L and the configuration bytes of layers 1 to L - 1.
/// A **sequential** network device (one engine runs the layers in turn,
/// [`SequentialPlan`]) adds [`IDENT_SCHEDULE_LEN`] bytes: the schedule byte
/// [`SCHEDULE_SEQUENTIAL`] and its engine's configuration bytes (the
/// capacity: the padded shape every layer is loaded as, one bank per layer);
/// its hash is [`sequential_hash`] and `image_bytes` the longest padded file
/// ([`NetworkLoader::sequential`]). A dataflow network device with a
/// convolution or pooling layer adds a **spatial section** instead: the tag
/// [`SECTION_SPATIAL`] and [`spatial_bytes`] for every layer (the geometry
/// and pooling the device was generated for); its hash is [`spatial_hash`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ident {
    pub protocol_version: u8,
    /// The engine (of an engine device), or the first layer (of a network device).
    pub config: EngineConfig,
    /// Every layer of a network device, the first included; `None` for an engine device.
    pub layers: Option<Vec<EngineConfig>>,
    /// How the layers run: `dataflow` for engine and dataflow network devices.
    pub schedule: Schedule,
    /// A sequential device's engine: every layer's image is padded to it.
    pub sequential_engine: Option<EngineConfig>,
    /// How each layer of a network device with a convolution or pooling
    /// layer runs (pad values 0: [`Spatial::device_shape`]); `None` when
    /// every layer is dense.
    pub spatial: Option<Vec<Spatial>>,
    pub config_hash: u32,
    pub clock_hz: u32,
    pub baud: u32,
    pub buffer_bytes: u16,
    pub max_payload: u16,
    pub job_queue_depth: u16,
    /// Length in bytes of the image file this device loads.
    pub image_bytes: u32,
}

/// An identify reply that cannot be from a lutgen device of this protocol.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdentError {
    #[error(
        "identify reply is {got} bytes, expected {IDENT_LEN} (an engine device), \
         {IDENT_LEN} + 1 + {IDENT_LAYER_LEN} per layer after the first (a network device), \
         and {IDENT_SCHEDULE_LEN} (a sequential device) or 1 + {IDENT_SPATIAL_LAYER_LEN} per \
         layer (a network device with convolutions)"
    )]
    Length { got: usize },
    #[error("identify reply does not start with \"LTGN\" (got {0:02x?}): not a lutgen device")]
    Magic([u8; 4]),
    #[error("device speaks protocol version {device}, this lutgen speaks {PROTOCOL_VERSION}")]
    Version { device: u8 },
    #[error("device reports an engine configuration lutgen cannot use: {0}")]
    Config(String),
    #[error(
        "device says its image is {reported} bytes but its configuration's images are \
         {computed}: the reply is damaged or the bitstream is broken"
    )]
    ImageBytes { reported: u32, computed: u64 },
    #[error(
        "device reports configuration hash {reported:#010x} but its configuration hashes to \
         {computed:#010x}: the reply is damaged or the bitstream is broken"
    )]
    Hash { reported: u32, computed: u32 },
}

impl Ident {
    /// The identify payload of an engine device built for `config`.
    pub fn new(config: &EngineConfig, clock_hz: u32, baud: u32) -> Self {
        Ident {
            protocol_version: PROTOCOL_VERSION,
            config: config.clone(),
            layers: None,
            schedule: Schedule::Dataflow,
            sequential_engine: None,
            spatial: None,
            config_hash: config_hash(config),
            clock_hz,
            baud,
            buffer_bytes: BUFFER_BYTES as u16,
            max_payload: MAX_PAYLOAD as u16,
            job_queue_depth: JOB_QUEUE_DEPTH as u16,
            image_bytes: crate::image::format::image_len(config)
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// The identify payload of a network device built for `layers` (a valid
    /// chain for [`NetworkLoader`](NetworkLoader)).
    pub fn network(
        layers: &[EngineConfig],
        clock_hz: u32,
        baud: u32,
    ) -> Result<Self, crate::ImageError> {
        Self::network_spatial(layers, &vec![Spatial::DENSE; layers.len()], clock_hz, baud)
    }

    /// The identify payload of a network device built for `layers`, layer
    /// `i` running as `spatial[i]` (a chain the network top takes). With
    /// every layer dense it is [`Ident::network`]'s; otherwise it has the
    /// spatial section and hash.
    pub fn network_spatial(
        layers: &[EngineConfig],
        spatial: &[Spatial],
        clock_hz: u32,
        baud: u32,
    ) -> Result<Self, crate::ImageError> {
        let shapes: Vec<Spatial> = spatial.iter().map(Spatial::device_shape).collect();
        let loader = NetworkLoader::with_spatial(layers, &shapes)?;
        let dense = shapes.iter().all(Spatial::is_dense);
        Ok(Ident {
            config: layers[0].clone(),
            layers: Some(layers.to_vec()),
            config_hash: if dense {
                network_hash(layers)
            } else {
                spatial_hash(layers, &shapes)
            },
            spatial: (!dense).then_some(shapes),
            image_bytes: loader.max_len() as u32,
            ..Ident::new(&layers[0], clock_hz, baud)
        })
    }

    /// The identify payload of a sequential device built for `layers`.
    pub fn sequential(layers: &[EngineConfig], clock_hz: u32, baud: u32) -> Result<Self, String> {
        let plan = SequentialPlan::new(layers).map_err(|e| e.to_string())?;
        let loader = NetworkLoader::sequential(&plan).map_err(|e| e.to_string())?;
        Ok(Ident {
            config: layers[0].clone(),
            layers: Some(layers.to_vec()),
            schedule: Schedule::Sequential,
            sequential_engine: Some(plan.engine().clone()),
            config_hash: sequential_hash(layers, plan.engine()),
            image_bytes: loader.max_len() as u32,
            ..Ident::new(&layers[0], clock_hz, baud)
        })
    }

    /// The plan a sequential device runs (`None` for other devices).
    pub fn sequential_plan(&self) -> Option<SequentialPlan> {
        self.sequential_engine.as_ref()?;
        SequentialPlan::new(self.layers.as_deref()?).ok()
    }

    /// The layers the device runs (one for an engine device).
    pub fn all_layers(&self) -> Vec<EngineConfig> {
        self.layers
            .clone()
            .unwrap_or_else(|| vec![self.config.clone()])
    }

    /// How each layer runs (every layer dense unless the reply has a spatial section).
    pub fn all_spatial(&self) -> Vec<Spatial> {
        self.spatial
            .clone()
            .unwrap_or_else(|| vec![Spatial::DENSE; self.all_layers().len()])
    }

    /// Elements of one input vector: the first layer's input (its input
    /// map, HWC, if it is a convolution).
    pub fn input_dim(&self) -> usize {
        self.all_spatial()[0].input_len(&self.config)
    }

    /// Results of one vector: the last layer's outputs.
    pub fn outputs(&self) -> usize {
        let layers = self.all_layers();
        let last = layers.len() - 1;
        self.all_spatial()[last].output_len(&layers[last])
    }

    /// Activations layer `layer` hands to the next (its output map after
    /// pooling, for a convolution): what a trace of it returns before the
    /// results. `None` for the last layer and past it.
    pub fn traced_len(&self, layer: usize) -> Option<usize> {
        let layers = self.all_layers();
        if layer + 1 >= layers.len() {
            return None;
        }
        Some(self.all_spatial()[layer].output_len(&layers[layer]))
    }

    /// The payload: magic "LTGN", version u8, config bytes (25), hash u32, clock u32,
    /// baud u32, buffer bytes u16, max payload u16, job queue depth u16, image bytes u32;
    /// for a network device then the layer count u8 and layers 1.. (25 bytes each),
    /// then a sequential device's schedule section, or a spatial section.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; IDENT_LEN];
        out[..4].copy_from_slice(&IDENT_MAGIC);
        out[4] = self.protocol_version;
        out[5..30].copy_from_slice(&config_bytes(&self.config));
        out[30..34].copy_from_slice(&self.config_hash.to_le_bytes());
        out[34..38].copy_from_slice(&self.clock_hz.to_le_bytes());
        out[38..42].copy_from_slice(&self.baud.to_le_bytes());
        out[42..44].copy_from_slice(&self.buffer_bytes.to_le_bytes());
        out[44..46].copy_from_slice(&self.max_payload.to_le_bytes());
        out[46..48].copy_from_slice(&self.job_queue_depth.to_le_bytes());
        out[48..52].copy_from_slice(&self.image_bytes.to_le_bytes());
        if let Some(layers) = &self.layers {
            out.push(layers.len() as u8);
            for layer in &layers[1..] {
                out.extend_from_slice(&config_bytes(layer));
            }
        }
        if let Some(engine) = &self.sequential_engine {
            out.push(SCHEDULE_SEQUENTIAL);
            out.extend_from_slice(&config_bytes(engine));
        }
        if let Some(spatial) = &self.spatial {
            out.push(SECTION_SPATIAL);
            for s in spatial {
                out.extend_from_slice(&spatial_bytes(s));
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentError> {
        let network = bytes.len() > IDENT_LEN;
        let layer_count = bytes.get(IDENT_LEN).map_or(1, |&l| usize::from(l));
        let layers_end = if network {
            IDENT_LEN + 1 + IDENT_LAYER_LEN * layer_count.saturating_sub(1)
        } else {
            IDENT_LEN
        };
        // A sequential device's schedule section, or a spatial section,
        // follows its layers: told apart by their tag and their length.
        let spatial_len = 1 + IDENT_SPATIAL_LAYER_LEN * layer_count;
        let section = |tag: u8, len: usize| {
            network && bytes.len() == layers_end + len && bytes[layers_end] == tag
        };
        let sequential = section(SCHEDULE_SEQUENTIAL, IDENT_SCHEDULE_LEN);
        let has_spatial = section(SECTION_SPATIAL, spatial_len);
        let expected = layers_end
            + match (sequential, has_spatial) {
                (true, _) => IDENT_SCHEDULE_LEN,
                (false, true) => spatial_len,
                (false, false) => 0,
            };
        if bytes.len() != expected || !(1..=crate::memory_map::MAX_LAYERS).contains(&layer_count) {
            return Err(IdentError::Length { got: bytes.len() });
        }
        let magic: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
        if magic != IDENT_MAGIC {
            return Err(IdentError::Magic(magic));
        }
        if bytes[4] != PROTOCOL_VERSION {
            return Err(IdentError::Version { device: bytes[4] });
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let config = config_from_bytes(&bytes[5..30])?;
        let layers = if network {
            let mut layers = vec![config.clone()];
            for chunk in bytes[IDENT_LEN + 1..layers_end].chunks_exact(IDENT_LAYER_LEN) {
                layers.push(config_from_bytes(chunk)?);
            }
            Some(layers)
        } else {
            None
        };
        let sequential_engine = if sequential {
            Some(config_from_bytes(&bytes[layers_end + 1..])?)
        } else {
            None
        };
        let spatial = if has_spatial {
            let section = &bytes[layers_end + 1..];
            Some(
                section
                    .chunks_exact(IDENT_SPATIAL_LAYER_LEN)
                    .map(spatial_from_bytes)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            None
        };
        let reported = u32_at(30);
        let computed = match (&layers, &sequential_engine, &spatial) {
            (Some(layers), Some(engine), _) => sequential_hash(layers, engine),
            (Some(layers), None, Some(spatial)) => spatial_hash(layers, spatial),
            (Some(layers), None, None) => network_hash(layers),
            (None, _, _) => config_hash(&config),
        };
        if reported != computed {
            return Err(IdentError::Hash { reported, computed });
        }
        let image_bytes = u32_at(48);
        let expected = match &layers {
            Some(layers) => {
                let shapes = spatial
                    .clone()
                    .unwrap_or_else(|| vec![Spatial::DENSE; layers.len()]);
                check_chain(layers, &shapes)?;
                let loader = match &sequential_engine {
                    Some(engine) => {
                        let plan = SequentialPlan::new(layers)
                            .map_err(|e| IdentError::Config(e.to_string()))?;
                        if plan.engine() != engine {
                            return Err(IdentError::Config(format!(
                                "a sequential device for these layers has the engine {:?}, \
                                 not {engine:?}",
                                plan.engine()
                            )));
                        }
                        NetworkLoader::sequential(&plan)
                    }
                    None => NetworkLoader::with_spatial(layers, &shapes),
                };
                loader
                    .map_err(|e| IdentError::Config(e.to_string()))?
                    .max_len() as u64
            }
            None => crate::image::format::image_len(&config)
                .map_err(|e| IdentError::Config(e.to_string()))? as u64,
        };
        if u64::from(image_bytes) != expected {
            return Err(IdentError::ImageBytes {
                reported: image_bytes,
                computed: expected,
            });
        }
        Ok(Ident {
            protocol_version: bytes[4],
            config,
            layers,
            schedule: if sequential {
                Schedule::Sequential
            } else {
                Schedule::Dataflow
            },
            sequential_engine,
            spatial,
            config_hash: reported,
            clock_hz: u32_at(34),
            baud: u32_at(38),
            buffer_bytes: u16_at(42),
            max_payload: u16_at(44),
            job_queue_depth: u16_at(46),
            image_bytes,
        })
    }
}

/// Checks that a device's layers chain: each layer hands on (its output
/// map after pooling, for a convolution) what the next takes (its input
/// map), a convolution's patches are its engine's input and only a
/// convolution pools.
fn check_chain(layers: &[EngineConfig], spatial: &[Spatial]) -> Result<(), IdentError> {
    for (i, (config, s)) in layers.iter().zip(spatial).enumerate() {
        if let Some(conv) = s.conv {
            if conv.geometry.patch_len() != config.input_dim {
                return Err(IdentError::Config(format!(
                    "layer {i}'s convolution has patches of {} elements but its engine takes {}",
                    conv.geometry.patch_len(),
                    config.input_dim
                )));
            }
        }
        if let Some(map) = s.output_map(config.outputs) {
            if s.pool.is_some_and(|p| p.output(map).is_none()) {
                return Err(IdentError::Config(format!(
                    "layer {i}'s {}x{} map is too small for its pooling",
                    map.height, map.width
                )));
            }
        } else if s.pool.is_some() {
            return Err(IdentError::Config(format!("layer {i} is dense but pools")));
        }
        if let (Some(next), Some(next_s)) = (layers.get(i + 1), spatial.get(i + 1)) {
            let (outputs, inputs) = (s.output_len(config), next_s.input_len(next));
            if outputs != inputs {
                return Err(IdentError::Config(format!(
                    "layer {i} has {outputs} outputs but layer {} takes {inputs} inputs",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// An engine configuration from its 25 [`config_bytes`], validated.
fn config_from_bytes(bytes: &[u8]) -> Result<EngineConfig, IdentError> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let encoder = crate::EncoderKind::from_id(bytes[0])
        .ok_or_else(|| IdentError::Config(format!("unknown encoder id {}", bytes[0])))?;
    let config = EngineConfig {
        encoder,
        activation_bits: u32::from(bytes[1]),
        centroid_bits: u32::from(bytes[2]),
        table_bits: u32::from(bytes[3]),
        bias_bits: u32::from(bytes[4]),
        input_dim: u32_at(5) as usize,
        codebooks: u32_at(9) as usize,
        centroids: u32_at(13) as usize,
        outputs: u32_at(17) as usize,
        lanes: u32_at(21) as usize,
        // The reply has no R: a device's loader packs the entries itself.
        entries_per_read: 1,
    };
    config
        .validate()
        .map_err(|e| IdentError::Config(e.to_string()))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MAX_IDENT_LEN;

    #[test]
    fn ident_round_trip_and_checks() {
        let config = EngineConfig::default();
        let ident = Ident::new(&config, 12_000_000, 115_200);
        let bytes = ident.to_bytes();
        assert_eq!(Ident::from_bytes(&bytes).unwrap(), ident);
        let mut b = bytes.clone();
        b[0] = b'X';
        assert!(matches!(Ident::from_bytes(&b), Err(IdentError::Magic(_))));
        let mut b = bytes.clone();
        b[22] ^= 1; // outputs
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Hash { .. })
        ));
        let mut b = bytes.clone();
        b[4] = 9;
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Version { device: 9 })
        ));
        assert!(matches!(
            Ident::from_bytes(&bytes[..10]),
            Err(IdentError::Length { got: 10 })
        ));
    }

    /// Bytes 48..52 are the image length of the reported configuration: a
    /// reply that disagrees is damaged.
    #[test]
    fn ident_checks_the_image_length() {
        let ident = Ident::new(&EngineConfig::default(), 12_000_000, 115_200);
        assert_eq!(ident.image_bytes, 64 + 16 * 64 + 16 * 16 * 16 + 4 * 16);
        let mut b = ident.to_bytes();
        b[48] ^= 1;
        let e = Ident::from_bytes(&b).unwrap_err();
        assert!(matches!(e, IdentError::ImageBytes { .. }), "{e}");
    }

    /// A 64 -> 32 -> 10 network's layers (the second with 8 codebooks).
    fn two_layers() -> Vec<EngineConfig> {
        let first = EngineConfig {
            input_dim: 64,
            outputs: 32,
            ..EngineConfig::default()
        };
        let second = EngineConfig {
            input_dim: 32,
            codebooks: 8,
            outputs: 10,
            ..EngineConfig::default()
        };
        vec![first, second]
    }

    /// A network device names every layer; its hash covers them all and
    /// its image length is the longest network file it takes.
    #[test]
    fn network_ident_round_trip_and_checks() {
        let layers = two_layers();
        let ident = Ident::network(&layers, 12_000_000, 115_200).unwrap();
        let bytes = ident.to_bytes();
        assert_eq!(bytes.len(), IDENT_LEN + 1 + IDENT_LAYER_LEN);
        let back = Ident::from_bytes(&bytes).unwrap();
        assert_eq!(back, ident);
        assert_eq!(back.all_layers(), layers);
        assert_eq!((back.input_dim(), back.outputs()), (64, 10));
        assert_eq!(back.config_hash, network_hash(&layers));
        // A one-layer network device is still a network device.
        let one = Ident::network(&layers[..1], 12_000_000, 115_200).unwrap();
        assert_eq!(one.to_bytes().len(), IDENT_LEN + 1);
        assert_eq!(Ident::from_bytes(&one.to_bytes()).unwrap(), one);
        // A damaged second layer fails the hash; a wrong count, the length.
        let mut b = bytes.clone();
        b[IDENT_LEN + 1 + 17] ^= 1; // layer 1's outputs
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Hash { .. })
        ));
        let mut b = bytes.clone();
        b[IDENT_LEN] = 3;
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Length { .. })
        ));
        let mut b = bytes.clone();
        b[IDENT_LEN] = 0;
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Length { .. })
        ));
        assert!(MAX_IDENT_LEN >= bytes.len());
    }

    /// A dataflow device with convolutions adds a spatial section (14 bytes
    /// per layer after a tag): its hash covers it, so a damaged geometry
    /// fails; it tells the host the input map and each traced layer's
    /// length; a dense device's reply is exactly as before.
    #[test]
    fn spatial_ident_round_trip_and_checks() {
        use crate::protocol::IDENT_SPATIAL_LAYER_LEN;
        // 8x8x1 -> 3x3 conv (pad 1) to 8 channels, MaxPool 2x2 -> 4x4x8 -> dense 128 -> 10.
        let layers = vec![
            EngineConfig {
                input_dim: 9,
                codebooks: 1,
                outputs: 8,
                ..EngineConfig::default()
            },
            EngineConfig {
                input_dim: 128,
                codebooks: 32,
                outputs: 10,
                ..EngineConfig::default()
            },
        ];
        let conv = Spatial {
            conv: Some(Conv {
                geometry: ConvGeometry {
                    in_height: 8,
                    in_width: 8,
                    in_channels: 1,
                    kernel: 3,
                    stride: 1,
                    padding: Padding::uniform(1),
                },
                pad_value: -128,
            }),
            pool: Some(Pool::Max2),
        };
        let spatial = [conv, Spatial::DENSE];
        let ident = Ident::network_spatial(&layers, &spatial, 12_000_000, 115_200).unwrap();
        let bytes = ident.to_bytes();
        let layers_end = IDENT_LEN + 1 + IDENT_LAYER_LEN;
        assert_eq!(bytes.len(), layers_end + 1 + 2 * IDENT_SPATIAL_LAYER_LEN);
        assert_eq!(bytes[layers_end], SECTION_SPATIAL);
        assert_eq!(
            &bytes[layers_end + 1..layers_end + 15],
            &[1, 1, 8, 0, 8, 0, 1, 0, 3, 1, 1, 1, 1, 1]
        );
        let back = Ident::from_bytes(&bytes).unwrap();
        assert_eq!(back, ident);
        // The pad value is loaded, not fixed: the reply has it as 0.
        assert_eq!(back.all_spatial(), [conv.device_shape(), Spatial::DENSE]);
        assert_eq!(back.config_hash, spatial_hash(&layers, &back.all_spatial()));
        assert_ne!(back.config_hash, network_hash(&layers));
        assert_eq!((back.input_dim(), back.outputs()), (64, 10));
        assert_eq!((back.traced_len(0), back.traced_len(1)), (Some(128), None));
        assert_eq!(
            back.image_bytes as usize,
            NetworkLoader::with_spatial(&layers, &back.all_spatial())
                .unwrap()
                .max_len()
        );
        assert!(MAX_IDENT_LEN >= bytes.len());
        // A damaged geometry (stride 2) fails the hash; an unknown tag, the length.
        let mut b = bytes.clone();
        b[layers_end + 1 + 9] = 2;
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Hash { .. })
        ));
        let mut b = bytes.clone();
        b[layers_end] = 3;
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Length { .. })
        ));
        // A geometry that does not chain (a 6x8 map), hashed right: refused by name.
        let mut other = back.all_spatial();
        other[0].conv.as_mut().unwrap().geometry.in_height = 6;
        let mut b = bytes[..layers_end + 1].to_vec();
        for s in &other {
            b.extend_from_slice(&spatial_bytes(s));
        }
        b[30..34].copy_from_slice(&spatial_hash(&layers, &other).to_le_bytes());
        let e = Ident::from_bytes(&b).unwrap_err();
        assert!(
            e.to_string()
                .contains("layer 0 has 96 outputs but layer 1 takes 128"),
            "{e}"
        );
        // Every layer dense: the reply of a dense network device, unchanged.
        let dense = [Spatial::DENSE; 2];
        let chain = vec![
            layers[0].clone(),
            EngineConfig {
                input_dim: 8,
                codebooks: 2,
                ..layers[1].clone()
            },
        ];
        assert_eq!(
            Ident::network_spatial(&chain, &dense, 12_000_000, 115_200)
                .unwrap()
                .to_bytes(),
            Ident::network(&chain, 12_000_000, 115_200)
                .unwrap()
                .to_bytes()
        );
        // The longest reply: 16 layers with a spatial section.
        assert_eq!(
            MAX_IDENT_LEN,
            IDENT_LEN + 1 + 15 * IDENT_LAYER_LEN + 1 + 16 * IDENT_SPATIAL_LAYER_LEN
        );
    }

    /// A sequential device adds its schedule and engine; the hash covers
    /// them, so a damaged engine or a dataflow reading of the reply fails.
    #[test]
    fn sequential_ident_round_trip_and_checks() {
        let layers = two_layers();
        let ident = Ident::sequential(&layers, 12_000_000, 115_200).unwrap();
        let bytes = ident.to_bytes();
        assert_eq!(
            bytes.len(),
            IDENT_LEN + 1 + IDENT_LAYER_LEN + IDENT_SCHEDULE_LEN
        );
        let back = Ident::from_bytes(&bytes).unwrap();
        assert_eq!(back, ident);
        assert_eq!(back.schedule, Schedule::Sequential);
        let engine = back.sequential_engine.clone().unwrap();
        assert_eq!(
            (engine.input_dim, engine.codebooks, engine.outputs),
            (64, 16, 32)
        );
        assert_eq!(back.sequential_plan().unwrap().banks(), 2);
        assert_ne!(ident.config_hash, network_hash(&layers));
        assert_eq!(
            ident.image_bytes as usize,
            NetworkLoader::sequential(&back.sequential_plan().unwrap())
                .unwrap()
                .max_len()
        );
        let mut b = bytes.clone();
        b[IDENT_LEN + 1 + IDENT_LAYER_LEN + 1 + 17] ^= 1; // the engine's outputs
        assert!(Ident::from_bytes(&b).is_err());
        let mut b = bytes.clone();
        b[IDENT_LEN + 1 + IDENT_LAYER_LEN] = 2; // an unknown schedule
        assert!(matches!(
            Ident::from_bytes(&b),
            Err(IdentError::Length { .. })
        ));
        assert!(MAX_IDENT_LEN >= bytes.len());
        assert_eq!(
            Ident::network(&layers, 12_000_000, 115_200)
                .unwrap()
                .schedule,
            Schedule::Dataflow
        );
    }
}
