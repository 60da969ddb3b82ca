//! [`Delay`]: a bit or a word delayed by N enabled cycles, the chain of
//! registers (`valid_1`, `valid_2`, ...) that pipelines write by hand to keep
//! their control in step with their data.
//!
//! Stage 0 takes `data_in` and stage i takes stage i - 1 on every cycle with
//! `enable` high; `taps[i]` is stage i (the input i + 1 enabled cycles ago)
//! and `data_out` the last stage (the ports are not `input` and `output`:
//! those are Verilog keywords). `clear` zeroes every stage on the next edge,
//! whatever `enable` is (a pipeline's synchronous reset). Each stage is a
//! plain [`DFF`], so the registers (and what synthesis makes of them) are
//! the hand-written chain's. The length is set at construction
//! ([`Delay::new`]): rust-hdl unrolls the loops over the stages.
//!
//! Name a line's field `..._line` (`valid_line`): a module reads only the
//! taps it needs, and the Verilog output waives Verilator's UNUSEDSIGNAL on
//! the `..._line$taps$N` and `..._line$data_out` wires for that reason (see
//! `verilog.rs`).

use rust_hdl::prelude::*;

/// `N` registers in a row, each loaded from the one before while `enable` is high.
#[derive(LogicBlock)]
pub struct Delay<T: Synth> {
    pub clock: Signal<In, Clock>,
    /// Move the line on this cycle (tie high for a delay of N clock cycles).
    pub enable: Signal<In, Bit>,
    /// Synchronous clear: every stage takes zero at the next edge, enabled or not.
    pub clear: Signal<In, Bit>,
    pub data_in: Signal<In, T>,
    /// `taps[i]`: the input i + 1 enabled cycles ago (`taps[N - 1]` is `data_out`).
    pub taps: Vec<Signal<Out, T>>,
    /// The input N enabled cycles ago.
    pub data_out: Signal<Out, T>,
    stages: Vec<DFF<T>>,
    zero: Constant<T>,
    _stages: usize,
    _last: usize,
}

impl<T: Synth> Delay<T> {
    /// A line of `stages` registers (at least 1).
    pub fn new(stages: usize) -> Self {
        assert!(stages >= 1, "a delay line needs at least one stage");
        Delay {
            clock: Default::default(),
            enable: Default::default(),
            clear: Default::default(),
            data_in: Default::default(),
            taps: (0..stages).map(|_| Default::default()).collect(),
            data_out: Default::default(),
            stages: (0..stages).map(|_| Default::default()).collect(),
            zero: Constant::new(T::default()),
            _stages: stages,
            _last: stages - 1,
        }
    }
}

impl<T: Synth> Logic for Delay<T> {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..self._stages {
            self.stages[i].clock.next = self.clock.val();
            self.stages[i].d.next = self.stages[i].q.val();
            self.taps[i].next = self.stages[i].q.val();
        }
        if self.enable.val() {
            self.stages[0].d.next = self.data_in.val();
            for i in 1..self._stages {
                self.stages[i].d.next = self.stages[i - 1].q.val();
            }
        }
        if self.clear.val() {
            for i in 0..self._stages {
                self.stages[i].d.next = self.zero.val();
            }
        }
        // A one-iteration loop names the last stage (index N - 1).
        for i in self._last..self._stages {
            self.data_out.next = self.stages[i].q.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Line = Delay<Bits<8>>;

    #[test]
    fn a_word_comes_out_n_enabled_cycles_later_and_clear_zeroes_every_stage() {
        let enables = [true, true, false, true, true, true, true];
        let mut sim = simple_sim!(Line, clock, 100_000_000, ep, {
            let mut x = ep.init()?;
            let mut seen = vec![];
            for (cycle, enable) in enables.iter().enumerate() {
                x.data_in.next = (10 + cycle as u64).into();
                x.enable.next = *enable;
                x.clear.next = false;
                wait_clock_cycle!(ep, clock, x);
                seen.push((x.taps[0].val().index(), x.data_out.val().index()));
            }
            // Inputs 10, 11, (12 not taken), 13, 14, 15, 16: tap 0 is the last
            // enabled input, the output the one three enabled inputs before.
            let expected = vec![
                (10, 0),
                (11, 0),
                (11, 0),
                (13, 10),
                (14, 11),
                (15, 13),
                (16, 14),
            ];
            sim_assert_eq!(ep, seen, expected, x);
            x.enable.next = false;
            x.clear.next = true;
            wait_clock_cycle!(ep, clock, x);
            for i in 0..3 {
                sim_assert_eq!(ep, x.taps[i].val().index(), 0, x);
            }
            ep.done(x)
        });
        let mut line = Line::new(3);
        line.connect_all();
        sim.run(Box::new(line), 10_000_000).unwrap();
    }

    #[test]
    fn verilog_has_one_register_per_stage_and_no_other_logic() {
        let mut line = Delay::<Bit>::new(4);
        line.connect_all();
        let verilog = generate_verilog(&line);
        for i in 0..4 {
            assert!(
                verilog.contains(&format!("module top$stages${i}(")),
                "{verilog}"
            );
        }
        assert!(verilog.contains("stages$1$d = stages$0$q;"), "{verilog}");
        assert!(verilog.contains("data_out = stages$3$q;"), "{verilog}");
    }

    #[test]
    fn verilog_is_lint_clean() {
        crate::lint::assert_block_is_clean("delay", &mut Delay::<Bits<8>>::new(3));
    }
}

/// One bit formed two ways that agree on every cycle: `ecp5` in the ECP5
/// Verilog ([`crate::dp16kd::ECP5_PRIMITIVES`]), `portable` otherwise (the
/// Rust model takes `portable`). For a signal whose best form differs
/// between the families' place and route: synthesis drops the other form.
#[derive(LogicBlock, Default)]
pub struct PerFamily {
    pub portable: Signal<In, Bit>,
    pub ecp5: Signal<In, Bit>,
    pub data_out: Signal<Out, Bit>,
}

impl Logic for PerFamily {
    fn update(&mut self) {
        self.data_out.next = self.portable.val();
    }

    fn connect(&mut self) {
        self.data_out.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
// UNUSEDSIGNAL: each family reads one of the two forms.
/* verilator lint_off UNUSEDSIGNAL */
wire unused_forms = portable ^ ecp5;
/* verilator lint_on UNUSEDSIGNAL */
`ifdef {ecp5}
always @(*) data_out = ecp5;
`else
always @(*) data_out = portable;
`endif
",
            ecp5 = crate::dp16kd::ECP5_PRIMITIVES,
        ))
    }
}
