//! [`SignStage`]: the `sign` encoder.

use crate::argmin::Key;
use crate::memory::{address, Address};
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn verilog_is_lint_clean() {
        let config = crate::lint::small_engine(EncoderKind::Sign, 16);
        crate::lint::assert_block_is_clean("sign", &mut SignStage::new(&config));
    }
}
