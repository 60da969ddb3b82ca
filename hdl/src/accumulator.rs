//! One entry of a lane: a bias memory, a ring of accumulators and the
//! output registers for the outputs `n = j * L * R + l * R + r` (lane l of
//! L, entry r of the R = `EngineConfig::entries_per_read` entries of each
//! table word; see [`crate::lane`]).
//!
//! Each cycle the accumulator takes its own `table_bits`-bit field of the
//! lane's table word, sign-extends it and adds it to the accumulator at the
//! head of its ring, which then rotates: after the `M = ceil(N / (L * R))`
//! reads of a codebook the ring is back in order, so no accumulator is ever
//! addressed and no read-modify-write hazard exists.
//!
//! The bias memory is pipelined like the table (its read registered once
//! more, inside the block RAM on ECP5), so the block RAM read and the
//! 32-bit add are in separate cycles. Every stage advances only with
//! `read_enable`, so the pipeline stalls as one.

use crate::memory::{Address, BlockRam};
use rust_hdl::prelude::*;

/// Accumulators and outputs: 32-bit two's complement on the ports; the
/// registers keep only `EngineConfig::accumulator_bits`.
type Word = Bits<32>;

#[derive(LogicBlock)]
pub struct Accumulator {
    pub clock: Signal<In, Clock>,
    /// Advance the bias memory's read port and the registers after it (low
    /// while the pipeline is stalled).
    pub read_enable: Signal<In, Bit>,
    /// The table word read two advancing cycles ago (the lane's table
    /// memory's `read_data`): this entry is its bits `[shift, shift + table_bits)`.
    pub table_word: Signal<In, Word>,
    pub bias_address: Signal<In, Address>,
    /// Add the registered table entry (read two advancing cycles ago) into
    /// the ring head and rotate.
    pub add: Signal<In, Bit>,
    /// The entry belongs to codebook 0: start from the bias, not the ring.
    pub first: Signal<In, Bit>,
    /// Copy the ring (a finished vector) into the output registers.
    pub capture: Signal<In, Bit>,
    /// Move the output registers one row forward.
    pub shift: Signal<In, Bit>,
    /// The output of the current row for this entry.
    pub head: Signal<Out, Word>,
    pub load_bias: Signal<In, Bit>,
    pub load_address: Signal<In, Address>,
    pub load_data: Signal<In, Word>,
    bias_memory: BlockRam<Word>,
    ring: Vec<DFF<Word>>,
    outputs: Vec<DFF<Word>>,
    /// This entry's place in the table word, and its width as a mask and a
    /// sign bit (`table_bits`).
    entry_shift: Constant<Bits<5>>,
    entry_mask: Constant<Word>,
    entry_sign: Constant<Word>,
    /// The accumulator's own width (see `EngineConfig::accumulator_bits`):
    /// the ring and outputs keep only these low bits, so synthesis drops the
    /// rest of every register; `head` sign-extends them back to 32 bits.
    accumulator_mask: Constant<Word>,
    accumulator_sign: Constant<Word>,
    /// The table entry and the bias read two advancing cycles ago.
    entry: Signal<Local, Word>,
    bias: Signal<Local, Word>,
    extended: Signal<Local, Word>,
    addend: Signal<Local, Word>,
    total: Signal<Local, Word>,
    _rows: usize,
    _last_row: usize,
}

impl Accumulator {
    /// Entry `entry` (bits `[entry * table_bits, (entry + 1) * table_bits)`
    /// of each table word) of a lane with `bias_words` bias words (M, or more
    /// for an engine with banks), `rows` (M) outputs and
    /// `accumulator_bits`-bit (2 to 32) two's complement accumulators.
    pub fn new(
        entry: u32,
        table_bits: u32,
        bias_words: usize,
        rows: usize,
        accumulator_bits: u32,
    ) -> Self {
        let mask = u32::MAX >> (32 - accumulator_bits);
        assert!((entry + 1) * table_bits <= 32, "a table word has 32 bits");
        Accumulator {
            clock: Default::default(),
            read_enable: Default::default(),
            table_word: Default::default(),
            bias_address: Default::default(),
            add: Default::default(),
            first: Default::default(),
            capture: Default::default(),
            shift: Default::default(),
            head: Default::default(),
            load_bias: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            bias_memory: BlockRam::pipelined(bias_words),
            ring: (0..rows).map(|_| Default::default()).collect(),
            outputs: (0..rows).map(|_| Default::default()).collect(),
            entry_shift: Constant::new(u64::from(entry * table_bits).into()),
            entry_mask: Constant::new(((1u64 << table_bits) - 1).into()),
            entry_sign: Constant::new((1u64 << (table_bits - 1)).into()),
            accumulator_mask: Constant::new(u64::from(mask).into()),
            accumulator_sign: Constant::new((1u64 << (accumulator_bits - 1)).into()),
            entry: Default::default(),
            bias: Default::default(),
            extended: Default::default(),
            addend: Default::default(),
            total: Default::default(),
            _rows: rows,
            _last_row: rows - 1,
        }
    }
}

impl Logic for Accumulator {
    #[hdl_gen]
    fn update(&mut self) {
        self.bias_memory.clock.next = self.clock.val();
        self.bias_memory.read_enable.next = self.read_enable.val();
        self.bias_memory.read_address.next = self.bias_address.val();
        self.bias_memory.write_enable.next = self.load_bias.val();
        self.bias_memory.write_address.next = self.load_address.val();
        self.bias_memory.write_data.next = self.load_data.val();
        for i in 0..self._rows {
            self.ring[i].clock.next = self.clock.val();
            self.ring[i].d.next = self.ring[i].q.val();
            self.outputs[i].clock.next = self.clock.val();
            self.outputs[i].d.next = self.outputs[i].q.val();
        }
        // This entry's field of the word (a constant shift: wiring only).
        self.entry.next = (self.table_word.val() >> self.entry_shift.val()) & self.entry_mask.val();
        self.bias.next = self.bias_memory.read_data.val() & self.accumulator_mask.val();
        // Sign-extend the `table_bits`-bit table entry.
        if (self.entry.val() & self.entry_sign.val()) != 0 {
            self.extended.next = self.entry.val() | !self.entry_mask.val();
        } else {
            self.extended.next = self.entry.val();
        }
        // The addend is picked from registers before the add, so the table
        // entry (a block RAM's output) meets only the carry chain.
        if self.first.val() {
            self.addend.next = self.bias.val();
        } else {
            self.addend.next = self.ring[0].q.val();
        }
        self.total.next = self.addend.val() + self.extended.val();
        if self.add.val() {
            for i in 0..self._last_row {
                self.ring[i].d.next = self.ring[i + 1].q.val();
            }
            // A one-iteration loop names the last ring slot (index M - 1).
            for i in self._last_row..self._rows {
                self.ring[i].d.next = self.total.val() & self.accumulator_mask.val();
            }
        }
        if self.capture.val() {
            for i in 0..self._rows {
                self.outputs[i].d.next = self.ring[i].q.val();
            }
        } else if self.shift.val() {
            for i in 0..self._last_row {
                self.outputs[i].d.next = self.outputs[i + 1].q.val();
            }
        }
        // The sum is exact modulo 2^bits and fits signed bits: sign-extend.
        if (self.outputs[0].q.val() & self.accumulator_sign.val()) != 0 {
            self.head.next = self.outputs[0].q.val() | !self.accumulator_mask.val();
        } else {
            self.head.next = self.outputs[0].q.val();
        }
    }
}
