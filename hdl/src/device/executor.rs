//! [`Executor`]: takes jobs in order. It streams data payloads into the
//! engine, writes load payloads through the load port (after every earlier
//! reply has gone out, so no vector in flight sees a half-loaded image),
//! holds the engine in reset for a reset command, and queues one reply per
//! job.

use super::queues::{Job, Reply};
use crate::engine::RESET_CYCLES;
use rust_hdl::prelude::*;

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
    /// The engine's load port, registered.
    pub load_enable: Signal<Out, Bit>,
    pub load_address: Signal<Out, Bits<32>>,
    pub load_data: Signal<Out, Bits<32>>,
    /// Hold the engine in reset (a reset command), registered.
    pub engine_reset: Signal<Out, Bit>,
    /// A reset command finished this cycle: zero the status counters.
    pub clear_counters: Signal<Out, Bit>,
    /// An image has been loaded (sticky), for the status reply.
    pub loaded: Signal<Out, Bit>,
    /// No job in progress.
    pub idle: Signal<Out, Bit>,
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
    load_strobe: DFF<Bit>,
    load_target: DFF<Bits<32>>,
    load_value: DFF<Bits<32>>,
    hold: DFF<Bits<8>>,
    holding_reset: DFF<Bit>,
    image_loaded: DFF<Bit>,
    job_kind: Signal<Local, Bits<8>>,
    assembled: Signal<Local, Bits<32>>,
    reset_cycles: Constant<Bits<8>>,
}

impl Default for Executor {
    fn default() -> Self {
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
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            engine_reset: Default::default(),
            clear_counters: Default::default(),
            loaded: Default::default(),
            idle: Default::default(),
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
            load_strobe: Default::default(),
            load_target: Default::default(),
            load_value: Default::default(),
            hold: Default::default(),
            holding_reset: Default::default(),
            image_loaded: Default::default(),
            job_kind: Default::default(),
            assembled: Default::default(),
            reset_cycles: Constant::new(RESET_CYCLES.into()),
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
            read_pointer,
            remaining,
            job_seq,
            job_code,
            header_left,
            load_unit,
            load_count,
            load_word,
            load_next,
            load_strobe,
            load_target,
            load_value,
            hold,
            holding_reset,
            image_loaded
        );
        self.jobs_read.next = false;
        self.reply_write.next = false;
        self.reply_data.next = 0.into();
        self.buffer_read.next = false;
        self.read_address.next = self.read_pointer.q.val();
        self.engine_in_valid.next = false;
        self.load_enable.next = self.load_strobe.q.val();
        self.load_address.next = self.load_target.q.val();
        self.load_data.next = self.load_value.q.val();
        self.load_strobe.d.next = false;
        self.engine_reset.next = self.holding_reset.q.val();
        self.clear_counters.next = false;
        self.loaded.next = self.image_loaded.q.val();
        self.idle.next = self.exec.q.val() == ExecState::Idle;

        self.job_kind.next = self.job.val().get_bits::<8>(0);
        self.assembled.next =
            (self.load_word.q.val() >> 8) | (bit_cast::<32, 8>(self.buffer_data.val()) << 24);
        match self.exec.q.val() {
            ExecState::Idle => {
                if !self.jobs_empty.val() & !self.replies_full.val() {
                    self.job_seq.d.next = self.job.val().get_bits::<8>(8);
                    self.job_code.d.next = self.job_kind.val();
                    self.remaining.d.next = self.job.val().get_bits::<16>(16);
                    if self.job_kind.val() == 5 {
                        self.jobs_read.next = true;
                        self.reply_write.next = true;
                        self.reply_data.next = (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8))
                            << 8)
                            | (bit_cast::<48, 16>(self.job.val().get_bits::<16>(32)) << 16)
                            | 0x85;
                        self.exec.d.next = ExecState::Feed;
                    } else if (self.job_kind.val() == 4) | (self.job_kind.val() == 3) {
                        self.jobs_read.next = true;
                        self.exec.d.next = ExecState::Drain;
                    } else if self.job_kind.val() == 0xFF {
                        self.jobs_read.next = true;
                        self.reply_write.next = true;
                        self.reply_data.next = (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8))
                            << 8)
                            | (bit_cast::<48, 8>(2.into()) << 16)
                            | (bit_cast::<48, 16>(self.job.val().get_bits::<16>(48)) << 32)
                            | 0xFF;
                    } else {
                        // Identify (48-byte reply) or status (16 bytes).
                        self.jobs_read.next = true;
                        self.reply_write.next = true;
                        self.reply_data.next = bit_cast::<48, 8>(self.job_kind.val() | 0x80)
                            | (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                            | (bit_cast::<48, 8>(16.into()) << 16);
                        if self.job_kind.val() == 1 {
                            self.reply_data.next =
                                (bit_cast::<48, 8>(self.job.val().get_bits::<8>(8)) << 8)
                                    | (bit_cast::<48, 8>(48.into()) << 16)
                                    | 0x81;
                        }
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
                if self.replies_empty.val() & self.sender_idle.val() {
                    if self.job_code.q.val() == 3 {
                        self.hold.d.next = self.reset_cycles.val();
                        self.holding_reset.d.next = true;
                        self.exec.d.next = ExecState::ResetHold;
                    } else {
                        self.header_left.d.next = 5.into();
                        self.load_count.d.next = 0.into();
                        self.exec.d.next = ExecState::LoadRead;
                    }
                }
            }
            ExecState::LoadRead => {
                self.buffer_read.next = true;
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
                    self.load_unit.d.next = self.buffer_data.val();
                    self.load_next.d.next = self.load_word.q.val();
                    self.header_left.d.next = 0.into();
                } else if self.header_left.q.val() != 0 {
                    self.load_word.d.next = self.assembled.val();
                    self.header_left.d.next = self.header_left.q.val() - 1;
                } else {
                    self.load_word.d.next = self.assembled.val();
                    self.load_count.d.next = self.load_count.q.val() + 1;
                    if self.load_unit.q.val() == 1 {
                        self.load_strobe.d.next = true;
                        self.load_target.d.next = self.load_next.q.val();
                        self.load_value.d.next = bit_cast::<32, 8>(self.buffer_data.val());
                        self.load_next.d.next = self.load_next.q.val() + 1;
                        self.load_count.d.next = 0.into();
                    } else if self.load_count.q.val() == 3 {
                        self.load_strobe.d.next = true;
                        self.load_target.d.next = self.load_next.q.val();
                        self.load_value.d.next = self.assembled.val();
                        self.load_next.d.next = self.load_next.q.val() + 1;
                        self.load_count.d.next = 0.into();
                    }
                }
            }
            ExecState::LoadDone => {
                self.image_loaded.d.next = true;
                self.reply_write.next = true;
                self.reply_data.next = (bit_cast::<48, 8>(self.job_seq.q.val()) << 8) | 0x84;
                self.exec.d.next = ExecState::Idle;
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean("executor", &mut Executor::default());
    }
}
