//! The encoder stages: each turns the element stream into one key per
//! codebook, `{score[63:32], index[31:16], row_offset[15:0]}` with
//! `row_offset = index * M`, which the engine pushes into its index FIFO.
//!
//! | stage | encoders | how |
//! |---|---|---|
//! | [`SearchStage`] | `l2`, `l1` | K / F [`DistanceUnit`]s, F passes per element, then an [`ArgminTree`] per pass and an [`ArgminStream`] over the passes |
//! | [`TwoLevelStage`] | `two-level` | G centre units on the stream; the sub-vector is replayed from a buffer to S = K/G key units, whose memories hold the keys of every cluster |
//! | [`TreeStage`] | `tree` | captures the 4 split elements while they stream by, then walks the tree, each level's thresholds read at an address held in registers ([`ThresholdPair`]) |
//! | [`SignStage`] | `sign` | shifts in the sign bits |
//!
//! How the offset is formed: `l2` and `l1` carry only `{distance, index}`
//! through their argmins (narrow compare nodes) and multiply the winner's
//! index by the constant M once, in a register after the last argmin (a
//! shift when M is a power of two); `two-level` carries `g * S * M` and
//! `s * M` as generation-time constants in its keys; `tree` and `sign` build
//! their index bit by bit, most significant first, so the offset follows as
//! `offset = 2 * offset + bit * M`.
//!
//! Timing, with an element accepted at cycle t: its address is on
//! `read_address` at t, the element (and every memory read at t) at t + 1
//! (`valid_1`, `first_1`, `last_1`); in the distance units `|x - p|` is
//! registered at t + 2, the nibble products at t + 3 and the product at
//! t + 4, which they accumulate at t + 4 (`valid_4`, `last_4`);
//! `leaf_valid` is high at t + 5 after a codebook's last element (the
//! search stage registers its units' memory output once more and `x - p`
//! before its magnitude, delays `accumulate`, `last`, `pass_first`
//! and `leaf_valid` by two cycles to match, and registers the winner once
//! more with its row offset, so its keys come three cycles later; the
//! two-level stage's units do the same, their control delayed two cycles
//! on both searches). The `tree` stage has no distance units and takes its
//! leaf at t + 3 (`valid_2 & last_2`) and gives its key 9 cycles after it.

use crate::argmin::{ArgminStream, ArgminTree, Key};
use crate::distance::{DistanceUnit, UnitOptions};
use crate::memory::{Address, BlockRam};
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

/// Depth of the two-level stage's FIFO of chosen clusters (at most
/// `7 + log2(S) + 1` codebooks are between replay start and key result).
pub const CLUSTER_FIFO_DEPTH: usize = 16;
declare_sync_fifo!(ClusterFifo, Bits<32>, 16, 1);

fn address(value: usize) -> Constant<Address> {
    Constant::new((value as u64).into())
}

fn log2(value: usize) -> Constant<Bits<4>> {
    Constant::new(u64::from(value.trailing_zeros()).into())
}

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
    /// The control inputs two cycles later, aligned with the units' extra
    /// read register and their `delta` stage (`_e` the first cycle).
    accumulate_e: DFF<Bit>,
    last_e: DFF<Bit>,
    pass_first_e: DFF<Bit>,
    leaf_valid_e: DFF<Bit>,
    accumulate_d: DFF<Bit>,
    last_d: DFF<Bit>,
    /// The units' `restart`: `accumulate_d & last_d`, or reset, as one register.
    restart_d: DFF<Bit>,
    pass_first_d: DFF<Bit>,
    leaf_valid_d: DFF<Bit>,
    /// Folded: the nearest of the F tree winners of a codebook, in time.
    passes: Vec<ArgminStream>,
    _passes: usize,
    /// log2(F).
    pass_shift: Constant<Bits<4>>,
    unit_address: Signal<Local, Address>,
    folded: Constant<Bit>,
    /// The weight memory (`l1` only).
    weights: Vec<BlockRam<Bits<4>>>,
    weight: Signal<Local, Bits<4>>,
    unit_ids: Vec<Constant<Address>>,
    weight_ids: Vec<Constant<Address>>,
    _units: usize,
    _weights: usize,
}

impl SearchStage {
    /// The search of an `l2` or `l1` engine; memory numbers from `map`.
    pub fn new(config: &EngineConfig, map: &crate::MemoryMap) -> Self {
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
            accumulate_e: Default::default(),
            last_e: Default::default(),
            pass_first_e: Default::default(),
            leaf_valid_e: Default::default(),
            accumulate_d: Default::default(),
            last_d: Default::default(),
            restart_d: Default::default(),
            pass_first_d: Default::default(),
            leaf_valid_d: Default::default(),
            passes: (0..usize::from(f > 1))
                .map(|_| ArgminStream::new(f, distance_bits))
                .collect(),
            _passes: usize::from(f > 1),
            pass_shift: log2(f),
            pass: Default::default(),
            unit_address: Default::default(),
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
                        d * f,
                        UnitOptions {
                            weighted,
                            distance_bits: config.distance_bits(),
                            passes: f,
                            registered_read: true,
                            square_table: config.squares_from_table(),
                        },
                    )
                })
                .collect(),
            tree: ArgminTree::new(u, distance_bits),
            weights: (0..w).map(|_| BlockRam::new(d)).collect(),
            weight: Default::default(),
            unit_ids: (0..u).map(|i| address(map.centroid_memory(i))).collect(),
            weight_ids: (0..w).map(|_| address(map.weight_memory())).collect(),
            _units: u,
            _weights: w,
        }
    }
}

impl Logic for SearchStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            pass_tag,
            pass_done,
            key_q,
            valid_q,
            accumulate_e,
            last_e,
            pass_first_e,
            leaf_valid_e,
            accumulate_d,
            last_d,
            restart_d,
            pass_first_d,
            leaf_valid_d
        );
        self.accumulate_e.d.next = self.accumulate.val();
        self.last_e.d.next = self.last.val();
        self.pass_first_e.d.next = self.pass_first.val();
        self.leaf_valid_e.d.next = self.leaf_valid.val();
        self.accumulate_d.d.next = self.accumulate_e.q.val();
        self.last_d.d.next = self.last_e.q.val();
        self.restart_d.d.next =
            (self.accumulate_e.q.val() & self.last_e.q.val()) | self.reset.val();
        self.pass_first_d.d.next = self.pass_first_e.q.val();
        self.leaf_valid_d.d.next = self.leaf_valid_e.q.val();
        self.tree.clock.next = self.clock.val();
        if self.pass_first_d.q.val() {
            self.next_pass_tag.next = 0.into();
        } else {
            self.next_pass_tag.next =
                (self.pass_tag.q.val() + self.pass_step.val()) & self.index_mask.val();
        }
        if self.accumulate_d.q.val() & self.last_d.q.val() {
            self.pass_tag.d.next = self.next_pass_tag.val();
        }
        self.pass_done.d.next = self.accumulate_d.q.val() & self.last_d.q.val();
        if self.reset.val() {
            self.pass_tag.d.next = 0.into();
            self.pass_done.d.next = false;
        }
        self.weight.next = 0.into();
        self.unit_address.next =
            (self.read_address.val() << self.pass_shift.val()) | self.pass.val();
        for i in 0..self._weights {
            self.weights[i].clock.next = self.clock.val();
            self.weights[i].read_enable.next = true;
            self.weights[i].read_address.next = self.read_address.val();
            self.weights[i].write_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.weight_ids[i].val());
            self.weights[i].write_address.next = self.load_word.val();
            self.weights[i].write_data.next = self.load_data.val().get_bits::<4>(0);
            self.weight.next = self.weights[i].read_data.val();
        }
        for k in 0..self._units {
            self.units[k].clock.next = self.clock.val();
            self.units[k].read_address.next = self.unit_address.val();
            self.units[k].element.next = self.element.val();
            self.units[k].weight.next = self.weight.val();
            self.units[k].accumulate.next = self.accumulate_d.q.val();
            self.units[k].reset.next = self.reset.val();
            self.units[k].restart.next = self.restart_d.q.val();
            self.units[k].pass_tag.next = self.pass_tag.q.val();
            self.units[k].load_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.unit_ids[k].val());
            self.units[k].load_address.next = self.load_word.val();
            self.units[k].load_data.next = self.load_data.val();
            self.tree.leaves[k].next = self.units[k].key.val();
        }
        if self.folded.val() {
            self.tree.valid_in.next = self.pass_done.q.val();
        } else {
            self.tree.valid_in.next = self.leaf_valid_d.q.val();
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

/// `two-level`: nearest of G centres on the input stream, then the
/// sub-vector is replayed from a buffer to S = K / G key units.
///
/// Key unit s holds slot s of every cluster: the key `g * S + s` of
/// codebook c at word `(c * V + v) * G + g`, so its read address is the
/// replayed element's address shifted left by log2(G), or-ed with g. The
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
    valid_1: DFF<Bit>,
    last_1: DFF<Bit>,
    valid_2: DFF<Bit>,
    last_2: DFF<Bit>,
    valid_3: DFF<Bit>,
    last_3: DFF<Bit>,
    valid_4: DFF<Bit>,
    last_4: DFF<Bit>,
    valid_5: DFF<Bit>,
    last_5: DFF<Bit>,
    valid_6: DFF<Bit>,
    last_6: DFF<Bit>,
    /// The key units' `restart`, registered (`valid_5 & last_5`, or reset).
    key_restart: DFF<Bit>,
    leaf: DFF<Bit>,
    /// The centre units' control two cycles later than the engine gives it
    /// (their reads are registered twice): `_e` one cycle, `_d` two.
    accumulate_e: DFF<Bit>,
    last_e: DFF<Bit>,
    leaf_valid_e: DFF<Bit>,
    accumulate_d: DFF<Bit>,
    centre_restart: DFF<Bit>,
    leaf_valid_d: DFF<Bit>,
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
    pub fn new(config: &EngineConfig, map: &crate::MemoryMap) -> Self {
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
            valid_1: Default::default(),
            last_1: Default::default(),
            valid_2: Default::default(),
            last_2: Default::default(),
            valid_3: Default::default(),
            last_3: Default::default(),
            valid_4: Default::default(),
            last_4: Default::default(),
            valid_5: Default::default(),
            last_5: Default::default(),
            valid_6: Default::default(),
            last_6: Default::default(),
            key_restart: Default::default(),
            leaf: Default::default(),
            accumulate_e: Default::default(),
            last_e: Default::default(),
            leaf_valid_e: Default::default(),
            accumulate_d: Default::default(),
            centre_restart: Default::default(),
            leaf_valid_d: Default::default(),
            start: Default::default(),
            key_address: Default::default(),
            index: Default::default(),
            offset: Default::default(),
            last_element: address(d - 1),
            last_sub_position: address(v - 1),
            cluster_shift: log2(g),
            slot_shift: log2(s),
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
            valid_1,
            last_1,
            valid_2,
            last_2,
            valid_3,
            last_3,
            valid_4,
            last_4,
            valid_5,
            last_5,
            valid_6,
            last_6,
            key_restart,
            leaf,
            accumulate_e,
            last_e,
            leaf_valid_e,
            accumulate_d,
            centre_restart,
            leaf_valid_d
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
        self.accumulate_e.d.next = self.accumulate.val();
        self.last_e.d.next = self.last.val();
        self.leaf_valid_e.d.next = self.leaf_valid.val();
        self.accumulate_d.d.next = self.accumulate_e.q.val();
        self.centre_restart.d.next =
            (self.accumulate_e.q.val() & self.last_e.q.val()) | self.reset.val();
        self.leaf_valid_d.d.next = self.leaf_valid_e.q.val();
        for g in 0..self._centres {
            self.centres[g].clock.next = self.clock.val();
            self.centres[g].read_address.next = self.read_address.val();
            self.centres[g].element.next = self.element.val();
            self.centres[g].weight.next = self.centre_weights.read_data.val();
            self.centres[g].accumulate.next = self.accumulate_d.q.val();
            self.centres[g].reset.next = self.reset.val();
            self.centres[g].restart.next = self.centre_restart.q.val();
            self.centres[g].pass_tag.next = 0.into();
            self.centres[g].load_enable.next =
                self.load_enable.val() & (self.load_select.val() == self.centre_ids[g].val());
            self.centres[g].load_address.next = self.load_word.val();
            self.centres[g].load_data.next = self.load_data.val();
            self.centre_tree.leaves[g].next = self.centres[g].key.val();
        }
        self.centre_tree.valid_in.next = self.leaf_valid_d.q.val();

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
        self.valid_1.d.next = self.replaying.q.val();
        self.last_1.d.next = self.replay_position.q.val() == self.last_sub_position.val();
        self.valid_2.d.next = self.valid_1.q.val();
        self.last_2.d.next = self.last_1.q.val();
        self.valid_3.d.next = self.valid_2.q.val();
        self.last_3.d.next = self.last_2.q.val();
        self.valid_4.d.next = self.valid_3.q.val();
        self.last_4.d.next = self.last_3.q.val();
        self.valid_5.d.next = self.valid_4.q.val();
        self.last_5.d.next = self.last_4.q.val();
        self.valid_6.d.next = self.valid_5.q.val();
        self.last_6.d.next = self.last_5.q.val();
        self.key_restart.d.next = (self.valid_5.q.val() & self.last_5.q.val()) | self.reset.val();
        self.leaf.d.next = self.valid_6.q.val() & self.last_6.q.val();

        // ---- Level 2: the keys of the chosen cluster.
        for s in 0..self._keys {
            self.keys[s].clock.next = self.clock.val();
            self.keys[s].read_address.next = self.key_address.val();
            self.keys[s].element.next = self.buffer.read_data.val();
            self.keys[s].weight.next = self.key_weights.read_data.val();
            self.keys[s].accumulate.next = self.valid_6.q.val();
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
            self.valid_1.d.next = false;
            self.valid_2.d.next = false;
            self.valid_3.d.next = false;
            self.valid_4.d.next = false;
            self.valid_5.d.next = false;
            self.valid_6.d.next = false;
            self.leaf.d.next = false;
        }
    }
}

/// `tree`: capture the four split elements, then walk the tree in a
/// pipeline that reads each level's thresholds at an address held in
/// registers.
///
/// A mask memory (D words of 4 bits) marks, for each input element, the
/// levels that compare it; the element is captured into that level's
/// register as it streams by. Level l's thresholds are word `c * 8 + node`
/// of its memory (node = the path bits so far); `x >= t` (signed) goes
/// right, bit 1. Every memory is read through two registers (on the ECP5 a
/// DP16KD's own output register), so no compare drives a memory address:
/// the root is read at `c * 8`, and levels 1 to 3 keep even and odd nodes in
/// two memories ([`ThresholdPair`]) read together at the parent's address,
/// the child picked after the read by the parent's registered bit, into a
/// register. With the leaf at cycle L, the levels compare at L + 2, L + 4,
/// L + 6 and L + 8, and the key leaves a register at L + 9.
#[derive(LogicBlock)]
pub struct TreeStage {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub read_address: Signal<In, Address>,
    pub element: Signal<In, Bits<8>>,
    pub element_valid: Signal<In, Bit>,
    /// A codebook's last element was accepted three cycles ago (`valid_2 & last_2`).
    pub leaf: Signal<In, Bit>,
    pub load_enable: Signal<In, Bit>,
    pub load_select: Signal<In, Address>,
    pub load_word: Signal<In, Address>,
    pub load_data: Signal<In, Bits<8>>,
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    masks: BlockRam<Bits<4>>,
    root: BlockRam<Bits<8>>,
    level1: ThresholdPair,
    level2: ThresholdPair,
    level3: ThresholdPair,
    x0: DFF<Bits<8>>,
    x1: DFF<Bits<8>>,
    x2: DFF<Bits<8>>,
    x3: DFF<Bits<8>>,
    codebook: DFF<Address>,
    /// Stage registers: `valid{s}`, `xs{s}` (the split elements, offset
    /// binary), `codebook{s}` and `node{s}` (the path bits so far) hold a
    /// codebook's walk at cycle L + s.
    valid1: DFF<Bit>,
    valid2: DFF<Bit>,
    valid3: DFF<Bit>,
    valid4: DFF<Bit>,
    valid5: DFF<Bit>,
    valid6: DFF<Bit>,
    valid7: DFF<Bit>,
    valid8: DFF<Bit>,
    valid9: DFF<Bit>,
    xs1: DFF<Bits<32>>,
    xs2: DFF<Bits<32>>,
    xs3: DFF<Bits<32>>,
    xs4: DFF<Bits<32>>,
    xs5: DFF<Bits<32>>,
    xs6: DFF<Bits<32>>,
    xs7: DFF<Bits<32>>,
    xs8: DFF<Bits<32>>,
    codebook1: DFF<Address>,
    codebook2: DFF<Address>,
    codebook3: DFF<Address>,
    codebook4: DFF<Address>,
    codebook5: DFF<Address>,
    node3: DFF<Address>,
    node4: DFF<Address>,
    node5: DFF<Address>,
    node6: DFF<Address>,
    node7: DFF<Address>,
    node8: DFF<Address>,
    index9: DFF<Address>,
    bit0: Signal<Local, Bit>,
    bit1: Signal<Local, Bit>,
    bit2: Signal<Local, Bit>,
    bit3: Signal<Local, Bit>,
    level_select: Signal<Local, Bits<4>>,
    sign_flip: Constant<Bits<8>>,
    rows: Constant<Address>,
    last_codebook: Constant<Address>,
    mask_id: Constant<Address>,
    level_ids: Vec<Constant<Address>>,
}

impl TreeStage {
    /// The tree encoder of `config`; memory numbers from `map`.
    pub fn new(config: &EngineConfig, map: &crate::MemoryMap) -> Self {
        let words = config.tree_threshold_words();
        TreeStage {
            clock: Default::default(),
            reset: Default::default(),
            read_address: Default::default(),
            element: Default::default(),
            element_valid: Default::default(),
            leaf: Default::default(),
            load_enable: Default::default(),
            load_select: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            masks: BlockRam::new(config.input_dim),
            root: BlockRam::pipelined(words),
            level1: ThresholdPair::new(words),
            level2: ThresholdPair::new(words),
            level3: ThresholdPair::new(words),
            x0: Default::default(),
            x1: Default::default(),
            x2: Default::default(),
            x3: Default::default(),
            codebook: Default::default(),
            valid1: Default::default(),
            valid2: Default::default(),
            valid3: Default::default(),
            valid4: Default::default(),
            valid5: Default::default(),
            valid6: Default::default(),
            valid7: Default::default(),
            valid8: Default::default(),
            valid9: Default::default(),
            xs1: Default::default(),
            xs2: Default::default(),
            xs3: Default::default(),
            xs4: Default::default(),
            xs5: Default::default(),
            xs6: Default::default(),
            xs7: Default::default(),
            xs8: Default::default(),
            codebook1: Default::default(),
            codebook2: Default::default(),
            codebook3: Default::default(),
            codebook4: Default::default(),
            codebook5: Default::default(),
            node3: Default::default(),
            node4: Default::default(),
            node5: Default::default(),
            node6: Default::default(),
            node7: Default::default(),
            node8: Default::default(),
            index9: Default::default(),
            bit0: Default::default(),
            bit1: Default::default(),
            bit2: Default::default(),
            bit3: Default::default(),
            level_select: Default::default(),
            sign_flip: Constant::new(0x80u64.into()),
            rows: address(config.rows_per_lane()),
            last_codebook: address(config.codebooks - 1),
            mask_id: address(map.mask_memory()),
            level_ids: (0..4).map(|l| address(map.threshold_memory(l))).collect(),
        }
    }
}

impl Logic for TreeStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, x0, x1, x2, x3, codebook, valid1, valid2, valid3, valid4, valid5, valid6,
            valid7, valid8, valid9, xs1, xs2, xs3, xs4, xs5, xs6, xs7, xs8, codebook1, codebook2,
            codebook3, codebook4, codebook5, node3, node4, node5, node6, node7, node8, index9
        );
        // Load port: which memory the word is for.
        self.level_select.next = 0.into();
        if self.load_enable.val() {
            self.level_select.next =
                bit_cast::<4, 1>((self.load_select.val() == self.level_ids[0].val()).into())
                    | (bit_cast::<4, 1>(
                        (self.load_select.val() == self.level_ids[1].val()).into(),
                    ) << 1)
                    | (bit_cast::<4, 1>(
                        (self.load_select.val() == self.level_ids[2].val()).into(),
                    ) << 2)
                    | (bit_cast::<4, 1>(
                        (self.load_select.val() == self.level_ids[3].val()).into(),
                    ) << 3);
        }
        self.masks.clock.next = self.clock.val();
        self.masks.write_enable.next =
            self.load_enable.val() & (self.load_select.val() == self.mask_id.val());
        self.masks.write_address.next = self.load_word.val();
        self.masks.write_data.next = self.load_data.val().get_bits::<4>(0);
        self.root.clock.next = self.clock.val();
        self.root.write_enable.next = self.level_select.val().get_bit(0);
        self.root.write_address.next = self.load_word.val();
        // Thresholds are stored in offset binary (sign bit flipped), like the
        // captured elements, so each compare is a bare carry chain.
        self.root.write_data.next = self.load_data.val() ^ self.sign_flip.val();
        self.level1.clock.next = self.clock.val();
        self.level1.write_enable.next = self.level_select.val().get_bit(1);
        self.level1.load_word.next = self.load_word.val();
        self.level1.load_data.next = self.load_data.val() ^ self.sign_flip.val();
        self.level2.clock.next = self.clock.val();
        self.level2.write_enable.next = self.level_select.val().get_bit(2);
        self.level2.load_word.next = self.load_word.val();
        self.level2.load_data.next = self.load_data.val() ^ self.sign_flip.val();
        self.level3.clock.next = self.clock.val();
        self.level3.write_enable.next = self.level_select.val().get_bit(3);
        self.level3.load_word.next = self.load_word.val();
        self.level3.load_data.next = self.load_data.val() ^ self.sign_flip.val();

        // ---- Capture the split elements as they stream by.
        self.masks.read_enable.next = true;
        self.masks.read_address.next = self.read_address.val();
        if self.element_valid.val() & self.masks.read_data.val().get_bit(0) {
            self.x0.d.next = self.element.val();
        }
        if self.element_valid.val() & self.masks.read_data.val().get_bit(1) {
            self.x1.d.next = self.element.val();
        }
        if self.element_valid.val() & self.masks.read_data.val().get_bit(2) {
            self.x2.d.next = self.element.val();
        }
        if self.element_valid.val() & self.masks.read_data.val().get_bit(3) {
            self.x3.d.next = self.element.val();
        }

        // ---- L: the codebook's four elements are captured; read the root.
        self.root.read_enable.next = true;
        self.root.read_address.next = self.codebook.q.val() << 3;
        self.valid1.d.next = self.leaf.val();
        // Offset-binary forms (sign bit flipped): a signed compare as unsigned.
        self.xs1.d.next = bit_cast::<32, 8>(self.x0.q.val() ^ self.sign_flip.val())
            | (bit_cast::<32, 8>(self.x1.q.val() ^ self.sign_flip.val()) << 8)
            | (bit_cast::<32, 8>(self.x2.q.val() ^ self.sign_flip.val()) << 16)
            | (bit_cast::<32, 8>(self.x3.q.val() ^ self.sign_flip.val()) << 24);
        self.codebook1.d.next = self.codebook.q.val();
        if self.leaf.val() {
            if self.codebook.q.val() == self.last_codebook.val() {
                self.codebook.d.next = 0.into();
            } else {
                self.codebook.d.next = self.codebook.q.val() + 1;
            }
        }

        // ---- L + 1: read level 1's pair (the root's children).
        self.level1.read_address.next = self.codebook1.q.val() << 2;
        self.valid2.d.next = self.valid1.q.val();
        self.xs2.d.next = self.xs1.q.val();
        self.codebook2.d.next = self.codebook1.q.val();

        // ---- L + 2: compare at the root.
        self.bit0.next = self.xs2.q.val().get_bits::<8>(0) >= self.root.read_data.val();
        self.valid3.d.next = self.valid2.q.val();
        self.xs3.d.next = self.xs2.q.val();
        self.codebook3.d.next = self.codebook2.q.val();
        self.node3.d.next = bit_cast::<16, 1>(self.bit0.val().into());

        // ---- L + 3: pick level 1's threshold; read level 2's pair.
        self.level1.select.next = self.node3.q.val().get_bit(0);
        self.level2.read_address.next = (self.codebook3.q.val() << 2) | self.node3.q.val();
        self.valid4.d.next = self.valid3.q.val();
        self.xs4.d.next = self.xs3.q.val();
        self.codebook4.d.next = self.codebook3.q.val();
        self.node4.d.next = self.node3.q.val();

        // ---- L + 4: compare at level 1.
        self.bit1.next = self.xs4.q.val().get_bits::<8>(8) >= self.level1.threshold.val();
        self.valid5.d.next = self.valid4.q.val();
        self.xs5.d.next = self.xs4.q.val();
        self.codebook5.d.next = self.codebook4.q.val();
        self.node5.d.next = (self.node4.q.val() << 1) | bit_cast::<16, 1>(self.bit1.val().into());

        // ---- L + 5: pick level 2's threshold; read level 3's pair.
        self.level2.select.next = self.node5.q.val().get_bit(0);
        self.level3.read_address.next = (self.codebook5.q.val() << 2) | self.node5.q.val();
        self.valid6.d.next = self.valid5.q.val();
        self.xs6.d.next = self.xs5.q.val();
        self.node6.d.next = self.node5.q.val();

        // ---- L + 6: compare at level 2.
        self.bit2.next = self.xs6.q.val().get_bits::<8>(16) >= self.level2.threshold.val();
        self.valid7.d.next = self.valid6.q.val();
        self.xs7.d.next = self.xs6.q.val();
        self.node7.d.next = (self.node6.q.val() << 1) | bit_cast::<16, 1>(self.bit2.val().into());

        // ---- L + 7: pick level 3's threshold.
        self.level3.select.next = self.node7.q.val().get_bit(0);
        self.valid8.d.next = self.valid7.q.val();
        self.xs8.d.next = self.xs7.q.val();
        self.node8.d.next = self.node7.q.val();

        // ---- L + 8: compare at level 3: the leaf's index.
        self.bit3.next = self.xs8.q.val().get_bits::<8>(24) >= self.level3.threshold.val();
        self.valid9.d.next = self.valid8.q.val();
        self.index9.d.next = (self.node8.q.val() << 1) | bit_cast::<16, 1>(self.bit3.val().into());

        // ---- L + 9: the key, its row offset `index * M` (M is a constant).
        self.key.next = (bit_cast::<64, 16>(self.index9.q.val()) << 16)
            | bit_cast::<64, 16>(bit_cast::<16, 32>(self.index9.q.val() * self.rows.val()));
        self.valid.next = self.valid9.q.val();

        if self.reset.val() {
            self.codebook.d.next = 0.into();
            self.valid1.d.next = false;
            self.valid2.d.next = false;
            self.valid3.d.next = false;
            self.valid4.d.next = false;
            self.valid5.d.next = false;
            self.valid6.d.next = false;
            self.valid7.d.next = false;
            self.valid8.d.next = false;
            self.valid9.d.next = false;
        }
    }
}

/// One level of a `tree` encoder's thresholds, even and odd nodes in two
/// memories so a node's two children are read together, at the node's
/// address (`c * 4 + node / 2` for a child's word `c * 8 + node`), and the
/// child picked after the read.
#[derive(LogicBlock)]
pub struct ThresholdPair {
    pub clock: Signal<In, Clock>,
    /// The parent's address; the pair arrives two edges later.
    pub read_address: Signal<In, Address>,
    /// Which child, two edges after the read: 1 = the odd node.
    pub select: Signal<In, Bit>,
    /// The picked child's threshold, registered: three edges after the read.
    pub threshold: Signal<Out, Bits<8>>,
    /// A load-port word for this level: word `c * 8 + node` of its threshold memory.
    pub write_enable: Signal<In, Bit>,
    pub load_word: Signal<In, Address>,
    pub load_data: Signal<In, Bits<8>>,
    even: BlockRam<Bits<8>>,
    odd: BlockRam<Bits<8>>,
    picked: DFF<Bits<8>>,
}

impl ThresholdPair {
    /// A level of `words` threshold words (`c * 8 + node`).
    pub fn new(words: usize) -> Self {
        ThresholdPair {
            clock: Default::default(),
            read_address: Default::default(),
            select: Default::default(),
            threshold: Default::default(),
            write_enable: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            even: BlockRam::pipelined(words.div_ceil(2)),
            odd: BlockRam::pipelined(words.div_ceil(2)),
            picked: Default::default(),
        }
    }
}

impl Logic for ThresholdPair {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, picked);
        self.even.clock.next = self.clock.val();
        self.odd.clock.next = self.clock.val();
        self.even.read_enable.next = true;
        self.odd.read_enable.next = true;
        self.even.read_address.next = self.read_address.val();
        self.odd.read_address.next = self.read_address.val();
        self.even.write_enable.next = self.write_enable.val() & !self.load_word.val().get_bit(0);
        self.odd.write_enable.next = self.write_enable.val() & self.load_word.val().get_bit(0);
        self.even.write_address.next = self.load_word.val() >> 1;
        self.odd.write_address.next = self.load_word.val() >> 1;
        self.even.write_data.next = self.load_data.val();
        self.odd.write_data.next = self.load_data.val();
        // The pick is registered so that no compare waits on the block RAM's
        // output routing and a multiplexer (on iCE40 the register packs with
        // the multiplexer's LUT).
        if self.select.val() {
            self.picked.d.next = self.odd.read_data.val();
        } else {
            self.picked.d.next = self.even.read_data.val();
        }
        self.threshold.next = self.picked.q.val();
    }
}

/// `sign`: the sub-vector's sign bits, element 0 first (most significant).
#[derive(LogicBlock)]
pub struct SignStage {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// The sign bit of the element (bit 7), aligned with `element_valid`.
    pub sign: Signal<In, Bit>,
    pub element_valid: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub last: Signal<In, Bit>,
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    code: DFF<Address>,
    offset: DFF<Address>,
    done: DFF<Bit>,
    code_base: Signal<Local, Address>,
    offset_base: Signal<Local, Address>,
    rows: Constant<Address>,
}

impl SignStage {
    /// The sign encoder of `config`.
    pub fn new(config: &EngineConfig) -> Self {
        SignStage {
            clock: Default::default(),
            reset: Default::default(),
            sign: Default::default(),
            element_valid: Default::default(),
            first: Default::default(),
            last: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            code: Default::default(),
            offset: Default::default(),
            done: Default::default(),
            code_base: Default::default(),
            offset_base: Default::default(),
            rows: address(config.rows_per_lane()),
        }
    }
}

impl Logic for SignStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, code, offset, done);
        if self.first.val() {
            self.code_base.next = 0.into();
            self.offset_base.next = 0.into();
        } else {
            self.code_base.next = self.code.q.val() << 1;
            self.offset_base.next = self.offset.q.val() << 1;
        }
        if self.element_valid.val() {
            if self.sign.val() {
                self.code.d.next = self.code_base.val() | 1;
                self.offset.d.next = self.offset_base.val() + self.rows.val();
            } else {
                self.code.d.next = self.code_base.val();
                self.offset.d.next = self.offset_base.val();
            }
        }
        self.done.d.next = self.element_valid.val() & self.last.val() & !self.reset.val();
        self.key.next =
            (bit_cast::<64, 16>(self.code.q.val()) << 16) | bit_cast::<64, 16>(self.offset.q.val());
        self.valid.next = self.done.q.val();
    }
}
