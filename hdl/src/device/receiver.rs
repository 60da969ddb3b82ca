//! [`FrameReceiver`]: the parser. It finds frames (two sync bytes), checks
//! the CRC, the command and the length, and writes payloads into the
//! receive buffer. A frame is committed (its payload kept, a job queued)
//! only when all of it checks out; otherwise its bytes are rolled back and
//! an error job is queued. A frame that stops arriving is dropped after a
//! timeout, so garbage or lost bytes never wedge it: it always returns to
//! hunting for the sync bytes.

use super::config::DeviceConfig;
use super::queues::Job;
use crate::memory::Address;
use crate::uart::Crc32Serial;
use lutgen_core::protocol;
use rust_hdl::prelude::*;

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
    Verdict,
}

/// The frame parser on the received byte stream.
#[derive(LogicBlock)]
pub struct FrameReceiver {
    pub clock: Signal<In, Clock>,
    /// One pulse per received byte (at most one byte per 8 clocks).
    pub rx_valid: Signal<In, Bit>,
    pub rx_data: Signal<In, Bits<8>>,
    /// The executor's read pointer into the receive buffer: the buffer is
    /// full when the write pointer is a whole buffer ahead of it.
    pub read_pointer: Signal<In, Bits<16>>,
    /// The job queue is full: a finished frame is rejected (overflow).
    pub jobs_full: Signal<In, Bit>,
    /// Queue `job_data` (a command, or an error job) this cycle.
    pub job_write: Signal<Out, Bit>,
    pub job_data: Signal<Out, Job>,
    /// Write `rx_data` into the receive buffer at `write_address` this cycle.
    pub buffer_write: Signal<Out, Bit>,
    pub write_address: Signal<Out, Bits<16>>,
    /// Pulses for the status counters: a frame ended this cycle, and it was rejected.
    pub frame_received: Signal<Out, Bit>,
    pub frame_rejected: Signal<Out, Bit>,
    /// Hunting for a sync byte: no partial frame.
    pub hunting: Signal<Out, Bit>,
    rx_crc: Crc32Serial,
    parse: DFF<ParseState>,
    code: DFF<Bits<8>>,
    seq: DFF<Bits<8>>,
    length: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    element: DFF<Address>,
    reply_length: DFF<Bits<32>>,
    received_crc: DFF<Bits<32>>,
    overflow: DFF<Bit>,
    write_pointer: DFF<Bits<16>>,
    commit_pointer: DFF<Bits<16>>,
    silence: DFF<Bits<32>>,
    // The frame's error code, registered a cycle before the verdict, and
    // the silence reaching the timeout (`silence == frame_timeout`).
    error_r: DFF<Bits<8>>,
    timed_out: DFF<Bit>,
    space: Signal<Local, Bit>,
    known: Signal<Local, Bit>,
    length_ok: Signal<Local, Bit>,
    error: Signal<Local, Bits<8>>,
    // A trace frame's reply length, from its first payload byte (the layer):
    // that layer's outputs plus the vector's results; 0 for a layer it cannot trace.
    trace_replies: ROM<Bits<16>, 8>,
    trace_reply: DFF<Bits<16>>,
    trace_length: Constant<Bits<16>>,
    last_element: Constant<Address>,
    result_bytes: Constant<Bits<32>>,
    max_payload: Constant<Bits<16>>,
    buffer_bytes: Constant<Bits<16>>,
    timeout_less_one: Constant<Bits<32>>,
    // `silence`'s width: it counts to the timeout (and wraps in that width
    // while waiting for the second sync byte, where the timeout drops nothing).
    silence_mask: Constant<Bits<32>>,
    // `reply_length`'s width: the results of the most vectors a payload
    // holds (so the test against the 16-bit length field stays exact).
    reply_mask: Constant<Bits<32>>,
}

impl FrameReceiver {
    /// The parser for `device` (vector length, result size, timeout).
    pub fn new(device: &DeviceConfig) -> Self {
        // A vector is the first layer's input; its results are the last layer's outputs.
        // (A convolution's input is its whole input map, HWC.)
        let (input_len, last) = (device.input_len(), device.last());
        let layers = device.layers();
        let trace_replies = (0..layers.len().saturating_sub(1)).map(|l| {
            // The layer's activations: its output map after pooling, for a convolution.
            let traced = device.traced_len(l);
            let reply = traced + 4 * last.outputs;
            // Larger traces than the capture FIFO holds are refused (no such layer).
            let ok = traced <= super::queues::TRACE_FIFO_DEPTH && reply <= 0xFFFF;
            Bits::<16>::from(if ok { reply as u64 } else { 0 })
        });
        FrameReceiver {
            clock: Default::default(),
            rx_valid: Default::default(),
            rx_data: Default::default(),
            read_pointer: Default::default(),
            jobs_full: Default::default(),
            job_write: Default::default(),
            job_data: Default::default(),
            buffer_write: Default::default(),
            write_address: Default::default(),
            frame_received: Default::default(),
            frame_rejected: Default::default(),
            hunting: Default::default(),
            rx_crc: Default::default(),
            parse: Default::default(),
            code: Default::default(),
            seq: Default::default(),
            length: Default::default(),
            left: Default::default(),
            element: Default::default(),
            reply_length: Default::default(),
            received_crc: Default::default(),
            overflow: Default::default(),
            write_pointer: Default::default(),
            commit_pointer: Default::default(),
            silence: Default::default(),
            error_r: Default::default(),
            timed_out: Default::default(),
            space: Default::default(),
            known: Default::default(),
            length_ok: Default::default(),
            error: Default::default(),
            trace_replies: trace_replies.into(),
            trace_reply: Default::default(),
            trace_length: Constant::new((input_len as u64 + 1).into()),
            last_element: Constant::new((input_len as u64 - 1).into()),
            result_bytes: Constant::new((4 * last.outputs as u64).into()),
            max_payload: Constant::new((protocol::MAX_PAYLOAD as u64).into()),
            buffer_bytes: Constant::new((protocol::BUFFER_BYTES as u64).into()),
            timeout_less_one: Constant::new(
                u64::from(device.frame_timeout_cycles().saturating_sub(1)).into(),
            ),
            reply_mask: Constant::new(
                u64::from(
                    u32::MAX
                        .checked_shr(
                            (((protocol::MAX_PAYLOAD / input_len.max(1)) * 4 * last.outputs)
                                as u32)
                                .leading_zeros(),
                        )
                        .unwrap_or(0),
                )
                .into(),
            ),
            silence_mask: Constant::new(
                u64::from(
                    u32::MAX
                        .checked_shr(device.frame_timeout_cycles().leading_zeros())
                        .unwrap_or(0),
                )
                .into(),
            ),
        }
    }
}

impl Logic for FrameReceiver {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            parse,
            code,
            seq,
            length,
            left,
            element,
            reply_length,
            received_crc,
            overflow,
            write_pointer,
            commit_pointer,
            silence,
            error_r,
            timed_out,
            trace_reply
        );
        self.rx_crc.clock.next = self.clock.val();
        self.job_write.next = false;
        self.job_data.next = 0.into();
        self.rx_crc.clear.next = false;
        self.rx_crc.start.next = false;
        self.rx_crc.data.next = self.rx_data.val();
        self.buffer_write.next = false;
        self.write_address.next = self.write_pointer.q.val();
        self.frame_received.next = false;
        self.frame_rejected.next = false;
        self.hunting.next = self.parse.q.val() == ParseState::Sync0;

        self.space.next =
            (self.write_pointer.q.val() - self.read_pointer.val()) != self.buffer_bytes.val();
        self.known.next = (self.code.q.val() >= 1) & (self.code.q.val() <= 6);
        self.trace_replies.address.next = self.rx_data.val();
        // Identify, status, reset: empty. Load: header, then whole words.
        // Data: whole vectors, and a reply that fits the length field.
        self.length_ok.next = self.length.q.val() == 0;
        if self.code.q.val() == 4 {
            // The file offset (4 bytes), then at least one byte of the image.
            self.length_ok.next = self.length.q.val() >= 5;
        }
        if self.code.q.val() == 5 {
            self.length_ok.next = (self.length.q.val() != 0)
                & (self.element.q.val() == 0)
                & (self.reply_length.q.val() <= 0xFFFF);
        }
        if self.code.q.val() == 6 {
            // The layer, then one vector.
            self.length_ok.next = self.length.q.val() == self.trace_length.val();
        }
        self.error.next = 0.into();
        if self.overflow.q.val() {
            self.error.next = 5.into();
        }
        if (self.code.q.val() == 6) & (self.trace_reply.q.val() == 0) {
            self.error.next = 12.into();
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
            self.silence.d.next = (self.silence.q.val() + 1) & self.silence_mask.val();
        }
        // `silence == frame_timeout` next cycle: one less now, and no reset.
        self.timed_out.d.next = (self.silence.q.val() == self.timeout_less_one.val())
            & !self.rx_valid.val()
            & (self.parse.q.val() != ParseState::Sync0);
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
                    self.element.d.next = 0.into();
                    self.reply_length.d.next = 0.into();
                    self.trace_reply.d.next = 0.into();
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
                        self.frame_received.next = true;
                        self.frame_rejected.next = true;
                        self.job_write.next = !self.jobs_full.val();
                        self.job_data.next = 0xFF
                            | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<48, 8>(4.into()) << 16)
                            | (bit_cast::<48, 8>(self.code.q.val()) << 24);
                    }
                }
            }
            ParseState::Payload => {
                if self.rx_valid.val() {
                    self.rx_crc.start.next = true;
                    if self.left.q.val() == self.length.q.val() {
                        // The first payload byte: a trace's layer.
                        self.trace_reply.d.next = self.trace_replies.data.val();
                    }
                    if self.space.val() {
                        self.buffer_write.next = true;
                        self.write_pointer.d.next = self.write_pointer.q.val() + 1;
                    } else {
                        self.overflow.d.next = true;
                    }
                    if self.element.q.val() == self.last_element.val() {
                        self.element.d.next = 0.into();
                        self.reply_length.d.next = (self.reply_length.q.val()
                            + self.result_bytes.val())
                            & self.reply_mask.val();
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
                    self.error_r.d.next = self.error.val();
                    self.parse.d.next = ParseState::Verdict;
                }
            }
            ParseState::Verdict => {
                self.parse.d.next = ParseState::Sync0;
                self.frame_received.next = true;
                if (self.error_r.q.val() == 0) & !self.jobs_full.val() {
                    self.commit_pointer.d.next = self.write_pointer.q.val();
                    self.job_write.next = true;
                    self.job_data.next = bit_cast::<48, 8>(self.code.q.val())
                        | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                        | (bit_cast::<48, 16>(self.length.q.val()) << 16)
                        | (bit_cast::<48, 16>(self.reply_length.q.val().get_bits::<16>(0)) << 32);
                    if self.code.q.val() == 6 {
                        self.job_data.next = bit_cast::<48, 8>(self.code.q.val())
                            | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<48, 16>(self.length.q.val()) << 16)
                            | (bit_cast::<48, 16>(self.trace_reply.q.val()) << 32);
                    }
                } else {
                    self.write_pointer.d.next = self.commit_pointer.q.val();
                    self.frame_rejected.next = true;
                    self.job_write.next = !self.jobs_full.val();
                    self.job_data.next = 0xFF
                        | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                        | (bit_cast::<48, 8>(self.error_r.q.val()) << 16)
                        | (bit_cast::<48, 8>(self.code.q.val()) << 24);
                    if self.error_r.q.val() == 0 {
                        // The job queue was full.
                        self.job_data.next = 0xFF
                            | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                            | (bit_cast::<48, 8>(5.into()) << 16)
                            | (bit_cast::<48, 8>(self.code.q.val()) << 24);
                    }
                }
            }
        }
        if (self.parse.q.val() != ParseState::Sync0)
            & (self.parse.q.val() != ParseState::Sync1)
            & self.timed_out.q.val()
        {
            // The rest of the frame is not coming: drop it and hunt again.
            self.parse.d.next = ParseState::Sync0;
            self.write_pointer.d.next = self.commit_pointer.q.val();
            self.frame_received.next = true;
            self.frame_rejected.next = true;
            self.job_write.next = !self.jobs_full.val();
            self.job_data.next = 0xFF
                | (bit_cast::<48, 8>(self.seq.q.val()) << 8)
                | (bit_cast::<48, 8>(6.into()) << 16)
                | (bit_cast::<48, 8>(self.code.q.val()) << 24);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        let device = crate::device::config::example();
        crate::lint::assert_block_is_clean("frame_receiver", &mut FrameReceiver::new(&device));
    }
}
