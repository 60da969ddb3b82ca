//! The engine: centroid search, table read and accumulation, as one pipeline.
//!
//! Data path: the input stream (one int8 element per beat) feeds the
//! encoder stage (see [`crate::encoders`]: for `l2` and `l1`, K / F distance
//! units that see each element F times, and argmins over units and passes);
//! once per codebook the stage
//! produces the chosen row and its table row offset, which go into a FIFO. The table reader pops one offset per codebook and reads
//! `M = ceil(N / L)` rows from each of the L [`Lane`]s, one per cycle, so a
//! vector costs `C * M` cycles, the table-read bound. The search for the next
//! codebooks runs while the current ones are read. When a vector's last entry
//! is accumulated, the lanes copy their accumulators to output registers and
//! the output stream sends N words while the next vector accumulates.
//!
//! Load port: `load_address[31:16]` selects a memory (see [`crate::memory_map`]),
//! `load_address[15:0]` is the word in it.

use crate::argmin::Key;
use crate::delay::{Delay, PerFamily};
use crate::encoders::{SearchStage, SignStage, TreeStage, TwoLevelStage};
use crate::fifo::IndexFifo;
use crate::lane::{Lane, Word};
use crate::memory::{address, shift_by, Address};
use lutgen_core::memory_map::{MemoryMap, BANK_MEMORY};
use lutgen_core::sequential::{bank_stride, banked_words};
use lutgen_core::{EncoderKind, EngineConfig};
use rust_hdl::prelude::*;

/// Depth of the FIFO of encoded codebooks between the search and the table read.
pub const INDEX_FIFO_DEPTH: u64 = crate::fifo::DEPTH as u64;

/// Cycles `reset` must be held to empty every pipeline stage and FIFO.
pub const RESET_CYCLES: u64 = 64;

#[derive(LogicBlock)]
pub struct Engine {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset of all control state; hold for [`RESET_CYCLES`].
    pub reset: Signal<In, Bit>,
    /// Input stream: activations, element 0 of each vector first.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// Output stream: N 32-bit results per vector, output 0 first.
    pub out_data: Signal<Out, Word>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// High with the last output of each vector.
    pub out_last: Signal<Out, Bit>,
    /// Load port for centroids, tables and bias.
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    /// Encoder trace: one pulse per codebook with the chosen index and distance.
    pub encode_valid: Signal<Out, Bit>,
    pub encode_index: Signal<Out, Bits<16>>,
    pub encode_distance: Signal<Out, Bits<32>>,
    /// Sticky: the index FIFO over- or underflowed. Never set in a correct engine.
    pub fault: Signal<Out, Bit>,
    fault_flag: DFF<Bit>,

    // The encoder: exactly one of these four vectors has one stage.
    search: Vec<SearchStage>,
    two_level: Vec<TwoLevelStage>,
    trees: Vec<TreeStage>,
    signs: Vec<SignStage>,
    stage_key: Signal<Local, Key>,
    stage_valid: Signal<Local, Bit>,
    stage_fault: Signal<Local, Bit>,
    load_select: Signal<Local, Address>,
    load_word: Signal<Local, Address>,
    /// Banks (the sequential schedule, [`lutgen_core::sequential`]): the bank
    /// every memory reads (set through the load port at `BANK_MEMORY`), the
    /// bank a load writes (its address's layer field), and what each puts
    /// above a table or bias address. All zero in an engine with one bank.
    read_bank: DFF<Bits<4>>,
    load_bank: Signal<Local, Bits<4>>,
    bank_mask: Constant<Bits<4>>,
    bank_id: Constant<Address>,
    select_mask: Constant<Address>,
    table_shift: Constant<Bits<4>>,
    bias_shift: Constant<Bits<4>>,
    table_read_offset: Signal<Local, Address>,
    bias_read_offset: Signal<Local, Address>,
    table_load_offset: Signal<Local, Address>,
    bias_load_offset: Signal<Local, Address>,
    fifo: IndexFifo,
    element_address: DFF<Address>,
    sub_position: DFF<Address>,
    reserved: DFF<Bits<8>>,
    /// `reserved == INDEX_FIFO_DEPTH`, kept as a register so the input's ready
    /// does not wait on a compare.
    full: DFF<Bit>,
    /// `!busy & (sub_position != 0 | !full)`, the input's ready but for
    /// reset, kept as a register, so `accept` is one LUT from flip-flops
    /// and the input port. Its next value is formed from registers for
    /// both outcomes of `accept` (`ready_if_accept`, `ready_if_idle`) and
    /// picked by it, so no counter's adder sits before it.
    ready: DFF<Bit>,
    ready_if_accept: Signal<Local, Bit>,
    ready_if_idle: Signal<Local, Bit>,
    /// `full` next cycle if this cycle's element starts a codebook.
    full_if_start: Signal<Local, Bit>,
    single_pass: Constant<Bit>,
    element: DFF<Bits<8>>,
    first_1: DFF<Bit>,
    /// An element (or one pass of it) was issued 1 to 4 cycles ago: tap i is
    /// `valid_{i+1}` (cleared by reset).
    valid_line: Delay<Bit>,
    /// The element issued 1 to 4 cycles ago is its sub-vector's last (`last_{i+1}`).
    last_line: Delay<Bit>,
    /// This cycle's `last_1` to be.
    next_last: Signal<Local, Bit>,
    leaf_valid: DFF<Bit>,
    /// Folded search (F > 1): the accepted element is issued to the distance
    /// units F times, pass p reading word `address * F + p`; `pass` is the
    /// next pass to issue, 0 when no element is held.
    pass: DFF<Address>,
    held_address: DFF<Address>,
    held_first: DFF<Bit>,
    held_last: DFF<Bit>,
    /// The element issued 4 cycles ago was its pass 0 (`pass_first_4`).
    pass_first_line: Delay<Bit>,
    busy: DFF<Bit>,
    search_address: Signal<Local, Address>,
    search_pass: Signal<Local, Address>,
    accept: Signal<Local, Bit>,
    start_codebook: Signal<Local, Bit>,

    // The table read.
    lanes: Vec<Lane>,
    reading: DFF<Bit>,
    row: DFF<Address>,
    table_address: DFF<Address>,
    codebook_base: DFF<Address>,
    codebook: DFF<Address>,
    /// `codebook == C - 1` and the base of the codebook after this one,
    /// both registered: the next table address is one add from registers.
    codebook_last: DFF<Bit>,
    next_base: DFF<Address>,
    token_valid: DFF<Bit>,
    token_first: DFF<Bit>,
    token_last: DFF<Bit>,
    entry_valid: DFF<Bit>,
    entry_first: DFF<Bit>,
    entry_last: DFF<Bit>,
    done: DFF<Bit>,
    /// The table read moves on this cycle: `!done | out_idle`, kept as a
    /// register (formed from the next values of both), so the stall that
    /// enables every memory and register of the table read comes straight
    /// from a flip-flop. A finished vector waits for the output stream to
    /// go idle, not for its last word to be taken, which costs one cycle
    /// per vector only when the output stream is the slower side.
    advance: DFF<Bit>,
    pop: Signal<Local, Bit>,
    finishing: Signal<Local, Bit>,
    offset: Signal<Local, Address>,
    /// Up to two row offsets taken from the index FIFO ahead of the table
    /// reader: the FIFO is read on registered state only, so the reader's
    /// pop decision (which waits on the output stream) never reaches the
    /// FIFO's read address and memory.
    head_offset: DFF<Address>,
    spare_offset: DFF<Address>,
    buffered: DFF<Bits<2>>,
    fetch: Signal<Local, Bit>,
    /// `done & out_idle`: a finished vector moves into the output
    /// registers. On the iCE40 a register formed from the next values of
    /// both (like `advance`, `capture_q`), so the enable of every output
    /// register and the output control come straight from a flip-flop; on
    /// the ECP5 the AND of the two registers (the register measured worse
    /// there: docs/boards.md, round 9). Both are the same signal every cycle.
    capture_q: DFF<Bit>,
    capture_pick: PerFamily,
    capture: Signal<Local, Bit>,

    // The output stream.
    remaining: DFF<Bits<32>>,
    /// `remaining == 0`, `remaining == 1` and `row == M - 1`, registered with
    /// their counters: the output and table-read control is then a LUT or
    /// two from registers.
    out_idle: DFF<Bit>,
    out_final: DFF<Bit>,
    row_last: DFF<Bit>,
    lane_select: DFF<Address>,
    fire: Signal<Local, Bit>,
    select: Signal<Local, Address>,

    // Runtime constants.
    last_element: Constant<Address>,
    last_sub_position: Constant<Address>,
    last_pass: Constant<Address>,
    // Counter masks: every counter keeps only the bits its largest value
    // needs, so synthesis drops the rest (and their compare logic).
    element_mask: Constant<Address>,
    sub_mask: Constant<Address>,
    pass_mask: Constant<Address>,
    row_mask: Constant<Address>,
    codebook_mask: Constant<Address>,
    table_mask: Constant<Address>,
    lane_mask: Constant<Address>,
    remaining_mask: Constant<Bits<32>>,
    penultimate_row: Constant<Address>,
    single_row: Constant<Bit>,
    single_output: Constant<Bit>,
    penultimate_codebook: Constant<Address>,
    single_codebook: Constant<Bit>,
    first_next_base: Constant<Address>,
    last_reserved: Constant<Bits<8>>,
    base_step: Constant<Address>,
    /// `K * M` is a power of two: a codebook's base has no bits in common
    /// with a row offset, so `base + offset` is `base | offset` (no carry
    /// chain between the index FIFO and the table address).
    disjoint_offsets: Constant<Bit>,
    /// The table address a codebook starts at: its base plus the popped offset.
    start_address: Signal<Local, Address>,
    last_lane: Constant<Address>,
    outputs: Constant<Bits<32>>,
    table_ids: Vec<Constant<Address>>,
    /// Lane l's first and last bias memory (one per entry of its words).
    bias_ids: Vec<Constant<Address>>,
    bias_last_ids: Vec<Constant<Address>>,
    lane_ids: Vec<Constant<Address>>,
    /// `lane_select` counts the L * R outputs of a row: its low log2(R)
    /// bits are the entry, the bits above the lane.
    entry_shift: Constant<Bits<4>>,
    entry_mask: Constant<Address>,
    entry_select: Signal<Local, Address>,
    _search: usize,
    _two_level: usize,
    _trees: usize,
    _signs: usize,
    _lanes: usize,
}

/// All ones in the bits a counter up to `largest` needs (0 for a counter that stays 0).
fn counter_mask(largest: usize) -> u64 {
    (largest as u64 + 1).next_power_of_two() - 1
}

/// The shift that puts a bank above a memory's `words` per bank (0 for one bank).
fn bank_shift(words: usize, banks: usize) -> Constant<Bits<4>> {
    shift_by(if banks == 1 { 1 } else { bank_stride(words) })
}

impl Engine {
    /// The engine for a configuration; `config` must already be validated.
    pub fn new(config: &EngineConfig) -> Self {
        Engine::banked(config, 1)
    }

    /// The engine for a configuration with `banks` (1 to 16) banks in every
    /// memory, for the sequential schedule; `config` must already be
    /// validated, and with more than one bank be an `l2` or `l1` engine of a
    /// [`lutgen_core::sequential::SequentialPlan`].
    pub fn banked(config: &EngineConfig, banks: usize) -> Self {
        let (d, v, c, k) = (
            config.input_dim,
            config.sub_vector_len(),
            config.codebooks,
            config.centroids,
        );
        let count = |kinds: &[EncoderKind]| usize::from(kinds.contains(&config.encoder));
        let (search, two_level, trees, signs) = (
            count(&[EncoderKind::L2, EncoderKind::L1]),
            count(&[EncoderKind::TwoLevel]),
            count(&[EncoderKind::Tree]),
            count(&[EncoderKind::Sign]),
        );
        let (m, l, r) = (
            config.rows_per_lane(),
            config.lanes,
            config.entries_per_read,
        );
        let map = MemoryMap::new(config);
        Engine {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            encode_valid: Default::default(),
            encode_index: Default::default(),
            encode_distance: Default::default(),
            fault: Default::default(),
            fault_flag: Default::default(),
            search: (0..search)
                .map(|_| SearchStage::new(config, &map, banks))
                .collect(),
            two_level: (0..two_level)
                .map(|_| TwoLevelStage::new(config, &map))
                .collect(),
            trees: (0..trees).map(|_| TreeStage::new(config, &map)).collect(),
            signs: (0..signs).map(|_| SignStage::new(config)).collect(),
            stage_key: Default::default(),
            stage_valid: Default::default(),
            stage_fault: Default::default(),
            load_select: Default::default(),
            load_word: Default::default(),
            read_bank: Default::default(),
            load_bank: Default::default(),
            bank_mask: Constant::new(((banks.next_power_of_two() - 1) as u64).into()),
            bank_id: address(BANK_MEMORY),
            select_mask: address(0x0FFF),
            table_shift: bank_shift(config.table_words_per_lane(), banks),
            bias_shift: bank_shift(m, banks),
            table_read_offset: Default::default(),
            bias_read_offset: Default::default(),
            table_load_offset: Default::default(),
            bias_load_offset: Default::default(),
            fifo: Default::default(),
            element_address: Default::default(),
            sub_position: Default::default(),
            reserved: Default::default(),
            full: Default::default(),
            ready: Default::default(),
            ready_if_accept: Default::default(),
            ready_if_idle: Default::default(),
            full_if_start: Default::default(),
            single_pass: Constant::new(config.centroids_per_unit() == 1),
            element: Default::default(),
            first_1: Default::default(),
            valid_line: Delay::new(4),
            last_line: Delay::new(4),
            next_last: Default::default(),
            pass_first_line: Delay::new(4),
            leaf_valid: Default::default(),
            pass: Default::default(),
            held_address: Default::default(),
            held_first: Default::default(),
            held_last: Default::default(),
            busy: Default::default(),
            search_address: Default::default(),
            search_pass: Default::default(),
            accept: Default::default(),
            start_codebook: Default::default(),
            lanes: (0..l)
                .map(|_| {
                    Lane::new(
                        banked_words(config.table_words_per_lane(), banks),
                        banked_words(m, banks),
                        r,
                        config.table_bits,
                        m,
                        config.accumulator_bits(),
                    )
                })
                .collect(),
            reading: Default::default(),
            row: Default::default(),
            table_address: Default::default(),
            codebook_base: Default::default(),
            codebook: Default::default(),
            codebook_last: Default::default(),
            token_valid: Default::default(),
            token_first: Default::default(),
            token_last: Default::default(),
            entry_valid: Default::default(),
            entry_first: Default::default(),
            entry_last: Default::default(),
            done: Default::default(),
            advance: Default::default(),
            pop: Default::default(),
            finishing: Default::default(),
            next_base: Default::default(),
            offset: Default::default(),
            head_offset: Default::default(),
            spare_offset: Default::default(),
            buffered: Default::default(),
            fetch: Default::default(),
            capture_q: Default::default(),
            capture_pick: Default::default(),
            capture: Default::default(),
            remaining: Default::default(),
            out_idle: Default::default(),
            out_final: Default::default(),
            row_last: Default::default(),
            lane_select: Default::default(),
            fire: Default::default(),
            select: Default::default(),
            last_element: address(d - 1),
            last_sub_position: address(v - 1),
            last_pass: address(config.centroids_per_unit() - 1),
            element_mask: address(counter_mask(d - 1) as usize),
            sub_mask: address(counter_mask(v - 1) as usize),
            pass_mask: address(counter_mask(config.centroids_per_unit() - 1) as usize),
            row_mask: address(counter_mask(m - 1) as usize),
            codebook_mask: address(counter_mask(c - 1) as usize),
            table_mask: address(counter_mask(config.table_words_per_lane() - 1) as usize),
            lane_mask: address(counter_mask(l * r - 1) as usize),
            remaining_mask: Constant::new(counter_mask(config.outputs).into()),
            penultimate_row: address(m.saturating_sub(2)),
            single_row: Constant::new(m == 1),
            single_output: Constant::new(config.outputs == 1),
            penultimate_codebook: address(c.saturating_sub(2)),
            single_codebook: Constant::new(c == 1),
            first_next_base: address(if c == 1 { 0 } else { k * m }),
            last_reserved: Constant::new((INDEX_FIFO_DEPTH - 1).into()),
            base_step: address(k * m),
            disjoint_offsets: Constant::new((k * m).is_power_of_two()),
            start_address: Default::default(),
            last_lane: address(l * r - 1),
            outputs: Constant::new((config.outputs as u64).into()),
            table_ids: (0..l).map(|i| address(map.table_memory(i))).collect(),
            bias_ids: (0..l).map(|i| address(map.bias_memory(i * r))).collect(),
            bias_last_ids: (0..l)
                .map(|i| address(map.bias_memory(i * r + r - 1)))
                .collect(),
            lane_ids: (0..l).map(address).collect(),
            entry_shift: crate::memory::shift_by(r),
            entry_mask: address(r - 1),
            entry_select: Default::default(),
            _search: search,
            _two_level: two_level,
            _trees: trees,
            _signs: signs,
            _lanes: l,
        }
    }
}

impl Logic for Engine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            element_address,
            sub_position,
            reserved,
            full,
            ready,
            element,
            first_1,
            leaf_valid,
            pass,
            busy,
            held_address,
            held_first,
            held_last,
            reading,
            row,
            table_address,
            codebook_base,
            codebook,
            codebook_last,
            next_base,
            token_valid,
            token_first,
            token_last,
            entry_valid,
            entry_first,
            entry_last,
            done,
            advance,
            capture_q,
            remaining,
            out_idle,
            out_final,
            row_last,
            lane_select,
            head_offset,
            spare_offset,
            buffered,
            fault_flag,
            read_bank
        );
        self.fault.next = self.fault_flag.q.val();
        self.fifo.clock.next = self.clock.val();
        self.load_select.next = self.load_address.val().get_bits::<16>(16) & self.select_mask.val();
        self.load_word.next = self.load_address.val().get_bits::<16>(0);
        self.load_bank.next = self.load_address.val().get_bits::<4>(28) & self.bank_mask.val();
        if self.load_enable.val() & (self.load_select.val() == self.bank_id.val()) {
            self.read_bank.d.next = self.load_data.val().get_bits::<4>(0) & self.bank_mask.val();
        }
        self.table_read_offset.next =
            bit_cast::<16, 4>(self.read_bank.q.val()) << self.table_shift.val();
        self.bias_read_offset.next =
            bit_cast::<16, 4>(self.read_bank.q.val()) << self.bias_shift.val();
        self.table_load_offset.next =
            bit_cast::<16, 4>(self.load_bank.val()) << self.table_shift.val();
        self.bias_load_offset.next =
            bit_cast::<16, 4>(self.load_bank.val()) << self.bias_shift.val();

        // ---- Search: accept elements, V per codebook, K distances per
        // element on K / F units, F passes each.
        self.in_ready.next = !self.reset.val() & self.ready.q.val();
        self.accept.next = self.in_valid.val() & self.in_ready.val();
        self.start_codebook.next = self.accept.val() & (self.sub_position.q.val() == 0);
        if self.accept.val() {
            if self.element_address.q.val() == self.last_element.val() {
                self.element_address.d.next = 0.into();
            } else {
                self.element_address.d.next =
                    (self.element_address.q.val() + 1) & self.element_mask.val();
            }
            if self.sub_position.q.val() == self.last_sub_position.val() {
                self.sub_position.d.next = 0.into();
            } else {
                self.sub_position.d.next = (self.sub_position.q.val() + 1) & self.sub_mask.val();
            }
        }
        if self.accept.val() {
            self.element.d.next = self.in_data.val();
            self.held_address.d.next = self.element_address.q.val();
            self.held_first.d.next = self.sub_position.q.val() == 0;
            self.held_last.d.next = self.sub_position.q.val() == self.last_sub_position.val();
            if self.last_pass.val() != 0 {
                self.pass.d.next = 1.into();
                self.busy.d.next = true;
            }
        }
        if self.busy.q.val() {
            if self.pass.q.val() == self.last_pass.val() {
                self.pass.d.next = 0.into();
                self.busy.d.next = false;
            } else {
                self.pass.d.next = (self.pass.q.val() + 1) & self.pass_mask.val();
            }
            self.search_address.next = self.held_address.q.val();
            self.search_pass.next = self.pass.q.val();
            self.first_1.d.next = self.held_first.q.val();
            self.next_last.next = self.held_last.q.val();
        } else {
            self.search_address.next = self.element_address.q.val();
            self.search_pass.next = 0.into();
            self.first_1.d.next = self.sub_position.q.val() == 0;
            self.next_last.next = self.sub_position.q.val() == self.last_sub_position.val();
        }
        self.valid_line.clock.next = self.clock.val();
        self.valid_line.enable.next = true;
        self.valid_line.clear.next = self.reset.val();
        self.valid_line.data_in.next = self.accept.val() | self.busy.q.val();
        self.last_line.clock.next = self.clock.val();
        self.last_line.enable.next = true;
        self.last_line.clear.next = false;
        self.last_line.data_in.next = self.next_last.val();
        self.pass_first_line.clock.next = self.clock.val();
        self.pass_first_line.enable.next = true;
        self.pass_first_line.clear.next = false;
        self.pass_first_line.data_in.next = !self.busy.q.val();
        self.leaf_valid.d.next = self.valid_line.data_out.val() & self.last_line.data_out.val();
        // ---- Encoder stage: one key per codebook.
        self.stage_key.next = 0.into();
        self.stage_valid.next = false;
        self.stage_fault.next = false;
        for i in 0..self._search {
            self.search[i].clock.next = self.clock.val();
            self.search[i].reset.next = self.reset.val();
            self.search[i].read_address.next = self.search_address.val();
            self.search[i].pass.next = self.search_pass.val();
            self.search[i].element.next = self.element.q.val();
            self.search[i].accumulate.next = self.valid_line.data_out.val();
            self.search[i].last.next = self.last_line.data_out.val();
            self.search[i].pass_first.next = self.pass_first_line.data_out.val();
            self.search[i].leaf_valid.next = self.leaf_valid.q.val();
            self.search[i].load_enable.next = self.load_enable.val();
            self.search[i].load_select.next = self.load_select.val();
            self.search[i].load_word.next = self.load_word.val();
            self.search[i].load_data.next = self.load_data.val().get_bits::<8>(0);
            self.search[i].read_bank.next = self.read_bank.q.val();
            self.search[i].load_bank.next = self.load_bank.val();
            self.stage_key.next = self.search[i].key.val();
            self.stage_valid.next = self.search[i].valid.val();
        }
        for i in 0..self._two_level {
            self.two_level[i].clock.next = self.clock.val();
            self.two_level[i].reset.next = self.reset.val();
            self.two_level[i].read_address.next = self.element_address.q.val();
            self.two_level[i].element.next = self.element.q.val();
            self.two_level[i].element_valid.next = self.valid_line.taps[0].val();
            self.two_level[i].accumulate.next = self.valid_line.data_out.val();
            self.two_level[i].last.next = self.last_line.data_out.val();
            self.two_level[i].leaf_valid.next = self.leaf_valid.q.val();
            self.two_level[i].load_enable.next = self.load_enable.val();
            self.two_level[i].load_select.next = self.load_select.val();
            self.two_level[i].load_word.next = self.load_word.val();
            self.two_level[i].load_data.next = self.load_data.val().get_bits::<8>(0);
            self.stage_key.next = self.two_level[i].key.val();
            self.stage_valid.next = self.two_level[i].valid.val();
            self.stage_fault.next = self.two_level[i].fault.val();
        }
        for i in 0..self._trees {
            self.trees[i].clock.next = self.clock.val();
            self.trees[i].reset.next = self.reset.val();
            self.trees[i].read_address.next = self.element_address.q.val();
            self.trees[i].element.next = self.element.q.val();
            self.trees[i].element_valid.next = self.valid_line.taps[0].val();
            self.trees[i].leaf.next = self.valid_line.taps[1].val() & self.last_line.taps[1].val();
            self.trees[i].load_enable.next = self.load_enable.val();
            self.trees[i].load_select.next = self.load_select.val();
            self.trees[i].load_word.next = self.load_word.val();
            self.trees[i].load_data.next = self.load_data.val().get_bits::<8>(0);
            self.stage_key.next = self.trees[i].key.val();
            self.stage_valid.next = self.trees[i].valid.val();
        }
        for i in 0..self._signs {
            self.signs[i].clock.next = self.clock.val();
            self.signs[i].reset.next = self.reset.val();
            self.signs[i].sign.next = self.element.q.val().get_bit(7);
            self.signs[i].element_valid.next = self.valid_line.taps[0].val();
            self.signs[i].first.next = self.first_1.q.val();
            self.signs[i].last.next = self.last_line.taps[0].val();
            self.stage_key.next = self.signs[i].key.val();
            self.stage_valid.next = self.signs[i].valid.val();
        }
        self.fault_flag.d.next = self.fault_flag.q.val()
            | self.fifo.overflow.val()
            | self.fifo.underflow.val()
            | self.stage_fault.val();
        self.fifo.write.next = self.stage_valid.val() & !self.reset.val();
        self.fifo.data_in.next = self.stage_key.val().get_bits::<16>(0);
        self.encode_valid.next = self.stage_valid.val();
        self.encode_index.next = self.stage_key.val().get_bits::<16>(16);
        self.encode_distance.next = self.stage_key.val().get_bits::<32>(32);

        // ---- Output stream.
        self.capture_pick.portable.next = self.capture_q.q.val();
        self.capture_pick.ecp5.next = self.done.q.val() & self.out_idle.q.val();
        self.capture.next = self.capture_pick.data_out.val();
        self.out_valid.next = !self.out_idle.q.val();
        self.out_last.next = self.out_final.q.val();
        self.fire.next = self.out_valid.val() & self.out_ready.val();
        self.select.next = self.lane_select.q.val() >> self.entry_shift.val();
        self.entry_select.next = self.lane_select.q.val() & self.entry_mask.val();
        self.out_data.next = self.lanes[0].head.val();
        for l in 0..self._lanes {
            if self.select.val() == self.lane_ids[l].val() {
                self.out_data.next = self.lanes[l].head.val();
            }
        }

        // ---- Table read: one codebook row per cycle and lane.
        self.finishing.next = self.reading.q.val() & self.row_last.q.val();
        self.pop.next = self.advance.q.val()
            & (self.buffered.q.val() != 0)
            & (!self.reading.q.val() | self.finishing.val());
        self.offset.next = self.head_offset.q.val();
        if self.reading.q.val() {
            self.start_address.next = self.next_base.q.val();
        } else {
            self.start_address.next = self.codebook_base.q.val();
        }
        if self.disjoint_offsets.val() {
            self.start_address.next = self.start_address.val() | self.offset.val();
        } else {
            self.start_address.next =
                (self.start_address.val() + self.offset.val()) & self.table_mask.val();
        }
        self.fetch.next = !self.fifo.empty.val() & (self.buffered.q.val() != 2);
        if self.pop.val() {
            self.head_offset.d.next = self.spare_offset.q.val();
            if !self.fetch.val() {
                self.buffered.d.next = self.buffered.q.val() - 1;
            }
        }
        if self.fetch.val() {
            if self.buffered.q.val() == 0 {
                self.head_offset.d.next = self.fifo.data_out.val();
            }
            if self.buffered.q.val() == 1 {
                if self.pop.val() {
                    self.head_offset.d.next = self.fifo.data_out.val();
                } else {
                    self.spare_offset.d.next = self.fifo.data_out.val();
                }
            }
            if !self.pop.val() {
                self.buffered.d.next = self.buffered.q.val() + 1;
            }
        }
        if self.advance.q.val() {
            // The token of the row on the memories' outputs moves on with
            // that row into the lanes' entry registers.
            self.entry_valid.d.next = self.token_valid.q.val();
            self.entry_first.d.next = self.token_first.q.val();
            self.entry_last.d.next = self.token_last.q.val();
            self.token_valid.d.next = self.reading.q.val();
            self.token_first.d.next = self.codebook.q.val() == 0;
            self.token_last.d.next = self.codebook_last.q.val() & self.row_last.q.val();
            if self.reading.q.val() {
                if self.finishing.val() {
                    self.codebook_base.d.next = self.next_base.q.val();
                    if self.codebook_last.q.val() {
                        self.codebook.d.next = 0.into();
                        self.codebook_last.d.next = self.single_codebook.val();
                        self.next_base.d.next = self.first_next_base.val();
                    } else {
                        self.codebook.d.next =
                            (self.codebook.q.val() + 1) & self.codebook_mask.val();
                        if self.codebook.q.val() == self.penultimate_codebook.val() {
                            self.codebook_last.d.next = true;
                            self.next_base.d.next = 0.into();
                        } else {
                            self.next_base.d.next = (self.next_base.q.val() + self.base_step.val())
                                & self.table_mask.val();
                        }
                    }
                    if self.pop.val() {
                        self.table_address.d.next = self.start_address.val();
                        self.row.d.next = 0.into();
                        self.row_last.d.next = self.single_row.val();
                    } else {
                        self.reading.d.next = false;
                    }
                } else {
                    self.table_address.d.next =
                        (self.table_address.q.val() + 1) & self.table_mask.val();
                    self.row.d.next = (self.row.q.val() + 1) & self.row_mask.val();
                    self.row_last.d.next = self.row.q.val() == self.penultimate_row.val();
                }
            } else if self.pop.val() {
                self.table_address.d.next = self.start_address.val();
                self.row.d.next = 0.into();
                self.row_last.d.next = self.single_row.val();
                self.reading.d.next = true;
            }
        }
        // One reserved FIFO slot per codebook, from its first element until
        // the reader takes it out of the FIFO (`fetch`, from registers: the
        // stall never reaches this count). No codebook starts while full
        // (`in_ready` is low at its first element), so only a fetch can end it.
        if self.start_codebook.val() & !self.fetch.val() {
            self.reserved.d.next = self.reserved.q.val() + 1;
            self.full.d.next = self.reserved.q.val() == self.last_reserved.val();
        }
        if !self.start_codebook.val() & self.fetch.val() {
            self.reserved.d.next = self.reserved.q.val() - 1;
            self.full.d.next = false;
        }
        if self.advance.q.val() & self.entry_valid.q.val() & self.entry_last.q.val() {
            self.done.d.next = true;
        } else if self.capture.val() {
            self.done.d.next = false;
        }
        if self.capture.val() {
            self.remaining.d.next = self.outputs.val();
            self.out_idle.d.next = false;
            self.out_final.d.next = self.single_output.val();
            self.lane_select.d.next = 0.into();
        } else if self.fire.val() {
            self.remaining.d.next = (self.remaining.q.val() - 1) & self.remaining_mask.val();
            self.out_idle.d.next = self.out_final.q.val();
            self.out_final.d.next = self.remaining.q.val() == 2;
            if self.lane_select.q.val() == self.last_lane.val() {
                self.lane_select.d.next = 0.into();
            } else {
                self.lane_select.d.next = (self.lane_select.q.val() + 1) & self.lane_mask.val();
            }
        }
        for l in 0..self._lanes {
            self.lanes[l].clock.next = self.clock.val();
            self.lanes[l].read_enable.next = self.advance.q.val();
            self.lanes[l].table_address.next =
                self.table_address.q.val() | self.table_read_offset.val();
            self.lanes[l].bias_address.next = self.row.q.val() | self.bias_read_offset.val();
            self.lanes[l].add.next = self.advance.q.val() & self.entry_valid.q.val();
            self.lanes[l].first.next = self.entry_first.q.val();
            self.lanes[l].capture.next = self.capture.val();
            self.lanes[l].shift.next = self.fire.val()
                & ((self.lane_select.q.val() == self.last_lane.val()) | self.out_final.q.val());
            self.lanes[l].load_table.next =
                self.load_enable.val() & (self.load_select.val() == self.table_ids[l].val());
            self.lanes[l].entry_select.next = self.entry_select.val();
            self.lanes[l].load_bias.next = self.load_enable.val()
                & (self.load_select.val() >= self.bias_ids[l].val())
                & (self.load_select.val() <= self.bias_last_ids[l].val());
            self.lanes[l].load_entry.next = self.load_select.val() - self.bias_ids[l].val();
            if self.load_select.val() == self.table_ids[l].val() {
                self.lanes[l].load_address.next =
                    self.load_word.val() | self.table_load_offset.val();
            } else {
                self.lanes[l].load_address.next =
                    self.load_word.val() | self.bias_load_offset.val();
            }
            self.lanes[l].load_data.next = self.load_data.val();
        }

        // ---- Reset: clear every control register and drain the FIFO.
        self.fifo.read.next = self.fetch.val() | (self.reset.val() & !self.fifo.empty.val());
        if self.reset.val() {
            self.element_address.d.next = 0.into();
            self.sub_position.d.next = 0.into();
            self.pass.d.next = 0.into();
            self.busy.d.next = false;
            self.reserved.d.next = 0.into();
            self.full.d.next = false;
            self.leaf_valid.d.next = false;
            self.reading.d.next = false;
            self.row.d.next = 0.into();
            self.row_last.d.next = self.single_row.val();
            self.codebook_base.d.next = 0.into();
            self.codebook.d.next = 0.into();
            self.codebook_last.d.next = self.single_codebook.val();
            self.next_base.d.next = self.first_next_base.val();
            self.token_valid.d.next = false;
            self.entry_valid.d.next = false;
            self.done.d.next = false;
            self.remaining.d.next = 0.into();
            self.out_idle.d.next = true;
            self.out_final.d.next = false;
            self.buffered.d.next = 0.into();
            self.lane_select.d.next = 0.into();
            self.fault_flag.d.next = false;
        }
        // Next cycle's `!done | out_idle`, from the next values just formed.
        self.advance.d.next = !self.done.d.val() | self.out_idle.d.val();
        // And next cycle's `done & out_idle`.
        self.capture_q.d.next = self.done.d.val() & self.out_idle.d.val();
        // Next cycle's input ready (but for reset): `!busy & (sub_position
        // != 0 | !full)` of the next values, for both outcomes of `accept`
        // (which can only be high while `busy` is low), picked by it.
        if self.fetch.val() {
            self.full_if_start.next = self.full.q.val();
        } else {
            self.full_if_start.next = self.reserved.q.val() == self.last_reserved.val();
        }
        self.ready_if_idle.next = !(self.busy.q.val()
            & (self.pass.q.val() != self.last_pass.val()))
            & ((self.sub_position.q.val() != 0) | !(self.full.q.val() & !self.fetch.val()));
        if self.sub_position.q.val() == 0 {
            // Starts a codebook: `sub_position` moves on unless V = 1.
            self.ready_if_accept.next = self.single_pass.val()
                & ((self.last_sub_position.val() != 0) | !self.full_if_start.val());
        } else {
            // Within a codebook: the next element starts one when this is the last.
            self.ready_if_accept.next = self.single_pass.val()
                & ((self.sub_position.q.val() != self.last_sub_position.val())
                    | !(self.full.q.val() & !self.fetch.val()));
        }
        if self.accept.val() {
            self.ready.d.next = self.ready_if_accept.val();
        } else {
            self.ready.d.next = self.ready_if_idle.val();
        }
        if self.reset.val() {
            self.ready.d.next = true;
        }
    }
}
