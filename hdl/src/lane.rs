//! One lane of the table read: a table memory whose words each hold R =
//! `EngineConfig::entries_per_read` packed entries, and R [`Accumulator`]s,
//! one per entry, for the outputs `n = j * L * R + l * R + r` (lane l of L,
//! entry r, row j).
//!
//! Each cycle the lane reads one table word of `R * table_bits` bits (the
//! memory stores only those bits: 4-bit entries take half the block RAM of
//! 8-bit ones, or twice the entries per word) and every accumulator adds its
//! own field of it, so a lane reads R entries per cycle. The table memory is
//! pipelined (its read registered once more, inside the block RAM on ECP5)
//! and advances with `read_enable`, as the accumulators' bias memories do;
//! it is a `BlockRam::table`: on the iCE40UP5K (`LUTGEN_ICE40_SPRAM`)
//! UltraPlus SPRAM ([`crate::spram`]), which reads at the same rate.
//!
//! Outputs leave row by row, entry 0 first: `head` is the current row's
//! output of entry `entry_select`.

use crate::accumulator::Accumulator;
use crate::memory::{address, Address, BlockRam};
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
    /// Add the registered table entries (read two advancing cycles ago) into
    /// the ring heads and rotate.
    pub add: Signal<In, Bit>,
    /// The entries belong to codebook 0: start from the bias, not the ring.
    pub first: Signal<In, Bit>,
    /// Copy the rings (a finished vector) into the output registers.
    pub capture: Signal<In, Bit>,
    /// Move the output registers one row forward.
    pub shift: Signal<In, Bit>,
    /// The entry whose output `head` shows (0 to R - 1).
    pub entry_select: Signal<In, Address>,
    /// The output of the current row for entry `entry_select`.
    pub head: Signal<Out, Word>,
    /// Write `load_data` (R packed entries, the low `R * table_bits` bits
    /// kept) to table word `load_address`.
    pub load_table: Signal<In, Bit>,
    /// Write `load_data` to bias word `load_address` of entry `load_entry`.
    pub load_bias: Signal<In, Bit>,
    pub load_entry: Signal<In, Address>,
    pub load_address: Signal<In, Address>,
    pub load_data: Signal<In, Word>,
    table_memory: BlockRam<Word>,
    entries: Vec<Accumulator>,
    entry_ids: Vec<Constant<Address>>,
    _entries: usize,
}

impl Lane {
    /// A lane with `table_words` table words of `entries` (R) entries of
    /// `table_bits` bits each, `bias_words` bias words per entry (M, or more
    /// for an engine with banks), `rows` (M) outputs per entry and
    /// `accumulator_bits`-bit (2 to 32) two's complement accumulators.
    pub fn new(
        table_words: usize,
        bias_words: usize,
        entries: usize,
        table_bits: u32,
        rows: usize,
        accumulator_bits: u32,
    ) -> Self {
        Lane {
            clock: Default::default(),
            read_enable: Default::default(),
            table_address: Default::default(),
            bias_address: Default::default(),
            add: Default::default(),
            first: Default::default(),
            capture: Default::default(),
            shift: Default::default(),
            entry_select: Default::default(),
            head: Default::default(),
            load_table: Default::default(),
            load_bias: Default::default(),
            load_entry: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            table_memory: BlockRam::table(table_words).narrow(entries * table_bits as usize),
            entries: (0..entries as u32)
                .map(|r| Accumulator::new(r, table_bits, bias_words, rows, accumulator_bits))
                .collect(),
            entry_ids: (0..entries).map(address).collect(),
            _entries: entries,
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
        self.table_memory.write_data.next = self.load_data.val();
        self.head.next = self.entries[0].head.val();
        for r in 0..self._entries {
            self.entries[r].clock.next = self.clock.val();
            self.entries[r].read_enable.next = self.read_enable.val();
            self.entries[r].table_word.next = self.table_memory.read_data.val();
            self.entries[r].bias_address.next = self.bias_address.val();
            self.entries[r].add.next = self.add.val();
            self.entries[r].first.next = self.first.val();
            self.entries[r].capture.next = self.capture.val();
            self.entries[r].shift.next = self.shift.val();
            self.entries[r].load_bias.next =
                self.load_bias.val() & (self.load_entry.val() == self.entry_ids[r].val());
            self.entries[r].load_address.next = self.load_address.val();
            self.entries[r].load_data.next = self.load_data.val();
            if self.entry_select.val() == self.entry_ids[r].val() {
                self.head.next = self.entries[r].head.val();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four 6-bit entries a word (a 24-bit memory inside the 32-bit ports)
    /// and one entry of a full 8-bit word: lint-clean, no latch.
    #[test]
    fn verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean("lane", &mut Lane::new(256, 3, 4, 6, 3, 17));
        crate::lint::assert_block_is_clean("lane", &mut Lane::new(256, 3, 1, 8, 3, 17));
    }
}
