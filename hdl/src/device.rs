//! The device: the engine behind a UART and the framed protocol of
//! `docs/protocol.md` ([`lutgen_core::protocol`] holds the wire constants).
//!
//! [`DeviceCore`] is the frame layer on a byte stream; [`Device`] puts an
//! 8N1 UART in front of it and is the board's top module. Inside the core:
//!
//! - the **parser** finds frames (two sync bytes), checks the CRC, the
//!   command and the length, and writes payloads into a 2 KiB receive buffer.
//!   A frame is committed (its payload kept, a job queued) only when all of it
//!   checks out; otherwise its bytes are rolled back and an error job is queued.
//!   A frame that stops arriving is dropped after a timeout, so garbage or lost
//!   bytes never wedge it: it always returns to hunting for the sync bytes.
//! - the **executor** takes jobs in order: it streams data payloads into the
//!   engine, writes load payloads through the load port (after every earlier
//!   reply has gone out, so no vector in flight sees a half-loaded image),
//!   holds the engine in reset for a reset command, and queues one reply per
//!   job.
//! - the **transmitter** sends the replies in order: header, a body (engine
//!   results for data, a constant for identify, the counters for status, the
//!   code for errors) and the CRC, computed one bit per clock on the way out.

use crate::engine::{Engine, RESET_CYCLES};
use crate::memory::{Address, BlockRam};
use crate::uart::{Crc32Serial, UartRx, UartTx};
use lutgen_core::protocol::{self, Command, DeviceError, Ident};
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

// The hardware below writes these codes as literals (rust-hdl's generator
// takes literals, not paths); the compiler checks they agree with the protocol.
const _: () = {
    assert!(Command::Identify as u8 == 1);
    assert!(Command::Status as u8 == 2);
    assert!(Command::Reset as u8 == 3);
    assert!(Command::Load as u8 == 4);
    assert!(Command::Data as u8 == 5);
    assert!(protocol::REPLY == 0x80 && protocol::ERROR_REPLY == 0xFF);
    assert!(protocol::SYNC0 == 0xA5 && protocol::SYNC1 == 0x5A);
    assert!(DeviceError::BadCrc as u8 == 1);
    assert!(DeviceError::UnknownCommand as u8 == 2);
    assert!(DeviceError::BadLength as u8 == 3);
    assert!(DeviceError::TooLong as u8 == 4);
    assert!(DeviceError::Overflow as u8 == 5);
    assert!(DeviceError::Timeout as u8 == 6);
    assert!(protocol::BUFFER_BYTES == 2048 && protocol::JOB_QUEUE_DEPTH == 16);
    assert!(protocol::IDENT_LEN == 48 && protocol::STATUS_LEN == 16);
    assert!(protocol::LOAD_HEADER_LEN == 5);
};

/// Queued frames: `[7:0]` command (0xFF: error), `[15:8]` sequence, `[31:16]`
/// payload length, `[47:32]` reply length, `[55:48]` error code, `[63:56]` rejected command.
pub type Job = Bits<64>;
declare_sync_fifo!(JobFifo, Job, 16, 1);
/// Queued replies: `[7:0]` reply code, `[15:8]` sequence, `[31:16]` payload
/// length, `[39:32]` error code, `[47:40]` rejected command.
pub type Reply = Bits<48>;
declare_sync_fifo!(ReplyFifo, Reply, 16, 1);
/// The identify payload, shifted out a byte at a time.
pub type Body = Bits<384>;

/// How the device is built: the engine and the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    pub engine: EngineConfig,
    /// Board clock in Hz.
    pub clock_hz: u32,
    /// Serial baud rate; the bit time is `round(clock_hz / baud)` cycles.
    pub baud: u32,
}

impl DeviceConfig {
    /// Clock cycles per serial bit.
    pub fn clocks_per_bit(&self) -> u32 {
        (self.clock_hz + self.baud / 2) / self.baud.max(1)
    }

    /// Cycles without a byte after which a partial frame is dropped: 50 ms,
    /// and at least 64 byte times.
    pub fn frame_timeout_cycles(&self) -> u32 {
        (self.clock_hz / 20).max(640 * self.clocks_per_bit())
    }

    /// What the device says in its identify reply.
    pub fn ident(&self) -> Ident {
        Ident::new(&self.engine, self.clock_hz, self.baud)
    }
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum ParseState {
    Sync0,
    Sync1,
    Code,
    Seq,
    Len0,
    Len1,
    Payload,
    Crc,
    Check,
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum ExecState {
    Idle,
    Feed,
    FeedWait,
    Drain,
    LoadRead,
    LoadWait,
    LoadDone,
    ResetHold,
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum SendState {
    Idle,
    Header,
    Body,
    CrcLatch,
    Crc,
    Done,
}

/// The frame layer on a byte stream, with the engine.
#[derive(LogicBlock)]
pub struct DeviceCore {
    pub clock: Signal<In, Clock>,
    /// One pulse per received byte (at most one byte per 8 clocks).
    pub rx_valid: Signal<In, Bit>,
    pub rx_data: Signal<In, Bits<8>>,
    /// Bytes to send: taken when `tx_valid & tx_ready`.
    pub tx_valid: Signal<Out, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_ready: Signal<In, Bit>,
    /// High when there is nothing to do: no partial frame, no job, no reply
    /// pending. Time can pass without changing any state until the next byte.
    pub idle: Signal<Out, Bit>,

    engine: Engine,
    buffer: BlockRam<Bits<8>>,
    jobs: JobFifo,
    replies: ReplyFifo,
    rx_crc: Crc32Serial,
    tx_crc: Crc32Serial,

    // Power-on reset of the engine.
    power_on: DFF<Bits<8>>,
    // Parser.
    parse: DFF<ParseState>,
    code: DFF<Bits<8>>,
    seq: DFF<Bits<8>>,
    length: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    position: DFF<Bits<16>>,
    word_bytes: DFF<Bits<8>>,
    element: DFF<Address>,
    reply_length: DFF<Bits<32>>,
    received_crc: DFF<Bits<32>>,
    overflow: DFF<Bit>,
    write_pointer: DFF<Bits<16>>,
    commit_pointer: DFF<Bits<16>>,
    silence: DFF<Bits<32>>,
    space: Signal<Local, Bit>,
    known: Signal<Local, Bit>,
    length_ok: Signal<Local, Bit>,
    error: Signal<Local, Bits<8>>,
    // Executor.
    exec: DFF<ExecState>,
    read_pointer: DFF<Bits<16>>,
    remaining: DFF<Bits<16>>,
    job_seq: DFF<Bits<8>>,
    job_code: DFF<Bits<8>>,
    header_left: DFF<Bits<4>>,
    load_unit: DFF<Bits<8>>,
    load_count: DFF<Bits<8>>,
    load_word: DFF<Bits<32>>,
    load_next: DFF<Bits<32>>,
    load_enable: DFF<Bit>,
    load_address: DFF<Bits<32>>,
    load_data: DFF<Bits<32>>,
    hold: DFF<Bits<8>>,
    engine_reset: DFF<Bit>,
    loaded: DFF<Bit>,
    job: Signal<Local, Job>,
    job_kind: Signal<Local, Bits<8>>,
    assembled: Signal<Local, Bits<32>>,
    // Cycles the device has had nothing to do (saturating).
    settled: DFF<Bits<4>>,
    calm: Signal<Local, Bit>,
    // Counters.
    frames_received: DFF<Bits<32>>,
    frames_rejected: DFF<Bits<32>>,
    vectors: DFF<Bits<32>>,
    clear_counters: Signal<Local, Bit>,
    // Transmitter.
    send: DFF<SendState>,
    header: DFF<Bits<48>>,
    header_count: DFF<Bits<4>>,
    send_code: DFF<Bits<8>>,
    body_left: DFF<Bits<16>>,
    body: DFF<Body>,
    word: DFF<Bits<32>>,
    word_left: DFF<Bits<4>>,
    crc_out: DFF<Bits<32>>,
    crc_left: DFF<Bits<4>>,
    pending: DFF<Bit>,
    out_byte: DFF<Bits<8>>,
    can_load: Signal<Local, Bit>,
    reply: Signal<Local, Reply>,

    // Runtime constants.
    last_element: Constant<Address>,
    result_bytes: Constant<Bits<32>>,
    max_payload: Constant<Bits<16>>,
    buffer_bytes: Constant<Bits<16>>,
    frame_timeout: Constant<Bits<32>>,
    reset_cycles: Constant<Bits<8>>,
    ident: Constant<Body>,
}

impl DeviceCore {
    /// The frame layer around an engine for `device.engine` (validated first by the caller).
    pub fn new(device: &DeviceConfig) -> Self {
        let config = &device.engine;
        let mut ident = Body::default();
        for (i, &b) in device.ident().to_bytes().iter().enumerate() {
            ident.set_bits::<8>(8 * i, u64::from(b).into());
        }
        DeviceCore {
            clock: Default::default(),
            rx_valid: Default::default(),
            rx_data: Default::default(),
            tx_valid: Default::default(),
            tx_data: Default::default(),
            tx_ready: Default::default(),
            idle: Default::default(),
            engine: Engine::new(config),
            buffer: BlockRam::new(protocol::BUFFER_BYTES),
            jobs: Default::default(),
            replies: Default::default(),
            rx_crc: Default::default(),
            tx_crc: Default::default(),
            power_on: Default::default(),
            parse: Default::default(),
            code: Default::default(),
            seq: Default::default(),
            length: Default::default(),
            left: Default::default(),
            position: Default::default(),
            word_bytes: Default::default(),
            element: Default::default(),
            reply_length: Default::default(),
            received_crc: Default::default(),
            overflow: Default::default(),
            write_pointer: Default::default(),
            commit_pointer: Default::default(),
            silence: Default::default(),
            space: Default::default(),
            known: Default::default(),
            length_ok: Default::default(),
            error: Default::default(),
            exec: Default::default(),
            read_pointer: Default::default(),
            remaining: Default::default(),
            job_seq: Default::default(),
            job_code: Default::default(),
            header_left: Default::default(),
            load_unit: Default::default(),
            load_count: Default::default(),
            load_word: Default::default(),
            load_next: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            hold: Default::default(),
            engine_reset: Default::default(),
            loaded: Default::default(),
            job: Default::default(),
            job_kind: Default::default(),
            assembled: Default::default(),
            settled: Default::default(),
            calm: Default::default(),
            frames_received: Default::default(),
            frames_rejected: Default::default(),
            vectors: Default::default(),
            clear_counters: Default::default(),
            send: Default::default(),
            header: Default::default(),
            header_count: Default::default(),
            send_code: Default::default(),
            body_left: Default::default(),
            body: Default::default(),
            word: Default::default(),
            word_left: Default::default(),
            crc_out: Default::default(),
            crc_left: Default::default(),
            pending: Default::default(),
            out_byte: Default::default(),
            can_load: Default::default(),
            reply: Default::default(),
            last_element: Constant::new((config.input_dim as u64 - 1).into()),
            result_bytes: Constant::new((4 * config.outputs as u64).into()),
            max_payload: Constant::new((protocol::MAX_PAYLOAD as u64).into()),
            buffer_bytes: Constant::new((protocol::BUFFER_BYTES as u64).into()),
            frame_timeout: Constant::new(u64::from(device.frame_timeout_cycles()).into()),
            reset_cycles: Constant::new(RESET_CYCLES.into()),
            ident: Constant::new(ident),
        }
    }
}

impl Logic for DeviceCore {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            power_on,
            parse,
            code,
            seq,
            length,
            left,
            position,
            word_bytes,
            element,
            reply_length,
            received_crc,
            overflow,
            write_pointer,
            commit_pointer,
            silence,
            exec,
            read_pointer,
            remaining,
            job_seq,
            job_code,
            header_left,
            load_unit,
            load_count,
            load_word,
            load_next,
            load_enable,
            load_address,
            load_data,
            hold,
            engine_reset,
            loaded,
            settled,
            frames_received,
            frames_rejected,
            vectors,
            send,
            header,
            header_count,
            send_code,
            body_left,
            body,
            word,
            word_left,
            crc_out,
            crc_left,
            pending,
            out_byte
        );
        clock!(self, clock, engine, buffer, jobs, replies, rx_crc, tx_crc);

        // ---- Power-on: hold the engine in reset for its first 255 cycles.
        if self.power_on.q.val() != 255 {
            self.power_on.d.next = self.power_on.q.val() + 1;
        }
        self.engine.reset.next = (self.power_on.q.val() != 255) | self.engine_reset.q.val();

        // ---- Defaults.
        self.jobs.write.next = false;
        self.jobs.data_in.next = 0.into();
        self.jobs.read.next = false;
        self.replies.write.next = false;
        self.replies.data_in.next = 0.into();
        self.replies.read.next = false;
        self.rx_crc.clear.next = false;
        self.rx_crc.start.next = false;
        self.rx_crc.data.next = self.rx_data.val();
        self.tx_crc.clear.next = false;
        self.tx_crc.start.next = false;
        self.tx_crc.data.next = self.out_byte.q.val();
        self.buffer.write_enable.next = false;
        self.buffer.write_address.next = self.write_pointer.q.val();
        self.buffer.write_data.next = self.rx_data.val();
        self.buffer.read_enable.next = false;
        self.buffer.read_address.next = self.read_pointer.q.val();
        self.engine.in_valid.next = false;
        self.engine.in_data.next = self.buffer.read_data.val();
        self.engine.out_ready.next = false;
        self.engine.load_enable.next = self.load_enable.q.val();
        self.engine.load_address.next = self.load_address.q.val();
        self.engine.load_data.next = self.load_data.q.val();
        self.load_enable.d.next = false;
        self.clear_counters.next = false;

        // ---- Parser.
        self.space.next =
            (self.write_pointer.q.val() - self.read_pointer.q.val()) != self.buffer_bytes.val();
        self.known.next = (self.code.q.val() >= 1) & (self.code.q.val() <= 5);
        // Identify, status, reset: empty. Load: header, then whole words.
        // Data: whole vectors, and a reply that fits the length field.
        self.length_ok.next = self.length.q.val() == 0;
        if self.code.q.val() == 4 {
            self.length_ok.next = (self.length.q.val() >= 5)
                & (((self.word_bytes.q.val() == 1) & (self.length.q.val() >= 6))
                    | ((self.word_bytes.q.val() == 4)
                        & (self.length.q.val() >= 9)
                        & (((self.length.q.val() - 5) & 3) == 0)));
        }
        if self.code.q.val() == 5 {
            self.length_ok.next = (self.length.q.val() != 0)
                & (self.element.q.val() == 0)
                & (self.reply_length.q.val() <= 0xFFFF);
        }
        self.error.next = 0.into();
        if self.overflow.q.val() {
            self.error.next = 5.into();
        }
        if !self.length_ok.val() {
            self.error.next = 3.into();
        }
        if !self.known.val() {
            self.error.next = 2.into();
        }
        if self.received_crc.q.val() != !self.rx_crc.crc.val() {
            self.error.next = 1.into();
        }
        if self.rx_valid.val() | (self.parse.q.val() == ParseState::Sync0) {
            self.silence.d.next = 0.into();
        } else {
            self.silence.d.next = self.silence.q.val() + 1;
        }
        match self.parse.q.val() {
            ParseState::Sync0 => {
                if self.rx_valid.val() & (self.rx_data.val() == 0xA5) {
                    self.parse.d.next = ParseState::Sync1;
                }
            }
            ParseState::Sync1 => {
                if self.rx_valid.val() {
                    if self.rx_data.val() == 0x5A {
                        self.parse.d.next = ParseState::Code;
                        self.rx_crc.clear.next = true;
                    } else if self.rx_data.val() != 0xA5 {
                        self.parse.d.next = ParseState::Sync0;
                    }
                }
            }
            ParseState::Code => {
                if self.rx_valid.val() {
                    self.code.d.next = self.rx_data.val();
                    self.rx_crc.start.next = true;
                    self.parse.d.next = ParseState::Seq;
                }
            }
            ParseState::Seq => {
                if self.rx_valid.val() {
                    self.seq.d.next = self.rx_data.val();
                    self.rx_crc.start.next = true;
                    self.parse.d.next = ParseState::Len0;
                }
            }
            ParseState::Len0 => {
                if self.rx_valid.val() {
                    self.length.d.next = bit_cast::<16, 8>(self.rx_data.val());
                    self.rx_crc.start.next = true;
                    self.parse.d.next = ParseState::Len1;
                }
            }
            ParseState::Len1 => {
                if self.rx_valid.val() {
                    self.length.d.next =
                        self.length.q.val() | (bit_cast::<16, 8>(self.rx_data.val()) << 8);
                    self.rx_crc.start.next = true;
                    self.position.d.next = 0.into();
                    self.element.d.next = 0.into();
                    self.reply_length.d.next = 0.into();
                    self.word_bytes.d.next = 0.into();
                    self.overflow.d.next = false;
                    self.left.d.next = 4.into();
                    self.parse.d.next = ParseState::Crc;
                    if (self.length.q.val() | (bit_cast::<16, 8>(self.rx_data.val()) << 8)) != 0 {
                        self.left.d.next =
                            self.length.q.val() | (bit_cast::<16, 8>(self.rx_data.val()) << 8);
                        self.parse.d.next = ParseState::Payload;
                    }
                    if (self.length.q.val() | (bit_cast::<16, 8>(self.rx_data.val()) << 8))
                        > self.max_payload.val()
                    {
                        // Too long to be real (or a false sync in garbage):
                        // report it and hunt again from the next byte.
                        self.parse.d.next = ParseState::Sync0;
                        self.frames_received.d.next = self.frames_received.q.val() + 1;
                        self.frames_rejected.d.next = self.frames_rejected.q.val() + 1;
                        self.jobs.write.next = !self.jobs.full.val();
                        self.jobs.data_in.next = 0xFF
                            | (bit_cast::<64, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<64, 8>(4.into()) << 48)
                            | (bit_cast::<64, 8>(self.code.q.val()) << 56);
                    }
                }
            }
            ParseState::Payload => {
                if self.rx_valid.val() {
                    self.rx_crc.start.next = true;
                    if self.space.val() {
                        self.buffer.write_enable.next = true;
                        self.write_pointer.d.next = self.write_pointer.q.val() + 1;
                    } else {
                        self.overflow.d.next = true;
                    }
                    if self.position.q.val() == 4 {
                        self.word_bytes.d.next = self.rx_data.val();
                    }
                    self.position.d.next = self.position.q.val() + 1;
                    if self.element.q.val() == self.last_element.val() {
                        self.element.d.next = 0.into();
                        self.reply_length.d.next =
                            self.reply_length.q.val() + self.result_bytes.val();
                    } else {
                        self.element.d.next = self.element.q.val() + 1;
                    }
                    self.left.d.next = self.left.q.val() - 1;
                    if self.left.q.val() == 1 {
                        self.left.d.next = 4.into();
                        self.parse.d.next = ParseState::Crc;
                    }
                }
            }
            ParseState::Crc => {
                if self.rx_valid.val() {
                    self.received_crc.d.next = (self.received_crc.q.val() >> 8)
                        | (bit_cast::<32, 8>(self.rx_data.val()) << 24);
                    self.left.d.next = self.left.q.val() - 1;
                    if self.left.q.val() == 1 {
                        self.parse.d.next = ParseState::Check;
                    }
                }
            }
            ParseState::Check => {
                if !self.rx_crc.busy.val() {
                    self.parse.d.next = ParseState::Sync0;
                    self.frames_received.d.next = self.frames_received.q.val() + 1;
                    if (self.error.val() == 0) & !self.jobs.full.val() {
                        self.commit_pointer.d.next = self.write_pointer.q.val();
                        self.jobs.write.next = true;
                        self.jobs.data_in.next = bit_cast::<64, 8>(self.code.q.val())
                            | (bit_cast::<64, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<64, 16>(self.length.q.val()) << 16)
                            | (bit_cast::<64, 16>(self.reply_length.q.val().get_bits::<16>(0))
                                << 32);
                    } else {
                        self.write_pointer.d.next = self.commit_pointer.q.val();
                        self.frames_rejected.d.next = self.frames_rejected.q.val() + 1;
                        self.jobs.write.next = !self.jobs.full.val();
                        self.jobs.data_in.next = 0xFF
                            | (bit_cast::<64, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<64, 8>(self.error.val()) << 48)
                            | (bit_cast::<64, 8>(self.code.q.val()) << 56);
                        if self.error.val() == 0 {
                            // The job queue was full.
                            self.jobs.data_in.next = 0xFF
                                | (bit_cast::<64, 8>(self.seq.q.val()) << 8)
                                | (bit_cast::<64, 8>(5.into()) << 48)
                                | (bit_cast::<64, 8>(self.code.q.val()) << 56);
                        }
                    }
                }
            }
        }
        if (self.parse.q.val() != ParseState::Sync0)
            & (self.parse.q.val() != ParseState::Sync1)
            & (self.silence.q.val() == self.frame_timeout.val())
        {
            // The rest of the frame is not coming: drop it and hunt again.
            self.parse.d.next = ParseState::Sync0;
            self.write_pointer.d.next = self.commit_pointer.q.val();
            self.frames_received.d.next = self.frames_received.q.val() + 1;
            self.frames_rejected.d.next = self.frames_rejected.q.val() + 1;
            self.jobs.write.next = !self.jobs.full.val();
            self.jobs.data_in.next = 0xFF
                | (bit_cast::<64, 8>(self.seq.q.val()) << 8)
                | (bit_cast::<64, 8>(6.into()) << 48)
                | (bit_cast::<64, 8>(self.code.q.val()) << 56);
        }

        // ---- Executor.
        self.job.next = self.jobs.data_out.val();
        self.job_kind.next = self.job.val().get_bits::<8>(0);
        self.assembled.next =
            (self.load_word.q.val() >> 8) | (bit_cast::<32, 8>(self.buffer.read_data.val()) << 24);
        match self.exec.q.val() {
            ExecState::Idle => {
                if !self.jobs.empty.val() & !self.replies.full.val() {
                    self.job_seq.d.next = self.job.val().get_bits::<8>(8);
                    self.job_code.d.next = self.job_kind.val();
                    self.remaining.d.next = self.job.val().get_bits::<16>(16);
                    if self.job_kind.val() == 5 {
                        self.jobs.read.next = true;
                        self.replies.write.next = true;
                        self.replies.data_in.next =
                            (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                                | (bit_cast::<48, 16>(self.job.val().get_bits::<16>(32)) << 16)
                                | 0x85;
                        self.exec.d.next = ExecState::Feed;
                    } else if (self.job_kind.val() == 4) | (self.job_kind.val() == 3) {
                        self.jobs.read.next = true;
                        self.exec.d.next = ExecState::Drain;
                    } else if self.job_kind.val() == 0xFF {
                        self.jobs.read.next = true;
                        self.replies.write.next = true;
                        self.replies.data_in.next =
                            (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                                | (bit_cast::<48, 8>(2.into()) << 16)
                                | (bit_cast::<48, 16>(self.job.val().get_bits::<16>(48)) << 32)
                                | 0xFF;
                    } else {
                        // Identify (48-byte reply) or status (16 bytes).
                        self.jobs.read.next = true;
                        self.replies.write.next = true;
                        self.replies.data_in.next = bit_cast::<48, 8>(self.job_kind.val() | 0x80)
                            | (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                            | (bit_cast::<48, 8>(16.into()) << 16);
                        if self.job_kind.val() == 1 {
                            self.replies.data_in.next =
                                (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                                    | (bit_cast::<48, 8>(48.into()) << 16)
                                    | 0x81;
                        }
                    }
                }
            }
            ExecState::Feed => {
                self.buffer.read_enable.next = true;
                self.exec.d.next = ExecState::FeedWait;
            }
            ExecState::FeedWait => {
                self.engine.in_valid.next = true;
                if self.engine.in_ready.val() {
                    self.read_pointer.d.next = self.read_pointer.q.val() + 1;
                    self.remaining.d.next = self.remaining.q.val() - 1;
                    if self.remaining.q.val() == 1 {
                        self.exec.d.next = ExecState::Idle;
                    } else {
                        self.exec.d.next = ExecState::Feed;
                    }
                }
            }
            ExecState::Drain => {
                // Every earlier reply has gone out, so the engine is empty.
                if self.replies.empty.val() & (self.send.q.val() == SendState::Idle) {
                    if self.job_code.q.val() == 3 {
                        self.hold.d.next = self.reset_cycles.val();
                        self.engine_reset.d.next = true;
                        self.exec.d.next = ExecState::ResetHold;
                    } else {
                        self.header_left.d.next = 5.into();
                        self.load_count.d.next = 0.into();
                        self.exec.d.next = ExecState::LoadRead;
                    }
                }
            }
            ExecState::LoadRead => {
                self.buffer.read_enable.next = true;
                self.exec.d.next = ExecState::LoadWait;
            }
            ExecState::LoadWait => {
                self.read_pointer.d.next = self.read_pointer.q.val() + 1;
                self.remaining.d.next = self.remaining.q.val() - 1;
                self.exec.d.next = ExecState::LoadRead;
                if self.remaining.q.val() == 1 {
                    self.exec.d.next = ExecState::LoadDone;
                }
                if self.header_left.q.val() == 1 {
                    self.load_unit.d.next = self.buffer.read_data.val();
                    self.load_next.d.next = self.load_word.q.val();
                    self.header_left.d.next = 0.into();
                } else if self.header_left.q.val() != 0 {
                    self.load_word.d.next = self.assembled.val();
                    self.header_left.d.next = self.header_left.q.val() - 1;
                } else {
                    self.load_word.d.next = self.assembled.val();
                    self.load_count.d.next = self.load_count.q.val() + 1;
                    if self.load_unit.q.val() == 1 {
                        self.load_enable.d.next = true;
                        self.load_address.d.next = self.load_next.q.val();
                        self.load_data.d.next = bit_cast::<32, 8>(self.buffer.read_data.val());
                        self.load_next.d.next = self.load_next.q.val() + 1;
                        self.load_count.d.next = 0.into();
                    } else if self.load_count.q.val() == 3 {
                        self.load_enable.d.next = true;
                        self.load_address.d.next = self.load_next.q.val();
                        self.load_data.d.next = self.assembled.val();
                        self.load_next.d.next = self.load_next.q.val() + 1;
                        self.load_count.d.next = 0.into();
                    }
                }
            }
            ExecState::LoadDone => {
                self.loaded.d.next = true;
                self.replies.write.next = true;
                self.replies.data_in.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8) | 0x84;
                self.exec.d.next = ExecState::Idle;
            }
            ExecState::ResetHold => {
                self.hold.d.next = self.hold.q.val() - 1;
                if self.hold.q.val() == 0 {
                    self.engine_reset.d.next = false;
                    self.clear_counters.next = true;
                    self.replies.write.next = true;
                    self.replies.data_in.next =
                        (bit_cast::<48, 8>(self.job_seq.q.val()) << 8) | 0x83;
                    self.exec.d.next = ExecState::Idle;
                }
            }
        }

        // ---- Transmitter.
        self.reply.next = self.replies.data_out.val();
        self.tx_valid.next = self.pending.q.val();
        self.tx_data.next = self.out_byte.q.val();
        if self.pending.q.val() & self.tx_ready.val() {
            self.pending.d.next = false;
        }
        self.can_load.next = !self.pending.q.val() & !self.tx_crc.busy.val();
        match self.send.q.val() {
            SendState::Idle => {
                if !self.replies.empty.val() {
                    self.replies.read.next = true;
                    self.tx_crc.clear.next = true;
                    self.send_code.d.next = self.reply.val().get_bits::<8>(0);
                    self.body_left.d.next = self.reply.val().get_bits::<16>(16);
                    self.header.d.next =
                        (bit_cast::<48, 32>(self.reply.val().get_bits::<32>(0)) << 16) | 0x5AA5;
                    self.header_count.d.next = 6.into();
                    self.word_left.d.next = 0.into();
                    self.body.d.next = bit_cast::<384, 16>(self.reply.val().get_bits::<16>(32));
                    if self.reply.val().get_bits::<8>(0) == 0x81 {
                        self.body.d.next = self.ident.val();
                    }
                    if self.reply.val().get_bits::<8>(0) == 0x82 {
                        self.body.d.next = bit_cast::<384, 32>(self.frames_received.q.val())
                            | (bit_cast::<384, 32>(self.frames_rejected.q.val()) << 32)
                            | (bit_cast::<384, 32>(self.vectors.q.val()) << 64)
                            | (bit_cast::<384, 1>(self.engine.fault.val().into()) << 96)
                            | (bit_cast::<384, 1>(self.loaded.q.val().into()) << 97);
                    }
                    self.send.d.next = SendState::Header;
                }
            }
            SendState::Header => {
                if self.can_load.val() {
                    self.pending.d.next = true;
                    self.out_byte.d.next = self.header.q.val().get_bits::<8>(0);
                    self.header.d.next = self.header.q.val() >> 8;
                    self.header_count.d.next = self.header_count.q.val() - 1;
                    // Command, sequence and length count in the CRC; sync does not.
                    self.tx_crc.start.next = self.header_count.q.val() <= 4;
                    self.tx_crc.data.next = self.header.q.val().get_bits::<8>(0);
                    if self.header_count.q.val() == 1 {
                        if self.body_left.q.val() == 0 {
                            self.send.d.next = SendState::CrcLatch;
                        } else {
                            self.send.d.next = SendState::Body;
                        }
                    }
                }
            }
            SendState::Body => {
                if self.send_code.q.val() == 0x85 {
                    if self.word_left.q.val() == 0 {
                        if self.engine.out_valid.val() {
                            self.engine.out_ready.next = true;
                            self.word.d.next = self.engine.out_data.val();
                            self.word_left.d.next = 4.into();
                        }
                    } else if self.can_load.val() {
                        self.pending.d.next = true;
                        self.out_byte.d.next = self.word.q.val().get_bits::<8>(0);
                        self.tx_crc.start.next = true;
                        self.tx_crc.data.next = self.word.q.val().get_bits::<8>(0);
                        self.word.d.next = self.word.q.val() >> 8;
                        self.word_left.d.next = self.word_left.q.val() - 1;
                        self.body_left.d.next = self.body_left.q.val() - 1;
                        if self.body_left.q.val() == 1 {
                            self.send.d.next = SendState::CrcLatch;
                        }
                    }
                } else if self.can_load.val() {
                    self.pending.d.next = true;
                    self.out_byte.d.next = self.body.q.val().get_bits::<8>(0);
                    self.tx_crc.start.next = true;
                    self.tx_crc.data.next = self.body.q.val().get_bits::<8>(0);
                    self.body.d.next = self.body.q.val() >> 8;
                    self.body_left.d.next = self.body_left.q.val() - 1;
                    if self.body_left.q.val() == 1 {
                        self.send.d.next = SendState::CrcLatch;
                    }
                }
            }
            SendState::CrcLatch => {
                if !self.tx_crc.busy.val() {
                    self.crc_out.d.next = !self.tx_crc.crc.val();
                    self.crc_left.d.next = 4.into();
                    self.send.d.next = SendState::Crc;
                }
            }
            SendState::Crc => {
                if self.can_load.val() {
                    self.pending.d.next = true;
                    self.out_byte.d.next = self.crc_out.q.val().get_bits::<8>(0);
                    self.crc_out.d.next = self.crc_out.q.val() >> 8;
                    self.crc_left.d.next = self.crc_left.q.val() - 1;
                    if self.crc_left.q.val() == 1 {
                        self.send.d.next = SendState::Done;
                    }
                }
            }
            SendState::Done => {
                if !self.pending.q.val() {
                    self.send.d.next = SendState::Idle;
                }
            }
        }

        // ---- Counters.
        if self.engine.out_valid.val() & self.engine.out_ready.val() & self.engine.out_last.val() {
            self.vectors.d.next = self.vectors.q.val() + 1;
        }
        if self.clear_counters.val() {
            self.frames_received.d.next = 0.into();
            self.frames_rejected.d.next = 0.into();
            self.vectors.d.next = 0.into();
        }
        // Idle only after 15 calm cycles in a row: a FIFO's `empty` flag lags
        // its write by a cycle or two, so one calm cycle proves nothing.
        self.calm.next = (self.parse.q.val() == ParseState::Sync0)
            & !self.rx_valid.val()
            & self.jobs.empty.val()
            & (self.exec.q.val() == ExecState::Idle)
            & self.replies.empty.val()
            & (self.send.q.val() == SendState::Idle)
            & !self.pending.q.val()
            & !self.tx_crc.busy.val()
            & (self.power_on.q.val() == 255);
        if !self.calm.val() {
            self.settled.d.next = 0.into();
        } else if self.settled.q.val() != 15 {
            self.settled.d.next = self.settled.q.val() + 1;
        }
        self.idle.next = self.calm.val() & (self.settled.q.val() == 15);
    }
}

/// The board's top module: UART receiver and transmitter around a [`DeviceCore`].
#[derive(LogicBlock)]
pub struct Device {
    pub clock: Signal<In, Clock>,
    /// Serial input (from the host's TX).
    pub rx: Signal<In, Bit>,
    /// Serial output (to the host's RX).
    pub tx: Signal<Out, Bit>,
    /// High while the device has nothing to do (an LED, or a simulator's hint).
    pub idle: Signal<Out, Bit>,
    uart_rx: UartRx,
    uart_tx: UartTx,
    core: DeviceCore,
}

impl Device {
    pub fn new(device: &DeviceConfig) -> Self {
        Device {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            idle: Default::default(),
            uart_rx: UartRx::new(device.clocks_per_bit()),
            uart_tx: UartTx::new(device.clocks_per_bit()),
            core: DeviceCore::new(device),
        }
    }
}

impl Logic for Device {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, uart_rx, uart_tx, core);
        self.uart_rx.rx.next = self.rx.val();
        self.core.rx_valid.next = self.uart_rx.valid.val();
        self.core.rx_data.next = self.uart_rx.data.val();
        self.uart_tx.start.next = self.core.tx_valid.val();
        self.uart_tx.data.next = self.core.tx_data.val();
        self.core.tx_ready.next = !self.uart_tx.busy.val();
        self.tx.next = self.uart_tx.tx.val();
        self.idle.next = self.core.idle.val() & !self.uart_tx.busy.val();
    }
}

/// Name of the device's top-level Verilog module.
pub const DEVICE_MODULE: &str = "lutgen_device";
/// Name of the byte-level frame layer's Verilog module (for simulation).
pub const CORE_MODULE: &str = "lutgen_device_core";

/// Ports of [`DEVICE_MODULE`]: (name, width, input).
pub const DEVICE_PORTS: [(&str, u32, bool); 4] = [
    ("clock", 1, true),
    ("rx", 1, true),
    ("tx", 1, false),
    ("idle", 1, false),
];

/// Ports of [`CORE_MODULE`]: (name, width, input).
pub const CORE_PORTS: [(&str, u32, bool); 7] = [
    ("clock", 1, true),
    ("rx_valid", 1, true),
    ("rx_data", 8, true),
    ("tx_valid", 1, false),
    ("tx_data", 8, false),
    ("tx_ready", 1, true),
    ("idle", 1, false),
];

/// A device that cannot be built, naming the problem and the fix.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceConfigError {
    #[error("invalid engine configuration: {0}")]
    Engine(#[from] lutgen_core::ConfigError),
    #[error(
        "a {clock_hz} Hz clock gives {clocks_per_bit} clock cycles per bit at {baud} baud; \
         the UART needs {min} to 65535: lower the baud rate or raise the clock"
    )]
    Baud {
        clock_hz: u32,
        baud: u32,
        clocks_per_bit: u32,
        min: u32,
    },
    #[error(
        "one vector ({input_dim} activations) does not fit a frame's {max}-byte payload; \
         the device protocol needs input_dim <= {max}"
    )]
    VectorTooLong { input_dim: usize, max: usize },
    #[error(
        "one vector's results ({bytes} bytes) do not fit a reply (at most 65535 bytes); use fewer outputs"
    )]
    ResultTooLong { bytes: usize },
}

impl DeviceConfig {
    /// Checks the engine and the link.
    pub fn validate(&self) -> Result<(), DeviceConfigError> {
        self.engine.validate()?;
        let cpb = self.clocks_per_bit();
        if self.baud == 0 || !(crate::uart::MIN_CLOCKS_PER_BIT..=65535).contains(&cpb) {
            return Err(DeviceConfigError::Baud {
                clock_hz: self.clock_hz,
                baud: self.baud,
                clocks_per_bit: cpb,
                min: crate::uart::MIN_CLOCKS_PER_BIT,
            });
        }
        if self.engine.input_dim > protocol::MAX_PAYLOAD {
            return Err(DeviceConfigError::VectorTooLong {
                input_dim: self.engine.input_dim,
                max: protocol::MAX_PAYLOAD,
            });
        }
        if 4 * self.engine.outputs > 0xFFFF {
            return Err(DeviceConfigError::ResultTooLong {
                bytes: 4 * self.engine.outputs,
            });
        }
        Ok(())
    }
}

const DEVICE_WAIVERS: &str = "\
// Lint waivers (verilator --lint-only -Wall is otherwise clean):
// WIDTH: rust-hdl 0.46 writes every integer literal as a 32-bit constant and
//   every bit_cast as a mask; both are intended zero extensions or truncations.
// UNOPTFLAT: rust-hdl puts a module's combinational logic in one always block,
//   so FIFO reads that depend on registered `empty` flags look like loops.
// DECLFILENAME: one file holds the top module and all its submodules.
// UNUSEDSIGNAL: the engine's encoder trace ports, FIFO fill levels and a few
//   bits of wide registers are not needed by the device. (The block RAMs'
//   own `lint_on UNUSEDSIGNAL` lines are dropped so this stays file-wide.)
// UNUSEDPARAM: rust-hdl declares every state of an enum register as a
//   localparam in the register's module, where only some are compared.
/* verilator lint_off WIDTH */
/* verilator lint_off UNOPTFLAT */
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
";

fn finish(raw: &str, top: &str, device: &DeviceConfig, what: &str) -> String {
    let config = &device.engine;
    let mut out = format!(
        "// lutgen {version}: generated {what}, do not edit.\n\
         // Engine: D={d} C={c} K={k} N={n} lanes={l} encoder={e}, widths {ab}/{cb}/{tb}/{bb}\n\
         // Link: {clock} Hz clock, {baud} baud 8N1 ({cpb} clocks per bit); protocol v{pv} (docs/protocol.md)\n\
         // Configuration hash: {hash:#010x}\n\
         {DEVICE_WAIVERS}",
        version = env!("CARGO_PKG_VERSION"),
        d = config.input_dim,
        c = config.codebooks,
        k = config.centroids,
        n = config.outputs,
        l = config.lanes,
        e = config.encoder,
        ab = config.activation_bits,
        cb = config.centroid_bits,
        tb = config.table_bits,
        bb = config.bias_bits,
        clock = device.clock_hz,
        baud = device.baud,
        cpb = device.clocks_per_bit(),
        pv = protocol::PROTOCOL_VERSION,
        hash = protocol::config_hash(config),
    );
    for line in raw.lines() {
        let line = line
            .replace("module top(", &format!("module {top}("))
            .replace("endmodule // top", &format!("endmodule // {top}"))
            .replace("top$", &format!("{top}$"));
        if line.trim() == "/* verilator lint_on UNUSEDSIGNAL */" {
            continue;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The Verilog of the board's top module, [`DEVICE_MODULE`] (ports [`DEVICE_PORTS`]).
pub fn device_verilog(device: &DeviceConfig) -> Result<String, DeviceConfigError> {
    device.validate()?;
    let mut top = Device::new(device);
    top.connect_all();
    Ok(finish(
        &generate_verilog(&top),
        DEVICE_MODULE,
        device,
        "device",
    ))
}

/// The Verilog of the byte-level frame layer, [`CORE_MODULE`] (ports [`CORE_PORTS`]).
pub fn core_verilog(device: &DeviceConfig) -> Result<String, DeviceConfigError> {
    device.validate()?;
    let mut top = DeviceCore::new(device);
    top.connect_all();
    Ok(finish(
        &generate_verilog(&top),
        CORE_MODULE,
        device,
        "device frame layer",
    ))
}
