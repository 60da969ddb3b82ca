//! One lane of the table read: a table memory, a bias memory, a ring of
//! accumulators and the output registers for the outputs `n = j * L + l`.
//!
//! Each cycle the lane reads one table entry for output row `j` and adds it
//! to the accumulator at the head of its ring, which then rotates: after the
//! `M = ceil(N / L)` reads of a codebook the ring is back in order, so no
//! accumulator is ever addressed and no read-modify-write hazard exists.
//!
//! The memories are pipelined (their reads registered once more, inside the
//! block RAM on ECP5), so the block RAM read (and, for a table spanning
//! several blocks, the multiplexer that picks the block) and the 32-bit add
//! are in separate cycles. Every stage advances only with `read_enable`, so
//! the pipeline stalls as one. The table memory is a `BlockRam::table`: on
//! the iCE40UP5K (`LUTGEN_ICE40_SPRAM`) it is UltraPlus SPRAM
//! ([`crate::spram`]), which reads at the same rate.

use crate::memory::{Address, BlockRam};
use rust_hdl::prelude::*;

/// Accumulators and outputs: 32-bit two's complement on the ports; the
/// registers keep only `EngineConfig::accumulator_bits`.
pub type Word = Bits<32>;

#[derive(LogicBlock)]
pub struct Lane {
    pub clock: Signal<In, Clock>,
    /// Advance the memory read ports and the registers after them (low while
    /// the pipeline is stalled).
    pub read_enable: Signal<In, Bit>,
    pub table_address: Signal<In, Address>,
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
    /// The output of the current row for this lane.
    pub head: Signal<Out, Word>,
    pub load_table: Signal<In, Bit>,
    pub load_bias: Signal<In, Bit>,
    pub load_address: Signal<In, Address>,
    pub load_data: Signal<In, Word>,
    table_memory: BlockRam<Bits<8>>,
    bias_memory: BlockRam<Word>,
    ring: Vec<DFF<Word>>,
    outputs: Vec<DFF<Word>>,
    sign_extension: Constant<Word>,
    /// The accumulator's own width (see `EngineConfig::accumulator_bits`):
    /// the ring and outputs keep only these low bits, so synthesis drops the
    /// rest of every register; `head` sign-extends them back to 32 bits.
    accumulator_mask: Constant<Word>,
    accumulator_sign: Constant<Word>,
    /// The table entry and the bias read two advancing cycles ago.
    entry: Signal<Local, Bits<8>>,
    bias: Signal<Local, Word>,
    extended: Signal<Local, Word>,
    addend: Signal<Local, Word>,
    total: Signal<Local, Word>,
    _rows: usize,
    _last_row: usize,
}

impl Lane {
    /// A lane with `table_words` table entries, `bias_words` bias words (M,
    /// or more for an engine with banks), `rows` (M) outputs and
    /// `accumulator_bits`-bit (2 to 32) two's complement accumulators.
    pub fn new(table_words: usize, bias_words: usize, rows: usize, accumulator_bits: u32) -> Self {
        let mask = u32::MAX >> (32 - accumulator_bits);
        Lane {
            clock: Default::default(),
            read_enable: Default::default(),
            table_address: Default::default(),
            bias_address: Default::default(),
            add: Default::default(),
            first: Default::default(),
            capture: Default::default(),
            shift: Default::default(),
            head: Default::default(),
            load_table: Default::default(),
            load_bias: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            table_memory: BlockRam::table(table_words),
            bias_memory: BlockRam::pipelined(bias_words),
            ring: (0..rows).map(|_| Default::default()).collect(),
            outputs: (0..rows).map(|_| Default::default()).collect(),
            sign_extension: Constant::new(0xFFFF_FF00u64.into()),
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

impl Logic for Lane {
    #[hdl_gen]
    fn update(&mut self) {
        self.table_memory.clock.next = self.clock.val();
        self.table_memory.read_enable.next = self.read_enable.val();
        self.table_memory.read_address.next = self.table_address.val();
        self.table_memory.write_enable.next = self.load_table.val();
        self.table_memory.write_address.next = self.load_address.val();
        self.table_memory.write_data.next = self.load_data.val().get_bits::<8>(0);
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
        self.entry.next = self.table_memory.read_data.val();
        self.bias.next = self.bias_memory.read_data.val() & self.accumulator_mask.val();
        // Sign-extend the int8 table entry.
        if self.entry.val().get_bit(7) {
            self.extended.next = bit_cast::<32, 8>(self.entry.val()) | self.sign_extension.val();
        } else {
            self.extended.next = bit_cast::<32, 8>(self.entry.val());
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
