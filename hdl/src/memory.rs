//! Block memories whose depth is a runtime value: [`BlockRam`], written
//! through a load port, and [`BlockRom`], whose contents are fixed when the
//! Verilog is generated.
//!
//! rust-hdl's own `RAM` fixes its depth at 2^N through a const generic and
//! adds an `initial` block when given contents; lutgen needs memories sized by
//! the engine configuration at run time, and contents that arrive through a
//! load port. The Verilog is the template yosys infers block RAM from
//! (registered read, no initial block), so it maps to iCE40 and ECP5 BRAM.

use lutgen_core::config::ADDRESS_BITS;
use rust_hdl::prelude::*;

/// Address of a word in any engine memory.
pub type Address = Bits<{ ADDRESS_BITS as usize }>;

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
}

impl<D: Synth> BlockRam<D> {
    /// A memory of `words` words (1 to 2^16), all zero.
    pub fn new(words: usize) -> Self {
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
        }
    }
}

/// Address bits decoded for a memory of `words` words: at least one.
fn used_address_bits(words: usize) -> usize {
    (usize::BITS - (words - 1).leading_zeros()).max(1) as usize
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

impl<D: Synth> Logic for BlockRam<D> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let index = |a: Address| a.index() % self._words;
            if self.read_enable.val() {
                self.read_data.next = self._contents[index(self.read_address.val())];
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
        let used = used_address_bits(self._words);
        // Addresses above `words` never occur (the engine's counters stop
        // short of them); the upper address bits are unused by design.
        let unused_bits = unused_address_waiver(self._words, &["read_address", "write_address"]);
        Verilog::Custom(format!(
            "\
reg [{width}:0] mem [0:{last}];
{unused_bits}
always @(posedge clock) begin
    if (read_enable) begin
        read_data <= mem[read_address[{abits}:0]];
    end
    if (write_enable) begin
        mem[write_address[{abits}:0]] <= write_data;
    end
end
",
            width = D::BITS - 1,
            last = self._words - 1,
            abits = used - 1,
        ))
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
}

impl<const W: usize> BlockRom<W> {
    /// A memory holding `contents` (1 to 2^16 words, each below 2^W).
    pub fn new(contents: Vec<u64>) -> Self {
        assert!((1..=1 << ADDRESS_BITS).contains(&contents.len()));
        assert!(W >= 64 || contents.iter().all(|&c| c >> W == 0));
        BlockRom {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            _contents: contents,
        }
    }
}

impl<const W: usize> Logic for BlockRom<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let i = self.read_address.val().index() % self._contents.len();
            self.read_data.next = self._contents[i].into();
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
        Verilog::Custom(format!(
            "\
reg [{width}:0] mem [0:{last}];
{unused_bits}
initial begin
{init}end
always @(posedge clock) begin
    read_data <= mem[read_address[{abits}:0]];
end
",
            width = W - 1,
            last = words - 1,
            unused_bits = unused_address_waiver(words, &["read_address"]),
            abits = used_address_bits(words) - 1,
        ))
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
