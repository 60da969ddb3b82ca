//! ECP5 block RAM (`DP16KD`) instances for pipelined memories.
//!
//! yosys maps a memory onto DP16KD blocks with their output register off
//! (`REGMODE = "NOREG"`), so the block's slow clock-to-output (5.8 ns in
//! nextpnr's model of the -6 speed grade) starts every path from it. A
//! pipelined `BlockRam` or `BlockRom` (in `memory`)
//! already has a second read register; on ECP5 lutgen instantiates the
//! blocks itself with that register inside them (`REGMODE_A = "OUTREG"`),
//! so the path out of the memory starts from a register.
//!
//! Port A reads (clock enable and output-register enable both the memory's
//! read enable), port B writes. Address and data wiring follow yosys's own
//! ECP5 block RAM map (`techlibs/ecp5/brams_map.v`): a port of width w uses
//! address bits `[13:log2(w')]` (w' = 1, 2, 4, 8, 16 for w = 1, 2, 4, 9,
//! 18), and at width 18 bits `[1:0]` are the write's byte enables. A memory
//! is laid out only when one block is deep enough for it (at most 16,384
//! words) and it is not tiny; otherwise the portable template stays, for
//! yosys to map. [`MODEL`] is a behavioural model of the subset used here,
//! for simulating the ECP5 Verilog.

/// The Verilog macro that selects the engine as built for ECP5
/// (`read_verilog -DLUTGEN_ECP5_PRIMITIVES`): pipelined memories as DP16KD
/// blocks with output registers, the index FIFO in LUT RAM read
/// asynchronously (`fifo`), argmin nodes that register their
/// compare (`argmin`), and in the dense baseline a weight memory with
/// its output register and an instantiated, registered `MULT18X18D`
/// (`dense`). Without it the Verilog is the portable one that
/// Verilator, Icarus and `synth_ice40` read.
pub const ECP5_PRIMITIVES: &str = "LUTGEN_ECP5_PRIMITIVES";

/// DP16KD port shapes: data width, words, unused low address bits.
const SHAPES: [(usize, usize, usize); 5] = [
    (18, 1024, 4),
    (9, 2048, 3),
    (4, 4096, 2),
    (2, 8192, 1),
    (1, 16384, 0),
];

/// Memories of fewer words stay in the portable template (yosys puts them
/// in LUT RAM, cheaper than a block).
pub const MIN_WORDS: usize = 64;

/// The Verilog of a behavioural DP16KD model covering what lutgen
/// instantiates; define [`ECP5_PRIMITIVES`] and add this to
/// simulate an engine's ECP5 memories (see [`ecp5_simulation_verilog`]).
pub const MODEL: &str = include_str!("../verilog/dp16kd_model.v");

/// `verilog` as it is synthesized for ECP5 (the
/// [`ECP5_PRIMITIVES`] branches selected), with [`MODEL`]
/// appended, ready for Verilator or Icarus.
pub fn ecp5_simulation_verilog(verilog: &str) -> String {
    let multiplier = if verilog.contains("MULT18X18D #(") {
        MULTIPLIER_MODEL
    } else {
        ""
    };
    format!(
        "`define {}\n{verilog}\n{MODEL}{multiplier}",
        ECP5_PRIMITIVES
    )
}

/// A behavioural model of the ECP5 `MULT18X18D` subset the dense
/// baseline instantiates (input, pipeline and output registers on
/// `CLK0`/`CE0`).
pub const MULTIPLIER_MODEL: &str = include_str!("../verilog/mult18x18d_model.v");

/// The signals a memory's blocks connect to; the defaults are
/// `BlockRam`'s port names. Addresses and write data must
/// be plain signal names (the blocks select their bits); enables may be
/// expressions.
#[derive(Clone, Debug)]
pub struct Ports<'a> {
    /// Instance names are `{name}_0`, `{name}_1`, ... (unique within a module).
    pub name: &'a str,
    pub clock: &'a str,
    /// Clock enable of the read register (`CEA`).
    pub read_enable: &'a str,
    /// Clock enable of the output register (`OCEA`).
    pub output_enable: &'a str,
    pub read_address: &'a str,
    /// A `reg` the blocks' outputs drive (`always @(*)`).
    pub read_data: &'a str,
    /// `None` for a ROM.
    pub write: Option<WritePorts<'a>>,
}

/// The write port's signals.
#[derive(Clone, Debug)]
pub struct WritePorts<'a> {
    pub enable: &'a str,
    pub address: &'a str,
    pub data: &'a str,
}

impl Default for Ports<'_> {
    fn default() -> Self {
        Ports {
            name: "block",
            clock: "clock",
            read_enable: "read_enable",
            output_enable: "read_enable",
            read_address: "read_address",
            read_data: "read_data",
            write: None,
        }
    }
}

/// How a `words` x `bits` memory is cut into DP16KD blocks: side by side,
/// each `width` bits of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Port width of every block (1, 2, 4, 9 or 18).
    pub width: usize,
    /// Blocks side by side.
    pub blocks: usize,
    words: usize,
    bits: usize,
    shift: usize,
}

impl Layout {
    /// The layout with the fewest blocks (ties: the widest port), or `None`
    /// when the memory is smaller than [`MIN_WORDS`] or deeper than a block.
    pub fn for_ram(words: usize, bits: usize) -> Option<Layout> {
        if words < MIN_WORDS {
            return None;
        }
        SHAPES
            .iter()
            .filter(|&&(_, depth, _)| words <= depth)
            .map(|&(width, _, shift)| Layout {
                width,
                blocks: bits.div_ceil(width),
                words,
                bits,
                shift,
            })
            .min_by_key(|l| l.blocks)
    }

    /// As [`Layout::for_ram`], but only at width 18 (the one `INITVAL`
    /// layout lutgen writes), so at most 1,024 words.
    pub fn for_rom(words: usize, bits: usize) -> Option<Layout> {
        Self::for_ram(words, bits).and((words <= 1024).then_some(Layout {
            width: 18,
            blocks: bits.div_ceil(18),
            words,
            bits,
            shift: 4,
        }))
    }

    /// Address bits the memory decodes (as in the portable template).
    fn address_bits(&self) -> usize {
        (usize::BITS - (self.words - 1).leading_zeros()).max(1) as usize
    }

    /// The 14 address pins of a port, `AD13` first: the word address in
    /// `[13:shift]`, `low` in the bits below it (byte enables at width 18).
    fn address_pins(&self, port: char, signal: &str, low: &str) -> String {
        (0..14)
            .rev()
            .map(|pin| {
                let value = if pin < self.shift {
                    low.to_string()
                } else if pin - self.shift < self.address_bits() {
                    format!("{signal}[{}]", pin - self.shift)
                } else {
                    "1'b0".to_string()
                };
                format!(".AD{port}{pin}({value})")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Bits `[block * width, ...)` of the word this block holds.
    fn slice(&self, block: usize) -> std::ops::Range<usize> {
        block * self.width..((block + 1) * self.width).min(self.bits)
    }

    /// The 18 data-in pins of a port, `DI17` first.
    fn data_pins(&self, port: char, block: usize, signal: Option<&str>) -> String {
        let slice = self.slice(block);
        (0..18)
            .rev()
            .map(|pin| {
                let value = match signal {
                    Some(s) if pin < slice.len() => format!("{s}[{}]", slice.start + pin),
                    _ => "1'b0".to_string(),
                };
                format!(".DI{port}{pin}({value})")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One block: port A reads into the block's read register when
    /// `ports.read_enable` and on into its output register when
    /// `ports.output_enable`; port B writes (never, for a ROM).
    fn instance(&self, block: usize, ports: &Ports, init: &str) -> String {
        let name = format!("{}_{block}", ports.name);
        let outputs = |port: char, wire: &str| {
            (0..18)
                .rev()
                .map(|pin| format!(".DO{port}{pin}({name}_{wire}[{pin}])"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let port_b = match &ports.write {
            Some(w) => format!(
                ".CLKB({clock}), .CEB({enable}), .OCEB(1'b0), .WEB({enable}), .RSTB(1'b0),\n    \
                 .CSB2(1'b0), .CSB1(1'b0), .CSB0(1'b0),\n    {},\n    {},\n    {}",
                self.address_pins('B', w.address, "1'b1"),
                self.data_pins('B', block, Some(w.data)),
                outputs('B', "port_b"),
                clock = ports.clock,
                enable = w.enable,
            ),
            None => format!(
                ".CLKB(1'b0), .CEB(1'b0), .OCEB(1'b0), .WEB(1'b0), .RSTB(1'b0),\n    \
                 .CSB2(1'b0), .CSB1(1'b0), .CSB0(1'b0),\n    {},\n    {},\n    {}",
                (0..14)
                    .rev()
                    .map(|pin| format!(".ADB{pin}(1'b0)"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.data_pins('B', block, None),
                outputs('B', "port_b"),
            ),
        };
        format!(
            "\
wire [17:0] {name}_out;
wire [17:0] {name}_port_b;
DP16KD #(
    .DATA_WIDTH_A({w}), .DATA_WIDTH_B({w}),
    .REGMODE_A(\"OUTREG\"), .REGMODE_B(\"NOREG\"),
    .RESETMODE(\"SYNC\"), .ASYNC_RESET_RELEASE(\"SYNC\"),
    .CSDECODE_A(\"0b000\"), .CSDECODE_B(\"0b000\"),
    .WRITEMODE_A(\"NORMAL\"), .WRITEMODE_B(\"NORMAL\"),
    .GSR(\"AUTO\"){init}
) {name} (
    .CLKA({clock}), .CEA({read_enable}), .OCEA({output_enable}), .WEA(1'b0), .RSTA(1'b0),
    .CSA2(1'b0), .CSA1(1'b0), .CSA0(1'b0),
    {address},
    {data},
    {outputs},
    {port_b}
);
",
            w = self.width,
            clock = ports.clock,
            read_enable = ports.read_enable,
            output_enable = ports.output_enable,
            address = self.address_pins('A', ports.read_address, "1'b0"),
            data = self.data_pins('A', block, None),
            outputs = outputs('A', "out"),
        )
    }

    /// `ports.read_data` from the blocks' outputs.
    fn output(&self, ports: &Ports) -> String {
        let parts: Vec<String> = (0..self.blocks)
            .rev()
            .map(|b| format!("{}_{b}_out[{}:0]", ports.name, self.slice(b).len() - 1))
            .collect();
        format!(
            "always @(*) {} = {{{}}};\n",
            ports.read_data,
            parts.join(", ")
        )
    }

    /// The blocks of a pipelined memory connected to `ports`.
    pub fn verilog(&self, ports: &Ports) -> String {
        let mut v: String = (0..self.blocks)
            .map(|b| self.instance(b, ports, ""))
            .collect();
        v.push_str(&self.output(ports));
        v
    }

    /// The blocks of a pipelined `BlockRam` (its port names,
    /// one enable for both read registers).
    pub fn ram_verilog(&self) -> String {
        self.verilog(&Ports {
            write: Some(WritePorts {
                enable: "write_enable",
                address: "write_address",
                data: "write_data",
            }),
            ..Ports::default()
        })
    }

    /// The blocks of a pipelined ROM holding `contents` (ports `clock`,
    /// `read_address`, `read_data`), initialised through `INITVAL_00` to
    /// `INITVAL_3F`: 16 words of 20 bits (18 used) per 320-bit parameter.
    pub fn rom_verilog(&self, contents: &[u64]) -> String {
        assert_eq!(self.width, 18, "ROM contents are laid out for width 18");
        let mut v = String::new();
        for b in 0..self.blocks {
            let slice = self.slice(b);
            let mask = (1u64 << slice.len()) - 1;
            let mut init = String::new();
            for row in 0..64 {
                // 16 words of 20 bits, word 0 in the low bits.
                let mut value = [0u64; 5]; // 320 bits as 64-bit limbs, low first
                for i in 0..16 {
                    let word = contents
                        .get(row * 16 + i)
                        .map_or(0, |c| (c >> slice.start) & mask);
                    let bit = i * 20;
                    value[bit / 64] |= word << (bit % 64);
                    if bit % 64 + 18 > 64 {
                        value[bit / 64 + 1] |= word >> (64 - bit % 64);
                    }
                }
                if value.iter().any(|&l| l != 0) {
                    let hex: String = value.iter().rev().map(|l| format!("{l:016x}")).collect();
                    init.push_str(&format!(",\n    .INITVAL_{row:02X}(320'h{hex})"));
                }
            }
            let ports = Ports {
                read_enable: "1'b1",
                output_enable: "1'b1",
                ..Ports::default()
            };
            v.push_str(&self.instance(b, &ports, &init));
        }
        v.push_str(&self.output(&Ports::default()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_take_the_fewest_blocks() {
        // The default engine's memories.
        let table = Layout::for_ram(4096, 8).unwrap();
        assert_eq!((table.width, table.blocks), (4, 2));
        let centroids = Layout::for_ram(256, 8).unwrap();
        assert_eq!((centroids.width, centroids.blocks), (18, 1));
        let wide = Layout::for_ram(1024, 32).unwrap();
        assert_eq!((wide.width, wide.blocks), (18, 2));
        let deep = Layout::for_ram(16384, 8).unwrap();
        assert_eq!((deep.width, deep.blocks), (1, 8));
        // Tiny memories stay in LUT RAM; deeper than a block, yosys maps them.
        assert_eq!(Layout::for_ram(MIN_WORDS - 1, 8), None);
        assert_eq!(Layout::for_ram(16385, 8), None);
        assert_eq!(Layout::for_rom(256, 16).map(|l| l.blocks), Some(1));
        assert_eq!(Layout::for_rom(2048, 8), None);
    }

    #[test]
    fn address_pins_follow_yosys_ecp5_map() {
        // Width 18: word address in [13:4], byte enables in [1:0].
        let x18 = Layout::for_ram(1024, 18).unwrap();
        let pins = x18.address_pins('B', "a", "1'b1");
        assert!(pins.starts_with(".ADB13(a[9]), "));
        assert!(pins.contains(".ADB4(a[0]), .ADB3(1'b1)"));
        // Width 4 at 4096 words: [13:2].
        let x4 = Layout::for_ram(4096, 8).unwrap();
        let pins = x4.address_pins('A', "a", "1'b0");
        assert!(pins.starts_with(".ADA13(a[11]), "));
        assert!(pins.ends_with(".ADA2(a[0]), .ADA1(1'b0), .ADA0(1'b0)"));
        // 256 words at width 18: the unused high pins are tied low.
        let small = Layout::for_ram(256, 8).unwrap();
        assert!(small
            .address_pins('A', "a", "1'b0")
            .starts_with(".ADA13(1'b0), .ADA12(1'b0), .ADA11(a[7])"));
    }

    #[test]
    fn rom_initial_values_are_twenty_bit_slots() {
        let layout = Layout::for_rom(256, 16).unwrap();
        let contents: Vec<u64> = (0..256).map(|d| d * d).collect();
        let v = layout.rom_verilog(&contents);
        // Words 0..16 in INITVAL_00: word i at bits [20 i +: 18]; word 1 = 1, word 2 = 4.
        let row = v.split(".INITVAL_00(320'h").nth(1).unwrap();
        let hex = &row[..80];
        let value = u128::from_str_radix(&hex[hex.len() - 32..], 16).unwrap();
        assert_eq!((value >> 20) & 0x3ffff, 1);
        assert_eq!((value >> 40) & 0x3ffff, 4);
        assert_eq!((value >> 60) & 0x3ffff, 9);
        // Word 255 is the last of INITVAL_0F, in bits [300 +: 18].
        let last = v.split(".INITVAL_0F(320'h").nth(1).unwrap();
        let top = u32::from_str_radix(&last[..5], 16).unwrap(); // bits [319:300]
        assert_eq!(top & 0x3ffff, 255 * 255);
        assert!(!v.contains("INITVAL_10"));
    }
}
