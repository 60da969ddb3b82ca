//! The boards' PLLs: divider settings for a requested core clock, and the
//! Verilog top that puts the PLL in front of the device.
//!
//! The device runs in **one clock domain**, the PLL's output: the UART's bit
//! timer is a divider computed from that clock (`round(clock / baud)` cycles
//! per bit, `DeviceConfig::clocks_per_bit`), so the serial rate does not
//! depend on the core clock and no signal crosses between clocks (the `rx`
//! line is asynchronous anyway and goes through the UART's two-register
//! synchronizer). See docs/boards.md, "Core clock and PLL".
//!
//! - iCE40 (`SB_PLL40_PAD` when the oscillator is on the PLL's own pad, as on
//!   the iCEBreaker; `SB_PLL40_CORE` otherwise, as on the HX8K breakout):
//!   simple feedback, `f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2^DIVQ)`,
//!   chosen exactly as icestorm's `icepll` does ([`ice40`]).
//! - ECP5 (`EHXPLLL`): `f_out = f_in * CLKFB_DIV / CLKI_DIV` with the VCO at
//!   `f_out * CLKOP_DIV`, chosen as prjtrellis's `ecppll` does ([`ecp5`]).

use crate::description::{Board, Family, PllPrimitive};
use crate::error::BoardError;
use serde::Serialize;
use std::fmt;

/// An iCE40 PLL setting (simple feedback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Ice40Setting {
    pub divr: u8,
    pub divf: u8,
    pub divq: u8,
    pub filter_range: u8,
}

/// An ECP5 `EHXPLLL` setting (CLKOP, internal feedback from CLKOP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Ecp5Setting {
    pub clki_div: u8,
    pub clkfb_div: u8,
    pub clkop_div: u8,
}

/// The dividers of one PLL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Dividers {
    Ice40(Ice40Setting),
    Ecp5(Ecp5Setting),
}

/// A PLL that turns the board's oscillator into the core clock.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Pll {
    pub primitive: PllPrimitive,
    pub input_mhz: f64,
    /// The core clock the dividers give (what the device is generated for).
    pub output_mhz: f64,
    pub vco_mhz: f64,
    pub dividers: Dividers,
}

impl fmt::Display for Pll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} MHz -> {} MHz (VCO {} MHz; ",
            self.primitive.name(),
            self.input_mhz,
            mhz(self.output_mhz),
            mhz(self.vco_mhz)
        )?;
        match self.dividers {
            Dividers::Ice40(s) => write!(
                f,
                "DIVR {} DIVF {} DIVQ {} FILTER_RANGE {})",
                s.divr, s.divf, s.divq, s.filter_range
            ),
            Dividers::Ecp5(s) => write!(
                f,
                "CLKI_DIV {} CLKFB_DIV {} CLKOP_DIV {})",
                s.clki_div, s.clkfb_div, s.clkop_div
            ),
        }
    }
}

/// A frequency in MHz to at most 4 decimals, without trailing zeros.
pub fn mhz(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// iCE40 limits (icepll, from the iCE40 sysCLOCK PLL guide): PFD 10 to 133
/// MHz, VCO 533 to 1066 MHz, output 16 to 275 MHz.
pub const ICE40_OUTPUT_MHZ: (f64, f64) = (16.0, 275.0);
/// ECP5 limits (ecppll): PFD 3.125 to 400 MHz, VCO 400 to 800 MHz, output
/// 10 to 400 MHz.
pub const ECP5_OUTPUT_MHZ: (f64, f64) = (10.0, 400.0);

/// Every iCE40 simple-feedback setting from `input_mhz`, in icepll's order
/// (DIVR, then DIVF, then DIVQ ascending), with its output frequency.
fn ice40_settings(input_mhz: f64) -> impl Iterator<Item = (Ice40Setting, f64, f64)> {
    (0u8..=15).flat_map(move |divr| {
        let f_pfd = input_mhz / f64::from(divr + 1);
        let pfd_ok = (10.0..=133.0).contains(&f_pfd);
        (0u8..=127).flat_map(move |divf| {
            let f_vco = f_pfd * f64::from(divf + 1);
            let ok = pfd_ok && (533.0..=1066.0).contains(&f_vco);
            (1u8..=6).filter(move |_| ok).map(move |divq| {
                let filter_range = match f_pfd {
                    p if p < 17.0 => 1,
                    p if p < 26.0 => 2,
                    p if p < 44.0 => 3,
                    p if p < 66.0 => 4,
                    p if p < 101.0 => 5,
                    _ => 6,
                };
                let setting = Ice40Setting {
                    divr,
                    divf,
                    divq,
                    filter_range,
                };
                (setting, f_vco / f64::from(1u16 << divq), f_vco)
            })
        })
    })
}

/// The iCE40 setting nearest `output_mhz` from `input_mhz`, as `icepll -i
/// input -o output` picks it (the first of equally near ones), with its
/// output and VCO frequencies; `None` when the input is out of range.
pub fn ice40(input_mhz: f64, output_mhz: f64) -> Option<(Ice40Setting, f64, f64)> {
    let mut best: Option<(Ice40Setting, f64, f64)> = None;
    for candidate in ice40_settings(input_mhz) {
        if best.is_none_or(|b| (candidate.1 - output_mhz).abs() < (b.1 - output_mhz).abs()) {
            best = Some(candidate);
        }
    }
    best
}

/// Every ECP5 setting from `input_mhz` in ecppll's order, with its output
/// and VCO frequencies.
fn ecp5_settings(input_mhz: f64) -> impl Iterator<Item = (Ecp5Setting, f64, f64)> {
    (1u8..=128).flat_map(move |clki_div| {
        let f_pfd = input_mhz / f64::from(clki_div);
        let pfd_ok = (3.125..=400.0).contains(&f_pfd);
        (1u8..=80).flat_map(move |clkfb_div| {
            (1u8..=128).filter_map(move |clkop_div| {
                let f_vco = f_pfd * f64::from(clkfb_div) * f64::from(clkop_div);
                if !pfd_ok || !(400.0..=800.0).contains(&f_vco) {
                    return None;
                }
                let setting = Ecp5Setting {
                    clki_div,
                    clkfb_div,
                    clkop_div,
                };
                Some((setting, f_vco / f64::from(clkop_div), f_vco))
            })
        })
    })
}

/// The ECP5 setting nearest `output_mhz`, as `ecppll -i input -o output`
/// picks it: the smallest error, then the VCO nearest 600 MHz.
pub fn ecp5(input_mhz: f64, output_mhz: f64) -> Option<(Ecp5Setting, f64, f64)> {
    let mut best: Option<(Ecp5Setting, f64, f64)> = None;
    for c in ecp5_settings(input_mhz) {
        let error = (c.1 - output_mhz).abs();
        let better = best.is_none_or(|b| {
            let best_error = (b.1 - output_mhz).abs();
            error < best_error || (error == best_error && (c.2 - 600.0).abs() < (b.2 - 600.0).abs())
        });
        if better {
            best = Some(c);
        }
    }
    best
}

/// How close the PLL must come to the requested clock: 1 kHz.
const TOLERANCE_MHZ: f64 = 0.001;

impl Pll {
    /// The PLL that makes exactly `requested_mhz` (to 1 kHz) from `board`'s
    /// oscillator; an error naming the nearest frequencies it can make when
    /// it cannot, or when the board has no PLL lutgen drives.
    pub fn for_board(board: &Board, requested_mhz: f64) -> Result<Pll, BoardError> {
        let primitive = board.pll.ok_or_else(|| BoardError::Clock {
            board: board.name.clone(),
            message: format!(
                "lutgen does not generate a PLL for {} ({}); build without --clock-mhz \
                 (the {} MHz oscillator)",
                board.name, board.family, board.clock_mhz
            ),
        })?;
        let input = board.clock_mhz;
        let (range, outputs): ((f64, f64), Vec<f64>) = match board.family {
            Family::Ice40 => (
                ICE40_OUTPUT_MHZ,
                ice40_settings(input).map(|s| s.1).collect(),
            ),
            Family::Ecp5 => (ECP5_OUTPUT_MHZ, ecp5_settings(input).map(|s| s.1).collect()),
            Family::Xilinx7 => unreachable!("no PLL primitive is described for Xilinx boards"),
        };
        let outputs: Vec<f64> = outputs
            .into_iter()
            .filter(|f| (range.0..=range.1).contains(f))
            .collect();
        let nearest = nearest_names(&outputs, requested_mhz);
        if !(range.0..=range.1).contains(&requested_mhz) {
            return Err(BoardError::Clock {
                board: board.name.clone(),
                message: format!(
                    "{} MHz is outside the {} output range ({} to {} MHz); nearest: {nearest}",
                    mhz(requested_mhz),
                    primitive.name(),
                    range.0,
                    range.1
                ),
            });
        }
        let pll = match board.family {
            Family::Ice40 => ice40(input, requested_mhz).map(|(s, out, vco)| Pll {
                primitive,
                input_mhz: input,
                output_mhz: out,
                vco_mhz: vco,
                dividers: Dividers::Ice40(s),
            }),
            _ => ecp5(input, requested_mhz).map(|(s, out, vco)| Pll {
                primitive,
                input_mhz: input,
                output_mhz: out,
                vco_mhz: vco,
                dividers: Dividers::Ecp5(s),
            }),
        };
        match pll {
            Some(p) if (p.output_mhz - requested_mhz).abs() <= TOLERANCE_MHZ => Ok(p),
            _ => Err(BoardError::Clock {
                board: board.name.clone(),
                message: format!(
                    "the {} cannot make {} MHz from the {} MHz oscillator; nearest: {nearest} \
                     (ask for one of those with --clock-mhz)",
                    primitive.name(),
                    mhz(requested_mhz),
                    input
                ),
            }),
        }
    }

    /// The core clock in Hz (what the device's UART divider and timeouts
    /// are computed from).
    pub fn output_hz(&self) -> u32 {
        (self.output_mhz * 1e6).round() as u32
    }

    /// The board's top module, [`BOARD_MODULE`]: the PLL on the `clock` pin
    /// and the device (`device_module`, ports `clock`, `rx`, `tx`, `idle`)
    /// on its output. Until the PLL locks, the device sees an idle serial
    /// line, so no frame starts on an unsettled clock.
    pub fn top_verilog(&self, device_module: &str) -> String {
        let header = format!(
            "// lutgen: the board's top, generated, do not edit.\n\
             // PLL: {self}.\n\
             // One clock domain: the device runs on the PLL's output; its UART divides\n\
             // that clock down to the baud rate.\n"
        );
        let pll = match self.dividers {
            Dividers::Ice40(s) => {
                let (clock_port, out_port) = match self.primitive {
                    PllPrimitive::Ice40Pad => ("PACKAGEPIN", "PLLOUTGLOBAL"),
                    _ => ("REFERENCECLK", "PLLOUTGLOBAL"),
                };
                format!(
                    "    {prim} #(\n\
                     \x20       .FEEDBACK_PATH(\"SIMPLE\"),\n\
                     \x20       .PLLOUT_SELECT(\"GENCLK\"),\n\
                     \x20       .DIVR(4'd{divr}),\n\
                     \x20       .DIVF(7'd{divf}),\n\
                     \x20       .DIVQ(3'd{divq}),\n\
                     \x20       .FILTER_RANGE(3'd{filter})\n\
                     \x20   ) pll (\n\
                     \x20       .{clock_port}(clock),\n\
                     \x20       .{out_port}(core_clock),\n\
                     \x20       .LOCK(locked),\n\
                     \x20       .RESETB(1'b1),\n\
                     \x20       .BYPASS(1'b0)\n\
                     \x20   );\n",
                    prim = self.primitive.name(),
                    divr = s.divr,
                    divf = s.divf,
                    divq = s.divq,
                    filter = s.filter_range,
                )
            }
            Dividers::Ecp5(s) => format!(
                "    (* FREQUENCY_PIN_CLKI = \"{fin}\" *)\n\
                 \x20   (* FREQUENCY_PIN_CLKOP = \"{fout}\" *)\n\
                 \x20   (* ICP_CURRENT = \"12\" *) (* LPF_RESISTOR = \"8\" *)\n\
                 \x20   (* MFG_ENABLE_FILTEROPAMP = \"1\" *) (* MFG_GMCREF_SEL = \"2\" *)\n\
                 \x20   EHXPLLL #(\n\
                 \x20       .PLLRST_ENA(\"DISABLED\"),\n\
                 \x20       .INTFB_WAKE(\"DISABLED\"),\n\
                 \x20       .STDBY_ENABLE(\"DISABLED\"),\n\
                 \x20       .DPHASE_SOURCE(\"DISABLED\"),\n\
                 \x20       .OUTDIVIDER_MUXA(\"DIVA\"),\n\
                 \x20       .CLKI_DIV({clki}),\n\
                 \x20       .CLKFB_DIV({clkfb}),\n\
                 \x20       .CLKOP_ENABLE(\"ENABLED\"),\n\
                 \x20       .CLKOP_DIV({clkop}),\n\
                 \x20       .CLKOP_CPHASE({cphase}),\n\
                 \x20       .CLKOP_FPHASE(0),\n\
                 \x20       .FEEDBK_PATH(\"INT_OP\")\n\
                 \x20   ) pll (\n\
                 \x20       .RST(1'b0),\n\
                 \x20       .STDBY(1'b0),\n\
                 \x20       .CLKI(clock),\n\
                 \x20       .CLKOP(core_clock),\n\
                 \x20       .CLKFB(feedback),\n\
                 \x20       .CLKINTFB(feedback),\n\
                 \x20       .PHASESEL0(1'b0),\n\
                 \x20       .PHASESEL1(1'b0),\n\
                 \x20       .PHASEDIR(1'b1),\n\
                 \x20       .PHASESTEP(1'b1),\n\
                 \x20       .PHASELOADREG(1'b1),\n\
                 \x20       .PLLWAKESYNC(1'b0),\n\
                 \x20       .ENCLKOP(1'b0),\n\
                 \x20       .LOCK(locked)\n\
                 \x20   );\n",
                fin = mhz(self.input_mhz),
                fout = mhz(self.output_mhz),
                clki = s.clki_div,
                clkfb = s.clkfb_div,
                clkop = s.clkop_div,
                cphase = s.clkop_div - 1,
            ),
        };
        let feedback = if matches!(self.dividers, Dividers::Ecp5(_)) {
            "    wire feedback;\n"
        } else {
            ""
        };
        format!(
            "{header}module {BOARD_MODULE}(\n\
             \x20   input wire clock,\n\
             \x20   input wire rx,\n\
             \x20   output wire tx,\n\
             \x20   output wire idle\n\
             );\n\
             \x20   wire core_clock;\n\
             \x20   wire locked;\n\
             {feedback}{pll}\
             \x20   {device_module} device (\n\
             \x20       .clock(core_clock),\n\
             \x20       .rx(rx | !locked),\n\
             \x20       .tx(tx),\n\
             \x20       .idle(idle)\n\
             \x20   );\n\
             endmodule // {BOARD_MODULE}\n"
        )
    }
}

/// The top module of a device build with a PLL (ports as the device's).
pub const BOARD_MODULE: &str = "lutgen_board";

/// The nearest frequencies below and above `mhz` among `outputs`, for an error.
fn nearest_names(outputs: &[f64], requested: f64) -> String {
    let below = outputs
        .iter()
        .copied()
        .filter(|&f| f <= requested)
        .fold(None, |a: Option<f64>, f| Some(a.map_or(f, |a| a.max(f))));
    let above = outputs
        .iter()
        .copied()
        .filter(|&f| f >= requested)
        .fold(None, |a: Option<f64>, f| Some(a.map_or(f, |a| a.min(f))));
    match (below, above) {
        (Some(b), Some(a)) if (a - b).abs() < 1e-9 => format!("{} MHz", mhz(b)),
        (Some(b), Some(a)) => format!("{} MHz or {} MHz", mhz(b), mhz(a)),
        (Some(f), None) | (None, Some(f)) => format!("{} MHz", mhz(f)),
        (None, None) => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ice(divr: u8, divf: u8, divq: u8, filter_range: u8) -> Ice40Setting {
        Ice40Setting {
            divr,
            divf,
            divq,
            filter_range,
        }
    }

    /// icestorm's `icepll -i IN -o OUT` (fpga-icestorm 0~20220915, Debian),
    /// run for each line.
    #[test]
    fn ice40_dividers_match_icepll() {
        let cases = [
            // (in, requested, achieved, DIVR, DIVF, DIVQ, FILTER_RANGE)
            (12.0, 100.0, 100.5, ice(0, 66, 3, 1)),
            (12.0, 80.0, 79.5, ice(0, 52, 3, 1)),
            (12.0, 120.0, 120.0, ice(0, 79, 3, 1)),
            (12.0, 60.0, 60.0, ice(0, 79, 4, 1)),
            (12.0, 66.0, 66.0, ice(0, 87, 4, 1)),
            (12.0, 50.0, 50.25, ice(0, 66, 4, 1)),
            (12.0, 133.0, 132.0, ice(0, 87, 3, 1)),
            (12.0, 48.0, 48.0, ice(0, 63, 4, 1)),
            (12.0, 96.0, 96.0, ice(0, 63, 3, 1)),
            (25.0, 100.0, 100.0, ice(0, 31, 3, 2)),
        ];
        for (input, requested, achieved, want) in cases {
            let (got, out, _) = ice40(input, requested).unwrap();
            assert_eq!(got, want, "icepll -i {input} -o {requested}");
            assert!((out - achieved).abs() < 1e-9, "{out} != {achieved}");
        }
    }

    #[test]
    fn ecp5_dividers_give_the_clock_in_range() {
        for requested in [50.0, 100.0, 125.0, 150.0, 200.0] {
            let (s, out, vco) = ecp5(25.0, requested).unwrap();
            assert!((out - requested).abs() < 1e-9, "{requested}: {s:?}");
            assert!((400.0..=800.0).contains(&vco), "{vco}");
            let f_pfd = 25.0 / f64::from(s.clki_div);
            assert!((out - f_pfd * f64::from(s.clkfb_div)).abs() < 1e-9);
            assert!((vco - out * f64::from(s.clkop_div)).abs() < 1e-9);
        }
        // ecppll -i 25 -o 100: CLKI_DIV 1, CLKFB_DIV 4, CLKOP_DIV 6 (VCO 600 MHz).
        assert_eq!(
            ecp5(25.0, 100.0).unwrap().0,
            Ecp5Setting {
                clki_div: 1,
                clkfb_div: 4,
                clkop_div: 6
            }
        );
    }

    #[test]
    fn an_unreachable_clock_names_the_nearest() {
        let hx8k = Board::find("hx8k-breakout").unwrap();
        let err = Pll::for_board(&hx8k, 100.0).unwrap_err().to_string();
        assert!(err.contains("99 MHz or 100.5 MHz"), "{err}");
        let err = Pll::for_board(&hx8k, 300.0).unwrap_err().to_string();
        assert!(err.contains("outside") && err.contains("275 MHz"), "{err}");
        let pll = Pll::for_board(&hx8k, 100.5).unwrap();
        assert_eq!(pll.output_hz(), 100_500_000);
        assert_eq!(pll.primitive, PllPrimitive::Ice40Core);
        let arty = Board::find("arty-a7-35").unwrap();
        assert!(Pll::for_board(&arty, 100.0).is_err());
    }

    #[test]
    fn the_top_instantiates_the_board_pll() {
        let icebreaker = Board::find("icebreaker").unwrap();
        let v = Pll::for_board(&icebreaker, 48.0)
            .unwrap()
            .top_verilog("lutgen_device");
        for want in [
            "module lutgen_board(",
            "SB_PLL40_PAD #(",
            ".PACKAGEPIN(clock)",
            ".DIVF(7'd63)",
            ".DIVQ(3'd4)",
            "lutgen_device device (",
            ".clock(core_clock)",
        ] {
            assert!(v.contains(want), "{want} missing:\n{v}");
        }
        let hx8k = Board::find("hx8k-breakout").unwrap();
        let v = Pll::for_board(&hx8k, 96.0)
            .unwrap()
            .top_verilog("lutgen_device");
        assert!(v.contains("SB_PLL40_CORE #(") && v.contains(".REFERENCECLK(clock)"));
        let ulx3s = Board::find("ulx3s-85f").unwrap();
        let v = Pll::for_board(&ulx3s, 100.0)
            .unwrap()
            .top_verilog("lutgen_device");
        for want in [
            "EHXPLLL #(",
            ".CLKI_DIV(1)",
            ".CLKFB_DIV(4)",
            ".CLKOP_DIV(6)",
        ] {
            assert!(v.contains(want), "{want} missing:\n{v}");
        }
    }
}
