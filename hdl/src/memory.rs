//! A single-port-read, single-port-write block RAM whose depth is a runtime value.
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

    /// Address bits actually decoded: enough for `words`, at least one.
    fn used_address_bits(&self) -> usize {
        (usize::BITS - (self._words - 1).leading_zeros()).max(1) as usize
    }
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
        let used = self.used_address_bits();
        let unused = ADDRESS_BITS as usize - used;
        // Addresses above `words` never occur (the engine's counters stop
        // short of them); the upper address bits are unused by design.
        let unused_bits = if unused > 0 {
            format!(
                "\n// Upper address bits are zero by construction: the memory holds {words} words.\n\
                 /* verilator lint_off UNUSEDSIGNAL */\n\
                 wire [{hi}:0] unused_address_bits = {{read_address[{top}:{used}], write_address[{top}:{used}]}};\n\
                 /* verilator lint_on UNUSEDSIGNAL */\n",
                words = self._words,
                hi = 2 * unused - 1,
                top = ADDRESS_BITS - 1,
            )
        } else {
            String::new()
        };
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
