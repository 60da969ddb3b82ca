//! [`IndexFifo`]: the queue of encoded codebooks between the search and the
//! table read, with every status output a register.
//!
//! rust-hdl's `SynchronousFIFO` computes `empty` by comparing its read
//! address with a delayed copy of its write address, and its memory address
//! from `read`, so a consumer that decides to read from `empty` chains both
//! into the memory read: with LUT RAM on the ECP5 that was the engine's
//! critical path once the block RAMs had output registers. Here `empty` and
//! `full` are registers whose next values are formed for both outcomes of
//! a read and then picked by it. First word fall-through: `data_out` is the
//! head whenever `empty` is low. The portable Verilog reads the memory
//! through a register (iCE40 block RAM), addressed by the read pointer or,
//! on a read, its successor (kept in a register too); under
//! [`crate::dp16kd::ECP5_PRIMITIVES`] the memory is LUT RAM read
//! asynchronously at the read pointer, which spares that multiplexer (about
//! 50 LUTs in yosys's mapping) and a cycle of latency.

use crate::memory::Address;
use rust_hdl::prelude::*;

/// Entries the queue holds: a vector's worth of codebooks at the default
/// shape, and one LUT-RAM block deep on ECP5 (16 words), so its read is
/// one LUT level without a multiplexer between blocks.
pub const DEPTH: usize = 16;
const POINTER_BITS: u32 = DEPTH.trailing_zeros();

#[derive(LogicBlock)]
pub struct IndexFifo {
    pub clock: Signal<In, Clock>,
    /// Append `data_in` (ignored when full; `overflow` pulses).
    pub write: Signal<In, Bit>,
    pub data_in: Signal<In, Address>,
    /// Drop the head (ignored when empty; `underflow` pulses).
    pub read: Signal<In, Bit>,
    /// The oldest entry, valid while `empty` is low.
    pub data_out: Signal<Out, Address>,
    pub empty: Signal<Out, Bit>,
    /// Registered one cycle after a write that found the queue full.
    pub overflow: Signal<Out, Bit>,
    /// Registered one cycle after a read that found the queue empty.
    pub underflow: Signal<Out, Bit>,
    _state: State,
}

/// The Rust model's registers (the Verilog keeps the same ones).
#[derive(Clone, Debug, Default)]
struct State {
    memory: Vec<u64>,
    write_pointer: usize,
    read_pointer: usize,
    /// Entries written, not yet read: `full` when DEPTH.
    stored: usize,
    /// Entries the registered read has caught up with: `empty` when 0.
    visible: usize,
    wrote: bool,
    empty: bool,
    full: bool,
}

impl Default for IndexFifo {
    fn default() -> Self {
        IndexFifo {
            clock: Default::default(),
            write: Default::default(),
            data_in: Default::default(),
            read: Default::default(),
            data_out: Default::default(),
            empty: Default::default(),
            overflow: Default::default(),
            underflow: Default::default(),
            _state: State {
                memory: vec![0; DEPTH],
                empty: true,
                ..Default::default()
            },
        }
    }
}

impl Logic for IndexFifo {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let s = &mut self._state;
            let read = self.read.val() && !s.empty;
            let write = self.write.val() && !s.full;
            let next_read = (s.read_pointer + usize::from(read)) % DEPTH;
            self.data_out.next = s.memory[next_read].into();
            if write {
                s.memory[s.write_pointer] = self.data_in.val().index() as u64;
                s.write_pointer = (s.write_pointer + 1) % DEPTH;
            }
            s.read_pointer = next_read;
            s.visible = s.visible + usize::from(s.wrote) - usize::from(read);
            s.stored = s.stored + usize::from(write) - usize::from(read);
            s.wrote = write;
            self.overflow.next = self.write.val() && s.full;
            self.underflow.next = self.read.val() && s.empty;
            s.empty = s.visible == 0;
            s.full = s.stored == DEPTH;
            self.empty.next = s.empty;
        }
    }

    fn connect(&mut self) {
        self.data_out.connect();
        self.empty.connect();
        self.overflow.connect();
        self.underflow.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
reg [15:0] mem [0:{last}];
reg [{p1}:0] write_pointer = {p}'d0;
reg [{p1}:0] read_pointer = {p}'d0;
reg [{p}:0] stored = {c}'d0;
reg [{p}:0] visible = {c}'d0;
reg full = 1'b0;
initial begin
    empty = 1'b1;
    overflow = 1'b0;
    underflow = 1'b0;
end
wire accept_read = read & !empty;
wire accept_write = write & !full;
`ifdef {ecp5}
// ECP5: the memory is LUT RAM, read asynchronously: a word is readable the
// cycle after its write.
wire arriving = accept_write;
always @(*) data_out = mem[read_pointer];
`else
// A registered read (block RAM) of the next head, first word fall-through:
// a word is readable one cycle later still.
reg [{p1}:0] read_pointer_next = {p}'d1;
reg wrote = 1'b0;
wire arriving = wrote;
always @(posedge clock) begin
    data_out <= mem[accept_read ? read_pointer_next : read_pointer];
    if (accept_read) read_pointer_next <= read_pointer_next + {p}'d1;
    wrote <= accept_write;
end
`endif
// Every outcome is formed from registers, then picked by the late
// `accept_read` and `arriving`: no adder follows them.
wire [{p}:0] visible_up = visible + {c}'d1;
wire [{p}:0] visible_down = visible - {c}'d1;
wire [{p}:0] stored_up = stored + {c}'d1;
wire [{p}:0] stored_down = stored - {c}'d1;
wire visible_one = visible == {c}'d1;
always @(posedge clock) begin
    if (accept_write) begin
        mem[write_pointer] <= data_in;
        write_pointer <= write_pointer + {p}'d1;
    end
    if (accept_read) read_pointer <= read_pointer + {p}'d1;
    if (arriving != accept_read) visible <= arriving ? visible_up : visible_down;
    if (accept_write != accept_read) stored <= accept_write ? stored_up : stored_down;
    empty <= !arriving & (accept_read ? visible_one : empty);
    full <= !accept_read & (full | (accept_write & stored == {c}'d{penultimate}));
    overflow <= write & full;
    underflow <= read & empty;
end
",
            last = DEPTH - 1,
            penultimate = DEPTH - 1,
            ecp5 = crate::dp16kd::ECP5_PRIMITIVES,
            p = POINTER_BITS,
            p1 = POINTER_BITS - 1,
            c = POINTER_BITS + 1,
        ))
    }
}
