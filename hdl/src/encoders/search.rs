//! [`SearchStage`]: the `l2` and `l1` encoders' distance search.

use crate::argmin::{ArgminStream, ArgminTree, Key};
use crate::delay::Delay;
use crate::distance::{DistanceUnit, UnitOptions};
use crate::memory::{address, shift_by, Address, BlockRam};
use lutgen_core::memory_map::MemoryMap;
use lutgen_core::sequential::{bank_stride, banked_words};
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

/// `l2` and `l1`: K / F distance units, F passes each, an argmin tree over
/// the units for each pass and an argmin over the passes in time. Pass p
/// covers the U consecutive indices `p * U ..`, so taking the lowest unit on
/// a tie within a pass and the earliest pass across passes keeps the lowest
/// index, as the reference does.
#[derive(LogicBlock)]
pub struct SearchStage {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// Element address `c * V + v` and pass p (0 when F = 1) of the element
    /// issued this cycle: the units read word `address * F + p`.
    pub read_address: Signal<In, Address>,
    pub pass: Signal<In, Address>,
    pub element: Signal<In, Bits<8>>,
    pub accumulate: Signal<In, Bit>,
    /// The accumulated product is of a codebook's last element...
    pub last: Signal<In, Bit>,
    /// ...for pass 0 of the units (always, when F = 1).
    pub pass_first: Signal<In, Bit>,
    /// Every unit holds a finished distance (unfolded units, F = 1).
    pub leaf_valid: Signal<In, Bit>,
    pub load_enable: Signal<In, Bit>,
    pub load_select: Signal<In, Address>,
    pub load_word: Signal<In, Address>,
    pub load_data: Signal<In, Bits<8>>,
    /// The bank the memories read, and the bank a load writes (0 with one bank).
    pub read_bank: Signal<In, Bits<4>>,
    pub load_bank: Signal<In, Bits<4>>,
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    units: Vec<DistanceUnit>,
    tree: ArgminTree,
    /// `p * U` of the pass finished last cycle, shared by the units (unit u
    /// ORs in its `u`), and of the pass accumulated this cycle.
    pass_tag: DFF<Bits<32>>,
    next_pass_tag: Signal<Local, Bits<32>>,
    pass_step: Constant<Bits<32>>,
    /// K - 1: the index bits (so synthesis keeps no others).
    index_mask: Constant<Bits<32>>,
    /// The last argmin's winner with its row offset `index * M` filled in.
    winner: Signal<Local, Key>,
    winner_valid: Signal<Local, Bit>,
    key_q: DFF<Key>,
    valid_q: DFF<Bit>,
    rows: Constant<Bits<16>>,
    distance_and_index: Constant<Key>,
    /// A pass finished last cycle: every unit holds a distance (folded).
    pass_done: DFF<Bit>,
    /// The control inputs three cycles later, aligned with the units' extra
    /// read register, their `delta` stage and their registered square
    /// (tap 1: two cycles later, `_e`; the output: `_d`).
    accumulate_line: Delay<Bit>,
    last_line: Delay<Bit>,
    pass_first_line: Delay<Bit>,
    leaf_valid_line: Delay<Bit>,
    /// The units' `restart`: `accumulate_d & last_d` (formed from the taps a
    /// cycle earlier), or reset, as one register.
    restart_d: DFF<Bit>,
    /// Folded: the nearest of the F tree winners of a codebook, in time.
    passes: Vec<ArgminStream>,
    _passes: usize,
    /// log2(F).
    pass_shift: Constant<Bits<4>>,
    unit_address: Signal<Local, Address>,
    /// Shifts that put a bank above a unit's and the weight memory's words.
    unit_bank_shift: Constant<Bits<4>>,
    folded: Constant<Bit>,
    /// The weight memory (`l1` only).
    weights: Vec<BlockRam<Bits<4>>>,
    weight: Signal<Local, Bits<4>>,
    unit_ids: Vec<Constant<Address>>,
    weight_ids: Vec<Constant<Address>>,
    weight_bank_shifts: Vec<Constant<Bits<4>>>,
    _units: usize,
    _weights: usize,
}

impl SearchStage {
    /// The search of an `l2` or `l1` engine; memory numbers from `map`, each
    /// memory with `banks` banks (see [`crate::engine::Engine::banked`]).
    pub fn new(config: &EngineConfig, map: &MemoryMap, banks: usize) -> Self {
        let weighted = config.encoder.has_weights();
        let (k, d, m) = (config.centroids, config.input_dim, config.rows_per_lane());
        let w = usize::from(weighted);
        let f = config.centroids_per_unit();
        let u = k / f;
        let distance_bits = config.distance_bits() as usize;
        SearchStage {
            last: Default::default(),
            pass_first: Default::default(),
            reset: Default::default(),
            pass_tag: Default::default(),
            next_pass_tag: Default::default(),
            pass_step: Constant::new(((u as u64) << 16).into()),
            index_mask: Constant::new((((k - 1) as u64) << 16).into()),
            winner: Default::default(),
            winner_valid: Default::default(),
            key_q: Default::default(),
            valid_q: Default::default(),
            rows: Constant::new((m as u64).into()),
            distance_and_index: Constant::new(0xFFFF_FFFF_FFFF_0000u64.into()),
            pass_done: Default::default(),
            accumulate_line: Delay::new(3),
            last_line: Delay::new(3),
            pass_first_line: Delay::new(3),
            leaf_valid_line: Delay::new(3),
            restart_d: Default::default(),
            passes: (0..usize::from(f > 1))
                .map(|_| ArgminStream::new(f, distance_bits))
                .collect(),
            _passes: usize::from(f > 1),
            pass_shift: shift_by(f),
            pass: Default::default(),
            unit_address: Default::default(),
            unit_bank_shift: shift_by(if banks == 1 { 1 } else { bank_stride(d * f) }),
            read_bank: Default::default(),
            load_bank: Default::default(),
            folded: Constant::new(f > 1),
            clock: Default::default(),
            read_address: Default::default(),
            element: Default::default(),
            accumulate: Default::default(),
            leaf_valid: Default::default(),
            load_enable: Default::default(),
            load_select: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            units: (0..u)
                .map(|i| {
                    // Unit i searches centroids p * U + i, p = 0..F-1: each
                    // pass covers U consecutive indices, in pass order. The
                    // row offset is filled in after the argmin.
                    DistanceUnit::with_tag(
                        i,
                        0,
                        banked_words(d * f, banks),
                        UnitOptions {
                            weighted,
                            distance_bits: config.distance_bits(),
                            passes: f,
                            registered_read: true,
                            square_table: config.squares_from_table(),
                            registered_square: true,
                        },
                    )
                })
                .collect(),
            tree: ArgminTree::new(u, distance_bits),
            weights: (0..w)
                .map(|_| BlockRam::new(banked_words(d, banks)))
                .collect(),
            weight: Default::default(),
            unit_ids: (0..u).map(|i| address(map.centroid_memory(i))).collect(),
            weight_ids: (0..w).map(|_| address(map.weight_memory())).collect(),
            weight_bank_shifts: (0..w)
                .map(|_| shift_by(if banks == 1 { 1 } else { bank_stride(d) }))
                .collect(),
            _units: u,
            _weights: w,
        }
    }
}

impl Logic for SearchStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, pass_tag, pass_done, key_q, valid_q, restart_d);
        self.accumulate_line.clock.next = self.clock.val();
        self.accumulate_line.enable.next = true;
        self.accumulate_line.clear.next = false;
        self.accumulate_line.data_in.next = self.accumulate.val();
        self.last_line.clock.next = self.clock.val();
        self.last_line.enable.next = true;
        self.last_line.clear.next = false;
        self.last_line.data_in.next = self.last.val();
        self.pass_first_line.clock.next = self.clock.val();
        self.pass_first_line.enable.next = true;
        self.pass_first_line.clear.next = false;
        self.pass_first_line.data_in.next = self.pass_first.val();
        self.leaf_valid_line.clock.next = self.clock.val();
        self.leaf_valid_line.enable.next = true;
        self.leaf_valid_line.clear.next = false;
        self.leaf_valid_line.data_in.next = self.leaf_valid.val();
        self.restart_d.d.next =
            (self.accumulate_line.taps[1].val() & self.last_line.taps[1].val()) | self.reset.val();
        self.tree.clock.next = self.clock.val();
        if self.pass_first_line.data_out.val() {
            self.next_pass_tag.next = 0.into();
        } else {
            self.next_pass_tag.next =
                (self.pass_tag.q.val() + self.pass_step.val()) & self.index_mask.val();
        }
        if self.accumulate_line.data_out.val() & self.last_line.data_out.val() {
            self.pass_tag.d.next = self.next_pass_tag.val();
        }
        self.pass_done.d.next = self.accumulate_line.data_out.val() & self.last_line.data_out.val();
        if self.reset.val() {
            self.pass_tag.d.next = 0.into();
            self.pass_done.d.next = false;
        }
        self.weight.next = 0.into();
        self.unit_address.next = (self.read_address.val() << self.pass_shift.val())
            | self.pass.val()
            | (bit_cast::<16, 4>(self.read_bank.val()) << self.unit_bank_shift.val());
        for i in 0..self._weights {
            self.weights[i].clock.next = self.clock.val();
            self.weights[i].read_enable.next = true;
            self.weights[i].read_address.next = self.read_address.val()
                | (bit_cast::<16, 4>(self.read_bank.val()) << self.weight_bank_shifts[i].val());
            self.weights[i].write_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.weight_ids[i].val());
            self.weights[i].write_address.next = self.load_word.val()
                | (bit_cast::<16, 4>(self.load_bank.val()) << self.weight_bank_shifts[i].val());
            self.weights[i].write_data.next = self.load_data.val().get_bits::<4>(0);
            self.weight.next = self.weights[i].read_data.val();
        }
        for k in 0..self._units {
            self.units[k].clock.next = self.clock.val();
            self.units[k].read_address.next = self.unit_address.val();
            self.units[k].element.next = self.element.val();
            self.units[k].weight.next = self.weight.val();
            self.units[k].accumulate.next = self.accumulate_line.data_out.val();
            self.units[k].reset.next = self.reset.val();
            self.units[k].restart.next = self.restart_d.q.val();
            self.units[k].pass_tag.next = self.pass_tag.q.val();
            self.units[k].load_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.unit_ids[k].val());
            self.units[k].load_address.next = self.load_word.val()
                | (bit_cast::<16, 4>(self.load_bank.val()) << self.unit_bank_shift.val());
            self.units[k].load_data.next = self.load_data.val();
            self.tree.leaves[k].next = self.units[k].key.val();
        }
        if self.folded.val() {
            self.tree.valid_in.next = self.pass_done.q.val();
        } else {
            self.tree.valid_in.next = self.leaf_valid_line.data_out.val();
        }
        self.winner.next = self.tree.key.val();
        self.winner_valid.next = self.tree.valid.val();
        for i in 0..self._passes {
            self.passes[i].clock.next = self.clock.val();
            self.passes[i].reset.next = self.reset.val();
            self.passes[i].key_in.next = self.tree.key.val();
            self.passes[i].valid_in.next = self.tree.valid.val();
            self.winner.next = self.passes[i].key.val();
            self.winner_valid.next = self.passes[i].valid.val();
        }
        // The row offset `index * M`, once per codebook (M is a constant).
        self.key_q.d.next = (self.winner.val() & self.distance_and_index.val())
            | bit_cast::<64, 16>(bit_cast::<16, 32>(
                self.winner.val().get_bits::<16>(16) * self.rows.val(),
            ));
        self.valid_q.d.next = self.winner_valid.val();
        if self.reset.val() {
            self.valid_q.d.next = false;
        }
        self.key.next = self.key_q.q.val();
        self.valid.next = self.valid_q.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn verilog_is_lint_clean_unfolded_folded_and_weighted() {
        let base = crate::lint::small_engine(EncoderKind::L2, 4);
        let folded = EngineConfig {
            centroids: 16,
            outputs: 64,
            ..base.clone()
        };
        assert!(folded.centroids_per_unit() > 1);
        let l1 = EngineConfig {
            encoder: EncoderKind::L1,
            ..folded.clone()
        };
        for (name, config) in [
            ("search", base),
            ("search_folded", folded),
            ("search_l1", l1),
        ] {
            let mut stage = SearchStage::new(&config, &MemoryMap::new(&config), 1);
            crate::lint::assert_block_is_clean(name, &mut stage);
        }
    }
}
