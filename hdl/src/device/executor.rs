//! [`Executor`]: takes jobs in order. It streams data payloads into the
//! engine (or refuses them while no image is loaded), hands load payloads
//! to the [`ImageLoader`](super::loader::ImageLoader) (after every earlier
//! reply has gone out, so no vector in flight sees a half-loaded image),
//! holds the engine in reset for a reset command, and queues one reply per
//! job.

use super::queues::{Job, Reply};
use crate::engine::RESET_CYCLES;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum ExecState {
    Idle,
    Dispatch,
    Feed,
    FeedWait,
    Drain,
    LoadHead,
    LoadHeadWait,
    LoadDecide,
    LoadSkip,
    LoadApply,
    LoadRead,
    LoadWait,
    LoadFinish,
    LoadFail,
    ResetHold,
    TraceHead,
    TraceLayer,
}

/// The command executor between the job queue, the receive buffer, the
/// engine's input and load ports, and the reply queue.
#[derive(LogicBlock)]
pub struct Executor {
    pub clock: Signal<In, Clock>,
    /// The job at the head of the job queue, and whether there is one.
    pub job: Signal<In, Job>,
    pub jobs_empty: Signal<In, Bit>,
    /// Take the head job (a read of the job queue).
    pub jobs_read: Signal<Out, Bit>,
    pub replies_full: Signal<In, Bit>,
    pub replies_empty: Signal<In, Bit>,
    /// The transmitter is between replies (with `replies_empty`: every
    /// earlier reply has gone out).
    pub sender_idle: Signal<In, Bit>,
    /// Queue `reply_data` this cycle.
    pub reply_write: Signal<Out, Bit>,
    pub reply_data: Signal<Out, Reply>,
    /// Receive buffer read port: `buffer_data` is the byte at `read_address`
    /// a cycle after `buffer_read`.
    pub buffer_read: Signal<Out, Bit>,
    pub read_address: Signal<Out, Bits<16>>,
    pub buffer_data: Signal<In, Bits<8>>,
    /// The engine's input handshake (its data is `buffer_data`).
    pub engine_in_valid: Signal<Out, Bit>,
    pub engine_in_ready: Signal<In, Bit>,
    /// The image loader: restart it, forget its fault, hand it a byte (`buffer_data`).
    pub loader_restart: Signal<Out, Bit>,
    pub loader_abandon: Signal<Out, Bit>,
    pub loader_byte_valid: Signal<Out, Bit>,
    pub loader_ready: Signal<In, Bit>,
    pub loader_offset: Signal<In, Bits<32>>,
    pub loader_loaded: Signal<In, Bit>,
    pub loader_fault: Signal<In, Bits<8>>,
    /// Hold the engine in reset (a reset command), registered.
    pub engine_reset: Signal<Out, Bit>,
    /// The layer whose activations the network top's trace port shows
    /// (registered; 15, none, until a trace command sets it).
    pub trace_select: Signal<Out, Bits<4>>,
    /// A trace's vector is about to be fed: capture the next `trace_bytes`
    /// activations the trace port shows (the network is empty: a trace
    /// waits for every earlier reply).
    pub trace_start: Signal<Out, Bit>,
    pub trace_bytes: Signal<Out, Bits<16>>,
    /// A reset command finished this cycle: zero the status counters.
    pub clear_counters: Signal<Out, Bit>,
    /// No job in progress.
    pub idle: Signal<Out, Bit>,
    /// This cycle's reply refuses a frame the receiver had accepted (not
    /// loaded, or a load error), for the rejected-frames counter.
    pub refused: Signal<Out, Bit>,
    exec: DFF<ExecState>,
    // The job taken from the queue, decoded the next cycle.
    job_r: DFF<Job>,
    read_pointer: DFF<Bits<16>>,
    remaining: DFF<Bits<16>>,
    job_seq: DFF<Bits<8>>,
    job_code: DFF<Bits<8>>,
    header_left: DFF<Bits<4>>,
    load_word: DFF<Bits<32>>,
    hold: DFF<Bits<8>>,
    holding_reset: DFF<Bit>,
    // A load's decision, a register at a time: offset 0 restarts, a gap,
    // the bytes the loader already has, and whether they cover the payload.
    restarts: DFF<Bit>,
    gap: DFF<Bit>,
    skip_r: DFF<Bits<32>>,
    skip_all: DFF<Bit>,
    job_kind: Signal<Local, Bits<8>>,
    // How far the read pointer moves this cycle (one adder for every move).
    advance: Signal<Local, Bits<16>>,
    skip: Signal<Local, Bits<32>>,
    reset_cycles: Constant<Bits<8>>,
    // The loader's offset never passes the longest file the device loads:
    // its width as a mask, so the offset arithmetic is no wider (a load
    // offset with a bit above it is a gap).
    offset_mask: Constant<Bits<32>>,
    ident_len: Constant<Bits<16>>,
    result_bytes: Constant<Bits<16>>,
    trace_layer: DFF<Bits<4>>,
}

impl Executor {
    /// The executor of a device whose identify reply is `ident_len` bytes,
    /// whose results for one vector are `result_bytes` bytes and whose
    /// longest image (or network) file is `file_len` bytes.
    pub fn new(ident_len: usize, result_bytes: usize, file_len: u32) -> Self {
        let bits = 32 - file_len.leading_zeros();
        let offset_mask = u32::MAX.checked_shr(32 - bits).unwrap_or(0);
        Executor {
            clock: Default::default(),
            job: Default::default(),
            jobs_empty: Default::default(),
            jobs_read: Default::default(),
            replies_full: Default::default(),
            replies_empty: Default::default(),
            sender_idle: Default::default(),
            reply_write: Default::default(),
            reply_data: Default::default(),
            buffer_read: Default::default(),
            read_address: Default::default(),
            buffer_data: Default::default(),
            engine_in_valid: Default::default(),
            engine_in_ready: Default::default(),
            loader_restart: Default::default(),
            loader_abandon: Default::default(),
            loader_byte_valid: Default::default(),
            loader_ready: Default::default(),
            loader_offset: Default::default(),
            loader_loaded: Default::default(),
            loader_fault: Default::default(),
            engine_reset: Default::default(),
            clear_counters: Default::default(),
            idle: Default::default(),
            refused: Default::default(),
            exec: Default::default(),
            job_r: Default::default(),
            read_pointer: Default::default(),
            remaining: Default::default(),
            job_seq: Default::default(),
            job_code: Default::default(),
            header_left: Default::default(),
            load_word: Default::default(),
            hold: Default::default(),
            holding_reset: Default::default(),
            restarts: Default::default(),
            gap: Default::default(),
            skip_r: Default::default(),
            skip_all: Default::default(),
            job_kind: Default::default(),
            advance: Default::default(),
            skip: Default::default(),
            reset_cycles: Constant::new(RESET_CYCLES.into()),
            offset_mask: Constant::new(u64::from(offset_mask).into()),
            ident_len: Constant::new((ident_len as u64).into()),
            result_bytes: Constant::new((result_bytes as u64).into()),
            trace_layer: Default::default(),
            trace_select: Default::default(),
            trace_start: Default::default(),
            trace_bytes: Default::default(),
        }
    }
}

impl Logic for Executor {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            exec,
            job_r,
            read_pointer,
            remaining,
            job_seq,
            job_code,
            header_left,
            load_word,
            hold,
            holding_reset,
            restarts,
            gap,
            skip_r,
            skip_all,
            trace_layer
        );
        self.trace_select.next = self.trace_layer.q.val();
        self.trace_start.next = false;
        self.trace_bytes.next = self.job_r.q.val().get_bits::<16>(32) - self.result_bytes.val();
        self.jobs_read.next = false;
        self.reply_write.next = false;
        self.reply_data.next = 0.into();
        self.buffer_read.next = false;
        self.read_address.next = self.read_pointer.q.val();
        self.engine_in_valid.next = false;
        self.loader_restart.next = false;
        self.loader_abandon.next = false;
        self.loader_byte_valid.next = false;
        self.refused.next = false;
        self.engine_reset.next = self.holding_reset.q.val();
        self.clear_counters.next = false;
        self.idle.next = self.exec.q.val() == ExecState::Idle;

        self.job_kind.next = self.job_r.q.val().get_bits::<8>(0);
        self.advance.next = 0.into();
        // Bytes the loader already has (when there is no gap: the offset
        // is then at most the loader's, so within the mask).
        self.skip.next =
            (self.loader_offset.val() - self.load_word.q.val()) & self.offset_mask.val();
        match self.exec.q.val() {
            ExecState::Idle => {
                // Take the next job; decode it the next cycle.
                if !self.jobs_empty.val() & !self.replies_full.val() {
                    self.job_r.d.next = self.job.val();
                    self.jobs_read.next = true;
                    self.exec.d.next = ExecState::Dispatch;
                }
            }
            ExecState::Dispatch => {
                self.exec.d.next = ExecState::Idle;
                self.job_seq.d.next = self.job_r.q.val().get_bits::<8>(8);
                self.job_code.d.next = self.job_kind.val();
                if ((self.job_kind.val() == 5) | (self.job_kind.val() == 6))
                    & !self.loader_loaded.val()
                {
                    // No image: refuse the vectors (not loaded, 7) and skip them.
                    self.refused.next = true;
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_r.q.val().get_bits::<8>(8))
                        << 8)
                        | (bit_cast::<48, 8>(2.into()) << 16)
                        | (bit_cast::<48, 8>(7.into()) << 32)
                        | (bit_cast::<48, 8>(self.job_kind.val()) << 40)
                        | 0xFF;
                    self.advance.next = self.job_r.q.val().get_bits::<16>(16);
                } else if self.job_kind.val() == 5 {
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_r.q.val().get_bits::<8>(8))
                        << 8)
                        | (bit_cast::<48, 16>(self.job_r.q.val().get_bits::<16>(32)) << 16)
                        | 0x85;
                    self.exec.d.next = ExecState::Feed;
                } else if (self.job_kind.val() == 4)
                    | (self.job_kind.val() == 3)
                    | (self.job_kind.val() == 6)
                {
                    self.exec.d.next = ExecState::Drain;
                } else if self.job_kind.val() == 0xFF {
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_r.q.val().get_bits::<8>(8))
                        << 8)
                        | (bit_cast::<48, 8>(2.into()) << 16)
                        | (bit_cast::<48, 16>(self.job_r.q.val().get_bits::<16>(16)) << 32)
                        | 0xFF;
                } else {
                    // Identify (`ident_len` bytes) or status (24 bytes).
                    self.reply_write.next = true;
                    self.reply_data.next = bit_cast::<48, 8>(self.job_kind.val() | 0x80)
                        | (bit_cast::<48, 8>(self.job_r.q.val().get_bits::<8>(8)) << 8)
                        | (bit_cast::<48, 8>(24.into()) << 16);
                    if self.job_kind.val() == 1 {
                        self.reply_data.next =
                            (bit_cast::<48, 8>(self.job_r.q.val().get_bits::<8>(8)) << 8)
                                | (bit_cast::<48, 16>(self.ident_len.val()) << 16)
                                | 0x81;
                    }
                }
            }
            ExecState::Feed => {
                self.buffer_read.next = true;
                self.exec.d.next = ExecState::FeedWait;
            }
            ExecState::FeedWait => {
                self.engine_in_valid.next = true;
                if self.engine_in_ready.val() {
                    self.advance.next = 1.into();
                    if self.remaining.q.val() == 1 {
                        self.exec.d.next = ExecState::Idle;
                    } else {
                        self.exec.d.next = ExecState::Feed;
                    }
                }
            }
            ExecState::Drain => {
                // Every earlier reply has gone out, so the engine is empty.
                if self.replies_empty.val() & self.sender_idle.val() {
                    if self.job_code.q.val() == 3 {
                        // A reset abandons a load in progress too.
                        self.loader_abandon.next = true;
                        self.hold.d.next = self.reset_cycles.val();
                        self.holding_reset.d.next = true;
                        self.exec.d.next = ExecState::ResetHold;
                    } else if self.job_code.q.val() == 6 {
                        self.exec.d.next = ExecState::TraceHead;
                    } else {
                        self.header_left.d.next = 4.into();
                        self.exec.d.next = ExecState::LoadHead;
                    }
                }
            }
            ExecState::LoadHead => {
                // The payload's first four bytes: the offset in the image file.
                self.buffer_read.next = true;
                self.exec.d.next = ExecState::LoadHeadWait;
            }
            ExecState::LoadHeadWait => {
                self.advance.next = 1.into();
                self.load_word.d.next = (self.load_word.q.val() >> 8)
                    | (bit_cast::<32, 8>(self.buffer_data.val()) << 24);
                self.header_left.d.next = self.header_left.q.val() - 1;
                self.exec.d.next = ExecState::LoadHead;
                if self.header_left.q.val() == 1 {
                    self.exec.d.next = ExecState::LoadDecide;
                }
            }
            ExecState::LoadDecide => {
                // Offset 0 starts a new image unless a load is in progress
                // (then it is a repeat); bytes the loader already has are
                // skipped; a gap is refused (load offset, 8). Decided over
                // three cycles (the loader does not move meanwhile).
                self.restarts.d.next = (self.load_word.q.val() == 0)
                    & ((self.loader_offset.val() == 0) | self.loader_loaded.val());
                self.gap.d.next = ((self.load_word.q.val() & !self.offset_mask.val()) != 0)
                    | ((self.load_word.q.val() & self.offset_mask.val())
                        > (self.loader_offset.val() & self.offset_mask.val()));
                self.skip_r.d.next = self.skip.val();
                self.exec.d.next = ExecState::LoadSkip;
            }
            ExecState::LoadSkip => {
                self.skip_all.d.next =
                    self.skip_r.q.val() >= bit_cast::<32, 16>(self.remaining.q.val());
                self.exec.d.next = ExecState::LoadApply;
            }
            ExecState::LoadApply => {
                self.exec.d.next = ExecState::LoadRead;
                if self.restarts.q.val() {
                    self.loader_restart.next = true;
                } else if self.gap.q.val() {
                    self.refused.next = true;
                    self.advance.next = self.remaining.q.val();
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8)
                        | (bit_cast::<48, 8>(2.into()) << 16)
                        | (bit_cast::<48, 8>(8.into()) << 32)
                        | (bit_cast::<48, 8>(4.into()) << 40)
                        | 0xFF;
                    self.exec.d.next = ExecState::Idle;
                } else if self.skip_all.q.val() {
                    self.advance.next = self.remaining.q.val();
                    self.exec.d.next = ExecState::LoadFinish;
                } else {
                    self.advance.next = self.skip_r.q.val().get_bits::<16>(0);
                }
            }
            ExecState::LoadRead => {
                if self.loader_fault.val() != 0 {
                    self.exec.d.next = ExecState::LoadFail;
                } else if self.loader_ready.val() {
                    self.buffer_read.next = true;
                    self.exec.d.next = ExecState::LoadWait;
                }
            }
            ExecState::LoadWait => {
                self.loader_byte_valid.next = true;
                self.advance.next = 1.into();
                self.exec.d.next = ExecState::LoadRead;
                if self.remaining.q.val() == 1 {
                    self.exec.d.next = ExecState::LoadFinish;
                }
            }
            ExecState::LoadFinish => {
                // The loader has finished with the last byte (and, after the
                // image's last, with its payload CRC).
                if self.loader_ready.val() {
                    self.exec.d.next = ExecState::Idle;
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8) | 0x84;
                    if self.loader_fault.val() != 0 {
                        self.exec.d.next = ExecState::LoadFail;
                        self.reply_write.next = false;
                    }
                }
            }
            ExecState::LoadFail => {
                // Skip the rest of the frame, report the fault and forget the load.
                self.advance.next = self.remaining.q.val();
                self.loader_abandon.next = true;
                self.refused.next = true;
                self.reply_write.next = true;
                self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8)
                    | (bit_cast::<48, 8>(2.into()) << 16)
                    | (bit_cast::<48, 8>(self.loader_fault.val()) << 32)
                    | (bit_cast::<48, 8>(4.into()) << 40)
                    | 0xFF;
                self.exec.d.next = ExecState::Idle;
            }
            ExecState::TraceHead => {
                // The payload's first byte: the layer to trace.
                self.buffer_read.next = true;
                self.exec.d.next = ExecState::TraceLayer;
            }
            ExecState::TraceLayer => {
                // Select the layer, arm the capture, queue the reply, feed the vector.
                self.trace_layer.d.next = self.buffer_data.val().get_bits::<4>(0);
                self.trace_start.next = true;
                self.advance.next = 1.into();
                self.reply_write.next = true;
                self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8)
                    | (bit_cast::<48, 16>(self.job_r.q.val().get_bits::<16>(32)) << 16)
                    | 0x86;
                self.exec.d.next = ExecState::Feed;
            }
            ExecState::ResetHold => {
                self.hold.d.next = self.hold.q.val() - 1;
                if self.hold.q.val() == 0 {
                    self.holding_reset.d.next = false;
                    self.clear_counters.next = true;
                    self.reply_write.next = true;
                    self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8) | 0x83;
                    self.exec.d.next = ExecState::Idle;
                }
            }
        }
        // Every byte the read pointer passes is one fewer remaining.
        self.read_pointer.d.next = self.read_pointer.q.val() + self.advance.val();
        self.remaining.d.next = self.remaining.q.val() - self.advance.val();
        if self.exec.q.val() == ExecState::Dispatch {
            self.remaining.d.next = self.job_r.q.val().get_bits::<16>(16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::protocol;

    #[test]
    fn verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean(
            "executor",
            &mut Executor::new(protocol::IDENT_LEN, 16, 5248),
        );
    }
}
