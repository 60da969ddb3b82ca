//! The versioned binary table-image format (`docs/image-format.md`).
//!
//! An image file is a fixed 64-byte header followed by the payload: centroids
//! (`i8` each), tables (`i8` each), bias (`i32` little-endian each) and the
//! encoder's parameters (weights, cluster centres, split dimensions,
//! thresholds: only those its encoder uses), packed with no padding. The header stores the whole [`EngineConfig`], the byte
//! length of each section, a CRC-32 of the payload and a CRC-32 of the header
//! itself, so every byte of a file is checked before it is used.
//!
//! Reading never panics and never allocates more than the input's own size:
//! every length is checked against the configuration and the buffer first.

use super::{param_bytes, section_bytes, EncoderParams, Image, ImageError};
use crate::config::{EncoderKind, EngineConfig};
use bytemuck::{Pod, Zeroable};
use std::path::Path;

pub use super::{MAGIC, MAX_SECTION_BYTES};
/// The format version this build writes, and the only one it reads.
///
/// Version 2 added encoder ids 1 to 4 and the encoder-parameter section.
pub const FORMAT_VERSION: u16 = 2;
/// Size in bytes of the header (the same in versions 1 and 2).
pub const HEADER_LEN: usize = 64;
/// Offset of the header CRC: the header CRC covers every header byte before it.
const HEADER_CRC_OFFSET: usize = HEADER_LEN - 4;

/// A little-endian `u16` with alignment 1, so the header has no padding anywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct U16Le([u8; 2]);

impl U16Le {
    fn new(value: u16) -> Self {
        U16Le(value.to_le_bytes())
    }
    fn get(self) -> u16 {
        u16::from_le_bytes(self.0)
    }
}

/// A little-endian `u32` with alignment 1, so the header has no padding anywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct U32Le([u8; 4]);

impl U32Le {
    fn new(value: u32) -> Self {
        U32Le(value.to_le_bytes())
    }
    fn get(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

/// The version-1 header, byte for byte (alignment 1, 64 bytes, no padding).
///
/// Field order and offsets are the file format; see `docs/image-format.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: U16Le,
    header_len: U16Le,
    flags: U32Le,
    input_dim: U32Le,
    codebooks: U32Le,
    centroids: U32Le,
    outputs: U32Le,
    lanes: U32Le,
    encoder: u8,
    activation_bits: u8,
    centroid_bits: u8,
    table_bits: u8,
    bias_bits: u8,
    reserved: [u8; 3],
    centroids_bytes: U32Le,
    tables_bytes: U32Le,
    bias_bytes: U32Le,
    payload_crc: U32Le,
    header_crc: U32Le,
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_LEN);
const _: () = assert!(std::mem::align_of::<Header>() == 1);
const _: () = assert!(std::mem::offset_of!(Header, header_crc) == HEADER_CRC_OFFSET);
// Counts are stored as u32 and read back as usize.
const _: () = assert!(usize::BITS >= 32);

/// Offset of `payload_crc`: the header bytes before it depend on the configuration alone.
pub const PAYLOAD_CRC_OFFSET: usize = 56;
const _: () = assert!(std::mem::offset_of!(Header, payload_crc) == PAYLOAD_CRC_OFFSET);

impl Header {
    /// The header of an image for `config` with sections of these byte lengths
    /// (centroids, tables, bias), both CRCs zero.
    fn for_config(config: &EngineConfig, sections: [usize; 3]) -> Self {
        let width = |bits: u32| field::<u8>(bits as usize);
        Header {
            magic: MAGIC,
            version: U16Le::new(FORMAT_VERSION),
            header_len: U16Le::new(HEADER_LEN as u16),
            flags: U32Le::new(0),
            input_dim: U32Le::new(field(config.input_dim)),
            codebooks: U32Le::new(field(config.codebooks)),
            centroids: U32Le::new(field(config.centroids)),
            outputs: U32Le::new(field(config.outputs)),
            lanes: U32Le::new(field(config.lanes)),
            encoder: config.encoder.id(),
            activation_bits: width(config.activation_bits),
            centroid_bits: width(config.centroid_bits),
            table_bits: width(config.table_bits),
            bias_bits: width(config.bias_bits),
            reserved: [0; 3],
            centroids_bytes: U32Le::new(field(sections[0])),
            tables_bytes: U32Le::new(field(sections[1])),
            bias_bytes: U32Le::new(field(sections[2])),
            payload_crc: U32Le::new(0),
            header_crc: U32Le::new(0),
        }
    }
}

/// The first [`PAYLOAD_CRC_OFFSET`] bytes of every image for `config` (magic,
/// version, header length, flags, configuration, section lengths): what a
/// device built for `config` compares an incoming image's header with.
pub fn header_prefix(config: &EngineConfig) -> Result<[u8; PAYLOAD_CRC_OFFSET], ImageError> {
    config.validate()?;
    let sections = super::section_counts(config)?;
    let header = Header::for_config(config, [sections[0], sections[1], 4 * sections[2]]);
    let mut out = [0u8; PAYLOAD_CRC_OFFSET];
    out.copy_from_slice(&bytemuck::bytes_of(&header)[..PAYLOAD_CRC_OFFSET]);
    Ok(out)
}

/// The byte length of every image file for `config`: the header and the payload.
pub fn image_len(config: &EngineConfig) -> Result<usize, ImageError> {
    config.validate()?;
    let sections = super::section_counts(config)?;
    let params = super::param_counts(config)?;
    Ok(HEADER_LEN
        + sections[0]
        + sections[1]
        + 4 * sections[2]
        + params[0]
        + params[1]
        + 2 * params[2]
        + params[3])
}

/// Narrows a validated count or width to a header field.
///
/// [`Image::new`] checked every section fits in `u32` bytes, which bounds
/// every count (C, K, N, L <= N, D = C * V) and every width (<= 32).
fn field<T: TryFrom<usize>>(value: usize) -> T {
    match T::try_from(value) {
        Ok(v) => v,
        Err(_) => unreachable!("Image::new bounds every header field"),
    }
}

impl Image {
    /// Serializes the image in format version [`FORMAT_VERSION`]: header, then payload.
    ///
    /// The same image always gives the same bytes, and
    /// `Image::from_bytes(&image.to_bytes())` gives the image back.
    pub fn to_bytes(&self) -> Vec<u8> {
        let config = &self.config;
        let bias: Vec<u8> = self.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
        let mut payload = Vec::with_capacity(self.centroids.len() + self.tables.len() + bias.len());
        payload.extend(self.centroids.iter().map(|&v| v as u8));
        payload.extend(self.tables.iter().map(|&v| v as u8));
        payload.extend_from_slice(&bias);
        let params = &self.params;
        payload.extend_from_slice(&params.weights);
        payload.extend(params.centres.iter().map(|&v| v as u8));
        payload.extend(params.split_dims.iter().flat_map(|d| d.to_le_bytes()));
        payload.extend(params.thresholds.iter().map(|&v| v as u8));
        let mut header = Header::for_config(
            config,
            [self.centroids.len(), self.tables.len(), bias.len()],
        );
        header.payload_crc = U32Le::new(crc32fast::hash(&payload));
        header.header_crc = U32Le::new(crc32fast::hash(
            &bytemuck::bytes_of(&header)[..HEADER_CRC_OFFSET],
        ));
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(bytemuck::bytes_of(&header));
        bytes.extend_from_slice(&payload);
        bytes
    }

    /// Parses and fully checks an image in format version [`FORMAT_VERSION`].
    ///
    /// Checks run in the order of `docs/image-format.md`, and each failure is
    /// its own [`ImageError`] variant. Never panics, whatever the input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, ImageError> {
        // 1. Magic, on as many bytes as there are: a short text file is "not an image".
        let prefix = &bytes[..bytes.len().min(MAGIC.len())];
        if prefix != &MAGIC[..prefix.len()] {
            return Err(ImageError::BadMagic {
                found: prefix.to_vec(),
            });
        }
        // 2. Version, as soon as it is there: a future version may have another header size.
        if let Some(&[lo, hi]) = bytes.get(8..10) {
            let version = u16::from_le_bytes([lo, hi]);
            if version != FORMAT_VERSION {
                return Err(ImageError::UnsupportedVersion {
                    version,
                    supported: FORMAT_VERSION,
                });
            }
        }
        // 3. The whole header.
        if bytes.len() < HEADER_LEN {
            return Err(ImageError::Truncated {
                got: bytes.len(),
                needed: HEADER_LEN,
            });
        }
        let (head, payload) = bytes.split_at(HEADER_LEN);
        let header: Header = *bytemuck::from_bytes(head);
        // 4. Header size.
        let header_len = usize::from(header.header_len.get());
        if header_len != HEADER_LEN {
            return Err(ImageError::HeaderSize {
                version: FORMAT_VERSION,
                expected: HEADER_LEN,
                got: header_len,
            });
        }
        // 5. Header CRC: from here on every header field is as the writer wrote it.
        let actual = crc32fast::hash(&head[..HEADER_CRC_OFFSET]);
        if actual != header.header_crc.get() {
            return Err(ImageError::HeaderCrc {
                expected: header.header_crc.get(),
                actual,
            });
        }
        // 6. Reserved fields.
        for (field, value) in [
            ("flags", header.flags.get()),
            ("reserved", {
                let [a, b, c] = header.reserved;
                u32::from_le_bytes([a, b, c, 0])
            }),
        ] {
            if value != 0 {
                return Err(ImageError::Reserved {
                    field,
                    value,
                    version: FORMAT_VERSION,
                });
            }
        }
        // 7. Encoder.
        let encoder = EncoderKind::from_id(header.encoder)
            .ok_or(ImageError::UnknownEncoder { id: header.encoder })?;
        // 8. Configuration. usize is at least 32 bits on every supported target.
        let count = |v: U32Le| v.get() as usize;
        let config = EngineConfig {
            input_dim: count(header.input_dim),
            codebooks: count(header.codebooks),
            centroids: count(header.centroids),
            outputs: count(header.outputs),
            lanes: count(header.lanes),
            encoder,
            activation_bits: header.activation_bits.into(),
            centroid_bits: header.centroid_bits.into(),
            table_bits: header.table_bits.into(),
            bias_bits: header.bias_bits.into(),
            // Not in the image: an engine's schedule, the loader packs for it.
            entries_per_read: 1,
        };
        config.validate()?;
        // 9. Section lengths against the configuration.
        let declared = [
            ("centroids", header.centroids_bytes.get()),
            ("tables", header.tables_bytes.get()),
            ("bias", header.bias_bytes.get()),
        ];
        for ((what, got), expected) in declared.into_iter().zip(section_bytes(&config)) {
            if u128::from(got) != expected {
                return Err(ImageError::SectionLength {
                    what,
                    expected,
                    got,
                });
            }
        }
        // 10. Payload length against the buffer: nothing is allocated before this.
        // The encoder-parameter section's length follows from the configuration.
        let [centroid_len, table_len, bias_len] = declared.map(|(_, len)| len as usize);
        let param_lens = param_bytes(&config);
        let param_len: u128 = param_lens.iter().sum();
        let expected = centroid_len as u128 + table_len as u128 + bias_len as u128 + param_len;
        let expected = u64::try_from(expected).unwrap_or(u64::MAX);
        if payload.len() as u64 != expected {
            return Err(ImageError::PayloadLength {
                expected: usize::try_from(expected).unwrap_or(usize::MAX),
                got: payload.len(),
            });
        }
        // 11. Payload CRC.
        let actual = crc32fast::hash(payload);
        if actual != header.payload_crc.get() {
            return Err(ImageError::PayloadCrc {
                expected: header.payload_crc.get(),
                actual,
            });
        }
        // 12. Values: Image::with_params checks every value against its width or rule.
        // The payload length matched, so every part below fits usize.
        let (centroids, rest) = payload.split_at(centroid_len);
        let (tables, rest) = rest.split_at(table_len);
        let (bias, rest) = rest.split_at(bias_len);
        let [weight_len, centre_len, split_len, _] = param_lens.map(|len| len as usize);
        let (weights, rest) = rest.split_at(weight_len);
        let (centres, rest) = rest.split_at(centre_len);
        let (splits, thresholds) = rest.split_at(split_len);
        let signed = |bytes: &[u8]| bytes.iter().map(|&b| b as i8).collect::<Vec<_>>();
        Image::with_params(
            config,
            signed(centroids),
            signed(tables),
            bias.chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            EncoderParams {
                weights: weights.to_vec(),
                centres: signed(centres),
                split_dims: splits
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect(),
                thresholds: signed(thresholds),
            },
        )
    }

    /// Writes the image to `path` in the format of [`Image::to_bytes`].
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), ImageError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| ImageError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and fully checks an image file written by [`Image::write_to`].
    pub fn read_from(path: impl AsRef<Path>) -> Result<Image, ImageError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Image::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::image::section_counts;
    use rand::{Rng, SeedableRng};
    use std::mem::offset_of;

    /// The worked example of `docs/image-format.md`.
    fn example() -> Image {
        let config = EngineConfig {
            input_dim: 2,
            codebooks: 1,
            centroids: 2,
            outputs: 1,
            lanes: 1,
            encoder: EncoderKind::L2,
            activation_bits: 8,
            centroid_bits: 8,
            table_bits: 8,
            bias_bits: 16,
            entries_per_read: 1,
        };
        Image::new(config, vec![1, 2, -3, 4], vec![5, -6], vec![-1000]).unwrap()
    }

    /// Small but with every section at least two values long, table_bits = 4.
    fn small() -> Image {
        let config = EngineConfig {
            input_dim: 4,
            codebooks: 2,
            centroids: 2,
            outputs: 3,
            lanes: 2,
            table_bits: 4,
            ..EngineConfig::default()
        };
        Image::random(config, 11).unwrap()
    }

    /// Rewrites the header CRC so a deliberately edited header passes check 5.
    fn fix_header_crc(bytes: &mut [u8]) {
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    }

    /// Rewrites both CRCs so a deliberately edited payload passes checks 5 and 11.
    fn fix_crcs(bytes: &mut [u8]) {
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        let at = offset_of!(Header, payload_crc);
        bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        fix_header_crc(bytes);
    }

    fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn err(bytes: &[u8]) -> ImageError {
        match Image::from_bytes(bytes) {
            Ok(image) => panic!("accepted a bad image: {image:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn header_offsets_match_the_docs() {
        let offsets = [
            (offset_of!(Header, magic), 0),
            (offset_of!(Header, version), 8),
            (offset_of!(Header, header_len), 10),
            (offset_of!(Header, flags), 12),
            (offset_of!(Header, input_dim), 16),
            (offset_of!(Header, codebooks), 20),
            (offset_of!(Header, centroids), 24),
            (offset_of!(Header, outputs), 28),
            (offset_of!(Header, lanes), 32),
            (offset_of!(Header, encoder), 36),
            (offset_of!(Header, activation_bits), 37),
            (offset_of!(Header, centroid_bits), 38),
            (offset_of!(Header, table_bits), 39),
            (offset_of!(Header, bias_bits), 40),
            (offset_of!(Header, reserved), 41),
            (offset_of!(Header, centroids_bytes), 44),
            (offset_of!(Header, tables_bytes), 48),
            (offset_of!(Header, bias_bytes), 52),
            (offset_of!(Header, payload_crc), 56),
            (offset_of!(Header, header_crc), 60),
        ];
        for (i, (got, want)) in offsets.into_iter().enumerate() {
            assert_eq!(got, want, "field {i}");
        }
    }

    #[test]
    fn round_trips_many_shapes() {
        let base = EngineConfig::default();
        let configs = [
            base.clone(),
            EngineConfig {
                table_bits: 4,
                ..base.clone()
            },
            EngineConfig {
                lanes: 4,
                outputs: 10,
                ..base.clone()
            },
            EngineConfig {
                centroids: 2,
                ..base.clone()
            },
            EngineConfig {
                centroids: 256,
                ..base.clone()
            },
            EngineConfig {
                codebooks: 1,
                input_dim: 8,
                ..base.clone()
            },
            EngineConfig {
                outputs: 1,
                ..base.clone()
            },
            EngineConfig {
                input_dim: 1,
                codebooks: 1,
                centroids: 2,
                outputs: 1,
                activation_bits: 2,
                centroid_bits: 2,
                table_bits: 2,
                bias_bits: 31,
                ..base.clone()
            },
        ];
        for (seed, config) in configs.into_iter().enumerate() {
            let image = Image::random(config.clone(), seed as u64).unwrap();
            let bytes = image.to_bytes();
            let [c, t, b] = section_counts(&config).unwrap();
            assert_eq!(bytes.len(), HEADER_LEN + c + t + 4 * b, "{config:?}");
            assert_eq!(&bytes[..8], &MAGIC);
            let back = Image::from_bytes(&bytes).unwrap();
            assert_eq!(back, image, "{config:?}");
            assert_eq!(back.to_bytes(), bytes, "{config:?}");
        }
    }

    #[test]
    fn extreme_values_round_trip() {
        let config = EngineConfig {
            input_dim: 2,
            codebooks: 1,
            centroids: 2,
            outputs: 2,
            lanes: 1,
            bias_bits: 31,
            ..EngineConfig::default()
        };
        let image = Image::new(
            config,
            vec![-128, 127, 0, -1],
            vec![127, -128, -1, 0],
            vec![-(1 << 30), (1 << 30) - 1],
        )
        .unwrap();
        assert_eq!(Image::from_bytes(&image.to_bytes()).unwrap(), image);
    }

    /// Parses the hex dump between the markers in the docs page.
    fn docs_hex_dump() -> Vec<u8> {
        let doc = include_str!("../../../docs/image-format.md");
        let start = doc.find("<!-- hexdump:begin -->").expect("begin marker");
        let end = doc.find("<!-- hexdump:end -->").expect("end marker");
        let mut bytes = Vec::new();
        for line in doc[start..end].lines() {
            let Some((offset, rest)) = line.split_once(": ") else {
                continue;
            };
            let Ok(offset) = usize::from_str_radix(offset, 16) else {
                continue;
            };
            assert_eq!(offset, bytes.len(), "hex dump offset");
            let hex = rest.split("  |").next().unwrap();
            for pair in hex.split_whitespace() {
                bytes.push(u8::from_str_radix(pair, 16).unwrap());
            }
        }
        bytes
    }

    #[test]
    fn worked_example_matches_the_docs() {
        let bytes = example().to_bytes();
        assert_eq!(bytes.len(), 74);
        assert_eq!(docs_hex_dump(), bytes);
        assert_eq!(Image::from_bytes(&bytes).unwrap(), example());
    }

    #[test]
    fn rejects_truncated_header() {
        let bytes = example().to_bytes();
        for len in [0, 5, 8, 40, HEADER_LEN - 1] {
            assert!(
                matches!(err(&bytes[..len]), ImageError::Truncated { got, needed: HEADER_LEN } if got == len),
                "{len}"
            );
        }
        assert!(err(&[]).to_string().contains("truncated"));
    }

    #[test]
    fn rejects_bad_magic() {
        for bytes in [
            &b"hello, I am a text file with enough bytes for a header"[..],
            b"{",
            b"\x89LUTGEX",
        ] {
            let e = err(bytes);
            assert!(matches!(e, ImageError::BadMagic { .. }), "{e}");
            assert!(e.to_string().contains("not a lutgen table image"), "{e}");
        }
    }

    #[test]
    fn rejects_unsupported_version() {
        let mut bytes = example().to_bytes();
        // Version 1 (l2 only, no parameter section) is refused too: re-export it.
        for version in [0u16, 1, 3, 0xffff] {
            bytes[8..10].copy_from_slice(&version.to_le_bytes());
            let e = err(&bytes);
            assert!(
                matches!(e, ImageError::UnsupportedVersion { version: v, supported: 2 } if v == version),
                "{e}"
            );
            assert!(e.to_string().contains("reads version 2"), "{e}");
            // Checked before the length: a short newer image is "unsupported", not "truncated".
            assert!(matches!(
                err(&bytes[..12]),
                ImageError::UnsupportedVersion { .. }
            ));
        }
    }

    #[test]
    fn rejects_header_size_mismatch() {
        let mut bytes = example().to_bytes();
        bytes[10] = 65;
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::HeaderSize {
                expected: HEADER_LEN,
                got: 65,
                ..
            }
        ));
    }

    #[test]
    fn rejects_header_crc_mismatch() {
        let good = example().to_bytes();
        let mut bytes = good.clone();
        bytes[offset_of!(Header, outputs)] ^= 0x04;
        let stored = u32::from_le_bytes(good[60..64].try_into().unwrap());
        let e = err(&bytes);
        assert!(
            matches!(e, ImageError::HeaderCrc { expected, actual } if expected == stored && actual != stored),
            "{e}"
        );
        assert!(e.to_string().contains("corrupted"));
    }

    #[test]
    fn rejects_reserved_fields() {
        let good = example().to_bytes();
        let mut bytes = good.clone();
        put_u32(&mut bytes, offset_of!(Header, flags), 0x100);
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Reserved {
                field: "flags",
                value: 0x100,
                ..
            }
        ));
        let mut bytes = good;
        bytes[offset_of!(Header, reserved) + 2] = 1;
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Reserved {
                field: "reserved",
                value: 0x10000,
                ..
            }
        ));
    }

    #[test]
    fn rejects_unknown_encoder() {
        let mut bytes = example().to_bytes();
        bytes[offset_of!(Header, encoder)] = 7;
        fix_header_crc(&mut bytes);
        let e = err(&bytes);
        assert!(matches!(e, ImageError::UnknownEncoder { id: 7 }), "{e}");
        assert!(e.to_string().contains("0 (l2)"), "{e}");
        assert!(e.to_string().contains("4 (sign)"), "{e}");
    }

    /// One small random image per encoder, every parameter section non-empty somewhere.
    fn per_encoder() -> Vec<Image> {
        [
            (EncoderKind::L1, 6, 2, 4),
            (EncoderKind::TwoLevel, 6, 2, 8),
            (EncoderKind::Tree, 6, 2, 16),
            (EncoderKind::Sign, 6, 2, 8),
        ]
        .into_iter()
        .map(|(encoder, d, c, k)| {
            let config = EngineConfig {
                input_dim: d,
                codebooks: c,
                centroids: k,
                outputs: 3,
                lanes: 2,
                encoder,
                ..EngineConfig::default()
            };
            Image::random(config, 3).unwrap()
        })
        .collect()
    }

    #[test]
    fn every_encoder_round_trips_with_its_parameters() {
        for image in per_encoder() {
            let bytes = image.to_bytes();
            let config = image.config();
            let params: usize = param_bytes(config).iter().sum::<u128>() as usize;
            let [c, t, b] = section_bytes(config).map(|x| x as usize);
            assert_eq!(bytes.len(), HEADER_LEN + c + t + b + params);
            assert_eq!(Image::from_bytes(&bytes).unwrap(), image);
            // Without its parameter section the payload is short.
            if params > 0 {
                let e = err(&bytes[..bytes.len() - params]);
                assert!(matches!(e, ImageError::PayloadLength { .. }), "{e}");
            }
        }
    }

    #[test]
    fn rejects_parameters_out_of_range() {
        let images = per_encoder();
        // Weights are 4 bits: the l1 image's first weight (right after the bias) set to 16.
        let l1 = &images[0];
        let [c, t, b] = section_bytes(l1.config()).map(|x| x as usize);
        let mut bytes = l1.to_bytes();
        bytes[HEADER_LEN + c + t + b] = 16;
        fix_crcs(&mut bytes);
        let e = err(&bytes);
        assert!(
            matches!(
                e,
                ImageError::Parameter {
                    what: "weights",
                    index: 0,
                    value: 16,
                    ..
                }
            ),
            "{e}"
        );
        // A split dimension of V = 3 is outside the sub-vector.
        let tree = &images[2];
        let [c, t, b] = section_bytes(tree.config()).map(|x| x as usize);
        let mut bytes = tree.to_bytes();
        bytes[HEADER_LEN + c + t + b + 2] = 3;
        fix_crcs(&mut bytes);
        let e = err(&bytes);
        assert!(
            matches!(
                e,
                ImageError::Parameter {
                    what: "split dimensions",
                    index: 1,
                    value: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("below V = 3"), "{e}");
        // Thresholds obey centroid_bits.
        let config = EngineConfig {
            centroid_bits: 4,
            ..tree.config().clone()
        };
        let mut params = tree.params().clone();
        params.thresholds.fill(0);
        params.thresholds[5] = 8;
        let e = Image::with_params(
            config,
            vec![],
            tree.tables().to_vec(),
            tree.bias().to_vec(),
            params,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ImageError::Range {
                    what: "thresholds",
                    index: 5,
                    ..
                }
            ),
            "{e}"
        );
        // Two-level and tree images need their parameters: Image::new has none.
        for image in &images[1..3] {
            let e = Image::new(
                image.config().clone(),
                image.centroids().to_vec(),
                image.tables().to_vec(),
                image.bias().to_vec(),
            )
            .unwrap_err();
            assert!(matches!(e, ImageError::Length { .. }), "{e}");
        }
    }

    #[test]
    fn rejects_invalid_configuration() {
        let good = example().to_bytes();
        // input_dim 2 is not a multiple of codebooks 3.
        let mut bytes = good.clone();
        put_u32(&mut bytes, offset_of!(Header, codebooks), 3);
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Config(ConfigError::NotDivisible { .. })
        ));
        // Widths are bytes; 200 bits is out of range.
        let mut bytes = good.clone();
        bytes[offset_of!(Header, table_bits)] = 200;
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Config(ConfigError::Width {
                name: "table_bits",
                ..
            })
        ));
        // Sizes whose product overflows usize inside validate(): an error, not a panic.
        let mut bytes = good;
        for (at, value) in [
            (offset_of!(Header, input_dim), u32::MAX),
            (offset_of!(Header, codebooks), u32::MAX),
            (offset_of!(Header, centroids), 1 << 31),
            (offset_of!(Header, outputs), u32::MAX),
            (offset_of!(Header, lanes), 1),
        ] {
            put_u32(&mut bytes, at, value);
        }
        fix_header_crc(&mut bytes);
        assert!(matches!(err(&bytes), ImageError::Config(_)));
    }

    #[test]
    fn rejects_section_lengths_inconsistent_with_configuration() {
        let good = example().to_bytes();
        for (what, at) in [
            ("centroids", offset_of!(Header, centroids_bytes)),
            ("tables", offset_of!(Header, tables_bytes)),
            ("bias", offset_of!(Header, bias_bytes)),
        ] {
            let mut bytes = good.clone();
            bytes[at] += 1;
            fix_header_crc(&mut bytes);
            let e = err(&bytes);
            assert!(
                matches!(e, ImageError::SectionLength { what: w, .. } if w == what),
                "{e}"
            );
        }
        // A huge declared length is rejected before anything is allocated.
        let mut bytes = good;
        put_u32(&mut bytes, offset_of!(Header, tables_bytes), u32::MAX);
        fix_header_crc(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::SectionLength {
                what: "tables",
                expected: 2,
                got: u32::MAX
            }
        ));
    }

    #[test]
    fn rejects_payload_length_mismatch() {
        let good = example().to_bytes();
        let e = err(&good[..good.len() - 1]);
        assert!(
            matches!(
                e,
                ImageError::PayloadLength {
                    expected: 10,
                    got: 9
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");
        let mut long = good.clone();
        long.push(0);
        let e = err(&long);
        assert!(
            matches!(
                e,
                ImageError::PayloadLength {
                    expected: 10,
                    got: 11
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("trailing"), "{e}");
    }

    #[test]
    fn rejects_payload_crc_mismatch() {
        let mut bytes = example().to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        let e = err(&bytes);
        assert!(matches!(e, ImageError::PayloadCrc { .. }), "{e}");
        assert!(e.to_string().contains("corrupted"), "{e}");
    }

    #[test]
    fn rejects_values_out_of_range() {
        // table_bits = 4: a table entry of 8 does not fit.
        let image = small();
        let [c, _, _] = section_counts(image.config()).unwrap();
        let mut bytes = image.to_bytes();
        bytes[HEADER_LEN + c + 1] = 8;
        fix_crcs(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Range {
                what: "tables",
                index: 1,
                value: 8,
                bits: 4
            }
        ));
        // bias_bits = 16 in the example: 40000 does not fit.
        let mut bytes = example().to_bytes();
        put_u32(&mut bytes, HEADER_LEN + 6, 40000);
        fix_crcs(&mut bytes);
        assert!(matches!(
            err(&bytes),
            ImageError::Range {
                what: "bias",
                value: 40000,
                ..
            }
        ));
    }

    /// 2^32 lanes would give 2 * 2^32 bytes of tables, but the load port
    /// cannot address that many memories: validate refuses it. The most
    /// lanes and rows there is room for give the largest sections, still
    /// under 4 GiB each, so every valid configuration fits the format.
    #[test]
    fn every_valid_configuration_fits_the_format() {
        let config = EngineConfig {
            input_dim: 1,
            codebooks: 1,
            centroids: 2,
            outputs: 1 << 32,
            lanes: 1 << 32,
            bias_bits: 8,
            ..EngineConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::TooManyMemories { .. })
        ));
        let e = Image::new(config, vec![], vec![], vec![]).unwrap_err();
        assert!(matches!(e, ImageError::Config(_)), "{e}");
        let config = EngineConfig {
            outputs: 32_767 * 32_768,
            lanes: 32_767,
            ..EngineConfig {
                input_dim: 1,
                codebooks: 1,
                centroids: 2,
                bias_bits: 8,
                ..EngineConfig::default()
            }
        };
        config.validate().unwrap();
        let [_, tables, bias] = section_bytes(&config);
        assert!(tables < 1 << 32 && bias < 1 << 32, "{tables} {bias}");
        assert!(bias > 4 * ((1 << 30) - (1 << 16)), "{bias}");
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        for image in [example(), small()].into_iter().chain(per_encoder()) {
            let good = image.to_bytes();
            for at in 0..good.len() {
                for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff, 0x5a] {
                    let mut bytes = good.clone();
                    bytes[at] ^= mask;
                    let e = err(&bytes);
                    let expected = match at {
                        0..8 => matches!(e, ImageError::BadMagic { .. }),
                        8..10 => matches!(e, ImageError::UnsupportedVersion { .. }),
                        10..12 => matches!(e, ImageError::HeaderSize { .. }),
                        12..HEADER_LEN => matches!(e, ImageError::HeaderCrc { .. }),
                        _ => matches!(e, ImageError::PayloadCrc { .. }),
                    };
                    assert!(expected, "byte {at} ^ {mask:#x}: {e}");
                }
            }
        }
    }

    #[test]
    fn every_prefix_and_extension_is_rejected() {
        for image in [example(), small()].into_iter().chain(per_encoder()) {
            let good = image.to_bytes();
            for len in 0..good.len() {
                let e = err(&good[..len]);
                let expected = if len < HEADER_LEN {
                    matches!(e, ImageError::Truncated { got, .. } if got == len)
                } else {
                    matches!(e, ImageError::PayloadLength { got, .. } if got == len - HEADER_LEN)
                };
                assert!(expected, "prefix {len}: {e}");
            }
            for extra in 1..=9 {
                let mut long = good.clone();
                long.extend(std::iter::repeat_n(0u8, extra));
                assert!(matches!(err(&long), ImageError::PayloadLength { .. }));
            }
        }
    }

    /// Random buffers, plain and with a plausible (even CRC-correct) header,
    /// and random edits of real images: never a panic, and anything accepted
    /// is canonical (writes back to exactly the bytes it was read from).
    #[test]
    fn random_garbage_never_panics() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
        let good = [example().to_bytes(), small().to_bytes()];
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = match round % 4 {
                // Pure noise.
                0 => (0..rng.gen_range(0..160)).map(|_| rng.gen()).collect(),
                // Noise behind a valid magic, version and header size.
                1 | 2 => {
                    let len = rng.gen_range(HEADER_LEN..HEADER_LEN + 96);
                    let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                    b[..12].copy_from_slice(&good[0][..12]);
                    if round % 4 == 2 {
                        // Small counts and widths so deeper checks are reached.
                        for at in (16..36).step_by(4) {
                            put_u32(&mut b, at, rng.gen_range(0..5));
                        }
                        for byte in &mut b[36..44] {
                            *byte = rng.gen_range(0..10);
                        }
                        fix_header_crc(&mut b);
                    }
                    b
                }
                // A real image with a few random bytes changed.
                _ => {
                    let mut b = good[rng.gen_range(0..2)].clone();
                    for _ in 0..rng.gen_range(1..4) {
                        let at = rng.gen_range(0..b.len());
                        b[at] = rng.gen();
                    }
                    if rng.gen() {
                        fix_crcs(&mut b);
                    }
                    b
                }
            };
            if rng.gen_ratio(1, 8) {
                bytes.truncate(rng.gen_range(0..=bytes.len()));
            }
            if let Ok(image) = Image::from_bytes(&bytes) {
                assert_eq!(image.to_bytes(), bytes, "round {round}");
                accepted += 1;
            }
        }
        // Edits with recomputed CRCs sometimes keep a valid image (say, another
        // activation width); that exercises the canonical check, but must stay rare.
        assert!((1..2_000).contains(&accepted), "{accepted}");
    }

    #[test]
    fn files_round_trip_and_io_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("lutgen-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small.lutimg");
        small().write_to(&path).unwrap();
        assert_eq!(Image::read_from(&path).unwrap(), small());
        let missing = dir.join("missing.lutimg");
        let e = Image::read_from(&missing).unwrap_err();
        assert!(
            matches!(&e, ImageError::Io { action: "read", path, .. } if *path == missing),
            "{e}"
        );
        assert!(e.to_string().contains("missing.lutimg"), "{e}");
        let e = small()
            .write_to(dir.join("no-such-dir").join("x"))
            .unwrap_err();
        assert!(
            matches!(
                e,
                ImageError::Io {
                    action: "write",
                    ..
                }
            ),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prints_worked_example() {
        // `cargo test -p lutgen-core prints_worked_example -- --nocapture` regenerates the docs dump.
        let bytes = example().to_bytes();
        for (i, line) in bytes.chunks(16).enumerate() {
            let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = line
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            println!("{:08x}: {:<47}  |{}|", i * 16, hex.join(" "), ascii);
        }
        assert_eq!(bytes.len(), 74);
    }
}
