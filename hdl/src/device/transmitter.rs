//! [`Transmitter`]: sends the replies in order: header, a body (engine
//! results for data, a constant for identify, the counters for status, the
//! code for errors) and the CRC, computed one bit per clock on the way out.

use super::config::DeviceConfig;
use super::queues::Reply;
use crate::lane::Word;
use crate::uart::Crc32Serial;
use rust_hdl::prelude::*;

/// A status payload: six u32 fields (received, rejected, vectors, flags,
/// image CRC, load offset). The transmitter sends it a field at a time
/// through its 32-bit word register, not as one 192-bit register.
pub type Body = Bits<192>;

/// Address bits of the identify ROM: it holds up to 1,024 bytes
/// ([`lutgen_core::protocol::MAX_IDENT_LEN`] is 653: 16 layers with a spatial section).
const IDENT_ADDRESS_BITS: usize = 10;
const _: () = assert!(lutgen_core::protocol::MAX_IDENT_LEN <= 1 << IDENT_ADDRESS_BITS);

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum SendState {
    Idle,
    Header,
    Body,
    CrcLatch,
    Crc,
    Done,
}

/// The reply path: from the reply queue (and the engine's output stream)
/// to the byte stream.
#[derive(LogicBlock)]
pub struct Transmitter {
    pub clock: Signal<In, Clock>,
    /// The reply at the head of the reply queue, and whether there is one.
    pub reply: Signal<In, Reply>,
    pub replies_empty: Signal<In, Bit>,
    /// Take the head reply (a read of the reply queue).
    pub replies_read: Signal<Out, Bit>,
    /// Bytes to send: taken when `tx_valid & tx_ready`.
    pub tx_valid: Signal<Out, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_ready: Signal<In, Bit>,
    /// The engine's output stream, the body of a data reply.
    pub engine_out_valid: Signal<In, Bit>,
    pub engine_out_data: Signal<In, Word>,
    pub engine_out_ready: Signal<Out, Bit>,
    /// The captured activations of a trace reply (first word fall-through:
    /// `trace_data` is the head while `!trace_empty`).
    pub trace_data: Signal<In, Bits<8>>,
    pub trace_empty: Signal<In, Bit>,
    pub trace_read: Signal<Out, Bit>,
    /// What a status reply reports.
    pub frames_received: Signal<In, Bits<32>>,
    pub frames_rejected: Signal<In, Bits<32>>,
    pub vectors: Signal<In, Bits<32>>,
    pub engine_fault: Signal<In, Bit>,
    pub loaded: Signal<In, Bit>,
    pub loading: Signal<In, Bit>,
    pub image_crc: Signal<In, Bits<32>>,
    pub load_offset: Signal<In, Bits<32>>,
    /// Between replies (the state machine waits for the next).
    pub idle: Signal<Out, Bit>,
    /// No byte waiting for the UART and no CRC in progress.
    pub flushed: Signal<Out, Bit>,
    tx_crc: Crc32Serial,
    send: DFF<SendState>,
    // The header is sent as a byte multiplexer over the sync bytes and
    // these fields (`body_left` is the length until the body starts).
    header_count: DFF<Bits<4>>,
    send_code: DFF<Bits<8>>,
    send_seq: DFF<Bits<8>>,
    body_left: DFF<Bits<16>>,
    // Bytes of the body go out through `word`, four at a time: an engine
    // result, a status field (`field`, the next one) or an error's code
    // and command. The counters that can move while a status reply goes
    // out (frames received and rejected, and the fault flag) are taken
    // when the reply starts; the others cannot move until it has gone
    // (see `status_field`).
    word: DFF<Bits<32>>,
    word_left: DFF<Bits<4>>,
    field: DFF<Bits<3>>,
    received_r: DFF<Bits<32>>,
    rejected_r: DFF<Bits<32>>,
    fault_r: DFF<Bit>,
    status_field: Signal<Local, Bits<32>>,
    header_byte: Signal<Local, Bits<8>>,
    // The CRC is sent from the CRC unit's register a byte at a time
    // (nothing starts it until the next reply).
    crc_left: DFF<Bits<4>>,
    crc_byte: Signal<Local, Bits<8>>,
    pending: DFF<Bit>,
    out_byte: DFF<Bits<8>>,
    can_load: Signal<Local, Bit>,
    // The identify payload, read a byte at a time at `ident_at`.
    ident: ROM<Bits<8>, IDENT_ADDRESS_BITS>,
    ident_at: DFF<Bits<IDENT_ADDRESS_BITS>>,
    // A trace reply sends its activations while more than this many bytes
    // (one vector's results) are left.
    result_bytes: Constant<Bits<16>>,
}

impl Transmitter {
    /// The reply path of `device` (its identify reply is a constant).
    pub fn new(device: &DeviceConfig) -> Self {
        let ident = device
            .ident()
            .to_bytes()
            .into_iter()
            .map(|b| Bits::<8>::from(u64::from(b)));
        Transmitter {
            clock: Default::default(),
            reply: Default::default(),
            replies_empty: Default::default(),
            replies_read: Default::default(),
            tx_valid: Default::default(),
            tx_data: Default::default(),
            tx_ready: Default::default(),
            engine_out_valid: Default::default(),
            engine_out_data: Default::default(),
            engine_out_ready: Default::default(),
            frames_received: Default::default(),
            frames_rejected: Default::default(),
            vectors: Default::default(),
            engine_fault: Default::default(),
            loaded: Default::default(),
            loading: Default::default(),
            image_crc: Default::default(),
            load_offset: Default::default(),
            idle: Default::default(),
            flushed: Default::default(),
            tx_crc: Default::default(),
            send: Default::default(),
            header_count: Default::default(),
            send_code: Default::default(),
            send_seq: Default::default(),
            body_left: Default::default(),
            word: Default::default(),
            word_left: Default::default(),
            field: Default::default(),
            received_r: Default::default(),
            rejected_r: Default::default(),
            fault_r: Default::default(),
            status_field: Default::default(),
            header_byte: Default::default(),
            crc_left: Default::default(),
            crc_byte: Default::default(),
            pending: Default::default(),
            out_byte: Default::default(),
            can_load: Default::default(),
            ident: ident.into(),
            ident_at: Default::default(),
            result_bytes: Constant::new((4 * device.last().outputs as u64).into()),
            trace_data: Default::default(),
            trace_empty: Default::default(),
            trace_read: Default::default(),
        }
    }
}

impl Logic for Transmitter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            send,
            header_count,
            send_code,
            send_seq,
            body_left,
            word,
            word_left,
            field,
            received_r,
            rejected_r,
            fault_r,
            crc_left,
            pending,
            out_byte,
            ident_at
        );
        self.tx_crc.clock.next = self.clock.val();
        self.replies_read.next = false;
        self.engine_out_ready.next = false;
        self.trace_read.next = false;
        self.tx_crc.clear.next = false;
        self.tx_crc.start.next = false;
        self.tx_crc.data.next = self.out_byte.q.val();
        self.idle.next = self.send.q.val() == SendState::Idle;
        self.flushed.next = !self.pending.q.val() & !self.tx_crc.busy.val();
        self.tx_valid.next = self.pending.q.val();
        self.tx_data.next = self.out_byte.q.val();
        self.ident.address.next = self.ident_at.q.val();
        if self.pending.q.val() & self.tx_ready.val() {
            self.pending.d.next = false;
        }
        self.can_load.next = !self.pending.q.val() & !self.tx_crc.busy.val();
        // The header's bytes, last (count 1) to first (count 6).
        self.header_byte.next = 0xA5.into();
        if self.header_count.q.val() == 5 {
            self.header_byte.next = 0x5A.into();
        }
        if self.header_count.q.val() == 4 {
            self.header_byte.next = self.send_code.q.val();
        }
        if self.header_count.q.val() == 3 {
            self.header_byte.next = self.send_seq.q.val();
        }
        if self.header_count.q.val() == 2 {
            self.header_byte.next = self.body_left.q.val().get_bits::<8>(0);
        }
        if self.header_count.q.val() == 1 {
            self.header_byte.next = self.body_left.q.val().get_bits::<8>(8);
        }
        // The status fields, in reply order. Vectors, flags 1 and 2, the
        // image CRC and the load offset only move while the executor runs
        // a data frame's results out through this transmitter, a load or
        // a reset, none of which overlaps a status reply (a load and a
        // reset wait until every earlier reply has gone out).
        self.status_field.next = self.received_r.q.val();
        if self.field.q.val() == 1 {
            self.status_field.next = self.rejected_r.q.val();
        }
        if self.field.q.val() == 2 {
            self.status_field.next = self.vectors.val();
        }
        if self.field.q.val() == 3 {
            self.status_field.next = bit_cast::<32, 1>(self.fault_r.q.val().into())
                | (bit_cast::<32, 1>(self.loaded.val().into()) << 1)
                | (bit_cast::<32, 1>(self.loading.val().into()) << 2);
        }
        if self.field.q.val() == 4 {
            self.status_field.next = self.image_crc.val();
        }
        if self.field.q.val() == 5 {
            self.status_field.next = self.load_offset.val();
        }
        // The CRC's bytes, first (count 4) to last (count 1).
        self.crc_byte.next = !self.tx_crc.crc.val().get_bits::<8>(24);
        if self.crc_left.q.val() == 4 {
            self.crc_byte.next = !self.tx_crc.crc.val().get_bits::<8>(0);
        }
        if self.crc_left.q.val() == 3 {
            self.crc_byte.next = !self.tx_crc.crc.val().get_bits::<8>(8);
        }
        if self.crc_left.q.val() == 2 {
            self.crc_byte.next = !self.tx_crc.crc.val().get_bits::<8>(16);
        }
        match self.send.q.val() {
            SendState::Idle => {
                if !self.replies_empty.val() {
                    self.replies_read.next = true;
                    self.tx_crc.clear.next = true;
                    self.send_code.d.next = self.reply.val().get_bits::<8>(0);
                    self.send_seq.d.next = self.reply.val().get_bits::<8>(8);
                    self.body_left.d.next = self.reply.val().get_bits::<16>(16);
                    self.header_count.d.next = 6.into();
                    self.ident_at.d.next = 0.into();
                    self.field.d.next = 0.into();
                    self.received_r.d.next = self.frames_received.val();
                    self.rejected_r.d.next = self.frames_rejected.val();
                    self.fault_r.d.next = self.engine_fault.val();
                    // An error reply's body (code, command) is ready in
                    // the word; every other body is fetched into it.
                    self.word.d.next = bit_cast::<32, 16>(self.reply.val().get_bits::<16>(32));
                    self.word_left.d.next = 0.into();
                    if self.reply.val().get_bits::<8>(0) == 0xFF {
                        self.word_left.d.next = 2.into();
                    }
                    self.send.d.next = SendState::Header;
                }
            }
            SendState::Header => {
                if self.can_load.val() {
                    self.pending.d.next = true;
                    self.out_byte.d.next = self.header_byte.val();
                    self.header_count.d.next = self.header_count.q.val() - 1;
                    // Command, sequence and length count in the CRC; sync does not.
                    self.tx_crc.start.next = self.header_count.q.val() <= 4;
                    self.tx_crc.data.next = self.header_byte.val();
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
                if (self.send_code.q.val() == 0x86)
                    & (self.body_left.q.val() > self.result_bytes.val())
                {
                    // A trace reply: the captured activations first.
                    if !self.trace_empty.val() & self.can_load.val() {
                        self.trace_read.next = true;
                        self.pending.d.next = true;
                        self.out_byte.d.next = self.trace_data.val();
                        self.tx_crc.start.next = true;
                        self.tx_crc.data.next = self.trace_data.val();
                        self.body_left.d.next = self.body_left.q.val() - 1;
                    }
                } else if self.send_code.q.val() == 0x81 {
                    // Identify: the ROM, a byte at a time.
                    if self.can_load.val() {
                        self.pending.d.next = true;
                        self.out_byte.d.next = self.ident.data.val();
                        self.tx_crc.start.next = true;
                        self.tx_crc.data.next = self.ident.data.val();
                        self.ident_at.d.next = self.ident_at.q.val() + 1;
                        self.body_left.d.next = self.body_left.q.val() - 1;
                        if self.body_left.q.val() == 1 {
                            self.send.d.next = SendState::CrcLatch;
                        }
                    }
                } else if self.word_left.q.val() == 0 {
                    if (self.send_code.q.val() == 0x85) | (self.send_code.q.val() == 0x86) {
                        // The next result from the engine.
                        if self.engine_out_valid.val() {
                            self.engine_out_ready.next = true;
                            self.word.d.next = self.engine_out_data.val();
                            self.word_left.d.next = 4.into();
                        }
                    } else {
                        // The next status field.
                        self.word.d.next = self.status_field.val();
                        self.word_left.d.next = 4.into();
                        self.field.d.next = self.field.q.val() + 1;
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
            }
            SendState::CrcLatch => {
                if !self.tx_crc.busy.val() {
                    self.crc_left.d.next = 4.into();
                    self.send.d.next = SendState::Crc;
                }
            }
            SendState::Crc => {
                if self.can_load.val() {
                    self.pending.d.next = true;
                    self.out_byte.d.next = self.crc_byte.val();
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        let device = crate::device::config::example();
        crate::lint::assert_block_is_clean("transmitter", &mut Transmitter::new(&device));
        let network = crate::device::config::network_example();
        crate::lint::assert_block_is_clean("transmitter", &mut Transmitter::new(&network));
    }
}
