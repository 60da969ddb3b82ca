//! The serial link: an 8N1 UART receiver and transmitter, and a bit-serial CRC-32.
//!
//! The bit time is `clocks_per_bit` clock cycles, fixed when the device is
//! generated (`clock_hz / baud`, at least [`MIN_CLOCKS_PER_BIT`]). Bits go
//! least significant first, framed by one start bit (low) and one stop bit
//! (high); the idle line is high.

use crate::delay::Delay;
use rust_hdl::prelude::*;

/// Fewest clock cycles per bit the receiver supports (it samples mid-bit),
/// and the fewest that leave the 8-cycle CRC enough time per byte.
pub const MIN_CLOCKS_PER_BIT: u32 = 4;

/// Width of the bit-time counters: up to 65535 clocks per bit.
pub type BitCounter = Bits<16>;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum RxState {
    Idle,
    Start,
    Data,
    Stop,
}

/// 8N1 receiver: samples mid-bit, drops bytes without a stop bit (framing errors).
#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// The serial line (asynchronous; synchronized here).
    pub rx: Signal<In, Bit>,
    /// One-cycle pulse with each received byte.
    pub valid: Signal<Out, Bit>,
    pub data: Signal<Out, Bits<8>>,
    /// The two-register synchronizer, stored inverted so the power-up value
    /// (0) reads as an idle (high) line.
    sync_line: Delay<Bit>,
    state: DFF<RxState>,
    counter: DFF<BitCounter>,
    index: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    valid_r: DFF<Bit>,
    line: Signal<Local, Bit>,
    bit_reload: Constant<BitCounter>,
    half_reload: Constant<BitCounter>,
    // The counter's width: it counts down from at most `bit_reload`.
    counter_mask: Constant<BitCounter>,
}

/// The smallest all-ones mask covering a count down from `clocks_per_bit - 1`.
fn counter_mask(clocks_per_bit: u32) -> u64 {
    u64::from(u16::MAX >> (clocks_per_bit - 1).leading_zeros().saturating_sub(16))
}

impl UartRx {
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (MIN_CLOCKS_PER_BIT..=65535).contains(&clocks_per_bit),
            "clocks per bit out of range"
        );
        UartRx {
            clock: Default::default(),
            rx: Default::default(),
            valid: Default::default(),
            data: Default::default(),
            sync_line: Delay::new(2),
            state: Default::default(),
            counter: Default::default(),
            index: Default::default(),
            shift: Default::default(),
            valid_r: Default::default(),
            line: Default::default(),
            bit_reload: Constant::new(u64::from(clocks_per_bit - 1).into()),
            half_reload: Constant::new(u64::from(clocks_per_bit / 2 - 1).into()),
            counter_mask: Constant::new(counter_mask(clocks_per_bit).into()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, counter, index, shift, valid_r);
        self.sync_line.clock.next = self.clock.val();
        self.sync_line.enable.next = true;
        self.sync_line.clear.next = false;
        self.sync_line.data_in.next = !self.rx.val();
        self.line.next = !self.sync_line.data_out.val();
        self.valid_r.d.next = false;
        self.valid.next = self.valid_r.q.val();
        self.data.next = self.shift.q.val();
        if self.counter.q.val() != 0 {
            self.counter.d.next = (self.counter.q.val() - 1) & self.counter_mask.val();
        }
        match self.state.q.val() {
            RxState::Idle => {
                if !self.line.val() {
                    self.counter.d.next = self.half_reload.val();
                    self.state.d.next = RxState::Start;
                }
            }
            RxState::Start => {
                if self.counter.q.val() == 0 {
                    if self.line.val() {
                        // A glitch, not a start bit.
                        self.state.d.next = RxState::Idle;
                    } else {
                        self.counter.d.next = self.bit_reload.val();
                        self.index.d.next = 0.into();
                        self.state.d.next = RxState::Data;
                    }
                }
            }
            RxState::Data => {
                if self.counter.q.val() == 0 {
                    self.shift.d.next =
                        (self.shift.q.val() >> 1) | (bit_cast::<8, 1>(self.line.val().into()) << 7);
                    self.counter.d.next = self.bit_reload.val();
                    self.index.d.next = self.index.q.val() + 1;
                    if self.index.q.val() == 7 {
                        self.state.d.next = RxState::Stop;
                    }
                }
            }
            RxState::Stop => {
                if self.counter.q.val() == 0 {
                    // Back to idle at mid stop bit, in time for the next start bit.
                    self.valid_r.d.next = self.line.val();
                    self.state.d.next = RxState::Idle;
                }
            }
        }
    }
}

/// 8N1 transmitter: `start` with `data` when not `busy`.
#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub busy: Signal<Out, Bit>,
    /// The serial line.
    pub tx: Signal<Out, Bit>,
    // Frame bits still to send, start bit first; stored inverted so that the
    // power-up value (0) drives an idle (high) line.
    shift_n: DFF<Bits<10>>,
    left: DFF<Bits<4>>,
    counter: DFF<BitCounter>,
    bit_reload: Constant<BitCounter>,
    counter_mask: Constant<BitCounter>,
}

impl UartTx {
    pub fn new(clocks_per_bit: u32) -> Self {
        assert!(
            (MIN_CLOCKS_PER_BIT..=65535).contains(&clocks_per_bit),
            "clocks per bit out of range"
        );
        UartTx {
            clock: Default::default(),
            start: Default::default(),
            data: Default::default(),
            busy: Default::default(),
            tx: Default::default(),
            shift_n: Default::default(),
            left: Default::default(),
            counter: Default::default(),
            bit_reload: Constant::new(u64::from(clocks_per_bit - 1).into()),
            counter_mask: Constant::new(counter_mask(clocks_per_bit).into()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift_n, left, counter);
        self.tx.next = !self.shift_n.q.val().get_bit(0);
        self.busy.next = self.left.q.val() != 0;
        if self.left.q.val() == 0 {
            if self.start.val() {
                // Inverted frame: start bit (0 -> 1), data, stop bit (1 -> 0).
                self.shift_n.d.next = !(bit_cast::<10, 8>(self.data.val()) << 1) & 0x1FF;
                self.left.d.next = 10.into();
                self.counter.d.next = self.bit_reload.val();
            }
        } else if self.counter.q.val() == 0 {
            self.shift_n.d.next = self.shift_n.q.val() >> 1;
            self.left.d.next = self.left.q.val() - 1;
            self.counter.d.next = self.bit_reload.val();
        } else {
            self.counter.d.next = (self.counter.q.val() - 1) & self.counter_mask.val();
        }
    }
}

/// CRC-32 (ISO-HDLC, as zlib) one bit per clock: `start` a byte, `busy` for 8 cycles.
///
/// `crc` is the running register before the final inversion: the CRC of the
/// bytes so far is `!crc` once `busy` is low.
#[derive(LogicBlock)]
pub struct Crc32Serial {
    pub clock: Signal<In, Clock>,
    /// Restart: the register becomes 0xFFFFFFFF.
    pub clear: Signal<In, Bit>,
    pub start: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub crc: Signal<Out, Bits<32>>,
    pub busy: Signal<Out, Bit>,
    // Stored inverted so that the power-up value (0) is the initial register.
    crc_n: DFF<Bits<32>>,
    shift: DFF<Bits<8>>,
    left: DFF<Bits<4>>,
    value: Signal<Local, Bits<32>>,
    polynomial: Constant<Bits<32>>,
}

impl Default for Crc32Serial {
    fn default() -> Self {
        Crc32Serial {
            clock: Default::default(),
            clear: Default::default(),
            start: Default::default(),
            data: Default::default(),
            crc: Default::default(),
            busy: Default::default(),
            crc_n: Default::default(),
            shift: Default::default(),
            left: Default::default(),
            value: Default::default(),
            polynomial: Constant::new(0xEDB8_8320_u64.into()),
        }
    }
}

impl Logic for Crc32Serial {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, crc_n, shift, left);
        self.value.next = !self.crc_n.q.val();
        self.crc.next = self.value.val();
        self.busy.next = self.left.q.val() != 0;
        if self.clear.val() {
            self.crc_n.d.next = 0.into();
            self.left.d.next = 0.into();
        } else if self.start.val() {
            self.shift.d.next = self.data.val();
            self.left.d.next = 8.into();
        } else if self.left.q.val() != 0 {
            if self.value.val().get_bit(0) ^ self.shift.q.val().get_bit(0) {
                self.crc_n.d.next = !((self.value.val() >> 1) ^ self.polynomial.val());
            } else {
                self.crc_n.d.next = !(self.value.val() >> 1);
            }
            self.shift.d.next = self.shift.q.val() >> 1;
            self.left.d.next = self.left.q.val() - 1;
        }
    }
}
