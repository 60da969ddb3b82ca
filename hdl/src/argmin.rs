//! A pipelined argmin tree over the distance units' keys.
//!
//! A key packs `{distance[63:32], index[31:16], row_offset[15:0]}`. The tree
//! is a heap of K - 1 registered compare nodes, leaves in index order, so the
//! left input of every node always covers lower indices than the right one:
//! taking the right input only when its distance is *strictly* smaller makes
//! the lowest index win ties, exactly as the reference does. Latency:
//! 2 log2(K) (each node registers the compare before the select).
//! A one-leaf tree (the `two-level` search with a single cluster) is a wire.

use rust_hdl::prelude::*;

/// `{distance, index, row_offset}` as carried through the tree.
pub type Key = Bits<64>;

/// One registered compare: the smaller distance, the left one on a tie.
///
/// Latency two cycles: the compare result is registered with both keys,
/// then the select (a compare's carry chain and the select's fan-out to
/// the key register do not fit one 150 MHz cycle on the iCE40HX8K nor one
/// 200 MHz cycle on the ECP5). The ECP5 Verilog registers the compare as
/// per-chunk `<` and `==` flags, combined before the select.
///
/// Only the distance's used bits are compared (`distance_bits`, see
/// `EngineConfig::distance_bits`): the rest are zero, but yosys keeps a
/// 32-bit compare's carry chain when it cannot prove that through the
/// registers of the tree.
#[derive(LogicBlock)]
pub struct ArgminNode {
    pub clock: Signal<In, Clock>,
    pub left: Signal<In, Key>,
    pub right: Signal<In, Key>,
    pub left_valid: Signal<In, Bit>,
    pub right_valid: Signal<In, Bit>,
    /// The winner, registered.
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    _distance_bits: usize,
    /// The Rust model's first stage: `{left, right, take_right, valid}`.
    _stage: (Key, Key, bool, bool),
}

impl ArgminNode {
    /// A node comparing distances of `distance_bits` (1 to 32) bits.
    pub fn new(distance_bits: usize) -> Self {
        assert!((1..=32).contains(&distance_bits));
        ArgminNode {
            clock: Default::default(),
            left: Default::default(),
            right: Default::default(),
            left_valid: Default::default(),
            right_valid: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            _distance_bits: distance_bits,
            _stage: Default::default(),
        }
    }
}

impl Logic for ArgminNode {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let distance = |k: Key| {
                (k.get_bits::<32>(32).index() as u64) & ((1u64 << self._distance_bits) - 1)
            };
            let (l, r, take_right, valid) = self._stage;
            self.key.next = if take_right { r } else { l };
            self.valid.next = valid;
            let (l, r) = (self.left.val(), self.right.val());
            self._stage = (
                l,
                r,
                distance(r) < distance(l),
                self.left_valid.val() & self.right_valid.val(),
            );
        }
    }

    fn connect(&mut self) {
        self.key.connect();
        self.valid.connect();
    }

    fn hdl(&self) -> Verilog {
        // ECP5: the compare in up to three chunks of at most 6 bits, each
        // chunk's `<` and `==` registered (two LUT levels from the inputs,
        // no carry chain), then the chunks combined (one LUT) into the
        // select, all in the second cycle.
        let bits = self._distance_bits;
        let width = bits.div_ceil(3).max(1);
        let chunks: Vec<(usize, usize)> = (0..bits)
            .step_by(width)
            .map(|lo| (32 + (lo + width).min(bits) - 1, 32 + lo))
            .collect();
        let n = chunks.len();
        // The lowest chunk needs no `==` flag.
        let mut regs = String::new();
        let mut flags = String::new();
        for (i, (hi, lo)) in chunks.iter().enumerate() {
            regs.push_str(&format!("reg lt_{i} = 1'b0;\n"));
            flags.push_str(&format!(
                "    lt_{i} <= right[{hi}:{lo}] < left[{hi}:{lo}];\n"
            ));
            if i > 0 {
                regs.push_str(&format!("reg eq_{i} = 1'b0;\n"));
                flags.push_str(&format!(
                    "    eq_{i} <= right[{hi}:{lo}] == left[{hi}:{lo}];\n"
                ));
            }
        }
        // `right < left`: the highest chunk that differs decides.
        let mut take = String::from("1'b0");
        for i in 0..n {
            take = if i == 0 {
                format!("lt_{i}")
            } else {
                format!("lt_{i} | (eq_{i} & ({take}))")
            };
        }
        Verilog::Custom(format!(
            "\
initial begin
    key = 64'h0;
    valid = 1'b0;
end
// The compare and the select in separate cycles; latency 2.
reg [63:0] left_q = 64'h0;
reg [63:0] right_q = 64'h0;
reg valid_q = 1'b0;
`ifdef {ecp5}
// ECP5: the compare registered as per-chunk flags (LUTs, no carry chain),
// combined before the select.
{regs}wire take_right = {take};
always @(posedge clock) begin
{flags}end
`else
// iCE40: one carry chain into a register.
reg take_right = 1'b0;
always @(posedge clock) take_right <= right[{top}:32] < left[{top}:32];
`endif
always @(posedge clock) begin
    left_q <= left;
    right_q <= right;
    valid_q <= left_valid & right_valid;
    key <= take_right ? right_q : left_q;
    valid <= valid_q;
end
",
            top = 31 + self._distance_bits,
            ecp5 = crate::dp16kd::ECP5_PRIMITIVES,
        ))
    }
}

/// The K-leaf argmin tree. Its wiring depends on K, a runtime value, so it is
/// written out here rather than with `#[hdl_gen]` (whose loops can index a
/// vector only by the loop variable itself).
#[derive(LogicBlock)]
pub struct ArgminTree {
    pub clock: Signal<In, Clock>,
    /// High for one cycle when every leaf holds a fresh key.
    pub valid_in: Signal<In, Bit>,
    pub leaves: Vec<Signal<In, Key>>,
    /// The winning key, `2 log2(K)` cycles after `valid_in`.
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    nodes: Vec<ArgminNode>,
}

/// Where a node input comes from.
#[derive(Clone, Copy)]
enum Source {
    Node(usize),
    Leaf(usize),
}

impl ArgminTree {
    /// A tree over `leaves` keys (a power of two) with `distance_bits`-bit distances.
    pub fn new(leaves: usize, distance_bits: usize) -> Self {
        assert!(leaves.is_power_of_two());
        ArgminTree {
            clock: Default::default(),
            valid_in: Default::default(),
            leaves: (0..leaves).map(|_| Default::default()).collect(),
            key: Default::default(),
            valid: Default::default(),
            nodes: (0..leaves - 1)
                .map(|_| ArgminNode::new(distance_bits))
                .collect(),
        }
    }

    /// Child `slot` of the heap: nodes first, then the leaves in order.
    fn source(&self, slot: usize) -> Source {
        let inner = self.nodes.len();
        if slot < inner {
            Source::Node(slot)
        } else {
            Source::Leaf(slot - inner)
        }
    }

    /// `(node, left source, right source)` for every node.
    fn wiring(&self) -> Vec<(usize, Source, Source)> {
        (0..self.nodes.len())
            .map(|m| (m, self.source(2 * m + 1), self.source(2 * m + 2)))
            .collect()
    }

    fn valid_of(&self, source: Source) -> bool {
        match source {
            Source::Node(n) => self.nodes[n].valid.val(),
            Source::Leaf(_) => self.valid_in.val(),
        }
    }

    fn key_of(&self, source: Source) -> Key {
        match source {
            Source::Node(n) => self.nodes[n].key.val(),
            Source::Leaf(l) => self.leaves[l].val(),
        }
    }
}

impl Logic for ArgminTree {
    fn update(&mut self) {
        for (m, left, right) in self.wiring() {
            let (l, r) = (self.key_of(left), self.key_of(right));
            let (lv, rv) = (self.valid_of(left), self.valid_of(right));
            let node = &mut self.nodes[m];
            node.clock.next = self.clock.val();
            node.left.next = l;
            node.right.next = r;
            node.left_valid.next = lv;
            node.right_valid.next = rv;
        }
        if self.nodes.is_empty() {
            self.key.next = self.leaves[0].val();
            self.valid.next = self.valid_in.val();
        } else {
            self.key.next = self.nodes[0].key.val();
            self.valid.next = self.nodes[0].valid.val();
        }
    }

    fn connect(&mut self) {
        for node in &mut self.nodes {
            node.clock.connect();
            node.left.connect();
            node.right.connect();
            node.left_valid.connect();
            node.right_valid.connect();
        }
        self.key.connect();
        self.valid.connect();
    }

    fn hdl(&self) -> Verilog {
        use ast::{VerilogExpression::Signal as S, VerilogStatement::Assignment};
        let key = |s: Source| match s {
            Source::Node(n) => format!("nodes${n}$key"),
            Source::Leaf(l) => format!("leaves${l}"),
        };
        let valid = |s: Source| match s {
            Source::Node(n) => format!("nodes${n}$valid"),
            Source::Leaf(_) => "valid_in".to_string(),
        };
        if self.nodes.is_empty() {
            // One leaf: a wire. The clock input stays (same ports for every K).
            return Verilog::Custom(
                "\
// UNUSEDSIGNAL: a one-leaf tree is a wire and needs no clock.
/* verilator lint_off UNUSEDSIGNAL */
wire unused_clock = clock;
/* verilator lint_on UNUSEDSIGNAL */
always @(*) begin
    key = leaves$0;
    valid = valid_in;
end
"
                .into(),
            );
        }
        let mut block = vec![];
        for (m, left, right) in self.wiring() {
            for (port, src) in [
                ("clock", "clock".to_string()),
                ("left", key(left)),
                ("right", key(right)),
                ("left_valid", valid(left)),
                ("right_valid", valid(right)),
            ] {
                block.push(Assignment(S(format!("nodes${m}${port}")), S(src)));
            }
        }
        block.push(Assignment(S("key".into()), S("nodes$0$key".into())));
        block.push(Assignment(S("valid".into()), S("nodes$0$valid".into())));
        Verilog::Combinatorial(block)
    }
}

/// One level of [`ArgminStream`]: holds the first key of each pair and,
/// when the second arrives, lets an [`ArgminNode`] keep the smaller (the
/// first on a tie).
#[derive(LogicBlock)]
pub struct ArgminPair {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub key_in: Signal<In, Key>,
    pub valid_in: Signal<In, Bit>,
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    held: DFF<Key>,
    holding: DFF<Bit>,
    node: ArgminNode,
}

impl ArgminPair {
    /// A pair comparing `distance_bits`-bit distances.
    pub fn new(distance_bits: usize) -> Self {
        ArgminPair {
            clock: Default::default(),
            reset: Default::default(),
            key_in: Default::default(),
            valid_in: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            held: Default::default(),
            holding: Default::default(),
            node: ArgminNode::new(distance_bits),
        }
    }
}

impl Logic for ArgminPair {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, held, holding);
        self.node.clock.next = self.clock.val();
        self.node.left.next = self.held.q.val();
        self.node.right.next = self.key_in.val();
        self.node.left_valid.next = self.holding.q.val();
        self.node.right_valid.next = self.valid_in.val();
        if self.valid_in.val() {
            self.holding.d.next = !self.holding.q.val();
            self.held.d.next = self.key_in.val();
        }
        if self.reset.val() {
            self.holding.d.next = false;
        }
        self.key.next = self.node.key.val();
        self.valid.next = self.node.valid.val();
    }
}

/// The argmin of each group of `2^levels` keys arriving one per valid
/// cycle, in order: a tree in time, one [`ArgminPair`] per level, so no
/// register feeds its own compare (a running minimum would close a loop
/// through a compare every cycle). Keys arriving in index order keep the
/// lowest index on ties, as the reference does. Zero levels is a wire.
#[derive(LogicBlock)]
pub struct ArgminStream {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub key_in: Signal<In, Key>,
    pub valid_in: Signal<In, Bit>,
    /// The group's winner, valid for one cycle, two or three cycles per
    /// level after the group's last key.
    pub key: Signal<Out, Key>,
    pub valid: Signal<Out, Bit>,
    levels: Vec<ArgminPair>,
    _levels: usize,
    _last_level: usize,
}

impl ArgminStream {
    /// The argmin of groups of `group` keys (a power of two) with
    /// `distance_bits`-bit distances.
    pub fn new(group: usize, distance_bits: usize) -> Self {
        assert!(group.is_power_of_two());
        let levels = group.trailing_zeros() as usize;
        ArgminStream {
            clock: Default::default(),
            reset: Default::default(),
            key_in: Default::default(),
            valid_in: Default::default(),
            key: Default::default(),
            valid: Default::default(),
            levels: (0..levels)
                .map(|_| ArgminPair::new(distance_bits))
                .collect(),
            _levels: levels,
            _last_level: levels.saturating_sub(1),
        }
    }
}

impl Logic for ArgminStream {
    #[hdl_gen]
    fn update(&mut self) {
        self.key.next = self.key_in.val();
        self.valid.next = self.valid_in.val();
        for i in 0..self._levels {
            self.levels[i].clock.next = self.clock.val();
            self.levels[i].reset.next = self.reset.val();
            self.levels[i].key_in.next = self.key_in.val();
            self.levels[i].valid_in.next = self.valid_in.val();
            self.key.next = self.levels[i].key.val();
            self.valid.next = self.levels[i].valid.val();
        }
        for i in 0..self._last_level {
            self.levels[i + 1].key_in.next = self.levels[i].key.val();
            self.levels[i + 1].valid_in.next = self.levels[i].valid.val();
        }
    }
}
