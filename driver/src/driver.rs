//! The host side of the device protocol (`docs/protocol.md`) over any [`Transport`].
//!
//! Streaming is pipelined: frames are sent while the device's receive buffer
//! (bytes) and job queue (frames) have room, so the link never idles while
//! work is queued, and the window is bounded by what the device can hold, so
//! a slow or stuck device cannot make the host queue without limit.
//!
//! Recovery: every transmission gets a fresh sequence number. The device
//! answers frames in the order it received them, so a reply to a later
//! transmission means every earlier unanswered one was lost; those frames are
//! sent again. Replies with a bad CRC are dropped (the gap shows up at the next
//! good reply); error replies from the device name the frame to resend; when
//! nothing arrives within the timeout, everything unanswered is resent. A
//! frame that fails `retries` times, or `retries` timeouts in a row, ends in a
//! typed error naming the port and what was pending. Resending is safe: data
//! and load frames do the same thing however often they run.

use crate::transport::{Transport, TransportError};
use lutgen_core::divergence::Divergence;
use lutgen_core::ident::{Ident, IdentError};
use lutgen_core::image::format::PAYLOAD_CRC_OFFSET;
use lutgen_core::protocol::{
    self, Command, Decoded, Decoder, DeviceError, Frame, Status, ERROR_REPLY,
};
use lutgen_core::{EngineConfig, Image, Network};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A conversation with a device that failed.
#[derive(Debug, Error)]
pub enum DriverError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(
        "no reply from {port} within {timeout:?} ({attempts} attempts); pending: {pending}. \
         Check that the device is powered, flashed with a lutgen bitstream and connected, \
         and that --baud matches the bitstream"
    )]
    Timeout {
        port: String,
        timeout: Duration,
        attempts: u32,
        pending: String,
    },
    #[error(
        "{port}: {what} failed {attempts} times (last: {last}); the link is too noisy \
         or the baud rate is wrong"
    )]
    TooManyRetries {
        port: String,
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("{port} gave a wrong identity: {source}; check that --port names the lutgen board")]
    Identity { port: String, source: IdentError },
    #[error("{port} answered {what} with reply code {code:#04x} ({len} bytes), which the protocol does not allow there")]
    Protocol {
        port: String,
        what: String,
        code: u8,
        len: usize,
    },
    #[error(
        "the image is for a different engine than the device on {port}: device has {device}, \
         image has {image}; export the image for the device's configuration (lutgen ident shows it) \
         or build a bitstream for the image"
    )]
    ImageMismatch {
        port: String,
        device: String,
        image: String,
    },
    #[error(
        "the device on {port} runs {device}, but the file is {file}; load a file compiled for \
         the device (lutgen ident shows what it runs) or build a bitstream for the file"
    )]
    WrongTarget {
        port: String,
        device: String,
        file: String,
    },
    #[error(
        "the device on {port} runs layer {layer} as {device}, but the file's layer {layer} is \
         {file}; load a file compiled for the device's geometry (lutgen ident shows it) or \
         build a bitstream for the file (lutgen board --sim --network FILE)"
    )]
    WrongGeometry {
        port: String,
        layer: usize,
        device: String,
        file: String,
    },
    #[error(
        "the network does not fit the sequential device on {port} ({device}): {reason}; \
         compile the network for the device's layers (lutgen ident shows them) or build a \
         bitstream for the file"
    )]
    DoesNotFit {
        port: String,
        device: String,
        reason: String,
    },
    #[error("{port} refused {what}: {}{hint}", error.describe())]
    Refused {
        port: String,
        what: String,
        error: DeviceError,
        hint: &'static str,
    },
    #[error(
        "{port} acknowledged every byte of the image but does not report it loaded \
         (status: loaded {loaded}, image CRC {device_crc:#010x}, expected {image_crc:#010x}); \
         load it again, and if this repeats the bitstream is broken"
    )]
    NotLoaded {
        port: String,
        loaded: bool,
        device_crc: u32,
        image_crc: u32,
    },
    #[error("the vector cannot be traced: {0}")]
    Input(lutgen_core::reference::InputError),
    #[error("input vector {index} has {got} elements but the device's engine takes {expected}")]
    InputLength {
        index: usize,
        expected: usize,
        got: usize,
    },
}

/// Knobs of the link layer.
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// How long to wait for the next reply before resending.
    pub timeout: Duration,
    /// Attempts per frame, and timeouts in a row, before giving up.
    pub retries: u32,
    /// Cap on unanswered payload bytes (default: the device's receive buffer).
    pub window_bytes: Option<usize>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            timeout: Duration::from_secs(2),
            retries: 8,
            window_bytes: None,
        }
    }
}

/// Traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct LinkStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Payload bytes of frames answered (each counted once).
    pub payload_sent: u64,
    /// Payload bytes of the replies used.
    pub payload_received: u64,
    pub frames_sent: u64,
    pub retransmissions: u64,
    /// Replies dropped for a bad CRC.
    pub corrupt_replies: u64,
    /// Error replies from the device.
    pub device_errors: u64,
    pub timeouts: u64,
}

impl LinkStats {
    /// Payload bytes over all bytes on the wire, both directions.
    pub fn payload_efficiency(&self) -> f64 {
        let wire = self.bytes_sent + self.bytes_received;
        if wire == 0 {
            0.0
        } else {
            (self.payload_sent + self.payload_received) as f64 / wire as f64
        }
    }
}

struct Sent {
    span: Span,
    seq: u8,
    bytes: usize,
}

/// The protocol over one transport.
pub struct Driver<T: Transport> {
    transport: T,
    options: DriverOptions,
    seq: u8,
    stats: LinkStats,
    ident: Option<Ident>,
}

/// The frames of a load: the image file in chunks of at most `room` bytes.
fn load_spans(len: usize, room: usize) -> Vec<(usize, usize)> {
    (0..len)
        .step_by(room.max(1))
        .map(|a| (a, (a + room).min(len)))
        .collect()
}

/// Device errors that sending the frame again cannot cure, with a hint.
fn fatal(error: DeviceError) -> Option<(DeviceError, &'static str)> {
    let hint = match error {
        DeviceError::NotLoaded => "; run `lutgen load` with an image first",
        DeviceError::WrongImage => {
            "; the device's configuration differs from the image's (lutgen ident shows it)"
        }
        DeviceError::ImageCrc | DeviceError::ValueRange => {
            "; the image file is damaged: compile or export it again"
        }
        DeviceError::NoSuchLayer => "; lutgen ident shows the device's layers",
        _ => return None,
    };
    Some((error, hint))
}

/// Whether an error reply answers a frame that reached the device damaged
/// (bad CRC, a length too long to be real, bytes that stopped coming), so
/// that its sequence number, read from the damaged frame, may be wrong. Such
/// a reply matches no frame: matching it to the frame whose number it
/// happens to carry would declare every frame sent before that one lost
/// while the device still holds them; they would be sent again while the
/// device still answers the originals, and once 256 frames on an original's
/// reply carries the number of a new frame and acknowledges it (a load
/// chunk marked done that the device never took). The damaged frame is
/// found lost by the next reply that does match, or by the timeout.
fn untrusted_sequence(reply: &Frame) -> bool {
    matches!(
        reply
            .payload
            .first()
            .copied()
            .and_then(DeviceError::from_code),
        Some(DeviceError::BadCrc | DeviceError::TooLong | DeviceError::Timeout)
    )
}

/// An error reply, as the last problem a failed frame met.
fn device_problem(reply: &Frame) -> String {
    let code = reply.payload.first().copied().unwrap_or(0);
    format!(
        "device error: {}",
        DeviceError::from_code(code).map_or("unknown error code", |e| e.describe())
    )
}

/// Units `start..end` in one frame; split in two when it fails, so a noisy
/// link ends up with frames short enough to get through.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    tries: u32,
}

impl<T: Transport> Driver<T> {
    pub fn new(transport: T, options: DriverOptions) -> Self {
        Driver {
            transport,
            options,
            seq: 0,
            stats: LinkStats::default(),
            ident: None,
        }
    }

    /// The transport, giving up the driver (to drive the same device with another).
    pub fn into_transport(self) -> T {
        self.transport
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    pub fn reset_stats(&mut self) {
        self.stats = LinkStats::default();
    }

    fn port(&self) -> String {
        self.transport.name().to_string()
    }

    /// Seconds now, on the transport's clock if it has one.
    pub fn now(&self, start: Instant) -> f64 {
        self.transport
            .simulated_seconds()
            .unwrap_or_else(|| start.elapsed().as_secs_f64())
    }

    /// Sends `frames` (command, payload) and hands each good reply to `on_reply`
    /// (frame index, reply), pipelined and with retries.
    /// `spans` (unit ranges) are the initial frames; `payload(start, end)` and
    /// `reply_len(start, end)` give a frame's payload and expected reply length.
    fn pipeline(
        &mut self,
        command: Command,
        units: usize,
        spans: &[(usize, usize)],
        payload: &dyn Fn(usize, usize) -> Vec<u8>,
        reply_len: &dyn Fn(usize, usize) -> usize,
        on_reply: &mut dyn FnMut(usize, usize, Frame),
    ) -> Result<(), DriverError> {
        let (buffer, depth, max_payload) = match &self.ident {
            Some(i) => (
                usize::from(i.buffer_bytes),
                usize::from(i.job_queue_depth),
                usize::from(i.max_payload),
            ),
            None => (protocol::MAX_PAYLOAD, 2, protocol::MAX_PAYLOAD),
        };
        let window = self.options.window_bytes.unwrap_or(buffer).min(buffer);
        // Keep two job slots for error replies to garbage.
        let max_frames = depth.saturating_sub(2).clamp(1, 100);
        // Frames allowed in flight now: halved at every loss, one more at
        // every good reply, up to `max_frames`. A lost load frame costs every
        // frame behind it a refusal (the device waits for the lost one), so
        // on a damaged link a full window wastes most of the wire.
        let mut limit = max_frames;
        let max_reply = spans
            .iter()
            .map(|&(a, b)| reply_len(a, b))
            .max()
            .unwrap_or(0);
        let mut decoder = Decoder::new(max_reply.max(protocol::MAX_IDENT_LEN).max(2));
        let mut queue: VecDeque<Span> = spans
            .iter()
            .map(|&(start, end)| Span {
                start,
                end,
                tries: 0,
            })
            .collect();
        let mut done = vec![false; units];
        let mut remaining: usize = spans.iter().map(|&(a, b)| b - a).sum();
        let mut sent: VecDeque<Sent> = VecDeque::new();
        // A failed span goes back into the queue, halved, in order of its
        // start (a load's chunks must reach the device in file order).
        let requeue = |queue: &mut VecDeque<Span>, span: Span| {
            let at = queue.partition_point(|s| s.start < span.start);
            if span.end - span.start > 1 {
                let mid = span.start + (span.end - span.start) / 2;
                // Halves are new frames: their tries start over.
                queue.insert(
                    at,
                    Span {
                        start: mid,
                        tries: 0,
                        ..span
                    },
                );
                queue.insert(
                    at,
                    Span {
                        end: mid,
                        tries: 0,
                        ..span
                    },
                );
            } else {
                queue.insert(at, span);
            }
        };
        let mut in_flight = 0usize;
        let mut timeouts_in_a_row = 0u32;
        let mut last_problem = String::from("none");
        let describe = |frames: &[Span]| -> String {
            let mut s = format!("{} {} frame(s)", frames.len(), command.name());
            if let (Some(a), Some(b)) = (
                frames.iter().map(|f| f.start).min(),
                frames.iter().map(|f| f.end).max(),
            ) {
                s.push_str(&format!(" (items {a}..{b} of {units})"));
            }
            s
        };
        let trace = std::env::var_os("LUTGEN_TRACE_LINK").is_some();
        while remaining > 0 {
            // Fill the window.
            while let Some(&span) = queue.front() {
                if done[span.start..span.end].iter().all(|&d| d) {
                    queue.pop_front();
                    continue;
                }
                let body = payload(span.start, span.end);
                let len = body.len();
                if !sent.is_empty() && (sent.len() >= limit || in_flight + len > window) {
                    break;
                }
                queue.pop_front();
                let span = Span {
                    tries: span.tries + 1,
                    ..span
                };
                if span.tries > self.options.retries {
                    return Err(DriverError::TooManyRetries {
                        port: self.port(),
                        what: format!("{} of items {}..{}", command.name(), span.start, span.end),
                        attempts: span.tries - 1,
                        last: last_problem,
                    });
                }
                if span.tries > 1 {
                    self.stats.retransmissions += 1;
                }
                let seq = self.seq;
                self.seq = self.seq.wrapping_add(1);
                if trace {
                    eprintln!(
                        "send items {}..{} seq {seq} try {} in_flight {in_flight}",
                        span.start, span.end, span.tries
                    );
                }
                let bytes = Frame::new(command.code(), seq, body).encode();
                self.transport.write(&bytes)?;
                self.stats.bytes_sent += bytes.len() as u64;
                self.stats.frames_sent += 1;
                sent.push_back(Sent {
                    span,
                    seq,
                    bytes: len,
                });
                in_flight += len;
            }
            // Take replies.
            let bytes = self.transport.read(self.options.timeout)?;
            if bytes.is_empty() {
                if trace {
                    eprintln!(
                        "timeout; outstanding {:?}",
                        sent.iter().map(|s| (s.span, s.seq)).collect::<Vec<_>>()
                    );
                }
                self.stats.timeouts += 1;
                timeouts_in_a_row += 1;
                let pending: Vec<Span> = sent.iter().map(|s| s.span).collect();
                if timeouts_in_a_row >= self.options.retries {
                    return Err(DriverError::Timeout {
                        port: self.port(),
                        timeout: self.options.timeout,
                        attempts: timeouts_in_a_row,
                        pending: describe(&pending),
                    });
                }
                last_problem = "timeout".into();
                limit = (limit / 2).max(1);
                for s in sent.drain(..).rev() {
                    requeue(&mut queue, s.span);
                }
                in_flight = 0;
                decoder.clear();
                continue;
            }
            self.stats.bytes_received += bytes.len() as u64;
            decoder.push(&bytes);
            while let Some(decoded) = decoder.next_frame() {
                if trace {
                    match &decoded {
                        Decoded::Frame(f) => eprintln!(
                            "reply code {:#x} seq {} len {} {:?}",
                            f.code,
                            f.seq,
                            f.payload.len(),
                            &f.payload[..f.payload.len().min(2)]
                        ),
                        Decoded::Corrupt { code, seq, len } => {
                            eprintln!("corrupt reply code {code:#x} seq {seq} len {len}")
                        }
                    }
                }
                let frame = match decoded {
                    Decoded::Corrupt { .. } => {
                        self.stats.corrupt_replies += 1;
                        last_problem = "reply with a bad CRC".into();
                        continue;
                    }
                    Decoded::Frame(f) => f,
                };
                if frame.code == ERROR_REPLY && untrusted_sequence(&frame) {
                    self.stats.device_errors += 1;
                    last_problem = device_problem(&frame);
                    continue;
                }
                let Some(pos) = sent.iter().position(|s| s.seq == frame.seq) else {
                    continue; // A reply to a transmission already given up on.
                };
                // Everything sent before it was lost on the way.
                let lost: Vec<Sent> = sent.drain(..pos).collect();
                let this = sent.pop_front().expect("position is in range");
                for s in lost.iter().chain(std::iter::once(&this)) {
                    in_flight -= s.bytes;
                }
                if !lost.is_empty() {
                    limit = (limit / 2).max(1);
                }
                for s in lost.into_iter().rev() {
                    requeue(&mut queue, s.span);
                }
                if frame.code == ERROR_REPLY {
                    self.stats.device_errors += 1;
                    let code = frame.payload.first().copied().unwrap_or(0);
                    if let Some((error, hint)) = DeviceError::from_code(code).and_then(fatal) {
                        return Err(DriverError::Refused {
                            port: self.port(),
                            what: format!(
                                "{} of items {}..{}",
                                command.name(),
                                this.span.start,
                                this.span.end
                            ),
                            error,
                            hint,
                        });
                    }
                    last_problem = device_problem(&frame);
                    // A load chunk refused for its offset while an earlier chunk is still to be
                    // sent, or still on its way, was not at fault: the device is waiting for
                    // that earlier chunk. Send it again as it was, the try not counted (a
                    // damaged chunk early in a long load would otherwise use up the tries of
                    // every chunk in flight behind it, as many as the window holds).
                    let behind_a_resend = DeviceError::from_code(code)
                        == Some(DeviceError::LoadOffset)
                        && (queue.iter().any(|s| s.start < this.span.start)
                            || sent.iter().any(|s| s.span.start < this.span.start));
                    if behind_a_resend {
                        let at = queue.partition_point(|s| s.start < this.span.start);
                        queue.insert(
                            at,
                            Span {
                                tries: this.span.tries - 1,
                                ..this.span
                            },
                        );
                        continue;
                    }
                    limit = (limit / 2).max(1);
                    requeue(&mut queue, this.span);
                    continue;
                }
                let (start, end) = (this.span.start, this.span.end);
                // An identify reply's length depends on the device (checked by `Ident`).
                let length_ok = match command {
                    Command::Identify => (protocol::IDENT_LEN..=protocol::MAX_IDENT_LEN)
                        .contains(&frame.payload.len()),
                    _ => frame.payload.len() == reply_len(start, end),
                };
                if frame.code != command.reply_code() || !length_ok {
                    return Err(DriverError::Protocol {
                        port: self.port(),
                        what: format!("{} of items {start}..{end}", command.name()),
                        code: frame.code,
                        len: frame.payload.len(),
                    });
                }
                timeouts_in_a_row = 0;
                limit = (limit + 1).min(max_frames);
                let fresh = done[start..end].iter().filter(|&&d| !d).count();
                if fresh > 0 {
                    done[start..end].iter_mut().for_each(|d| *d = true);
                    remaining -= fresh;
                    self.stats.payload_sent += this.bytes as u64;
                    self.stats.payload_received += frame.payload.len() as u64;
                    on_reply(start, end, frame);
                }
            }
        }
        let _ = max_payload;
        Ok(())
    }

    /// One command with an empty payload; its reply payload.
    fn simple(&mut self, command: Command, reply_len: usize) -> Result<Vec<u8>, DriverError> {
        let mut out = Vec::new();
        self.pipeline(
            command,
            1,
            &[(0, 1)],
            &|_, _| Vec::new(),
            &|_, _| reply_len,
            &mut |_, _, f| out = f.payload,
        )?;
        Ok(out)
    }

    /// Asks the device who it is, and checks the answer.
    pub fn identify(&mut self) -> Result<Ident, DriverError> {
        let payload = self.simple(Command::Identify, protocol::IDENT_LEN)?;
        let ident = Ident::from_bytes(&payload).map_err(|source| DriverError::Identity {
            port: self.port(),
            source,
        })?;
        self.ident = Some(ident.clone());
        Ok(ident)
    }

    fn ident(&mut self) -> Result<Ident, DriverError> {
        match &self.ident {
            Some(i) => Ok(i.clone()),
            None => self.identify(),
        }
    }

    /// The device's counters.
    pub fn status(&mut self) -> Result<Status, DriverError> {
        let payload = self.simple(Command::Status, protocol::STATUS_LEN)?;
        Ok(Status::from_bytes(&payload).expect("length checked by the pipeline"))
    }

    /// Empties the engine pipeline and clears the counters (the image stays loaded).
    pub fn reset(&mut self) -> Result<(), DriverError> {
        self.simple(Command::Reset, 0).map(|_| ())
    }

    /// Refuses, before any data moves, an image for another engine (or for a network device).
    pub fn check_image(&mut self, config: &EngineConfig) -> Result<Ident, DriverError> {
        let ident = self.ident()?;
        if let Some(layers) = &ident.layers {
            return Err(DriverError::WrongTarget {
                port: self.port(),
                device: describe_layers(layers),
                file: format!("an image for one engine ({})", describe_config(config)),
            });
        }
        if &ident.config != config {
            return Err(DriverError::ImageMismatch {
                port: self.port(),
                device: describe_config(&ident.config),
                image: describe_config(config),
            });
        }
        Ok(ident)
    }

    /// Refuses, before any data moves, a network for other layers (or for
    /// an engine device), or whose convolutions and pooling differ from the
    /// device's (naming the first layer that differs); on a sequential
    /// device, one that does not fit its engine and banks
    /// ([`SequentialPlan::fit`](lutgen_core::sequential::SequentialPlan::fit)),
    /// or has a convolution, naming what does not.
    pub fn check_network(&mut self, network: &Network) -> Result<Ident, DriverError> {
        let ident = self.ident()?;
        let configs = network.configs();
        let layers = configs.as_slice();
        if let Some(plan) = ident.sequential_plan() {
            network
                .require_dense()
                .map_err(|e| DriverError::DoesNotFit {
                    port: self.port(),
                    device: describe_device(&ident),
                    reason: e.to_string(),
                })?;
            plan.fit(layers).map_err(|e| DriverError::DoesNotFit {
                port: self.port(),
                device: describe_device(&ident),
                reason: e.to_string(),
            })?;
            return Ok(ident);
        }
        if ident.layers.as_deref() != Some(layers) {
            let device = match &ident.layers {
                Some(device) => describe_layers(device),
                None => format!(
                    "one engine, which loads images ({})",
                    describe_config(&ident.config)
                ),
            };
            return Err(DriverError::WrongTarget {
                port: self.port(),
                device,
                file: describe_layers(layers),
            });
        }
        let device = ident.all_spatial();
        for (layer, (d, f)) in device.iter().zip(network.spatial()).enumerate() {
            if *d != f.device_shape() {
                return Err(DriverError::WrongGeometry {
                    port: self.port(),
                    layer,
                    device: d.describe(),
                    file: f.describe(),
                });
            }
        }
        Ok(ident)
    }

    /// Writes `image` into the device, its file bytes in order, pipelined;
    /// `progress(done, total)` in bytes. A load left half-done on the device
    /// (by another host, say) is abandoned first with a reset. Checks at the
    /// end that the device reports the image loaded, with its payload CRC.
    pub fn load(
        &mut self,
        image: &Image,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), DriverError> {
        let ident = self.check_image(image.config())?;
        let file = image.to_bytes();
        self.load_file(&ident, &file, loaded_crc(&file), progress)
    }

    /// Writes `network` into a network device, as [`load`](Self::load)
    /// does an image; the device reports the file's CRC (its last 4 bytes) once loaded.
    pub fn load_network(
        &mut self,
        network: &Network,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), DriverError> {
        let (ident, file) = self.network_file(network)?;
        self.load_file(&ident, &file, loaded_crc(&file), progress)
    }

    /// The file the device loads for `network`, after
    /// [`check_network`](Self::check_network): the network file itself, or
    /// for a sequential device (identify says so) the file with every
    /// layer's image padded to its engine ([`SequentialPlan::load_file`](lutgen_core::sequential::SequentialPlan::load_file)).
    pub fn network_file(&mut self, network: &Network) -> Result<(Ident, Vec<u8>), DriverError> {
        let ident = self.check_network(network)?;
        let file = match ident.sequential_plan() {
            Some(plan) => plan
                .load_file(network)
                .map_err(|e| DriverError::DoesNotFit {
                    port: self.port(),
                    device: describe_device(&ident),
                    reason: e.to_string(),
                })?,
            None => network.to_bytes(),
        };
        Ok((ident, file))
    }

    fn load_file(
        &mut self,
        ident: &Ident,
        file: &[u8],
        file_crc: u32,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), DriverError> {
        let status = self.status()?;
        if status.loading() {
            self.reset()?;
        }
        let room = usize::from(ident.max_payload).saturating_sub(protocol::LOAD_HEADER_LEN);
        let mut spans = load_spans(file.len(), room);
        let total = file.len();
        let mut count = 0;
        // While the device holds a loaded file, a frame past offset 0 is a
        // repeat it acknowledges and skips: were the frame at offset 0 lost
        // (or, halved after a failure, its first half), the frames behind it
        // would be acknowledged but not loaded. So the file's first byte goes
        // alone (a frame that cannot be halved), and the rest only once the
        // device has acknowledged it and so started the new load.
        let first = if status.loaded() && total > 1 {
            spans[0].0 = 1;
            vec![(0, 1)]
        } else {
            vec![]
        };
        for part in [&first[..], &spans[..]] {
            self.pipeline(
                Command::Load,
                total,
                part,
                &|a, b| protocol::load_payload(a as u32, &file[a..b]),
                &|_, _| 0,
                &mut |a, b, _| {
                    count += b - a;
                    progress(count.min(total), total);
                },
            )?;
        }
        let status = self.status()?;
        if !status.loaded() || status.image_crc != file_crc {
            return Err(DriverError::NotLoaded {
                port: self.port(),
                loaded: status.loaded(),
                device_crc: status.image_crc,
                image_crc: file_crc,
            });
        }
        Ok(())
    }

    /// Runs `vectors` through the device's engine; `progress(done, total)` in vectors.
    pub fn run(
        &mut self,
        vectors: &[Vec<i8>],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<i32>>, DriverError> {
        let ident = self.ident()?;
        let (d, n) = (ident.input_dim(), ident.outputs());
        if let Some(index) = vectors.iter().position(|v| v.len() != d) {
            return Err(DriverError::InputLength {
                index,
                expected: d,
                got: vectors[index].len(),
            });
        }
        let per_frame = (usize::from(ident.max_payload) / d)
            .min(65535 / (4 * n))
            .max(1);
        let total = vectors.len();
        let spans: Vec<(usize, usize)> = (0..total)
            .step_by(per_frame)
            .map(|a| (a, (a + per_frame).min(total)))
            .collect();
        let mut results = vec![Vec::new(); total];
        let mut finished = 0;
        self.pipeline(
            Command::Data,
            total,
            &spans,
            &|a, b| vectors[a..b].iter().flatten().map(|&x| x as u8).collect(),
            &|a, b| (b - a) * n * 4,
            &mut |a, b, reply| {
                for (i, out) in reply.payload.chunks_exact(4 * n).enumerate() {
                    if results[a + i].is_empty() {
                        finished += 1;
                    }
                    results[a + i] = out
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
                        .collect();
                }
                debug_assert_eq!(reply.payload.len(), (b - a) * n * 4);
                progress(finished, total);
            },
        )?;
        Ok(results)
    }

    /// Runs one vector through a network device and reads the activations
    /// its layer `layer` hands to the next (int8, one per output of that
    /// layer), with the vector's results (the `trace` command).
    pub fn trace(
        &mut self,
        layer: usize,
        vector: &[i8],
    ) -> Result<(Vec<i8>, Vec<i32>), DriverError> {
        let ident = self.ident()?;
        let traced = match ident.traced_len(layer) {
            Some(traced) => traced,
            None => {
                return Err(DriverError::Refused {
                    port: self.port(),
                    what: format!("a trace of layer {layer}"),
                    error: DeviceError::NoSuchLayer,
                    hint: "; lutgen ident shows the device's layers",
                })
            }
        };
        if vector.len() != ident.input_dim() {
            return Err(DriverError::InputLength {
                index: 0,
                expected: ident.input_dim(),
                got: vector.len(),
            });
        }
        let n = ident.outputs();
        let mut payload = vec![layer as u8];
        payload.extend(vector.iter().map(|&x| x as u8));
        let mut reply = Vec::new();
        self.pipeline(
            Command::Trace,
            1,
            &[(0, 1)],
            &|_, _| payload.clone(),
            &|_, _| traced + 4 * n,
            &mut |_, _, f| reply = f.payload,
        )?;
        let activations = reply[..traced].iter().map(|&b| b as i8).collect();
        let outputs = reply[traced..]
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Ok((activations, outputs))
    }

    /// Where the network device first disagrees with `network`'s integer
    /// reference on `vector`: each layer's activations read by
    /// [`trace`](Self::trace), then the outputs. `None`: it agrees.
    pub fn first_divergence(
        &mut self,
        network: &Network,
        vector: &[i8],
    ) -> Result<Option<Divergence>, DriverError> {
        let reference = network.infer(vector).map_err(DriverError::Input)?;
        let mut outputs = None;
        let found = Divergence::in_layers(&reference, |layer| {
            let (activations, out) = self.trace(layer, vector)?;
            outputs = Some(out);
            Ok::<_, DriverError>(activations)
        })?;
        if found.is_some() {
            return Ok(found);
        }
        let outputs = match outputs {
            Some(o) => o,
            None => self.run(&[vector.to_vec()], &mut |_, _| {})?.remove(0),
        };
        Ok(Divergence::in_outputs(&reference, &outputs))
    }
}

/// The CRC a device's status reports once it holds `file` (a whole image or
/// network file as written): a network file's own CRC (its last 4 bytes), an
/// image's payload CRC (header bytes 56..60).
pub fn loaded_crc(file: &[u8]) -> u32 {
    let at = if file.starts_with(&lutgen_core::network::NETWORK_MAGIC) {
        file.len() - 4
    } else {
        PAYLOAD_CRC_OFFSET
    };
    u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes"))
}

/// One line naming a network device's layers.
pub fn describe_layers(layers: &[EngineConfig]) -> String {
    let shapes: Vec<String> = layers
        .iter()
        .map(|c| {
            format!(
                "{}->{} (C={} K={} {} {}-bit)",
                c.input_dim, c.outputs, c.codebooks, c.centroids, c.encoder, c.activation_bits
            )
        })
        .collect();
    format!(
        "a network of {} layers: {} (hash {:#010x})",
        layers.len(),
        shapes.join(", "),
        lutgen_core::ident::network_hash(layers)
    )
}

/// One line naming what a device runs: its layers, and for a sequential
/// device its schedule and engine.
pub fn describe_device(ident: &Ident) -> String {
    match (&ident.layers, &ident.sequential_engine) {
        (Some(layers), Some(engine)) => format!(
            "{}, run in turn on one engine of {} with {} banks",
            describe_layers(layers),
            describe_config(engine),
            layers.len()
        ),
        (Some(layers), None) => match &ident.spatial {
            None => describe_layers(layers),
            Some(spatial) => {
                let conv: Vec<String> = spatial
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.is_dense())
                    .map(|(i, s)| format!("layer {i} {}", s.describe()))
                    .collect();
                format!("{}; {}", describe_layers(layers), conv.join("; "))
            }
        },
        (None, _) => format!("one engine ({})", describe_config(&ident.config)),
    }
}

/// One line naming an engine's shape.
pub fn describe_config(c: &EngineConfig) -> String {
    format!(
        "D={} C={} K={} N={} lanes={} encoder={} bits {}/{}/{}/{} (hash {:#010x})",
        c.input_dim,
        c.codebooks,
        c.centroids,
        c.outputs,
        c.lanes,
        c.encoder,
        c.activation_bits,
        c.centroid_bits,
        c.table_bits,
        c.bias_bits,
        protocol::config_hash(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_spans_cover_the_file_in_order() {
        let image = Image::random(EngineConfig::default(), 2).unwrap();
        let len = image.to_bytes().len();
        let room = protocol::MAX_PAYLOAD - protocol::LOAD_HEADER_LEN;
        let spans = load_spans(len, room);
        // The default image (5,248 bytes) goes in 11 frames.
        assert_eq!(spans.len(), len.div_ceil(room));
        assert!(spans.len() <= 20, "{}", spans.len());
        assert_eq!(spans[0].0, 0);
        assert_eq!(spans.last().unwrap().1, len);
        assert!(spans.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
