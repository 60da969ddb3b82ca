//! [`TreeStage`]: the `tree` encoder's split-element capture and tree walk.

use super::threshold_pair::ThresholdPair;
use crate::argmin::Key;
use crate::delay::Delay;
use crate::memory::{address, Address, BlockRam};
use lutgen_core::memory_map::MemoryMap;
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
    /// codebook's walk at cycle L + s. `valid{s}` is tap s - 1 of `valid_line`
    /// (cleared by reset), `xs{s}` of `xs_line` and `codebook{s}` of `codebook_line`.
    valid_line: Delay<Bit>,
    xs_line: Delay<Bits<32>>,
    codebook_line: Delay<Address>,
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
            valid_line: Delay::new(9),
            xs_line: Delay::new(8),
            codebook_line: Delay::new(5),
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
            self, clock, x0, x1, x2, x3, codebook, node3, node4, node5, node6, node7, node8, index9
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
        self.valid_line.clock.next = self.clock.val();
        self.valid_line.enable.next = true;
        self.valid_line.clear.next = self.reset.val();
        self.valid_line.data_in.next = self.leaf.val();
        self.xs_line.clock.next = self.clock.val();
        self.xs_line.enable.next = true;
        self.xs_line.clear.next = false;
        self.codebook_line.clock.next = self.clock.val();
        self.codebook_line.enable.next = true;
        self.codebook_line.clear.next = false;
        self.codebook_line.data_in.next = self.codebook.q.val();
        // Offset-binary forms (sign bit flipped): a signed compare as unsigned.
        self.xs_line.data_in.next = bit_cast::<32, 8>(self.x0.q.val() ^ self.sign_flip.val())
            | (bit_cast::<32, 8>(self.x1.q.val() ^ self.sign_flip.val()) << 8)
            | (bit_cast::<32, 8>(self.x2.q.val() ^ self.sign_flip.val()) << 16)
            | (bit_cast::<32, 8>(self.x3.q.val() ^ self.sign_flip.val()) << 24);
        if self.leaf.val() {
            if self.codebook.q.val() == self.last_codebook.val() {
                self.codebook.d.next = 0.into();
            } else {
                self.codebook.d.next = self.codebook.q.val() + 1;
            }
        }

        // ---- L + 1: read level 1's pair (the root's children).
        self.level1.read_address.next = self.codebook_line.taps[0].val() << 2;

        // ---- L + 2: compare at the root.
        self.bit0.next = self.xs_line.taps[1].val().get_bits::<8>(0) >= self.root.read_data.val();
        self.node3.d.next = bit_cast::<16, 1>(self.bit0.val().into());

        // ---- L + 3: pick level 1's threshold; read level 2's pair.
        self.level1.select.next = self.node3.q.val().get_bit(0);
        self.level2.read_address.next =
            (self.codebook_line.taps[2].val() << 2) | self.node3.q.val();
        self.node4.d.next = self.node3.q.val();

        // ---- L + 4: compare at level 1.
        self.bit1.next = self.xs_line.taps[3].val().get_bits::<8>(8) >= self.level1.threshold.val();
        self.node5.d.next = (self.node4.q.val() << 1) | bit_cast::<16, 1>(self.bit1.val().into());

        // ---- L + 5: pick level 2's threshold; read level 3's pair.
        self.level2.select.next = self.node5.q.val().get_bit(0);
        self.level3.read_address.next =
            (self.codebook_line.data_out.val() << 2) | self.node5.q.val();
        self.node6.d.next = self.node5.q.val();

        // ---- L + 6: compare at level 2.
        self.bit2.next =
            self.xs_line.taps[5].val().get_bits::<8>(16) >= self.level2.threshold.val();
        self.node7.d.next = (self.node6.q.val() << 1) | bit_cast::<16, 1>(self.bit2.val().into());

        // ---- L + 7: pick level 3's threshold.
        self.level3.select.next = self.node7.q.val().get_bit(0);
        self.node8.d.next = self.node7.q.val();

        // ---- L + 8: compare at level 3: the leaf's index.
        self.bit3.next =
            self.xs_line.data_out.val().get_bits::<8>(24) >= self.level3.threshold.val();
        self.index9.d.next = (self.node8.q.val() << 1) | bit_cast::<16, 1>(self.bit3.val().into());

        // ---- L + 9: the key, its row offset `index * M` (M is a constant).
        self.key.next = (bit_cast::<64, 16>(self.index9.q.val()) << 16)
            | bit_cast::<64, 16>(bit_cast::<16, 32>(self.index9.q.val() * self.rows.val()));
        self.valid.next = self.valid_line.data_out.val();

        if self.reset.val() {
            self.codebook.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn verilog_is_lint_clean() {
        let config = crate::lint::small_engine(EncoderKind::Tree, 16);
        let mut stage = TreeStage::new(&config, &MemoryMap::new(&config));
        crate::lint::assert_block_is_clean("tree", &mut stage);
    }
}
