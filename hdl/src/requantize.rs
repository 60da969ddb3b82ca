//! Requantization between two layers: one engine's 32-bit accumulators
//! become the next engine's activations, bit for bit
//! [`lutgen_core::network::Layer::next_activation`]:
//! [`lutgen_core::Requantize::apply`], then, when enabled, the layer's
//! activation table ([`lutgen_core::network::ActivationTable`]).
//!
//! A stream stage (ready/valid on both sides, one value per cycle) of ten
//! registered steps, so no step is wider than a 16x16 multiply or one 64-bit
//! add and the stage never limits the throughput of the engines around it:
//!
//! 1. `a = |acc|` (32 bits unsigned; `|-2^31| = 2^31` fits) and the sign;
//! 2. four 16x16 partial products of `a` and the 31-bit multiplier;
//! 3. `{hh, ll}` (a concatenation, no add) and `lh + hl`;
//! 4. `|p| = {hh, ll} + ((lh + hl) << 16)`, exact (`|p| < 2^62`);
//! 5. `|p| >> (shift - 1)` by a multiple of 8 (coarse barrel shift);
//! 6. the rest of the shift, saturated to 511 (`q`);
//! 7. `r = sign * ((q + 1) >> 1)`, plus the zero point, in 16-bit offset
//!    binary (value + 2^15, so signed compares are unsigned ones);
//! 8. clamp to the next layer's range, then ReLU (`max(q, zero_point)`);
//! 9. and 10. the activation table: a 256 x 8 block RAM read at `q as u8`,
//!    its read registered twice like the lanes' tables (on ECP5 the second
//!    register is the DP16KD's own output register), while `q` waits in a
//!    two-register line beside it. `out_data` is the entry when the table
//!    is enabled, else `q`: a multiplexer between two registers, and the
//!    next engine registers its input at once.
//!
//! The table costs two cycles of latency whether or not it is enabled (the
//! same bitstream runs a layer with or without one) and one block RAM per
//! stage; the throughput stays one value per cycle.
//!
//! Steps 5 to 7 are the rounding right shift with ties away from zero:
//! `(|p| + 2^(s-1)) >> s == ((|p| >> (s-1)) + 1) >> 1` for every `|p|` and
//! `s >= 1`. Saturating `q` at 511 (magnitude 256) changes nothing: any
//! magnitude of 256 or more clamps to the same end of an at-most-8-bit range
//! whatever the zero point.
//!
//! Flow control is one enable for all steps (`advance`: the last step is
//! empty or being taken). A one-entry skid register in front catches the
//! accumulator that arrives in the cycle the pipeline stops, so `in_ready`
//! depends only on registers: no combinational path runs from one engine's
//! input handshake to the previous engine's output logic.
//!
//! Parameters are registers written through the load port (see
//! [`REQUANTIZE_WORDS`]), and the table's entries are words
//! [`ACTIVATION_TABLE_WORD`] to `ACTIVATION_TABLE_WORD + 255` of the same
//! memory, so one bitstream runs any network of its shape, with or without
//! tables. Only the clamp range is fixed at generation: it is the next
//! engine's `activation_bits`.

use crate::delay::Delay;
use crate::memory::BlockRam;
use lutgen_core::network::ACTIVATION_TABLE_LEN;
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

pub use lutgen_core::memory_map::{ACTIVATION_TABLE_WORD, REQUANTIZE_WORDS};

/// Register steps from an accepted accumulator to its activation: 8 for
/// the requantization, 2 for the activation table (enabled or not).
pub const REQUANTIZE_LATENCY: usize = 10;

/// Register steps of the activation table read (steps 9 and 10).
const TABLE_STEPS: usize = 2;

// The table's words are decoded by `load_word[15:8]` alone.
const _: () = assert!(ACTIVATION_TABLE_WORD & 0xFF == 0 && ACTIVATION_TABLE_LEN == 256);

/// Steps that carry the sign: it is consumed at step 7.
const SIGN_STEPS: usize = 6;

/// Offset of the 16-bit offset-binary domain of steps 7 and 8.
const OFFSET: u64 = 0x8000;

#[derive(LogicBlock)]
pub struct RequantStage {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: empties the pipeline (parameters are kept).
    pub reset: Signal<In, Bit>,
    /// Accumulators in, two's complement.
    pub in_data: Signal<In, Bits<32>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// Activations out, two's complement in 8 bits.
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// Write `load_data` to parameter `load_word` (already decoded for this stage).
    pub load_enable: Signal<In, Bit>,
    pub load_word: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,

    multiplier: DFF<Bits<32>>,
    coarse_shift: DFF<Bits<6>>,
    fine_shift: DFF<Bits<6>>,
    zero_point: DFF<Bits<16>>,
    zero_offset: DFF<Bits<16>>,
    relu: DFF<Bit>,
    activation_enable: DFF<Bit>,
    /// The activation table: entry i at word i, read at the requantized value as u8.
    activation_memory: BlockRam<Bits<8>>,

    advance: Signal<Local, Bit>,
    skid: DFF<Bits<32>>,
    skid_valid: DFF<Bit>,
    accept: Signal<Local, Bit>,
    head: Signal<Local, Bits<32>>,
    shift_less_one: Signal<Local, Bits<6>>,
    zero_extended: Signal<Local, Bits<16>>,
    valid_line: Delay<Bit>,
    negative_line: Delay<Bit>,
    magnitude: DFF<Bits<32>>,
    ll: DFF<Bits<32>>,
    lh: DFF<Bits<32>>,
    hl: DFF<Bits<32>>,
    hh: DFF<Bits<32>>,
    outer: DFF<Bits<64>>,
    middle: DFF<Bits<64>>,
    product: DFF<Bits<64>>,
    coarse: DFF<Bits<64>>,
    fine: Signal<Local, Bits<64>>,
    halved: DFF<Bits<16>>,
    rounded: Signal<Local, Bits<16>>,
    shifted_value: DFF<Bits<16>>,
    clamped: Signal<Local, Bits<16>>,
    result: DFF<Bits<8>>,
    /// The requantized value beside the table read (steps 9 and 10).
    plain_line: Delay<Bits<8>>,

    low: Constant<Bits<16>>,
    high: Constant<Bits<16>>,
    offset: Constant<Bits<16>>,
    saturation: Constant<Bits<64>>,
    sign_extension: Constant<Bits<16>>,
    multiplier_mask: Constant<Bits<32>>,
    words: Vec<Constant<Bits<16>>>,
    /// `load_word[15:8]` of the table's words ([`ACTIVATION_TABLE_WORD`] / 256).
    activation_page: Constant<Bits<8>>,
}

impl RequantStage {
    /// A stage whose clamp range is `bits` signed bits (the next layer's
    /// `activation_bits`, 2 to 8).
    pub fn new(bits: u32) -> Self {
        let (lo, hi) = EngineConfig::signed_range(bits);
        let offset = |v: i64| Constant::new(((OFFSET as i64 + v) as u64).into());
        RequantStage {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            load_enable: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            multiplier: Default::default(),
            coarse_shift: Default::default(),
            fine_shift: Default::default(),
            zero_point: Default::default(),
            zero_offset: Default::default(),
            relu: Default::default(),
            activation_enable: Default::default(),
            activation_memory: BlockRam::pipelined(ACTIVATION_TABLE_LEN),
            advance: Default::default(),
            skid: Default::default(),
            skid_valid: Default::default(),
            accept: Default::default(),
            head: Default::default(),
            shift_less_one: Default::default(),
            zero_extended: Default::default(),
            valid_line: Delay::new(REQUANTIZE_LATENCY),
            negative_line: Delay::new(SIGN_STEPS),
            magnitude: Default::default(),
            ll: Default::default(),
            lh: Default::default(),
            hl: Default::default(),
            hh: Default::default(),
            outer: Default::default(),
            middle: Default::default(),
            product: Default::default(),
            coarse: Default::default(),
            fine: Default::default(),
            halved: Default::default(),
            rounded: Default::default(),
            shifted_value: Default::default(),
            clamped: Default::default(),
            result: Default::default(),
            plain_line: Delay::new(TABLE_STEPS),
            low: offset(lo),
            high: offset(hi),
            offset: offset(0),
            saturation: Constant::new(511u64.into()),
            sign_extension: Constant::new(0xFF00u64.into()),
            multiplier_mask: Constant::new(0x7FFF_FFFFu64.into()),
            words: (0..REQUANTIZE_WORDS.len())
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            activation_page: Constant::new(((ACTIVATION_TABLE_WORD >> 8) as u64).into()),
        }
    }
}

impl Logic for RequantStage {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            multiplier,
            coarse_shift,
            fine_shift,
            zero_point,
            zero_offset,
            relu,
            activation_enable,
            skid,
            skid_valid,
            magnitude,
            ll,
            lh,
            hl,
            hh,
            outer,
            middle,
            product,
            coarse,
            halved,
            shifted_value,
            result
        );

        // ---- Parameters, written through the load port.
        self.shift_less_one.next = self.load_data.val().get_bits::<6>(0) - 1;
        if self.load_data.val().get_bit(7) {
            self.zero_extended.next = bit_cast::<16, 8>(self.load_data.val().get_bits::<8>(0))
                | self.sign_extension.val();
        } else {
            self.zero_extended.next = bit_cast::<16, 8>(self.load_data.val().get_bits::<8>(0));
        }
        if self.load_enable.val() {
            if self.load_word.val() == self.words[0].val() {
                self.multiplier.d.next = self.load_data.val() & self.multiplier_mask.val();
            }
            if self.load_word.val() == self.words[1].val() {
                self.coarse_shift.d.next = self.shift_less_one.val() & 0x38;
                self.fine_shift.d.next = self.shift_less_one.val() & 0x07;
            }
            if self.load_word.val() == self.words[2].val() {
                self.zero_point.d.next = self.zero_extended.val();
                self.zero_offset.d.next = self.zero_extended.val() ^ self.offset.val();
            }
            if self.load_word.val() == self.words[3].val() {
                self.relu.d.next = self.load_data.val().get_bit(0);
            }
            if self.load_word.val() == self.words[4].val() {
                self.activation_enable.d.next = self.load_data.val().get_bit(0);
            }
        }
        self.activation_memory.clock.next = self.clock.val();
        self.activation_memory.write_enable.next = self.load_enable.val()
            & (self.load_word.val().get_bits::<8>(8) == self.activation_page.val());
        self.activation_memory.write_address.next = self.load_word.val() & 0xFF;
        self.activation_memory.write_data.next = self.load_data.val().get_bits::<8>(0);

        // ---- One enable for every step.
        self.advance.next = !self.valid_line.data_out.val() | self.out_ready.val();
        self.in_ready.next = !self.skid_valid.q.val() & !self.reset.val();
        self.accept.next = self.in_valid.val() & self.in_ready.val();
        // The next accumulator: the one held in the skid register, else the input.
        if self.skid_valid.q.val() {
            self.head.next = self.skid.q.val();
        } else {
            self.head.next = self.in_data.val();
        }
        // Every step's valid flag and the input's sign, through the steps.
        self.valid_line.clock.next = self.clock.val();
        self.valid_line.enable.next = self.advance.val();
        self.valid_line.clear.next = self.reset.val();
        self.valid_line.data_in.next = self.skid_valid.q.val() | self.accept.val();
        self.negative_line.clock.next = self.clock.val();
        self.negative_line.enable.next = self.advance.val();
        self.negative_line.clear.next = false;
        self.negative_line.data_in.next = self.head.val().get_bit(31);
        self.out_valid.next = self.valid_line.data_out.val();
        // Steps 9 and 10: the table read at the requantized value, and the value beside it.
        self.activation_memory.read_enable.next = self.advance.val();
        self.activation_memory.read_address.next = bit_cast::<16, 8>(self.result.q.val());
        self.plain_line.clock.next = self.clock.val();
        self.plain_line.enable.next = self.advance.val();
        self.plain_line.clear.next = false;
        self.plain_line.data_in.next = self.result.q.val();
        if self.activation_enable.q.val() {
            self.out_data.next = self.activation_memory.read_data.val();
        } else {
            self.out_data.next = self.plain_line.data_out.val();
        }
        self.fine.next = self.coarse.q.val() >> self.fine_shift.q.val();
        self.rounded.next = (self.halved.q.val() + 1) >> 1;
        if self.shifted_value.q.val() < self.low.val() {
            self.clamped.next = self.low.val();
        } else if self.shifted_value.q.val() > self.high.val() {
            self.clamped.next = self.high.val();
        } else {
            self.clamped.next = self.shifted_value.q.val();
        }
        if !self.advance.val() & self.accept.val() {
            self.skid.d.next = self.in_data.val();
            self.skid_valid.d.next = true;
        }
        if self.advance.val() {
            self.skid_valid.d.next = false;
            if self.head.val().get_bit(31) {
                self.magnitude.d.next = !self.head.val() + 1;
            } else {
                self.magnitude.d.next = self.head.val();
            }
            // Step 2: partial products.
            self.ll.d.next = self.magnitude.q.val().get_bits::<16>(0)
                * self.multiplier.q.val().get_bits::<16>(0);
            self.lh.d.next = self.magnitude.q.val().get_bits::<16>(0)
                * self.multiplier.q.val().get_bits::<16>(16);
            self.hl.d.next = self.magnitude.q.val().get_bits::<16>(16)
                * self.multiplier.q.val().get_bits::<16>(0);
            self.hh.d.next = self.magnitude.q.val().get_bits::<16>(16)
                * self.multiplier.q.val().get_bits::<16>(16);
            // Step 3: {hh, ll} and the middle sum.
            self.outer.d.next =
                (bit_cast::<64, 32>(self.hh.q.val()) << 32) | bit_cast::<64, 32>(self.ll.q.val());
            self.middle.d.next =
                bit_cast::<64, 32>(self.lh.q.val()) + bit_cast::<64, 32>(self.hl.q.val());
            // Step 4: the exact product magnitude.
            self.product.d.next = self.outer.q.val() + (self.middle.q.val() << 16);
            // Steps 5 and 6: shift right by shift - 1, saturate at 511.
            self.coarse.d.next = self.product.q.val() >> self.coarse_shift.q.val();
            if self.fine.val() > self.saturation.val() {
                self.halved.d.next = bit_cast::<16, 64>(self.saturation.val());
            } else {
                self.halved.d.next = self.fine.val().get_bits::<16>(0);
            }
            // Step 7: round (ties away from zero), sign, zero point, in offset binary.
            if self.negative_line.data_out.val() {
                self.shifted_value.d.next =
                    self.offset.val() - self.rounded.val() + self.zero_point.q.val();
            } else {
                self.shifted_value.d.next =
                    self.offset.val() + self.rounded.val() + self.zero_point.q.val();
            }
            // Step 8: saturate, then ReLU in the quantized domain.
            if self.relu.q.val() & (self.clamped.val() < self.zero_offset.q.val()) {
                self.result.d.next = self.zero_offset.q.val().get_bits::<8>(0);
            } else {
                self.result.d.next = self.clamped.val().get_bits::<8>(0);
            }
        }
        if self.reset.val() {
            self.skid_valid.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::network::{ActivationTable, Layer};
    use lutgen_core::{Image, Requantize};

    /// The load-port writes of `r` and, if any, `table` (data only: the
    /// network top decodes the layer and memory).
    fn load_words(r: &Requantize, table: Option<&ActivationTable>) -> Vec<(u64, u64)> {
        let mut words = vec![
            (0, r.multiplier as u64),
            (1, u64::from(r.shift)),
            (2, u64::from(r.zero_point as u8)),
            (3, u64::from(r.relu)),
            (4, u64::from(table.is_some())),
        ];
        if let Some(t) = table {
            words.extend(
                t.entries()
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| ((ACTIVATION_TABLE_WORD + i) as u64, u64::from(e as u8))),
            );
        }
        words
    }

    /// Loads the stage, then streams `accs` through it with the output
    /// stalled on the cycles `stall` marks, and checks every output against
    /// `Layer::next_activation` and, without stalls, the latency.
    fn check_stage(bits: u32, r: Requantize, table: Option<ActivationTable>, accs: Vec<i32>) {
        let config = EngineConfig {
            input_dim: 4,
            codebooks: 1,
            centroids: 2,
            outputs: 1,
            ..EngineConfig::default()
        };
        let layer = Layer {
            image: Image::random(config, 1).unwrap(),
            accumulator_scale: 1.0,
            requantize: Some(r),
            activation: table,
        };
        let expected: Vec<u64> = accs
            .iter()
            .map(|&a| u64::from(layer.next_activation(a).unwrap() as u8))
            .collect();
        let words = load_words(&r, table.as_ref());
        let mut sim = simple_sim!(RequantStage, clock, 100_000_000, ep, {
            let mut x = ep.init()?;
            x.reset.next = true;
            wait_clock_cycles!(ep, clock, x, 2);
            x.reset.next = false;
            for &(word, data) in &words {
                x.load_enable.next = true;
                x.load_word.next = word.into();
                x.load_data.next = data.into();
                wait_clock_cycle!(ep, clock, x);
            }
            x.load_enable.next = false;
            // The first accumulator alone: its activation comes out
            // REQUANTIZE_LATENCY cycles after it is taken.
            x.out_ready.next = true;
            x.in_valid.next = true;
            x.in_data.next = (accs[0] as u32 as u64).into();
            wait_clock_cycle!(ep, clock, x);
            x.in_valid.next = false;
            let mut cycles = 1;
            while !x.out_valid.val() {
                wait_clock_cycle!(ep, clock, x);
                cycles += 1;
            }
            sim_assert_eq!(ep, cycles, REQUANTIZE_LATENCY, x);
            sim_assert_eq!(ep, x.out_data.val().index() as u64, expected[0], x);
            wait_clock_cycle!(ep, clock, x);
            // The rest, one per cycle offered, the output stalled 3 cycles in 7.
            let mut sent = 1;
            let mut got = vec![expected[0]];
            let mut cycle = 0u64;
            while got.len() < accs.len() {
                x.in_valid.next = sent < accs.len();
                x.in_data.next = (accs[sent.min(accs.len() - 1)] as u32 as u64).into();
                x.out_ready.next = cycle % 7 >= 3;
                let taken = x.in_valid.val() && x.in_ready.val();
                if x.out_valid.val() && x.out_ready.val() {
                    got.push(x.out_data.val().index() as u64);
                }
                wait_clock_cycle!(ep, clock, x);
                if taken {
                    sent += 1;
                }
                cycle += 1;
                sim_assert!(ep, cycle < 100_000, x);
            }
            sim_assert_eq!(ep, got, expected, x);
            ep.done(x)
        });
        let mut stage = RequantStage::new(bits);
        stage.connect_all();
        sim.run(Box::new(stage), 1_000_000_000).unwrap();
    }

    /// Accumulators over the whole requantized range of a scale-1 stage.
    fn sweep() -> Vec<i32> {
        (-140..140).chain([i32::MIN, i32::MAX, 0, -1]).collect()
    }

    #[test]
    fn requantize_stage_applies_a_loaded_table_after_the_relu() {
        let r = Requantize {
            multiplier: 1 << 30,
            shift: 30,
            zero_point: -5,
            relu: true,
            bits: 8,
        };
        // Not monotonic: an index off by one changes every output.
        let table = ActivationTable::from_fn(8, |q| q.wrapping_mul(37) ^ 0x55).unwrap();
        check_stage(8, r, Some(table), sweep());
    }

    #[test]
    fn requantize_stage_without_a_table_is_the_requantization() {
        let r = Requantize {
            multiplier: 3 << 28,
            shift: 30,
            zero_point: 2,
            relu: false,
            bits: 4,
        };
        check_stage(4, r, None, sweep());
        let table = ActivationTable::from_fn(4, |q| 3 - q.clamp(-4, 7)).unwrap();
        check_stage(4, r, Some(table), sweep());
    }

    #[test]
    fn requantize_stage_verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean("requantize", &mut RequantStage::new(8));
    }
}
