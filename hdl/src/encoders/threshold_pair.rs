//! [`ThresholdPair`]: one level of the `tree` encoder's thresholds.

use crate::memory::{Address, BlockRam};
use rust_hdl::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean("threshold_pair", &mut ThresholdPair::new(32));
    }
}
