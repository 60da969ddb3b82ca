//! Fuzz targets for everything lutgen-core reads from outside: table images,
//! network files, the device's frames, identify and status replies, and
//! engine configurations. See `docs/fuzzing.md`.
//!
//! Each target runs `LUTGEN_FUZZ_CASES` cases (default 100,000) of random
//! valid inputs with a few mutations, some with the CRCs recomputed after
//! the edit so the checks behind them are reached, and checks: no panic
//! (overflow checks are on in this crate, in release too), no call
//! allocating more than a bound proportional to its input, and anything
//! accepted re-encodes to exactly its input (the formats are canonical)
//! and reads back equal.
//!
//! ```sh
//! cargo test --release -p lutgen-core --test fuzz -- --nocapture            # the suite's run
//! LUTGEN_FUZZ_CASES=10000000 LUTGEN_FUZZ_SEED=7 \
//!     cargo test --release -p lutgen-core --test fuzz -- --nocapture --test-threads 1   # a long run
//! ```

mod support;

use lutgen_core::ident::Ident;
use lutgen_core::image::format::HEADER_LEN;
use lutgen_core::loader::Loader;
use lutgen_core::memory_map::{network_load_words, LoadWord, MemoryMap};
use lutgen_core::network::{random_network, NETWORK_FORMAT_VERSION, NETWORK_MAGIC};
use lutgen_core::network_loader::NetworkLoader;
use lutgen_core::protocol::{
    config_hash, crc32, Decoded, Decoder, DeviceError, Frame, Status, HEADER_LEN as FRAME_HEADER,
    MAX_PAYLOAD, OVERHEAD, STATUS_LEN, SYNC0, SYNC1, TRAILER_LEN,
};
use lutgen_core::{EncoderKind, EngineConfig, Image, Network, NetworkError};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use support::{apply, extreme_u32, fuzz_byte, mutations, outcome, peak_allocation, put_crc};
use support::{CountingAlloc, Mutation};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// What a call may allocate at once: `factor` times its input, plus a
/// fixed allowance for error messages and small tables.
fn allocation_bound(input: usize, factor: usize) -> usize {
    factor * input + 16 * 1024
}

/// The properties of a reader: `read` never panics (the caller's runner
/// catches that), allocates at most `factor` times its input (plus the
/// allowance), and what it accepts `write` turns back into exactly the
/// bytes read (the format is canonical), which read back equal. Returns the
/// outcome for the target's summary.
fn check_reader<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
    bytes: &[u8],
    factor: usize,
    read: impl Fn(&[u8]) -> Result<T, E>,
    write: impl Fn(&T) -> Vec<u8>,
) -> Result<String, TestCaseError> {
    let (result, peak) = peak_allocation(|| read(bytes));
    prop_assert!(
        peak <= allocation_bound(bytes.len(), factor),
        "{peak} bytes"
    );
    if let Ok(value) = &result {
        prop_assert_eq!(&write(value)[..], bytes, "accepted but not canonical");
        prop_assert_eq!(&read(bytes).unwrap(), value);
    }
    Ok(outcome(&result))
}

/// A small valid engine configuration of any encoder, any widths.
fn config() -> impl Strategy<Value = EngineConfig> {
    (
        0..EncoderKind::ALL.len(),
        1..=3usize,
        1..=4usize,
        any::<Index>(),
        1..=6usize,
        any::<Index>(),
        (2..=8u32, 2..=8u32, 2..=8u32, 2..=31u32),
    )
        .prop_map(|(e, c, v, k, n, l, (a, p, t, b))| {
            let encoder = EncoderKind::ALL[e];
            let centroids = match encoder {
                EncoderKind::L2 | EncoderKind::L1 => 2 << k.index(4),
                EncoderKind::TwoLevel => 2 << k.index(6),
                EncoderKind::Tree => 16,
                EncoderKind::Sign => 1 << v,
            };
            let config = EngineConfig {
                input_dim: c * v,
                codebooks: c,
                centroids,
                outputs: n,
                lanes: 1 + l.index(n),
                encoder,
                activation_bits: a,
                centroid_bits: p,
                table_bits: t,
                bias_bits: b,
                entries_per_read: 1,
            };
            config
                .validate()
                .expect("the strategy makes valid configurations");
            config
        })
}

// ---------------------------------------------------------------- images

/// Header fields of the image format (`docs/image-format.md`): counts at
/// 16..36, section lengths at 44..56, and the version and header size.
const IMAGE_FIELDS: [(usize, usize); 10] = [
    (8, 2),
    (10, 2),
    (16, 4),
    (20, 4),
    (24, 4),
    (28, 4),
    (32, 4),
    (44, 4),
    (48, 4),
    (52, 4),
];

/// Which CRCs to recompute after the mutations.
#[derive(Clone, Copy, Debug)]
enum Fix {
    None,
    Header,
    All,
}

fn fix() -> impl Strategy<Value = Fix> {
    prop_oneof![1 => Just(Fix::None), 1 => Just(Fix::Header), 3 => Just(Fix::All)]
}

/// Recomputes an image's payload CRC (bytes 56..60) and then its header CRC
/// (60..64), as far as `fix` says and the bytes are there.
fn fix_image(bytes: &mut [u8], fix: Fix) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    if let Fix::All = fix {
        put_crc(bytes, HEADER_LEN..bytes.len(), 56);
    }
    if let Fix::All | Fix::Header = fix {
        put_crc(bytes, 0..60, 60);
    }
}

#[test]
fn fuzz_image_reader() {
    let strategy = (config(), any::<u64>(), mutations(), fix());
    support::run("image", strategy, |(config, seed, edits, fix)| {
        let mut bytes = Image::random(config, seed).unwrap().to_bytes();
        for m in &edits {
            apply(&mut bytes, m, &IMAGE_FIELDS);
        }
        fix_image(&mut bytes, fix);
        check_reader(&bytes, 2, Image::from_bytes, Image::to_bytes)
    });
}

/// A device loader's verdict against the host reader's: it accepts exactly
/// what the host accepts (`host` holds the host's load words then), and
/// writes exactly those words (zero padding it leaves unwritten aside).
/// Returns the outcome for the target's summary.
fn device_matches_host(
    device: Result<Vec<LoadWord>, DeviceError>,
    host: Option<Vec<LoadWord>>,
) -> Result<String, TestCaseError> {
    prop_assert_eq!(
        device.is_ok(),
        host.is_some(),
        "{:?}",
        device.as_ref().err()
    );
    let label = match &device {
        Ok(_) => "loaded".to_string(),
        Err(e) => format!("{e:?}"),
    };
    if let (Ok(mut words), Some(mut map)) = (device, host) {
        let written: std::collections::HashSet<u32> = words.iter().map(|w| w.address).collect();
        map.retain(|w| written.contains(&w.address) || w.data != 0);
        words.sort_by_key(|w| w.address);
        map.sort_by_key(|w| w.address);
        prop_assert_eq!(words, map);
    }
    Ok(label)
}

/// The device's loader (`lutgen_core::loader`, the walk the hardware runs)
/// on mutated image files: it accepts exactly the files the host reader
/// accepts for the device's configuration, and then writes exactly the
/// memory map's words (the map's zero padding rows aside).
#[test]
fn fuzz_device_loader() {
    let strategy = (config(), any::<u64>(), mutations(), fix());
    support::run("loader", strategy, |(config, seed, edits, fix)| {
        let image = Image::random(config.clone(), seed).unwrap();
        let loader = Loader::new(&config).unwrap();
        let mut bytes = image.to_bytes();
        for m in &edits {
            apply(&mut bytes, m, &IMAGE_FIELDS);
        }
        fix_image(&mut bytes, fix);
        let device = loader.load(&bytes);
        let host = Image::from_bytes(&bytes)
            .ok()
            .filter(|i| i.config() == &config);
        device_matches_host(device, host.map(|i| MemoryMap::load_words(&i)))
    });
}

// ---------------------------------------------------------------- networks

/// Configurations of 1 to 3 layers that chain: layer i's outputs are layer
/// i + 1's input dimension.
fn network_configs() -> impl Strategy<Value = Vec<EngineConfig>> {
    (proptest::collection::vec(config(), 1..=3), 1..=6usize).prop_map(|(mut layers, last)| {
        let count = layers.len();
        for i in 0..count {
            let outputs = if i + 1 < count {
                layers[i + 1].input_dim
            } else {
                last
            };
            let l = &mut layers[i];
            l.outputs = outputs;
            l.lanes = l.lanes.min(outputs);
            if i > 0 {
                // random_network's zero points go down to -14: 5 bits at least.
                l.activation_bits = l.activation_bits.max(5);
            }
        }
        layers
    })
}

/// Offsets of the network format's fields: the layer count, each layer's
/// requantization fields, activation table flag and image length, each
/// image's own counts, and the first, a middle and the last entry of each
/// activation table.
fn network_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut fields = vec![(8, 2), (10, 2)];
    for (at, len) in layer_spans(bytes) {
        fields.extend([(at + 4, 1), (at + 5, 1), (at + 7, 1), (at + 8, 4)]);
        fields.extend([(at + 12, 1), (at + 13, 1), (at + 16, 4)]);
        fields.extend(IMAGE_FIELDS.iter().map(|&(o, w)| (at + 20 + o, w)));
        if bytes[at + 13] == 1 {
            let table = at + 20 + len;
            fields.extend([
                (table, 1),
                (table + 127, 1),
                (table + 128, 1),
                (table + 255, 1),
            ]);
        }
    }
    fields
}

/// (offset of the layer header, image length) of each layer, as far as the
/// bytes describe them consistently. A layer is its 20-byte header, its
/// image and, when its `has_table` byte (offset 13) is 1, a 256-byte table.
fn layer_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 20;
    while at + 20 <= bytes.len().saturating_sub(4) {
        let len = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
        let table = if bytes[at + 13] == 1 { 256 } else { 0 };
        if at + 20 + len + table > bytes.len() - 4 {
            break;
        }
        spans.push((at, len));
        at += 20 + len + table;
    }
    spans
}

/// Recomputes every layer image's CRCs (for `Fix::All`) and the file CRC.
fn fix_network(bytes: &mut [u8], fix: Fix) {
    if bytes.len() < 24 {
        return;
    }
    if let Fix::All = fix {
        for (at, len) in layer_spans(bytes) {
            fix_image(&mut bytes[at + 20..at + 20 + len], Fix::All);
        }
    }
    if let Fix::All | Fix::Header = fix {
        let end = bytes.len() - 4;
        put_crc(bytes, 0..end, end);
    }
}

#[test]
fn fuzz_network_reader() {
    let strategy = (network_configs(), any::<u64>(), mutations(), fix());
    support::run("network", strategy, |(configs, seed, edits, fix)| {
        let mut bytes = random_network(&configs, seed).unwrap().to_bytes();
        let fields = network_fields(&bytes);
        for m in &edits {
            apply(&mut bytes, m, &fields);
        }
        fix_network(&mut bytes, fix);
        check_reader(&bytes, 2, Network::from_bytes, Network::to_bytes)
    });
}

/// The network device's loader (`lutgen_core::network_loader`, the walk
/// the hardware will run) on mutated network files: it accepts exactly the
/// files the host reader accepts whose layers are the device's, and then
/// writes exactly the network top's load words (zero padding aside).
#[test]
fn fuzz_network_loader() {
    let strategy = (network_configs(), any::<u64>(), mutations(), fix());
    support::run("network loader", strategy, |(configs, seed, edits, fix)| {
        let loader = NetworkLoader::new(&configs).unwrap();
        let mut bytes = random_network(&configs, seed).unwrap().to_bytes();
        let fields = network_fields(&bytes);
        for m in &edits {
            apply(&mut bytes, m, &fields);
        }
        fix_network(&mut bytes, fix);
        let device = loader.load(&bytes);
        let host = Network::from_bytes(&bytes).ok().filter(|n| {
            n.layers().len() == configs.len()
                && n.layers()
                    .iter()
                    .zip(&configs)
                    .all(|(l, c)| l.image.config() == c)
                && n.spatial().iter().all(|s| s.is_dense())
        });
        device_matches_host(device, host.map(|n| network_load_words(&n)))
    });
}

/// A 24-byte file claiming 65,535 layers: the reader reserves room for
/// none of them (it reserved 16 MB before).
#[test]
fn a_huge_layer_count_reserves_nothing() {
    let mut bytes = NETWORK_MAGIC.to_vec();
    bytes.extend_from_slice(&NETWORK_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&u16::MAX.to_le_bytes());
    bytes.extend_from_slice(&1f32.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(bytes.len(), 24);
    let (result, peak) = peak_allocation(|| Network::from_bytes(&bytes));
    assert!(matches!(result, Err(NetworkError::Length(_))), "{result:?}");
    assert!(peak <= 1024, "{peak} bytes allocated for a 24-byte file");
}

// ---------------------------------------------------------------- frames

/// The frame decoder as it was before it kept a read offset: obviously
/// right, quadratic on false syncs. The fuzz target checks the decoder
/// finds exactly what this finds, byte for byte and count for count.
struct ReferenceDecoder {
    buffer: Vec<u8>,
    max_payload: usize,
    skipped: u64,
}

impl ReferenceDecoder {
    fn next_frame(&mut self) -> Option<Decoded> {
        loop {
            let start = self
                .buffer
                .windows(2)
                .position(|w| w == [SYNC0, SYNC1])
                .unwrap_or(
                    self.buffer
                        .len()
                        .saturating_sub(usize::from(self.buffer.last() == Some(&SYNC0))),
                );
            self.skipped += start as u64;
            self.buffer.drain(..start);
            if self.buffer.len() < FRAME_HEADER {
                return None;
            }
            let len = usize::from(u16::from_le_bytes([self.buffer[4], self.buffer[5]]));
            if len > self.max_payload {
                self.skipped += 1;
                self.buffer.drain(..1);
                continue;
            }
            let total = FRAME_HEADER + len + TRAILER_LEN;
            if self.buffer.len() < total {
                return None;
            }
            let frame: Vec<u8> = self.buffer.drain(..total).collect();
            let stored = u32::from_le_bytes(frame[total - 4..].try_into().unwrap());
            let (code, seq) = (frame[2], frame[3]);
            return Some(if crc32(&frame[2..total - 4]) == stored {
                Decoded::Frame(Frame::new(
                    code,
                    seq,
                    frame[FRAME_HEADER..total - 4].to_vec(),
                ))
            } else {
                Decoded::Corrupt { code, seq, len }
            });
        }
    }
}

/// One piece of a stream: a frame, mutated and perhaps with its CRC
/// recomputed after, or garbage.
#[derive(Clone, Debug)]
enum Piece {
    Frame {
        frame: Frame,
        edits: Vec<Mutation>,
        fix_crc: bool,
    },
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let frame = (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(fuzz_byte(), 0..48),
    )
        .prop_map(|(code, seq, payload)| Frame::new(code, seq, payload));
    prop_oneof![
        3 => (frame, proptest::collection::vec(support::mutation(), 0..=2), any::<bool>())
            .prop_map(|(frame, edits, fix_crc)| Piece::Frame { frame, edits, fix_crc }),
        1 => proptest::collection::vec(fuzz_byte(), 0..24).prop_map(Piece::Garbage),
    ]
}

/// The length field of a frame, and its code and sequence number.
const FRAME_FIELDS: [(usize, usize); 3] = [(4, 2), (2, 1), (3, 1)];

fn stream_bytes(pieces: &[Piece]) -> Vec<u8> {
    let mut stream = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Frame {
                frame,
                edits,
                fix_crc,
            } => {
                let mut bytes = frame.encode();
                for m in edits {
                    apply(&mut bytes, m, &FRAME_FIELDS);
                }
                if *fix_crc && bytes.len() >= OVERHEAD {
                    let end = bytes.len() - TRAILER_LEN;
                    put_crc(&mut bytes, 2..end, end);
                }
                stream.extend_from_slice(&bytes);
            }
            Piece::Garbage(bytes) => stream.extend_from_slice(bytes),
        }
    }
    stream
}

#[test]
fn fuzz_frame_decoder() {
    let strategy = (
        proptest::collection::vec(piece(), 1..8),
        mutations(),
        prop_oneof![Just(MAX_PAYLOAD), 0..64usize, Just(usize::from(u16::MAX))],
        proptest::collection::vec(1..80usize, 1..6),
    );
    support::run(
        "frames",
        strategy,
        |(pieces, edits, max_payload, chunks)| {
            let mut stream = stream_bytes(&pieces);
            for m in &edits {
                apply(&mut stream, m, &[]);
            }
            let mut decoder = Decoder::new(max_payload);
            let mut reference = ReferenceDecoder {
                buffer: Vec::new(),
                max_payload,
                skipped: 0,
            };
            let (mut frames, mut corrupt, mut calls) = (0, 0, 0u64);
            let ((), peak) = peak_allocation(|| {
                let mut rest = &stream[..];
                for &size in chunks.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (piece, tail) = rest.split_at(size.min(rest.len()));
                    rest = tail;
                    decoder.push(piece);
                    reference.buffer.extend_from_slice(piece);
                    loop {
                        calls += 1;
                        let (got, want) = (decoder.next_frame(), reference.next_frame());
                        assert_eq!(got, want, "the decoders disagree");
                        match got {
                            Some(Decoded::Frame(f)) => {
                                frames += 1;
                                // A good frame re-encodes to bytes that decode to it.
                                let mut again = Decoder::new(max_payload);
                                again.push(&f.encode());
                                assert_eq!(again.next_frame(), Some(Decoded::Frame(f)));
                            }
                            Some(Decoded::Corrupt { .. }) => corrupt += 1,
                            None => break,
                        }
                    }
                    assert_eq!(decoder.skipped(), reference.skipped);
                    assert_eq!(decoder.pending(), reference.buffer.len());
                }
            });
            let n = stream.len();
            prop_assert!(peak <= allocation_bound(n, 8), "{peak} bytes for {n}");
            // Linear: each byte is examined a bounded number of times, plus a
            // constant per call.
            prop_assert!(
                decoder.work() <= 3 * n as u64 + 2 * calls,
                "{} for {n}",
                decoder.work()
            );
            Ok(match (frames, corrupt) {
                (0, 0) => "nothing",
                (0, _) => "corrupt frames only",
                (_, 0) => "good frames only",
                _ => "good and corrupt frames",
            }
            .into())
        },
    );
}

// ---------------------------------------------------------------- replies

/// Counts for an identify reply: mostly valid, sometimes any u32.
fn ident_config() -> impl Strategy<Value = EngineConfig> {
    prop_oneof![
        3 => config(),
        1 => (
            proptest::collection::vec(extreme_u32(), 5),
            0..6u8,
            proptest::collection::vec(any::<u8>(), 4)
        )
            .prop_map(|(counts, encoder, widths)| EngineConfig {
                input_dim: counts[0] as usize,
                codebooks: counts[1] as usize,
                centroids: counts[2] as usize,
                outputs: counts[3] as usize,
                lanes: counts[4] as usize,
                encoder: EncoderKind::from_id(encoder).unwrap_or(EncoderKind::L2),
                activation_bits: widths[0].into(),
                centroid_bits: widths[1].into(),
                table_bits: widths[2].into(),
                bias_bits: widths[3].into(),
                entries_per_read: 1,
            }),
    ]
}

/// The counts of an identify reply (u32 at 10..30), the version, the
/// buffer sizes, the queue depth and the image length.
const IDENT_FIELDS: [(usize, usize); 10] = [
    (10, 4),
    (14, 4),
    (18, 4),
    (22, 4),
    (26, 4),
    (4, 1),
    (42, 2),
    (44, 2),
    (46, 2),
    (48, 4),
];

#[test]
fn fuzz_identify_reply() {
    let strategy = (
        ident_config(),
        any::<u32>(),
        any::<u32>(),
        mutations(),
        any::<bool>(),
    );
    support::run(
        "identify",
        strategy,
        |(config, clock, baud, edits, fix_hash)| {
            let mut bytes = Ident::new(&config, clock, baud).to_bytes().to_vec();
            for m in &edits {
                apply(&mut bytes, m, &IDENT_FIELDS);
            }
            if fix_hash {
                // The configuration hash is a CRC of bytes 5..30.
                put_crc(&mut bytes, 5..30, 30);
            }
            if let Ok(ident) = Ident::from_bytes(&bytes) {
                prop_assert_eq!(ident.config_hash, config_hash(&ident.config));
                prop_assert!(ident.config.validate().is_ok());
            }
            check_reader(&bytes, 0, Ident::from_bytes, |i| i.to_bytes())
        },
    );
}

/// A network device's identify reply: the base fields, the layer count and
/// every later layer's 25 configuration bytes. Accepted only when
/// canonical, its hash over every layer, its layers chained and its length
/// the longest network file for them.
#[test]
fn fuzz_network_identify_reply() {
    let strategy = (network_configs(), any::<u32>(), mutations(), any::<bool>());
    support::run(
        "network identify",
        strategy,
        |(configs, clock, edits, fix_hash)| {
            let mut bytes = Ident::network(&configs, clock, 115_200).unwrap().to_bytes();
            // The count, the base fields and each later layer's counts.
            let mut fields = IDENT_FIELDS.to_vec();
            fields.push((52, 1));
            for layer in 0..configs.len() - 1 {
                for i in 0..5 {
                    fields.push((53 + 25 * layer + 5 + 4 * i, 4));
                }
            }
            for m in &edits {
                apply(&mut bytes, m, &fields);
            }
            if fix_hash && bytes.len() > 53 {
                // The network hash: a CRC of the count and every layer's 25 bytes.
                let mut hashed = vec![bytes[52]];
                hashed.extend_from_slice(&bytes[5..30]);
                hashed.extend_from_slice(&bytes[53..]);
                let crc = crc32(&hashed);
                bytes[30..34].copy_from_slice(&crc.to_le_bytes());
            }
            if let Ok(ident) = Ident::from_bytes(&bytes) {
                if let Some(layers) = &ident.layers {
                    prop_assert_eq!(ident.config_hash, lutgen_core::ident::network_hash(layers));
                    prop_assert!(layers.windows(2).all(|w| w[0].outputs == w[1].input_dim));
                    let longest = NetworkLoader::new(layers).unwrap().max_len();
                    prop_assert_eq!(ident.image_bytes as usize, longest);
                }
            }
            check_reader(&bytes, 0, Ident::from_bytes, |i| i.to_bytes())
        },
    );
}

#[test]
fn fuzz_status_reply() {
    let status = (any::<[u32; 6]>()).prop_map(|[a, b, c, d, e, f]| Status {
        frames_received: a,
        frames_rejected: b,
        vectors_processed: c,
        flags: d,
        image_crc: e,
        load_offset: f,
    });
    support::run("status", (status, mutations()), |(status, edits)| {
        let mut bytes = status.to_bytes().to_vec();
        for m in &edits {
            apply(
                &mut bytes,
                m,
                &[(0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4)],
            );
        }
        let (result, peak) = peak_allocation(|| Status::from_bytes(&bytes));
        prop_assert_eq!(peak, 0);
        prop_assert_eq!(result.is_some(), bytes.len() == STATUS_LEN);
        if let Some(s) = result {
            prop_assert_eq!(&s.to_bytes()[..], &bytes[..]);
        }
        Ok(if result.is_some() {
            "accepted"
        } else {
            "refused"
        }
        .into())
    });
}

// ---------------------------------------------------------------- configurations

/// A count from anywhere in usize, mostly near the edges.
fn any_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0..=64usize,
        2 => 0..=70_000usize,
        1 => (0..usize::BITS).prop_map(|b| 1usize << b),
        1 => (0..usize::BITS).prop_map(|b| (1usize << b).wrapping_sub(1)),
        1 => Just(usize::MAX),
        1 => any::<usize>(),
    ]
}

fn any_width() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 2..=8u32, 2 => 0..=40u32, 1 => Just(u32::MAX), 1 => any::<u32>()]
}

/// Any configuration at all, as a config file or a device could give:
/// `validate` never panics and every size is defined; a valid one obeys
/// every limit the hardware and the image format rely on.
#[test]
fn fuzz_engine_config() {
    let strategy = (
        proptest::collection::vec(any_count(), 6),
        0..EncoderKind::ALL.len(),
        proptest::collection::vec(any_width(), 4),
        (
            any::<bool>(),
            1..=16usize,
            any::<bool>(),
            prop::option::of(1..=12u32),
        ),
    );
    support::run("config", strategy, |(counts, encoder, widths, shape)| {
        let (divisible, v, fewer_lanes, k) = shape;
        let mut config = EngineConfig {
            input_dim: counts[0],
            codebooks: counts[1],
            centroids: counts[2],
            outputs: counts[3],
            lanes: counts[4],
            encoder: EncoderKind::ALL[encoder],
            activation_bits: widths[0],
            centroid_bits: widths[1],
            table_bits: widths[2],
            bias_bits: widths[3],
            entries_per_read: counts[5],
        };
        // Half the cases obey the first rules, so the later ones are reached.
        if divisible {
            config.input_dim = config.codebooks.saturating_mul(v);
        }
        if fewer_lanes {
            config.lanes = config.lanes.min(config.outputs);
            config.entries_per_read = 1 << (config.entries_per_read % 4);
        }
        if let Some(k) = k {
            config.centroids = match config.encoder {
                EncoderKind::Tree => 16,
                EncoderKind::Sign => 1 << v.min(10),
                _ => 1 << k,
            };
        }
        let result = config.validate();
        // Every size is defined for any configuration (none panics).
        let words = [
            config.table_words_per_lane(),
            config.key_memory_words(),
            config.replay_buffer_words(),
            config.tree_threshold_words(),
            config.rows_per_lane(),
        ];
        let others = [
            config.sub_vector_len(),
            config.clusters(),
            config.keys_per_cluster(),
            config.distances_per_codebook(),
            config.centroids_per_unit(),
            config.distance_units(),
            config.bound_cycles_per_inference(),
            usize::from(config.squares_from_table()),
        ];
        let bits = [config.accumulator_bits(), config.distance_bits()];
        let memories = lutgen_core::memory_map::MemoryMap::new(&config).memories();
        if result.is_ok() {
            let max = lutgen_core::config::MAX_MEMORY_WORDS;
            prop_assert!(words.iter().all(|&w| w <= max), "{words:?}");
            prop_assert!(memories <= lutgen_core::config::MAX_MEMORIES);
            prop_assert!(config.table_word_bits() <= lutgen_core::config::MAX_TABLE_WORD_BITS);
            prop_assert!(bits.iter().all(|&b| b <= 32), "{bits:?}");
            // Every section of its image fits the format's u32 lengths.
            let sections = [
                config.centroids as u128 * config.input_dim as u128,
                config.codebooks as u128 * config.centroids as u128 * config.outputs as u128,
                4 * config.outputs as u128,
            ];
            prop_assert!(
                sections.iter().all(|&s| s <= u128::from(u32::MAX)),
                "{sections:?}"
            );
            let _ = others;
        }
        Ok(outcome(&result))
    });
}
