//! [`TwoLevelStage`]: the `two-level` encoder (centres, then the keys of one cluster).

use crate::argmin::{ArgminTree, Key};
use crate::delay::Delay;
use crate::distance::{DistanceUnit, UnitOptions};
use crate::memory::{address, shift_by, Address, BlockRam};
use lutgen_core::memory_map::MemoryMap;
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

/// Depth of the two-level stage's FIFO of chosen clusters (at most
/// `7 + shift_by(S) + 1` codebooks are between replay start and key result).
pub const CLUSTER_FIFO_DEPTH: usize = 16;
declare_sync_fifo!(ClusterFifo, Bits<32>, 16, 1);

/// `two-level`: nearest of G centres on the input stream, then the
/// sub-vector is replayed from a buffer to S = K / G key units.
///
/// Key unit s holds slot s of every cluster: the key `g * S + s` of
/// codebook c at word `(c * V + v) * G + g`, so its read address is the
/// replayed element's address shifted left by shift_by(G), or-ed with g. The
/// replay of a codebook starts when its centre is known and takes V cycles;
/// centres are known at most once per V cycles, so replays never overlap
/// and the buffer (see [`EngineConfig::replay_buffer_words`]) is never
/// overwritten before it is read. The chosen cluster waits in a FIFO for
/// its key search: index `g * S + s`, row offset `g * S * M + s * M`.
#[derive(LogicBlock)]
pub struct TwoLevelStage {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub read_address: Signal<In, Address>,
    pub element: Signal<In, Bits<8>>,
    pub element_valid: Signal<In, Bit>,
    pub accumulate: Signal<In, Bit>,
    /// The accumulated product is of a codebook's last element.
    pub last: Signal<In, Bit>,
    pub leaf_valid: Signal<In, Bit>,
    pub load_enable: Signal<In, Bit>,
    pub load_select: Signal<In, Address>,
    pub load_word: Signal<In, Address>,
    pub load_data: Signal<In, Bits<8>>,
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    /// The cluster FIFO over- or underflowed (never, in a correct engine).
    pub fault: Signal<Out, Bit>,
    centres: Vec<DistanceUnit>,
    centre_tree: ArgminTree,
    keys: Vec<DistanceUnit>,
    key_tree: ArgminTree,
    centre_weights: BlockRam<Bits<4>>,
    key_weights: BlockRam<Bits<4>>,
    buffer: BlockRam<Bits<8>>,
    fifo: ClusterFifo,
    write_pointer: DFF<Address>,
    read_pointer: DFF<Address>,
    replay_address: DFF<Address>,
    replay_position: DFF<Address>,
    replaying: DFF<Bit>,
    cluster: DFF<Address>,
    /// A replayed element was issued 1 to 6 cycles ago (tap i: `valid_{i+1}`;
    /// cleared by reset), and it was the sub-vector's last (`last_{i+1}`).
    replay_valid_line: Delay<Bit>,
    replay_last_line: Delay<Bit>,
    /// The key units' `restart`, registered (`valid_5 & last_5`, or reset).
    key_restart: DFF<Bit>,
    leaf: DFF<Bit>,
    /// The centre units' control two cycles later than the engine gives it
    /// (their reads are registered twice): `_e` one cycle, `_d` two.
    accumulate_line: Delay<Bit>,
    last_e: DFF<Bit>,
    leaf_valid_line: Delay<Bit>,
    centre_restart: DFF<Bit>,
    start: Signal<Local, Bit>,
    key_address: Signal<Local, Address>,
    index: Signal<Local, Address>,
    offset: Signal<Local, Address>,
    last_element: Constant<Address>,
    last_sub_position: Constant<Address>,
    cluster_shift: Constant<Bits<4>>,
    slot_shift: Constant<Bits<4>>,
    weight_id: Constant<Address>,
    centre_ids: Vec<Constant<Address>>,
    key_ids: Vec<Constant<Address>>,
    _centres: usize,
    _keys: usize,
}

impl TwoLevelStage {
    /// The two-level search of `config`; memory numbers from `map`.
    pub fn new(config: &EngineConfig, map: &MemoryMap) -> Self {
        let (d, v, m) = (
            config.input_dim,
            config.sub_vector_len(),
            config.rows_per_lane(),
        );
        let (g, s) = (config.clusters(), config.keys_per_cluster());
        let distance_bits = config.distance_bits() as usize;
        // Unfolded weighted-L1 units, their reads registered twice (a DP16KD's
        // output register on the ECP5) like the search stage's.
        let two_level_unit = UnitOptions {
            weighted: true,
            distance_bits: config.distance_bits(),
            passes: 1,
            registered_read: true,
            square_table: false,
            registered_square: false,
        };
        TwoLevelStage {
            clock: Default::default(),
            reset: Default::default(),
            read_address: Default::default(),
            element: Default::default(),
            element_valid: Default::default(),
            accumulate: Default::default(),
            last: Default::default(),
            leaf_valid: Default::default(),
            load_enable: Default::default(),
            load_select: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            fault: Default::default(),
            centres: (0..g)
                .map(|i| DistanceUnit::with_tag(i, i * s * m, d, two_level_unit))
                .collect(),
            centre_tree: ArgminTree::new(g, distance_bits),
            keys: (0..s)
                .map(|i| {
                    DistanceUnit::with_tag(i, i * m, config.key_memory_words(), two_level_unit)
                })
                .collect(),
            key_tree: ArgminTree::new(s, distance_bits),
            centre_weights: BlockRam::new(d),
            key_weights: BlockRam::new(d),
            buffer: BlockRam::new(config.replay_buffer_words()),
            fifo: Default::default(),
            write_pointer: Default::default(),
            read_pointer: Default::default(),
            replay_address: Default::default(),
            replay_position: Default::default(),
            replaying: Default::default(),
            cluster: Default::default(),
            replay_valid_line: Delay::new(6),
            replay_last_line: Delay::new(6),
            key_restart: Default::default(),
            leaf: Default::default(),
            accumulate_line: Delay::new(2),
            last_e: Default::default(),
            leaf_valid_line: Delay::new(2),
            centre_restart: Default::default(),
            start: Default::default(),
            key_address: Default::default(),
            index: Default::default(),
            offset: Default::default(),
            last_element: address(d - 1),
            last_sub_position: address(v - 1),
            cluster_shift: shift_by(g),
            slot_shift: shift_by(s),
            weight_id: address(map.weight_memory()),
            centre_ids: (0..g).map(|i| address(map.centre_memory(i))).collect(),
            key_ids: (0..s).map(|i| address(map.key_memory(i))).collect(),
            _centres: g,
            _keys: s,
        }
    }
}

impl Logic for TwoLevelStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            write_pointer,
            read_pointer,
            replay_address,
            replay_position,
            replaying,
            cluster,
            key_restart,
            leaf,
            last_e,
            centre_restart
        );
        self.centre_tree.clock.next = self.clock.val();
        self.key_tree.clock.next = self.clock.val();
        self.fifo.clock.next = self.clock.val();
        self.fault.next = self.fifo.overflow.val() | self.fifo.underflow.val();
        // Weights: one copy for each search, both written by the same load.
        self.centre_weights.clock.next = self.clock.val();
        self.centre_weights.read_enable.next = true;
        self.centre_weights.read_address.next = self.read_address.val();
        self.centre_weights.write_enable.next =
            self.load_enable.val() & (self.load_select.val() == self.weight_id.val());
        self.centre_weights.write_address.next = self.load_word.val();
        self.centre_weights.write_data.next = self.load_data.val().get_bits::<4>(0);
        self.key_weights.clock.next = self.clock.val();
        self.key_weights.read_enable.next = true;
        self.key_weights.read_address.next = self.replay_address.q.val();
        self.key_weights.write_enable.next =
            self.load_enable.val() & (self.load_select.val() == self.weight_id.val());
        self.key_weights.write_address.next = self.load_word.val();
        self.key_weights.write_data.next = self.load_data.val().get_bits::<4>(0);

        // ---- Level 1: the centres, on the input stream.
        self.accumulate_line.clock.next = self.clock.val();
        self.accumulate_line.enable.next = true;
        self.accumulate_line.clear.next = false;
        self.accumulate_line.data_in.next = self.accumulate.val();
        self.last_e.d.next = self.last.val();
        self.leaf_valid_line.clock.next = self.clock.val();
        self.leaf_valid_line.enable.next = true;
        self.leaf_valid_line.clear.next = false;
        self.leaf_valid_line.data_in.next = self.leaf_valid.val();
        self.centre_restart.d.next =
            (self.accumulate_line.taps[0].val() & self.last_e.q.val()) | self.reset.val();
        for g in 0..self._centres {
            self.centres[g].clock.next = self.clock.val();
            self.centres[g].read_address.next = self.read_address.val();
            self.centres[g].element.next = self.element.val();
            self.centres[g].weight.next = self.centre_weights.read_data.val();
            self.centres[g].accumulate.next = self.accumulate_line.data_out.val();
            self.centres[g].reset.next = self.reset.val();
            self.centres[g].restart.next = self.centre_restart.q.val();
            self.centres[g].pass_tag.next = 0.into();
            self.centres[g].load_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.centre_ids[g].val());
            self.centres[g].load_address.next = self.load_word.val();
            self.centres[g].load_data.next = self.load_data.val();
            self.centre_tree.leaves[g].next = self.centres[g].key.val();
        }
        self.centre_tree.valid_in.next = self.leaf_valid_line.data_out.val();

        // ---- The replay buffer: every accepted element, in order.
        self.buffer.clock.next = self.clock.val();
        self.buffer.write_enable.next = self.element_valid.val();
        self.buffer.write_address.next = self.write_pointer.q.val();
        self.buffer.write_data.next = self.element.val();
        if self.element_valid.val() {
            self.write_pointer.d.next = self.write_pointer.q.val() + 1;
        }

        // ---- Replay: V elements from the buffer once the centre is known.
        self.start.next = self.centre_tree.valid.val();
        self.fifo.write.next = self.start.val() & !self.reset.val();
        self.fifo.data_in.next = self.centre_tree.key.val().get_bits::<32>(0);
        self.key_address.next =
            (self.replay_address.q.val() << self.cluster_shift.val()) | self.cluster.q.val();
        self.buffer.read_enable.next = true;
        self.buffer.read_address.next = self.read_pointer.q.val();
        if self.replaying.q.val() {
            self.read_pointer.d.next = self.read_pointer.q.val() + 1;
            if self.replay_address.q.val() == self.last_element.val() {
                self.replay_address.d.next = 0.into();
            } else {
                self.replay_address.d.next = self.replay_address.q.val() + 1;
            }
            self.replay_position.d.next = self.replay_position.q.val() + 1;
            if self.replay_position.q.val() == self.last_sub_position.val() {
                self.replaying.d.next = false;
            }
        }
        if self.start.val() {
            self.replaying.d.next = true;
            self.replay_position.d.next = 0.into();
            self.cluster.d.next = self.centre_tree.key.val().get_bits::<16>(16);
        }
        self.replay_valid_line.clock.next = self.clock.val();
        self.replay_valid_line.enable.next = true;
        self.replay_valid_line.clear.next = self.reset.val();
        self.replay_valid_line.data_in.next = self.replaying.q.val();
        self.replay_last_line.clock.next = self.clock.val();
        self.replay_last_line.enable.next = true;
        self.replay_last_line.clear.next = false;
        self.replay_last_line.data_in.next =
            self.replay_position.q.val() == self.last_sub_position.val();
        self.key_restart.d.next = (self.replay_valid_line.taps[4].val()
            & self.replay_last_line.taps[4].val())
            | self.reset.val();
        self.leaf.d.next =
            self.replay_valid_line.data_out.val() & self.replay_last_line.data_out.val();

        // ---- Level 2: the keys of the chosen cluster.
        for s in 0..self._keys {
            self.keys[s].clock.next = self.clock.val();
            self.keys[s].read_address.next = self.key_address.val();
            self.keys[s].element.next = self.buffer.read_data.val();
            self.keys[s].weight.next = self.key_weights.read_data.val();
            self.keys[s].accumulate.next = self.replay_valid_line.data_out.val();
            self.keys[s].reset.next = self.reset.val();
            self.keys[s].restart.next = self.key_restart.q.val();
            self.keys[s].pass_tag.next = 0.into();
            self.keys[s].load_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.key_ids[s].val());
            self.keys[s].load_address.next = self.load_word.val();
            self.keys[s].load_data.next = self.load_data.val();
            self.key_tree.leaves[s].next = self.keys[s].key.val();
        }
        self.key_tree.valid_in.next = self.leaf.q.val();
        self.fifo.read.next =
            self.key_tree.valid.val() | (self.reset.val() & !self.fifo.empty.val());
        self.index.next = (self.fifo.data_out.val().get_bits::<16>(16) << self.slot_shift.val())
            | self.key_tree.key.val().get_bits::<16>(16);
        self.offset.next =
            self.fifo.data_out.val().get_bits::<16>(0) + self.key_tree.key.val().get_bits::<16>(0);
        self.key.next = (bit_cast::<64, 32>(self.key_tree.key.val().get_bits::<32>(32)) << 32)
            | (bit_cast::<64, 16>(self.index.val()) << 16)
            | bit_cast::<64, 16>(self.offset.val());
        self.valid.next = self.key_tree.valid.val();

        if self.reset.val() {
            self.write_pointer.d.next = 0.into();
            self.read_pointer.d.next = 0.into();
            self.replay_address.d.next = 0.into();
            self.replaying.d.next = false;
            self.leaf.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn verilog_is_lint_clean() {
        let config = crate::lint::small_engine(EncoderKind::TwoLevel, 16);
        let mut stage = TwoLevelStage::new(&config, &MemoryMap::new(&config));
        crate::lint::assert_block_is_clean("two_level", &mut stage);
    }
}
