//! Block memories whose depth is a runtime value: [`BlockRam`], written
//! through a load port, and [`BlockRom`], whose contents are fixed when the
//! Verilog is generated.
//!
//! rust-hdl's own `RAM` fixes its depth at 2^N through a const generic and
//! adds an `initial` block when given contents; lutgen needs memories sized by
//! the engine configuration at run time, and contents that arrive through a
//! load port. The Verilog is the template yosys infers block RAM from
//! (registered read, no initial block), so it maps to iCE40 and ECP5 BRAM.
//!
//! A memory built `pipelined` registers its read once more, with the same
//! enable. The portable Verilog puts that register in the fabric; under
//! [`ECP5_PRIMITIVES`] the memory is DP16KD blocks whose own output register
//! (`REGMODE = "OUTREG"`) holds it, which yosys cannot infer: without it an
//! ECP5 block RAM's clock-to-output (5.8 ns in nextpnr's model) alone exceeds
//! a 200 MHz cycle. See [`crate::dp16kd`].
//!
//! A memory built as a [`BlockRam::table`] (a lane's table) is pipelined
//! and, under [`ICE40_SPRAM`] (the iCE40UP5K build), made of the UltraPlus
//! single-port RAMs instead of block RAM. See [`crate::spram`].

use crate::dp16kd;
use crate::spram::{self, used_address_bits};
use lutgen_core::config::ADDRESS_BITS;
use rust_hdl::prelude::*;

/// The Verilog macro that selects the ECP5 build (defined in [`crate::dp16kd`],
/// with the primitives it selects; kept here for `lutgen_hdl::memory::ECP5_PRIMITIVES`).
pub use crate::dp16kd::ECP5_PRIMITIVES;

/// The Verilog macro that puts the lanes' tables in iCE40 UltraPlus SPRAM
/// (defined in [`crate::spram`]).
pub use crate::spram::ICE40_SPRAM;

/// Address of a word in any engine memory.
pub type Address = Bits<{ ADDRESS_BITS as usize }>;

/// `value` as an [`Address`] constant (a memory number, a word count or a
/// limit compared with an address).
pub fn address(value: usize) -> Constant<Address> {
    Constant::new((value as u64).into())
}

/// The shift that multiplies an address by `power_of_two` (its log2).
pub fn shift_by(power_of_two: usize) -> Constant<Bits<4>> {
    Constant::new(u64::from(power_of_two.trailing_zeros()).into())
}

/// A `words` x `D` memory with a registered, enabled read port and a write port.
#[derive(LogicBlock)]
pub struct BlockRam<D: Synth> {
    pub clock: Signal<In, Clock>,
    /// When high at a rising edge, `read_data` takes the word at `read_address`.
    pub read_enable: Signal<In, Bit>,
    pub read_address: Signal<In, Address>,
    pub read_data: Signal<Out, D>,
    pub write_enable: Signal<In, Bit>,
    pub write_address: Signal<In, Address>,
    pub write_data: Signal<In, D>,
    _words: usize,
    _contents: Vec<D>,
    /// The second read register of a pipelined memory (`None`: one register).
    _stage: Option<D>,
    /// A table: under [`ICE40_SPRAM`], `SB_SPRAM256KA` blocks.
    _spram: bool,
    /// Bits the Verilog stores of each word (`D::BITS` unless narrowed by
    /// [`BlockRam::narrow`]).
    _bits: usize,
}

impl<D: Synth> BlockRam<D> {
    /// A memory of `words` words (1 to 2^16), all zero, whose `read_data`
    /// is the word read at the last enabled edge.
    pub fn new(words: usize) -> Self {
        Self::build(words, false)
    }

    /// As [`BlockRam::new`], but `read_data` is registered once more with
    /// the same enable: the word read two enabled edges ago.
    pub fn pipelined(words: usize) -> Self {
        Self::build(words, true)
    }

    /// A lane's table: as [`BlockRam::pipelined`], but under [`ICE40_SPRAM`]
    /// built from iCE40 UltraPlus `SB_SPRAM256KA` blocks (one port: a write
    /// takes it, so no write may coincide with a read whose word is used;
    /// see [`crate::spram`]).
    pub fn table(words: usize) -> Self {
        BlockRam {
            _spram: true,
            ..Self::build(words, true)
        }
    }

    /// The same memory storing only the low `bits` (1 to `D::BITS`) bits of
    /// each word in its Verilog: `write_data`'s bits above are dropped and
    /// `read_data`'s read as zero there, so block RAM (and SPRAM) is spent
    /// on `bits` only. (rust-hdl widths are compile-time; this one is the
    /// configuration's. The Rust model keeps all `D::BITS`: a reader must
    /// use only the low `bits`.)
    pub fn narrow(self, bits: usize) -> Self {
        assert!((1..=D::BITS).contains(&bits), "{bits} bits of {}", D::BITS);
        BlockRam {
            _bits: bits,
            ..self
        }
    }

    fn build(words: usize, pipelined: bool) -> Self {
        assert!(
            (1..=1 << ADDRESS_BITS).contains(&words),
            "validated configurations keep memories within 2^{ADDRESS_BITS} words"
        );
        BlockRam {
            clock: Default::default(),
            read_enable: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            _words: words,
            _contents: vec![D::default(); words],
            _stage: pipelined.then(D::default),
            _spram: false,
            _bits: D::BITS,
        }
    }
}

/// The waiver for the address bits above those decoded (none if all are).
fn unused_address_waiver(words: usize, ports: &[&str]) -> String {
    let used = used_address_bits(words);
    let unused = ADDRESS_BITS as usize - used;
    if unused == 0 {
        return String::new();
    }
    let top = ADDRESS_BITS - 1;
    let bits: Vec<String> = ports.iter().map(|p| format!("{p}[{top}:{used}]")).collect();
    format!(
        "\n// Upper address bits are zero by construction: the memory holds {words} words.\n\
         /* verilator lint_off UNUSEDSIGNAL */\n\
         wire [{hi}:0] unused_address_bits = {{{bits}}};\n\
         /* verilator lint_on UNUSEDSIGNAL */\n",
        hi = ports.len() * unused - 1,
        bits = bits.join(", "),
    )
}

/// A memory's Verilog: `common` lines, then the DP16KD `primitives` under
/// [`ECP5_PRIMITIVES`] when there are any, the SB_SPRAM256KA blocks `spram`
/// under [`ICE40_SPRAM`] when there are any, else (or always) the
/// `portable` template.
fn with_primitives(
    common: &str,
    portable: String,
    primitives: Option<String>,
    spram: Option<String>,
) -> String {
    let mut branches = String::new();
    if let Some(blocks) = primitives {
        branches.push_str(&format!(
            "`ifdef {ECP5_PRIMITIVES}\n\
             // ECP5: DP16KD blocks, the second read register their own output register.\n\
             // UNUSEDSIGNAL: a block's data bits past the word and its write port's outputs.\n\
             /* verilator lint_off UNUSEDSIGNAL */\n\
             {blocks}/* verilator lint_on UNUSEDSIGNAL */\n"
        ));
    }
    if let Some(blocks) = spram {
        let directive = if branches.is_empty() {
            "ifdef"
        } else {
            "elsif"
        };
        branches.push_str(&format!(
            "`{directive} {ICE40_SPRAM}\n\
             // UNUSEDSIGNAL: a block's data bits past the word.\n\
             /* verilator lint_off UNUSEDSIGNAL */\n\
             {blocks}/* verilator lint_on UNUSEDSIGNAL */\n"
        ));
    }
    if branches.is_empty() {
        format!("{common}{portable}")
    } else {
        format!("{common}{branches}`else\n{portable}`endif\n")
    }
}

/// A memory's Verilog `body`, written for ports `write_data` and
/// `read_data`, made to store `bits` of the ports' `width`: the body works
/// on `write_word` (the low bits of `write_data`) and `read_word`, and
/// `read_data` is `read_word` zero-extended.
fn narrowed(body: String, bits: usize, width: usize) -> String {
    if bits == width {
        return body;
    }
    let pad = width - bits;
    format!(
        "\
// The memory stores the low {bits} bits of each {width}-bit word.
wire [{hi}:0] write_word = write_data[{hi}:0];
/* verilator lint_off UNUSEDSIGNAL */
wire [{pad_hi}:0] unused_write_bits = write_data[{top}:{bits}];
/* verilator lint_on UNUSEDSIGNAL */
reg [{hi}:0] read_word;
always @(*) read_data = {{{pad}'b0, read_word}};
{}",
        body.replace("write_data", "write_word")
            .replace("read_data", "read_word"),
        hi = bits - 1,
        pad_hi = pad - 1,
        top = width - 1,
    )
}

impl<D: Synth> Logic for BlockRam<D> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let index = |a: Address| a.index() % self._words;
            if self.read_enable.val() {
                let word = self._contents[index(self.read_address.val())];
                self.read_data.next = match &mut self._stage {
                    Some(stage) => std::mem::replace(stage, word),
                    None => word,
                };
            }
            if self.write_enable.val() {
                let i = index(self.write_address.val());
                self._contents[i] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let abits = used_address_bits(self._words) - 1;
        let bits = self._bits;
        let (stage, read) = match self._stage {
            None => (
                String::new(),
                format!("read_data <= mem[read_address[{abits}:0]];"),
            ),
            Some(_) => (
                format!("reg [{}:0] read_stage;\n", bits - 1),
                format!(
                    "read_stage <= mem[read_address[{abits}:0]];\n        read_data <= read_stage;"
                ),
            ),
        };
        let portable = format!(
            "\
reg [{width}:0] mem [0:{last}];
{stage}always @(posedge clock) begin
    if (read_enable) begin
        {read}
    end
    if (write_enable) begin
        mem[write_address[{abits}:0]] <= write_data;
    end
end
",
            width = bits - 1,
            last = self._words - 1,
        );
        let primitives = self
            ._stage
            .and_then(|_| dp16kd::Layout::for_ram(self._words, bits))
            .map(|layout| layout.ram_verilog());
        let spram = self
            ._spram
            .then(|| spram::Layout::for_table(self._words, bits))
            .flatten()
            .map(|layout| layout.verilog());
        // Addresses above `words` never occur (the engine's counters stop
        // short of them); the upper address bits are unused by design.
        let waiver = unused_address_waiver(self._words, &["read_address", "write_address"]);
        let body = with_primitives(&waiver, portable, primitives, spram);
        Verilog::Custom(narrowed(body, bits, D::BITS))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![
            TimingInfo {
                name: "block_ram_read".into(),
                clock: "clock".into(),
                inputs: vec!["read_address".into(), "read_enable".into()],
                outputs: vec!["read_data".into()],
            },
            TimingInfo {
                name: "block_ram_write".into(),
                clock: "clock".into(),
                inputs: vec![
                    "write_address".into(),
                    "write_data".into(),
                    "write_enable".into(),
                ],
                outputs: vec![],
            },
        ]
    }
}

/// A read-only `contents.len()` x `W` memory with a registered read port, its
/// contents set by an `initial` block, which yosys maps into block RAM
/// initial values (iCE40 and ECP5) and Verilator runs at time zero.
#[derive(LogicBlock)]
pub struct BlockRom<const W: usize> {
    pub clock: Signal<In, Clock>,
    /// `read_data` takes the word at `read_address` at every rising edge.
    pub read_address: Signal<In, Address>,
    pub read_data: Signal<Out, Bits<W>>,
    _contents: Vec<u64>,
    /// The second read register of a pipelined ROM (`None`: one register).
    _stage: Option<u64>,
}

impl<const W: usize> BlockRom<W> {
    /// A memory holding `contents` (1 to 2^16 words, each below 2^W).
    pub fn new(contents: Vec<u64>) -> Self {
        Self::build(contents, false)
    }

    /// As [`BlockRom::new`], but `read_data` is registered once more: the
    /// word at the address of two edges ago.
    pub fn pipelined(contents: Vec<u64>) -> Self {
        Self::build(contents, true)
    }

    fn build(contents: Vec<u64>, pipelined: bool) -> Self {
        assert!((1..=1 << ADDRESS_BITS).contains(&contents.len()));
        assert!(W >= 64 || contents.iter().all(|&c| c >> W == 0));
        BlockRom {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            _contents: contents,
            _stage: pipelined.then_some(0),
        }
    }
}

impl<const W: usize> Logic for BlockRom<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let i = self.read_address.val().index() % self._contents.len();
            let word = self._contents[i];
            self.read_data.next = match &mut self._stage {
                Some(stage) => std::mem::replace(stage, word),
                None => word,
            }
            .into();
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let words = self._contents.len();
        let init: String = self
            ._contents
            .iter()
            .enumerate()
            .map(|(i, c)| format!("    mem[{i}] = {W}'h{c:x};\n"))
            .collect();
        let address = format!("read_address[{}:0]", used_address_bits(words) - 1);
        let (stage, read) = match self._stage {
            None => (String::new(), format!("read_data <= mem[{address}];")),
            Some(_) => (
                format!("reg [{}:0] read_stage;\n", W - 1),
                format!("read_stage <= mem[{address}];\n    read_data <= read_stage;"),
            ),
        };
        let portable = format!(
            "\
reg [{width}:0] mem [0:{last}];
{stage}initial begin
{init}end
always @(posedge clock) begin
    {read}
end
",
            width = W - 1,
            last = words - 1,
        );
        let primitives = self
            ._stage
            .and_then(|_| dp16kd::Layout::for_rom(words, W))
            .map(|layout| layout.rom_verilog(&self._contents));
        let waiver = unused_address_waiver(words, &["read_address"]);
        Verilog::Custom(with_primitives(&waiver, portable, primitives, None))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "block_rom_read".into(),
            clock: "clock".into(),
            inputs: vec!["read_address".into()],
            outputs: vec!["read_data".into()],
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spram::{spram_simulation_verilog, with_spram_define};

    /// A two-block table memory alone, under [`spram::ICE40_SPRAM`]: it lints clean
    /// with the model, and `synth_ice40 -device u` maps it to two
    /// `SB_SPRAM256KA` and no block RAM.
    #[test]
    fn a_table_synthesizes_to_spram_blocks() {
        let mut memory = BlockRam::<Bits<8>>::table(24576);
        memory.connect_all();
        let verilog = spram_simulation_verilog(&generate_verilog(&memory));
        let dir = std::env::temp_dir().join(format!("lutgen-hdl-spram-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("top.v"), &verilog).unwrap();
        // The model is not given to yosys: SB_SPRAM256KA is its own cell.
        std::fs::write(
            dir.join("synth.v"),
            with_spram_define(&generate_verilog(&memory)),
        )
        .unwrap();
        let run = |program: &str, args: &[&str]| {
            let out = std::process::Command::new(program)
                .current_dir(&dir)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{program} failed:\n{text}");
            text
        };
        let lint = run(
            "verilator",
            &["--lint-only", "-Wall", "--top-module", "top", "top.v"],
        );
        assert!(!lint.contains("%Warning"), "{lint}");
        run(
            "yosys",
            &[
                "-q",
                "-p",
                "read_verilog synth.v; synth_ice40 -device u -top top; tee -q -o stat.txt stat",
            ],
        );
        let stat = std::fs::read_to_string(dir.join("stat.txt")).unwrap();
        let count = |cell: &str| {
            stat.lines()
                .find(|l| l.trim_start().starts_with(cell))
                .and_then(|l| l.split_whitespace().nth(1))
                .map_or(0, |n| n.parse::<usize>().unwrap())
        };
        assert_eq!(count("SB_SPRAM256KA"), 2, "{stat}");
        assert_eq!(count("SB_RAM40_4K"), 0, "{stat}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
