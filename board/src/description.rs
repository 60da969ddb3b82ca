//! The board database: each board's TOML description, compiled in, and the
//! constraint files generated from it.

use crate::error::BoardError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The board descriptions, compiled in: (file name, TOML text).
pub const BOARD_FILES: [(&str, &str); 4] = [
    (
        "icebreaker.toml",
        include_str!("../constraints/icebreaker.toml"),
    ),
    (
        "hx8k-breakout.toml",
        include_str!("../constraints/hx8k-breakout.toml"),
    ),
    (
        "ulx3s-85f.toml",
        include_str!("../constraints/ulx3s-85f.toml"),
    ),
    (
        "arty-a7-35.toml",
        include_str!("../constraints/arty-a7-35.toml"),
    ),
];

/// An FPGA family: decides the tools and the constraint file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Lattice iCE40: yosys `synth_ice40`, `nextpnr-ice40`, `icepack`; `.pcf`.
    Ice40,
    /// Lattice ECP5: yosys `synth_ecp5`, `nextpnr-ecp5`, `ecppack`; `.lpf`.
    Ecp5,
    /// Xilinx 7 series: Vivado (not run by lutgen); `.xdc`.
    Xilinx7,
}

impl Family {
    /// Extension of the family's constraint file.
    pub fn constraint_extension(self) -> &'static str {
        match self {
            Family::Ice40 => "pcf",
            Family::Ecp5 => "lpf",
            Family::Xilinx7 => "xdc",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ice40 => "iCE40",
            Family::Ecp5 => "ECP5",
            Family::Xilinx7 => "Xilinx 7-series",
        })
    }
}

/// Board pins, as the vendor names them (ball or pin number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// The oscillator.
    pub clock: String,
    /// Serial data into the FPGA (the USB bridge's TXD).
    pub rx: String,
    /// Serial data out of the FPGA (the USB bridge's RXD).
    pub tx: String,
    /// An LED, driven by the device's `idle` output.
    pub led: String,
    pub led_active_low: bool,
}

/// What the chip offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// LUT4 logic cells (iCE40, ECP5) or LUT6 (Xilinx).
    pub logic_cells: u64,
    /// Block RAMs of `bram_kind`.
    pub block_rams: u64,
    pub bram_kind: String,
    /// Multiplier blocks of `dsp_kind` (0: none).
    pub dsps: u64,
    pub dsp_kind: String,
    /// User I/O pins of the package.
    pub user_io: u64,
}

/// One board, as described in `board/constraints/<name>.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub title: String,
    pub family: Family,
    /// nextpnr's device name (`up5k`, `hx8k`, `85k`) or the Xilinx device.
    pub device: String,
    /// The full part number.
    pub part: String,
    pub package: String,
    /// The oscillator's frequency.
    pub clock_mhz: f64,
    /// The timing target handed to place and route.
    pub target_mhz: f64,
    pub io_standard: String,
    /// Where the pins and resources come from.
    pub source: String,
    pub pins: Pins,
    pub resources: Resources,
    /// The PLL primitive that can take the oscillator (`--clock-mhz`):
    /// `SB_PLL40_PAD` when the oscillator is on the PLL's pad, else
    /// `SB_PLL40_CORE` (iCE40); `EHXPLLL` (ECP5); none for boards lutgen
    /// does not place and route.
    #[serde(default)]
    pub pll: Option<PllPrimitive>,
}

impl Board {
    /// Parses one description; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Board, BoardError> {
        let board: Board = toml::from_str(text).map_err(|e| BoardError::Description {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let bad = |message: String| BoardError::Description {
            file: file.to_string(),
            message,
        };
        if !(board.clock_mhz > 0.0 && board.target_mhz > 0.0) {
            return Err(bad("clock_mhz and target_mhz must be positive".into()));
        }
        if board.resources.logic_cells == 0 || board.resources.block_rams == 0 {
            return Err(bad(
                "resources.logic_cells and block_rams must be non-zero".into()
            ));
        }
        if file.strip_suffix(".toml") != Some(board.name.as_str()) {
            return Err(bad(format!(
                "the file must be named after the board: {}.toml",
                board.name
            )));
        }
        Ok(board)
    }

    /// All compiled-in boards, in [`BOARD_FILES`] order.
    pub fn all() -> Vec<Board> {
        BOARD_FILES
            .iter()
            .map(|(file, text)| Board::parse(file, text).expect("compiled-in boards are valid"))
            .collect()
    }

    /// The board called `name`.
    pub fn find(name: &str) -> Result<Board, BoardError> {
        let all = Board::all();
        all.iter()
            .find(|b| b.name == name)
            .cloned()
            .ok_or_else(|| BoardError::UnknownBoard {
                name: name.to_string(),
                known: all
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// True when lutgen can run the board's tools (iCE40 and ECP5, not Vivado).
    pub fn has_open_flow(&self) -> bool {
        self.family != Family::Xilinx7
    }

    /// The constraint file for the device top (ports `clock`, `rx`, `tx`,
    /// `idle`), with the clock constrained to `clock_mhz`.
    pub fn constraints(&self, clock_mhz: f64) -> String {
        let p = &self.pins;
        let header = format!(
            "generated by lutgen from board/constraints/{name}.toml, do not edit.\n\
             {title} ({part}); pins from {source}.\n\
             Ports of the device top: clock ({clk} MHz oscillator{constrained}), rx (serial in, from the\n\
             USB bridge), tx (serial out), idle (LED {led}{low}).",
            name = self.name,
            title = self.title,
            part = self.part,
            source = self.source,
            clk = self.clock_mhz,
            constrained = if clock_mhz == self.clock_mhz {
                String::new()
            } else {
                format!("; constrained to {clock_mhz} MHz to measure Fmax")
            },
            led = p.led,
            low = if p.led_active_low {
                ", active low: lit while busy"
            } else {
                ": lit while idle"
            },
        );
        let comment = |prefix: &str| {
            header
                .lines()
                .map(|l| format!("{prefix} {l}\n"))
                .collect::<String>()
        };
        let io = [
            ("clock", &p.clock),
            ("rx", &p.rx),
            ("tx", &p.tx),
            ("idle", &p.led),
        ];
        match self.family {
            Family::Ice40 => {
                let mut s = comment("#");
                for (port, pin) in io {
                    s.push_str(&format!("set_io {port} {pin}\n"));
                }
                s.push_str(&format!("set_frequency clock {clock_mhz}\n"));
                s
            }
            Family::Ecp5 => {
                let mut s = comment("#");
                for (port, pin) in io {
                    let pull = if port == "rx" { " PULLMODE=UP" } else { "" };
                    s.push_str(&format!(
                        "LOCATE COMP \"{port}\" SITE \"{pin}\";\n\
                         IOBUF PORT \"{port}\"{pull} IO_TYPE={std};\n",
                        std = self.io_standard
                    ));
                }
                s.push_str(&format!("FREQUENCY PORT \"clock\" {clock_mhz} MHZ;\n"));
                s
            }
            Family::Xilinx7 => {
                let mut s = comment("#");
                for (port, pin) in io {
                    s.push_str(&format!(
                        "set_property -dict {{ PACKAGE_PIN {pin} IOSTANDARD {std} }} [get_ports {{ {port} }}]\n",
                        std = self.io_standard
                    ));
                }
                let period = 1000.0 / clock_mhz;
                s.push_str(&format!(
                    "create_clock -add -name clock -period {period:.3} -waveform {{0 {half:.3}}} [get_ports {{ clock }}]\n",
                    half = period / 2.0
                ));
                s
            }
        }
    }

    /// File name of the board's constraint file, e.g. `icebreaker.pcf`.
    pub fn constraint_file_name(&self) -> String {
        format!("{}.{}", self.name, self.family.constraint_extension())
    }
}

/// Which PLL primitive a board's clock pin allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PllPrimitive {
    /// iCE40 PLL fed by its own dedicated pad (the oscillator is on it).
    #[serde(rename = "SB_PLL40_PAD")]
    Ice40Pad,
    /// iCE40 PLL fed from the fabric's clock network (any clock pin).
    #[serde(rename = "SB_PLL40_CORE")]
    Ice40Core,
    /// ECP5 general-purpose PLL.
    #[serde(rename = "EHXPLLL")]
    Ecp5,
}

impl PllPrimitive {
    pub fn name(self) -> &'static str {
        match self {
            PllPrimitive::Ice40Pad => "SB_PLL40_PAD",
            PllPrimitive::Ice40Core => "SB_PLL40_CORE",
            PllPrimitive::Ecp5 => "EHXPLLL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_parses_and_is_unique() {
        let boards = Board::all();
        assert_eq!(boards.len(), BOARD_FILES.len());
        let mut names: Vec<_> = boards.iter().map(|b| b.name.clone()).collect();
        names.dedup();
        assert_eq!(names.len(), boards.len());
        assert!(Board::find("icebreaker").unwrap().resources.dsps == 8);
    }

    #[test]
    fn unknown_board_names_the_known_ones() {
        let err = Board::find("de10-nano").unwrap_err().to_string();
        assert!(
            err.contains("icebreaker") && err.contains("ulx3s-85f"),
            "{err}"
        );
    }

    #[test]
    fn bad_description_is_refused() {
        let text = BOARD_FILES[0]
            .1
            .replace("clock_mhz = 12.0", "clock_mhz = -1.0");
        assert!(matches!(
            Board::parse("icebreaker.toml", &text),
            Err(BoardError::Description { .. })
        ));
        let text = BOARD_FILES[0]
            .1
            .replace("family = \"ice40\"", "family = \"gowin\"");
        assert!(matches!(
            Board::parse("icebreaker.toml", &text),
            Err(BoardError::Description { .. })
        ));
        assert!(matches!(
            Board::parse("other.toml", BOARD_FILES[0].1),
            Err(BoardError::Description { .. })
        ));
    }

    /// The committed constraint files are the generated ones.
    #[test]
    fn committed_constraint_files_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("constraints");
        for board in Board::all() {
            let path = dir.join(board.constraint_file_name());
            let committed = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                committed,
                board.constraints(board.clock_mhz),
                "{} is stale: run `lutgen boards --write-constraints board/constraints`",
                path.display()
            );
        }
    }
}
