//! The device protocol: the framed byte stream between a host and a lutgen board.
//!
//! This module is the one definition of the wire format, shared by the
//! hardware generator (which builds the frame decoder, the identify reply and
//! the status reply from these constants) and the host driver. The
//! normative description, with an example exchange, is `docs/protocol.md`.
//!
//! Every frame, in both directions:
//!
//! ```text
//! offset  size  field
//! 0       1     SYNC0 = 0xA5
//! 1       1     SYNC1 = 0x5A
//! 2       1     command (host to device) or reply code (device to host)
//! 3       1     sequence number, echoed in the reply
//! 4       2     payload length L, little-endian
//! 6       L     payload
//! 6+L     4     CRC-32 (ISO-HDLC, zlib's crc32) of bytes 2 .. 6+L, little-endian
//! ```

use crate::config::EngineConfig;

/// First byte of every frame.
pub const SYNC0: u8 = 0xA5;
/// Second byte of every frame.
pub const SYNC1: u8 = 0x5A;
/// Bytes before the payload: sync, command, sequence, length.
pub const HEADER_LEN: usize = 6;
/// Bytes after the payload: the CRC-32.
pub const TRAILER_LEN: usize = 4;
/// Framing bytes per frame.
pub const OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;
/// The protocol version this build speaks (sent in the identify reply).
pub const PROTOCOL_VERSION: u8 = 2;
/// First four bytes of the identify reply payload.
pub const IDENT_MAGIC: [u8; 4] = *b"LTGN";
/// Bytes of the identify reply payload.
pub const IDENT_LEN: usize = 52;
/// Bytes a network device's identify reply adds for each layer after the first
/// (the layer's configuration bytes, [`config_bytes`]).
pub const IDENT_LAYER_LEN: usize = 25;
/// Bytes a sequential device's identify reply adds after its layers: the
/// schedule (1 = sequential) and the configuration bytes of its engine.
pub const IDENT_SCHEDULE_LEN: usize = 1 + IDENT_LAYER_LEN;
/// Bytes per layer of the spatial section a network device with a
/// convolution or pooling layer adds after its layers (after a section tag
/// byte): the layer's kind, pooling and convolution geometry
/// ([`crate::ident::spatial_bytes`]).
pub const IDENT_SPATIAL_LAYER_LEN: usize = 14;
/// The longest identify reply: a network device of
/// [`MAX_LAYERS`](crate::memory_map::MAX_LAYERS) layers with a spatial
/// section (longer than a sequential device's schedule section).
pub const MAX_IDENT_LEN: usize = {
    let layers = IDENT_LEN + 1 + IDENT_LAYER_LEN * (crate::memory_map::MAX_LAYERS - 1);
    let spatial = 1 + IDENT_SPATIAL_LAYER_LEN * crate::memory_map::MAX_LAYERS;
    if spatial > IDENT_SCHEDULE_LEN {
        layers + spatial
    } else {
        layers + IDENT_SCHEDULE_LEN
    }
};
/// Bytes of the status reply payload.
pub const STATUS_LEN: usize = 24;
/// Bytes of the header of a load payload: the offset in the image file (u32).
pub const LOAD_HEADER_LEN: usize = 4;
/// Largest payload the device accepts in one frame (host to device).
pub const MAX_PAYLOAD: usize = 512;
/// Bytes of the device's receive buffer: the most payload bytes that may be
/// sent and not yet answered.
pub const BUFFER_BYTES: usize = 2048;
/// Frames the device queues between receiving and executing them.
pub const JOB_QUEUE_DEPTH: usize = 256;
/// Reply code flag: a reply to command `c` has code `c | REPLY`.
pub const REPLY: u8 = 0x80;
/// Reply code of an error reply.
pub const ERROR_REPLY: u8 = 0xFF;

/// A command, host to device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// Empty payload; the reply carries [`Ident`].
    Identify = 0x01,
    /// Empty payload; the reply carries [`Status`].
    Status = 0x02,
    /// Empty payload; empties the engine pipeline and clears the counters.
    Reset = 0x03,
    /// `offset: u32, bytes`: the next bytes of an image file, from `offset`.
    Load = 0x04,
    /// One or more activation vectors of D bytes; the reply carries N i32 per vector.
    Data = 0x05,
    /// `layer: u8`, then one vector of D bytes (network devices): the reply
    /// carries the activations layer `layer` hands to the next layer (int8,
    /// one per output of that layer), then the vector's results as a data
    /// reply would.
    Trace = 0x06,
}

impl Command {
    pub const ALL: [Command; 6] = [
        Command::Identify,
        Command::Status,
        Command::Reset,
        Command::Load,
        Command::Data,
        Command::Trace,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The reply code of a successful reply to this command.
    pub fn reply_code(self) -> u8 {
        self.code() | REPLY
    }

    pub fn name(self) -> &'static str {
        match self {
            Command::Identify => "identify",
            Command::Status => "status",
            Command::Reset => "reset",
            Command::Load => "load",
            Command::Data => "data",
            Command::Trace => "trace",
        }
    }
}

/// Why the device rejected a frame (first payload byte of an error reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DeviceError {
    /// The CRC did not match: the frame was damaged on the wire.
    BadCrc = 1,
    /// The command code is not one of [`Command`].
    UnknownCommand = 2,
    /// The payload length is wrong for the command.
    BadLength = 3,
    /// The length field is larger than [`MAX_PAYLOAD`].
    TooLong = 4,
    /// The receive buffer or the job queue was full: the host sent too much unanswered data.
    Overflow = 5,
    /// The frame stopped arriving part-way (bytes were lost); it was dropped.
    Timeout = 6,
    /// A data frame arrived before a complete image was loaded.
    NotLoaded = 7,
    /// A load frame's offset is past the next byte the device expects (a gap).
    LoadOffset = 8,
    /// The image is not one for this device: its header differs from this
    /// configuration's, or it runs past its end.
    WrongImage = 9,
    /// The image's header CRC or payload CRC does not match: it was damaged.
    ImageCrc = 10,
    /// An image value lies outside its width (a broken writer).
    ValueRange = 11,
    /// A trace of a layer the device cannot trace: it traces layers 0 to
    /// L - 2 of its L (an engine device, none).
    NoSuchLayer = 12,
}

impl DeviceError {
    pub const ALL: [DeviceError; 12] = [
        DeviceError::BadCrc,
        DeviceError::UnknownCommand,
        DeviceError::BadLength,
        DeviceError::TooLong,
        DeviceError::Overflow,
        DeviceError::Timeout,
        DeviceError::NotLoaded,
        DeviceError::LoadOffset,
        DeviceError::WrongImage,
        DeviceError::ImageCrc,
        DeviceError::ValueRange,
        DeviceError::NoSuchLayer,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    pub fn describe(self) -> &'static str {
        match self {
            DeviceError::BadCrc => "CRC mismatch",
            DeviceError::UnknownCommand => "unknown command",
            DeviceError::BadLength => "payload length wrong for the command",
            DeviceError::TooLong => "payload longer than the device accepts",
            DeviceError::Overflow => "receive buffer or job queue full",
            DeviceError::Timeout => "frame incomplete (bytes lost)",
            DeviceError::NotLoaded => "no complete image loaded: load one first",
            DeviceError::LoadOffset => {
                "load offset past the next byte expected: send the image from offset 0"
            }
            DeviceError::WrongImage => {
                "image is not for this device (configuration differs, or bytes past its end)"
            }
            DeviceError::ImageCrc => "image CRC mismatch: the image was damaged, send it again",
            DeviceError::ValueRange => "an image value is outside its width: the image is broken",
            DeviceError::NoSuchLayer => {
                "no such layer to trace: a network device of L layers traces layers 0 to L - 2"
            }
        }
    }
}

/// CRC-32 (ISO-HDLC: reflected 0x04C11DB7, init and xor-out 0xFFFFFFFF), as zlib's `crc32`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// One frame: a command or reply code, a sequence number and a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub code: u8,
    pub seq: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(code: u8, seq: u8, payload: Vec<u8>) -> Self {
        Frame { code, seq, payload }
    }

    /// The bytes on the wire. Panics if the payload is longer than 65535 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let len =
            u16::try_from(self.payload.len()).expect("frame payloads are at most 65535 bytes");
        let mut out = Vec::with_capacity(OVERHEAD + self.payload.len());
        out.extend_from_slice(&[SYNC0, SYNC1, self.code, self.seq]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.payload);
        let crc = crc32(&out[2..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Bytes this frame takes on the wire.
    pub fn wire_len(&self) -> usize {
        OVERHEAD + self.payload.len()
    }
}

/// Something the stream decoder found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame whose CRC matched.
    Frame(Frame),
    /// A complete frame whose CRC did not match (its header fields may be damaged too).
    Corrupt { code: u8, seq: u8, len: usize },
}

/// Finds frames in a byte stream, resynchronizing after garbage, as the device does.
///
/// Bytes before a sync pair are skipped (and counted in [`Decoder::skipped`]).
/// A length above `max_payload` means the sync was false: the decoder drops
/// the first sync byte and hunts again from the next byte, so a real frame
/// hiding in the garbage is still found.
///
/// The cost is linear in the bytes pushed, however they are split and
/// whatever they hold: the decoder keeps a read offset into its buffer
/// rather than removing consumed bytes from the front, scans each byte for a
/// sync pair once, and moves the unread bytes to the front only when the
/// consumed part is at least as long as they are. [`Decoder::work`] counts
/// that work.
#[derive(Clone, Debug)]
pub struct Decoder {
    buffer: Vec<u8>,
    /// Bytes of `buffer` before this offset are consumed.
    start: usize,
    max_payload: usize,
    skipped: u64,
    work: u64,
}

impl Decoder {
    pub fn new(max_payload: usize) -> Self {
        Decoder {
            buffer: Vec::new(),
            start: 0,
            max_payload,
            skipped: 0,
            work: 0,
        }
    }

    /// Bytes dropped while hunting for a frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes held, waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Bytes examined (searched for a sync pair, checked by CRC, copied into
    /// a frame) or moved within the buffer since the decoder was made: at
    /// most a small multiple of the bytes pushed, which is what makes the
    /// decoder linear.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Forgets any partial frame.
    pub fn clear(&mut self) {
        self.skipped += self.pending() as u64;
        self.buffer.clear();
        self.start = 0;
    }

    /// Appends bytes received from the link.
    pub fn push(&mut self, bytes: &[u8]) {
        // Move the unread bytes to the front only when the consumed bytes
        // are at least as many: each byte is moved O(1) times on average.
        if self.start > 0 && self.start >= self.pending() {
            self.work += self.pending() as u64;
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Consumes `count` unread bytes.
    fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }

    /// Offset (from `start`) of the first sync pair in the unread bytes or,
    /// if there is none, of a final SYNC0 (which may begin one), or the
    /// number of unread bytes. The bytes before that offset are skipped, so
    /// each byte is examined a bounded number of times.
    fn find_sync(&mut self) -> usize {
        let unread = &self.buffer[self.start..];
        let mut at = 0;
        let found = loop {
            match unread[at..].iter().position(|&b| b == SYNC0) {
                None => break unread.len(),
                Some(i) => match unread.get(at + i + 1) {
                    Some(&SYNC1) | None => break at + i,
                    Some(_) => at += i + 1,
                },
            }
        };
        self.work += (found + 2).min(unread.len()) as u64;
        found
    }

    /// The next complete frame (good or corrupt), if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Decoded> {
        loop {
            let skip = self.find_sync();
            if skip > 0 {
                self.skipped += skip as u64;
                self.consume(skip);
            }
            let unread = &self.buffer[self.start..];
            if unread.len() < HEADER_LEN {
                return None;
            }
            let len = usize::from(u16::from_le_bytes([unread[4], unread[5]]));
            if len > self.max_payload {
                self.skipped += 1;
                self.consume(1);
                continue;
            }
            let total = HEADER_LEN + len + TRAILER_LEN;
            if unread.len() < total {
                return None;
            }
            let frame = &unread[..total];
            self.work += total as u64;
            let stored = u32::from_le_bytes(frame[total - 4..].try_into().expect("4 bytes"));
            let (code, seq) = (frame[2], frame[3]);
            let decoded = if crc32(&frame[2..total - 4]) == stored {
                Decoded::Frame(Frame::new(code, seq, frame[HEADER_LEN..total - 4].to_vec()))
            } else {
                Decoded::Corrupt { code, seq, len }
            };
            self.consume(total);
            return Some(decoded);
        }
    }
}

/// The payload of a load command: `bytes` of an image file, from byte `offset` on.
pub fn load_payload(offset: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOAD_HEADER_LEN + bytes.len());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// The canonical bytes of an engine configuration that its hash covers:
/// encoder id, the four widths (u8 each), then D, C, K, N, L (u32 LE each).
pub fn config_bytes(config: &EngineConfig) -> [u8; 25] {
    let mut out = [0u8; 25];
    out[0] = config.encoder.id();
    out[1] = config.activation_bits as u8;
    out[2] = config.centroid_bits as u8;
    out[3] = config.table_bits as u8;
    out[4] = config.bias_bits as u8;
    for (i, v) in [
        config.input_dim,
        config.codebooks,
        config.centroids,
        config.outputs,
        config.lanes,
    ]
    .into_iter()
    .enumerate()
    {
        out[5 + 4 * i..9 + 4 * i].copy_from_slice(&(v as u32).to_le_bytes());
    }
    out
}

/// The configuration hash a device reports and a host checks an image against.
pub fn config_hash(config: &EngineConfig) -> u32 {
    crc32(&config_bytes(config))
}

/// The device's counters and load state, from a status reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Frames seen (accepted plus rejected) since power-up or the last reset.
    pub frames_received: u32,
    /// Frames rejected with an error reply.
    pub frames_rejected: u32,
    /// Vectors whose results left the engine.
    pub vectors_processed: u32,
    /// Bit 0: the engine's sticky fault flag. Bit 1: a complete image is
    /// loaded. Bit 2: a load is in progress.
    pub flags: u32,
    /// Payload CRC of the loaded image (0 when none is).
    pub image_crc: u32,
    /// The offset in the image file of the next byte a load in progress
    /// expects (the image length once loaded, 0 when none is in progress).
    pub load_offset: u32,
}

impl Status {
    pub const FLAG_FAULT: u32 = 1;
    pub const FLAG_LOADED: u32 = 2;
    pub const FLAG_LOADING: u32 = 4;

    pub fn to_bytes(&self) -> [u8; STATUS_LEN] {
        let mut out = [0u8; STATUS_LEN];
        for (i, v) in [
            self.frames_received,
            self.frames_rejected,
            self.vectors_processed,
            self.flags,
            self.image_crc,
            self.load_offset,
        ]
        .into_iter()
        .enumerate()
        {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != STATUS_LEN {
            return None;
        }
        let at = |i: usize| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4"));
        Some(Status {
            frames_received: at(0),
            frames_rejected: at(1),
            vectors_processed: at(2),
            flags: at(3),
            image_crc: at(4),
            load_offset: at(5),
        })
    }

    pub fn fault(&self) -> bool {
        self.flags & Self::FLAG_FAULT != 0
    }

    pub fn loaded(&self) -> bool {
        self.flags & Self::FLAG_LOADED != 0
    }

    pub fn loading(&self) -> bool {
        self.flags & Self::FLAG_LOADING != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_known_bytes() {
        let f = Frame::new(Command::Identify.code(), 7, vec![]);
        let bytes = f.encode();
        assert_eq!(&bytes[..6], &[0xA5, 0x5A, 0x01, 0x07, 0x00, 0x00]);
        assert_eq!(
            u32::from_le_bytes(bytes[6..].try_into().unwrap()),
            crc32(&[1, 7, 0, 0])
        );
        let mut d = Decoder::new(MAX_PAYLOAD);
        d.push(&bytes);
        assert_eq!(d.next_frame(), Some(Decoded::Frame(f)));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn decoder_resyncs_after_garbage_and_reports_corruption() {
        let a = Frame::new(0x85, 1, vec![1, 2, 3, 0xA5, 0x5A]).encode();
        let b = Frame::new(0x82, 2, vec![9; 16]).encode();
        let mut bad = a.clone();
        bad[7] ^= 0x10;
        let mut stream = vec![0x00, 0xA5, 0xA5, 0x5A, 0xFF, 0xFF, 0x13];
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&[0xA5]);
        stream.extend_from_slice(&b);
        let mut d = Decoder::new(MAX_PAYLOAD);
        // Byte by byte, as a serial port delivers them.
        let mut found = Vec::new();
        for byte in stream {
            d.push(&[byte]);
            while let Some(x) = d.next_frame() {
                found.push(x);
            }
        }
        assert_eq!(
            found,
            vec![
                Decoded::Corrupt {
                    code: 0x85,
                    seq: 1,
                    len: 5
                },
                Decoded::Frame(Frame::new(0x82, 2, vec![9; 16]))
            ]
        );
    }

    /// Four patterns of false frames, 4 MiB each, pushed at once and in
    /// chunks: every byte is looked at a bounded number of times (the work
    /// counter is at most a small multiple of the bytes pushed), so the
    /// decoder is linear in its input. Before the read offset, the first
    /// pattern took minutes (a 4 MiB memmove per false sync); now each case
    /// takes a few milliseconds. No timing is asserted: work is counted.
    #[test]
    fn decoding_false_syncs_is_linear() {
        const BYTES: usize = 4 << 20;
        let corrupt = [SYNC0, SYNC1, 0x85, 0, 0, 0, 0, 0, 0, 0];
        let patterns: [(&str, Vec<u8>); 4] = [
            // A sync pair whose length is above max_payload, over and over.
            (
                "false headers",
                [SYNC0, SYNC1, 0x85, 0, 0xFF, 0xFF].repeat(BYTES / 6),
            ),
            // Empty frames with a wrong CRC: each decodes as Corrupt.
            ("corrupt frames", corrupt.repeat(BYTES / corrupt.len())),
            ("first sync bytes", vec![SYNC0; BYTES]),
            ("half pairs", [SYNC0, 0x00].repeat(BYTES / 2)),
        ];
        for (name, stream) in patterns {
            for chunk in [stream.len(), 4096, 7] {
                let mut d = Decoder::new(MAX_PAYLOAD);
                let mut corrupt_frames = 0;
                for piece in stream.chunks(chunk) {
                    d.push(piece);
                    while let Some(x) = d.next_frame() {
                        assert!(
                            matches!(x, Decoded::Corrupt { len: 0, .. }),
                            "{name}: {x:?}"
                        );
                        corrupt_frames += 1;
                    }
                }
                let n = stream.len() as u64;
                assert!(
                    d.work() <= 4 * n,
                    "{name}, chunks of {chunk}: {} units of work for {n} bytes",
                    d.work()
                );
                let expected = if name == "corrupt frames" {
                    stream.len() / 10
                } else {
                    0
                };
                assert_eq!(corrupt_frames, expected, "{name}");
                assert_eq!(d.skipped() + d.pending() as u64 + 10 * expected as u64, n);
            }
        }
    }

    #[test]
    fn status_and_load_layouts() {
        let s = Status {
            frames_received: 1,
            frames_rejected: 2,
            vectors_processed: 3,
            flags: 2,
            image_crc: 0xDEAD_BEEF,
            load_offset: 7,
        };
        assert_eq!(Status::from_bytes(&s.to_bytes()), Some(s));
        assert!(s.loaded() && !s.fault());
        assert_eq!(
            load_payload(0x0003_0010, &[0x89, 0x4c]),
            vec![0x10, 0, 3, 0, 0x89, 0x4c]
        );
    }
}
