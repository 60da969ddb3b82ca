//! One distance unit: centroid coordinates and distance accumulators.
//!
//! The `l2` and `l1` searches have U = K / F units (F =
//! `EngineConfig::centroids_per_unit`): each element is issued F times, pass
//! p comparing it with centroid `p * U + u` of unit u, and the unit keeps
//! one partial distance per pass in a ring that rotates every issue (the
//! lanes' trick, so nothing is addressed). F is as large as the table read
//! allows, so the search keeps pace with it on fewer units. The
//! `two-level` search has one unfolded unit (F = 1) per cluster centre and
//! per key slot. All units see the same element and read the coordinate of
//! their centroid for the same (codebook, position, pass) from their memory.
//!
//! The unit's metric is fixed when the engine is generated: the squared
//! difference `|x - p|^2` (`l2`), read from a 256-word block ROM of squares
//! in the search stage when it has at most 16 units (`square_table`,
//! `EngineConfig::squares_from_table`), or the weighted difference
//! `|x - p| * w` with a 4-bit weight (`l1`, and `two-level`'s units).
//!
//! Pipeline (each stage one clock): memory read; for the search stage's
//! units, the read registered once more (`registered_read`, a pipelined
//! memory) and `x - p` registered before its magnitude (`delta`); `|x - p|`
//! (offset-binary compare and subtract, or the magnitude of `delta`) into
//! `difference` (and the weight into `factor`);
//! nibble products into `base` and `mixed`, or the ROM's registered read;
//! their sum (or the ROM word), the product (16 bits); for the search
//! stage's units, the product registered once more (`registered_square`);
//! the accumulate. With
//! `d = 16 h + l`:
//!
//! - `l2`: `d^2 = 256 h^2 + l^2 + 32 h l`, and as `l^2 < 256` the first two
//!   terms are the concatenation `{h^2, l^2}` (each bit a 4-input function),
//!   so one 4 x 4 product `h l` and one add remain;
//! - `l1`: `d w = 16 h w + l w`, two 4 x 4 products and one add.

use crate::argmin::Key;
use crate::memory::{Address, BlockRam, BlockRom};
use rust_hdl::prelude::*;

/// Distances are carried in 32 bits (2^16 elements * 255^2 < 2^32) but keep
/// only `EngineConfig::distance_bits`, so synthesis trims the rest.
pub type Distance = Bits<32>;

#[derive(LogicBlock)]
pub struct DistanceUnit {
    pub clock: Signal<In, Clock>,
    /// Clears the ring of partial distances (the engine's reset; with
    /// `restart`, which clears the slot being written).
    pub reset: Signal<In, Bit>,
    /// Element address `c * V + v` of the element being accepted this cycle.
    pub read_address: Signal<In, Address>,
    /// That element, registered: aligned with the memory's output.
    pub element: Signal<In, Bits<8>>,
    /// The element's weight (`l1`), aligned with `element`; ignored for `l2`.
    pub weight: Signal<In, Bits<4>>,
    /// The product registered last cycle (from the element given three
    /// cycles ago) is part of a codebook...
    pub accumulate: Signal<In, Bit>,
    /// The ring slot written this cycle starts again from zero: high with
    /// `accumulate` for a codebook's last element (the sum, a finished
    /// distance, still becomes the key) and during reset.
    pub restart: Signal<In, Bit>,
    /// Folded units: `p * U` for the pass whose distance finished last cycle
    /// (the one in `done_distance`), ORed into the tag (`u < U`, a power of two).
    pub pass_tag: Signal<In, Bits<32>>,
    /// `{distance, index, row offset}` of the centroid whose last element was
    /// accumulated last cycle (valid that one cycle).
    pub key: Signal<Out, Key>,
    /// Load port: write `load_data` at `load_address` when `load_enable`.
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Address>,
    pub load_data: Signal<In, Bits<8>>,
    centroid: BlockRam<Bits<8>>,
    /// `{index, row offset}`: this unit's (pass 0) centroid index and `index * rows_per_lane`.
    tag: Constant<Bits<32>>,
    /// More than one pass: `pass_tag` is part of the key's tag.
    folded: Constant<Bit>,
    key_tag: Signal<Local, Bits<32>>,
    /// The memory's read (a pipelined memory), the element and the weight
    /// are registered once more before `|x - p|` (a block RAM's
    /// clock-to-output is most of a cycle on ECP5); the owner then gives
    /// the control one cycle later.
    registered_read: Constant<Bit>,
    element_q: DFF<Bits<8>>,
    weight_q: DFF<Bits<4>>,
    x: Signal<Local, Bits<8>>,
    p: Signal<Local, Bits<8>>,
    w: Signal<Local, Bits<4>>,
    distance_mask: Constant<Distance>,
    sign_flip: Constant<Bits<8>>,
    /// High for the weighted L1 metric, low for squared L2.
    weighted: Constant<Bit>,
    biased_element: Signal<Local, Bits<8>>,
    biased_centroid: Signal<Local, Bits<8>>,
    magnitude: Signal<Local, Bits<8>>,
    /// Units with a registered read: `x - p` (9-bit two's complement, one
    /// carry chain straight from the memory) and the weight, registered
    /// before the magnitude is taken.
    delta: DFF<Bits<9>>,
    x_wide: Signal<Local, Bits<9>>,
    p_wide: Signal<Local, Bits<9>>,
    sign_extension: Constant<Bits<9>>,
    /// `p - x` in 8 bits, the magnitude when `x < p` (both differences are
    /// formed in parallel, so the magnitude is a select, not a negation).
    delta_negated: DFF<Bits<8>>,
    delta_weight: DFF<Bits<4>>,
    delta_magnitude: Signal<Local, Bits<8>>,
    /// `|x - p|` and the weight (`l1`), registered: compare and subtract are
    /// one pipeline stage (two with a registered read), the multiply the next two.
    difference: DFF<Bits<8>>,
    factor: DFF<Bits<4>>,
    /// `l2`: `{h^2, l^2}`; `l1`: `l w`.
    base: DFF<Bits<16>>,
    /// `l2`: `h l` (added shifted by 5); `l1`: `h w` (shifted by 4).
    mixed: DFF<Bits<8>>,
    high: Signal<Local, Bits<16>>,
    low: Signal<Local, Bits<16>>,
    weight_wide: Signal<Local, Bits<16>>,
    sum: Signal<Local, Distance>,
    /// `difference * factor`, below 2^16.
    square: DFF<Bits<16>>,
    /// `l2` with a table of squares: the square is read from a 256-word
    /// pipelined block ROM addressed by `difference` (its second register
    /// in place of `square`) instead of the nibble products (a block RAM in
    /// place of about 70 logic cells per unit).
    squares: Vec<BlockRom<16>>,
    /// `square`, or the table's word.
    squared: Signal<Local, Bits<16>>,
    /// Units with a registered square: `squared` registered once more
    /// before the add (on ECP5 the squares ROM's output is a DP16KD's
    /// output register, 1 ns clock-to-out and 2 ns of routing from the
    /// carry chain); the owner gives the control one cycle later still.
    registered_square: Constant<Bit>,
    squared_q: DFF<Bits<16>>,
    addend: Signal<Local, Bits<16>>,
    _squares: usize,
    /// One partial distance per pass, rotating like a lane's accumulators:
    /// the head is always the one of the pass being accumulated. A finished
    /// distance is written back as zero (a synchronous clear, free in the
    /// flip-flop), so the add takes the head as it is: no restart
    /// multiplexer between the control and the carry chain.
    ring: Vec<DFF<Distance>>,
    /// The sum of the pass accumulated last cycle (a finished distance
    /// after a codebook's last element): the unit's key.
    done_distance: DFF<Distance>,
    _passes: usize,
    _last_pass: usize,
    /// Ring slots `reset` clears: all but the last, which `restart` (high
    /// during reset) clears; a one-pass unit's only slot gets both.
    _reset_slots: usize,
}

/// How a [`DistanceUnit`] is built.
#[derive(Clone, Copy, Debug)]
pub struct UnitOptions {
    /// The weighted L1 metric (`|x - p| * w`) instead of squared L2.
    pub weighted: bool,
    /// Distances fit this many bits (see `EngineConfig::distance_bits`): the
    /// sum keeps only those, so synthesis drops the constant-zero bits of
    /// the accumulator and the argmin tree.
    pub distance_bits: u32,
    /// Centroids searched in turn (F, a power of two): pass p's centroid is
    /// the one `pass_tag` names.
    pub passes: usize,
    /// Register the memory output once more before `|x - p|`.
    pub registered_read: bool,
    /// `l2`: read the squares from a block ROM instead of nibble products.
    pub square_table: bool,
    /// Register the square (or product) once more before the accumulate.
    pub registered_square: bool,
}

impl DistanceUnit {
    /// A unit whose key carries `index` and row offset `offset` (those of
    /// its first centroid; a folded unit ORs `pass_tag` into them), with a
    /// memory of `words` words.
    pub fn with_tag(index: usize, offset: usize, words: usize, options: UnitOptions) -> Self {
        let UnitOptions {
            weighted,
            distance_bits,
            passes,
            registered_read,
            square_table,
            registered_square,
        } = options;
        let squares = usize::from(square_table && !weighted);
        assert!(passes.is_power_of_two());
        let tag = ((index as u64) << 16) | offset as u64;
        let mask = u32::MAX >> (32 - distance_bits.clamp(1, 32));
        DistanceUnit {
            weight: Default::default(),
            weighted: Constant::new(weighted),
            factor: Default::default(),
            clock: Default::default(),
            read_address: Default::default(),
            element: Default::default(),
            reset: Default::default(),
            accumulate: Default::default(),
            restart: Default::default(),
            key: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            centroid: if registered_read {
                BlockRam::pipelined(words)
            } else {
                BlockRam::new(words)
            },
            tag: Constant::new(tag.into()),
            distance_mask: Constant::new(u64::from(mask).into()),
            sign_flip: Constant::new(0x80u64.into()),
            biased_element: Default::default(),
            biased_centroid: Default::default(),
            magnitude: Default::default(),
            base: Default::default(),
            mixed: Default::default(),
            high: Default::default(),
            low: Default::default(),
            weight_wide: Default::default(),
            delta: Default::default(),
            x_wide: Default::default(),
            p_wide: Default::default(),
            sign_extension: Constant::new(0x100u64.into()),
            delta_negated: Default::default(),
            delta_weight: Default::default(),
            delta_magnitude: Default::default(),
            difference: Default::default(),
            sum: Default::default(),
            square: Default::default(),
            squared: Default::default(),
            registered_square: Constant::new(registered_square),
            squared_q: Default::default(),
            addend: Default::default(),
            squares: (0..squares)
                .map(|_| BlockRom::pipelined((0..256u64).map(|d| d * d).collect()))
                .collect(),
            _squares: squares,
            ring: (0..passes).map(|_| Default::default()).collect(),
            done_distance: Default::default(),
            folded: Constant::new(passes > 1),
            key_tag: Default::default(),
            registered_read: Constant::new(registered_read),
            element_q: Default::default(),
            weight_q: Default::default(),
            x: Default::default(),
            p: Default::default(),
            w: Default::default(),
            pass_tag: Default::default(),
            _passes: passes,
            _last_pass: passes - 1,
            _reset_slots: (passes - 1).max(1),
        }
    }
}

impl Logic for DistanceUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            difference,
            factor,
            base,
            mixed,
            square,
            done_distance,
            squared_q,
            element_q,
            weight_q,
            delta,
            delta_negated,
            delta_weight
        );
        self.centroid.clock.next = self.clock.val();
        self.centroid.read_enable.next = true;
        self.centroid.read_address.next = self.read_address.val();
        self.centroid.write_enable.next = self.load_enable.val();
        self.centroid.write_address.next = self.load_address.val();
        self.centroid.write_data.next = self.load_data.val();
        // |x - p| of two int8 values, computed on their offset-binary forms
        // (sign bit flipped) so it fits 8 unsigned bits without overflow.
        self.element_q.d.next = self.element.val();
        self.weight_q.d.next = self.weight.val();
        if self.registered_read.val() {
            self.x.next = self.element_q.q.val();
            self.w.next = self.weight_q.q.val();
        } else {
            self.x.next = self.element.val();
            self.w.next = self.weight.val();
        }
        self.p.next = self.centroid.read_data.val();
        self.biased_element.next = self.x.val() ^ self.sign_flip.val();
        self.biased_centroid.next = self.p.val() ^ self.sign_flip.val();
        if self.biased_element.val() >= self.biased_centroid.val() {
            self.magnitude.next = self.biased_element.val() - self.biased_centroid.val();
        } else {
            self.magnitude.next = self.biased_centroid.val() - self.biased_element.val();
        }
        // `x - p` from the two's complement values sign-extended (wiring, no
        // LUT between the memory's output and the carry chain).
        self.x_wide.next = bit_cast::<9, 8>(self.x.val());
        if self.x.val().get_bit(7) {
            self.x_wide.next = bit_cast::<9, 8>(self.x.val()) | self.sign_extension.val();
        }
        self.p_wide.next = bit_cast::<9, 8>(self.p.val());
        if self.p.val().get_bit(7) {
            self.p_wide.next = bit_cast::<9, 8>(self.p.val()) | self.sign_extension.val();
        }
        self.delta.d.next = self.x_wide.val() - self.p_wide.val();
        self.delta_negated.d.next = self.p.val() - self.x.val();
        self.delta_weight.d.next = self.w.val();
        if self.delta.q.val().get_bit(8) {
            self.delta_magnitude.next = self.delta_negated.q.val();
        } else {
            self.delta_magnitude.next = bit_cast::<8, 9>(self.delta.q.val());
        }
        if self.registered_read.val() {
            self.difference.d.next = self.delta_magnitude.val();
            self.factor.d.next = self.delta_weight.q.val();
        } else {
            self.difference.d.next = self.magnitude.val();
            self.factor.d.next = self.w.val();
        }
        // The product in two stages (rust-hdl's only product is 16 x 16 -> 32
        // bits, so the nibbles are widened and the results cut to size).
        self.high.next = bit_cast::<16, 4>(self.difference.q.val().get_bits::<4>(4));
        self.low.next = bit_cast::<16, 4>(self.difference.q.val().get_bits::<4>(0));
        self.weight_wide.next = bit_cast::<16, 4>(self.factor.q.val());
        if self.weighted.val() {
            self.base.d.next = bit_cast::<16, 32>(self.low.val() * self.weight_wide.val());
            self.mixed.d.next = bit_cast::<8, 32>(self.high.val() * self.weight_wide.val());
            self.square.d.next = self.base.q.val() + (bit_cast::<16, 8>(self.mixed.q.val()) << 4);
        } else {
            self.base.d.next = (bit_cast::<16, 32>(self.high.val() * self.high.val()) << 8)
                | bit_cast::<16, 32>(self.low.val() * self.low.val());
            self.mixed.d.next = bit_cast::<8, 32>(self.high.val() * self.low.val());
            self.square.d.next = self.base.q.val() + (bit_cast::<16, 8>(self.mixed.q.val()) << 5);
        }
        // The table of squares, read in the nibble products' cycle.
        self.squared.next = self.square.q.val();
        for i in 0..self._squares {
            self.squares[i].clock.next = self.clock.val();
            self.squares[i].read_address.next = bit_cast::<16, 8>(self.difference.q.val());
            self.squared.next = self.squares[i].read_data.val();
        }
        for i in 0..self._passes {
            self.ring[i].clock.next = self.clock.val();
            self.ring[i].d.next = self.ring[i].q.val();
        }
        self.squared_q.d.next = self.squared.val();
        if self.registered_square.val() {
            self.addend.next = self.squared_q.q.val();
        } else {
            self.addend.next = self.squared.val();
        }
        self.sum.next = self.ring[0].q.val() + bit_cast::<32, 16>(self.addend.val());
        if self.accumulate.val() {
            for i in 0..self._last_pass {
                self.ring[i].d.next = self.ring[i + 1].q.val();
            }
            // A one-iteration loop names the last ring slot (index F - 1).
            for i in self._last_pass..self._passes {
                self.ring[i].d.next = self.sum.val() & self.distance_mask.val();
            }
        }
        // Clears as synchronous resets, each from one signal, so they map
        // onto the flip-flops' reset pins rather than LUTs after the add.
        for i in self._last_pass..self._passes {
            if self.restart.val() {
                self.ring[i].d.next = 0.into();
            }
        }
        for i in 0..self._reset_slots {
            if self.reset.val() {
                self.ring[i].d.next = 0.into();
            }
        }
        self.done_distance.d.next = self.sum.val() & self.distance_mask.val();
        if self.folded.val() {
            self.key_tag.next = self.tag.val() | self.pass_tag.val();
        } else {
            self.key_tag.next = self.tag.val();
        }
        self.key.next = (bit_cast::<64, 32>(self.done_distance.q.val()) << 32)
            | bit_cast::<64, 32>(self.key_tag.val());
    }
}
