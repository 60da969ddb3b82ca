//! [`TreeStage`]: the `tree` encoder's split-element capture and tree walk.

use super::threshold_pair::ThresholdPair;
use crate::argmin::Key;
use crate::memory::{address, Address, BlockRam};
use crate::memory_map::MemoryMap;
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

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
    pub fn new(config: &EngineConfig, map: &MemoryMap) -> Self {
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
