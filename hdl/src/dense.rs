//! The dense int8 multiply-accumulate baseline: the same layer `y = W x + b`
//! computed with multipliers instead of a centroid search and a table read,
//! behind the same ports as [`crate::verilog::TOP_MODULE`], so a board report
//! can put the two side by side.
//!
//! **What it computes.** `y_n = b_n + sum_d W[n][d] * x_d` with int8 `W` and
//! `x`, a `bias_bits`-bit signed `b` (the LUT layer's bias width) and
//! two's-complement accumulators of [`DenseConfig::accumulator_bits`], the
//! width the worst case needs (as narrow as the LUT engine's are, so the
//! comparison is like for like), sign-extended to 32-bit outputs. [`DenseWeights::reference`] is the
//! integer reference the Verilated engine is checked against bit for bit.
//!
//! **Where the weights come from.** A table image holds centroids and
//! tables, not `W`, and `W` cannot be recovered from them, so the dense
//! engine has its own weight memories loaded through the same load port
//! with the same address scheme (`load_address[31:16]` = memory,
//! `[15:0]` = word): memory `l` (for `l < P`) holds lane `l`'s weights,
//! `W[j*P + l][d]` at word `d*M + j`, and memory `P + l` holds its bias,
//! `b[j*P + l]` at word `j`, with `M = ceil(N / P)` rows per lane (zero
//! weights in padding rows). [`DenseWeights::load_words`] lists every write.
//! For benchmarking, [`DenseWeights::random`] draws `W` and `b`; a trained
//! layer's int8 `W` can be loaded with [`DenseWeights::new`].
//!
//! **Hardware.** `P` MAC lanes (the "lanes" of the configuration). Each
//! input element is held for `M` cycles while every lane multiplies it by
//! its weight for row `j = 0..M-1` and adds the product into the head of a
//! ring of `M` accumulators (the same ring trick as the LUT lanes, so no
//! accumulator is addressed). Pipeline per lane: weight block-RAM read ->
//! the memory's output register (inside the DP16KD on ECP5, as in the LUT
//! engine's pipelined memories) -> a three-stage multiply -> accumulate,
//! with the bias read twice registered and the stall (`advance`) a
//! register, as in the LUT engine. The multiply (see `multiplier`): on the
//! iCE40 two registered nibble products and their sum, so no cycle holds an
//! 8 x 8 multiply in LUTs (the HX8K has no DSP; on the UP5K yosys maps the
//! two products to two `SB_MAC16`); on ECP5 an instantiated `MULT18X18D`
//! with its input, pipeline and output registers (yosys would infer one
//! with none of them). A vector takes `D * M` cycles
//! (`D` when `P >= N`), against the LUT engine's `C * ceil(N / L)`.
//!
//! The baseline is written as a Verilog template rather than rust-hdl
//! blocks: the multiplier needs signed operands and registers placed for
//! DSP inference, which rust-hdl 0.46 does not express; the co-simulation
//! test is what holds it to its reference.

use crate::dp16kd;
use crate::verilog::{Port, ENGINE_PORTS};
use lutgen_core::config::ADDRESS_BITS;
use std::fmt::Write;

/// Name of the dense engine's top-level Verilog module.
pub const DENSE_MODULE: &str = "lutgen_dense";
/// Ports of [`DENSE_MODULE`]: the same as the LUT engine's.
pub const DENSE_PORTS: [Port; 16] = ENGINE_PORTS;
/// Cycles `reset` must be held (fewer are needed; kept equal to the LUT engine's).
pub const DENSE_RESET_CYCLES: u64 = 64;
/// Depth of the input element FIFO.
pub const INPUT_FIFO_DEPTH: usize = 4;

/// Shape of a dense layer and its MAC array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseConfig {
    /// D: activations per vector.
    pub input_dim: usize,
    /// N: outputs per vector.
    pub outputs: usize,
    /// P: multiply-accumulate lanes, one weight memory each.
    pub macs: usize,
    /// Signed bias width, 2 to 32.
    pub bias_bits: u32,
    /// R: weights each lane reads per cycle, packed side by side in one
    /// weight-memory word of `8 * R` bits, each with its own multiplier
    /// (1, 2 or 4: a word is written through the 32-bit load port in one
    /// write). The LUT engine's `entries_per_read` for the dense engine:
    /// lane `l`'s weight `r` serves output `n = j * P * R + l * R + r`.
    pub weights_per_read: usize,
}

/// The R values the dense engine is built for: a weight word of `8 * R`
/// bits is one write of the 32-bit load port.
pub const WEIGHTS_PER_READ: [usize; 3] = [1, 2, 4];

/// A dense configuration the hardware cannot be built for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenseConfigError {
    #[error("{what} must be at least 1 (got 0)")]
    Zero { what: &'static str },
    #[error(
        "macs x weights per read ({macs} x {per_read}) must not exceed outputs ({outputs}): \
         a multiplier without outputs does nothing"
    )]
    TooManyMacs {
        macs: usize,
        per_read: usize,
        outputs: usize,
    },
    #[error(
        "weights per read must be 1, 2 or 4 (got {0}): a weight word of 8 x R bits is one \
         write of the 32-bit load port"
    )]
    WeightsPerRead(usize),
    #[error(
        "a lane's weight memory needs {words} words (input_dim x ceil(outputs / macs)); \
         at most {max} are addressable: use more macs or a smaller layer"
    )]
    TooDeep { words: usize, max: usize },
    #[error("{memories} memories do not fit the 16-bit memory number of the load port")]
    TooManyMemories { memories: usize },
    #[error("bias_bits must be from 2 to 32 (got {0})")]
    BiasBits(u32),
}

/// Weights for a dense configuration: `W` (N x D, row-major) and `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenseWeights {
    config: DenseConfig,
    weights: Vec<i8>,
    bias: Vec<i32>,
}

/// A weights file or array that does not match its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenseWeightsError {
    #[error("invalid dense configuration: {0}")]
    Config(#[from] DenseConfigError),
    #[error("{what} has {got} values; the configuration needs {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("input vector has {got} elements; the layer takes {expected}")]
    Input { expected: usize, got: usize },
    #[error("bias {value} of output {output} does not fit {bits} signed bits")]
    BiasRange {
        output: usize,
        value: i32,
        bits: u32,
    },
}

impl DenseConfig {
    /// Multipliers (and accumulator rings): `P * R`, one per weight read per cycle.
    pub fn multipliers(&self) -> usize {
        self.macs.max(1) * self.weights_per_read.max(1)
    }

    /// Rows of outputs each multiplier computes: `M = ceil(N / (P * R))`.
    pub fn rows_per_lane(&self) -> usize {
        self.outputs.div_ceil(self.multipliers())
    }

    /// Bits of one weight-memory word: `8 * R`.
    pub fn weight_word_bits(&self) -> usize {
        8 * self.weights_per_read.max(1)
    }

    /// Weight words (of [`Self::weight_word_bits`]) in each lane's memory: `D * M`.
    pub fn weight_words_per_lane(&self) -> usize {
        self.input_dim * self.rows_per_lane()
    }

    /// Signed accumulator width for `bias + sum of D int8 x int8 products`
    /// in the worst case (at most 32; at 32 the sum wraps, as an int32 would).
    pub fn accumulator_bits(&self) -> u32 {
        let worst = (self.input_dim as u128) * (1 << 14) + (1u128 << (self.bias_bits.max(1) - 1));
        ((128 - (worst - 1).leading_zeros()) + 1).min(32)
    }

    /// Cycles per inference when the stream never stalls: `D * M`.
    pub fn bound_cycles_per_inference(&self) -> usize {
        self.weight_words_per_lane()
    }

    /// Checks the shape against what the hardware can address.
    pub fn validate(&self) -> Result<(), DenseConfigError> {
        for (what, v) in [
            ("input_dim", self.input_dim),
            ("outputs", self.outputs),
            ("macs", self.macs),
        ] {
            if v == 0 {
                return Err(DenseConfigError::Zero { what });
            }
        }
        if !(2..=32).contains(&self.bias_bits) {
            return Err(DenseConfigError::BiasBits(self.bias_bits));
        }
        if !WEIGHTS_PER_READ.contains(&self.weights_per_read) {
            return Err(DenseConfigError::WeightsPerRead(self.weights_per_read));
        }
        if self.multipliers() > self.outputs {
            return Err(DenseConfigError::TooManyMacs {
                macs: self.macs,
                per_read: self.weights_per_read,
                outputs: self.outputs,
            });
        }
        let max = 1usize << ADDRESS_BITS;
        if self.weight_words_per_lane() > max {
            return Err(DenseConfigError::TooDeep {
                words: self.weight_words_per_lane(),
                max,
            });
        }
        if self.macs + self.multipliers() > max {
            return Err(DenseConfigError::TooManyMemories {
                memories: self.macs + self.multipliers(),
            });
        }
        Ok(())
    }
}

/// One write through the load port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseLoadWord {
    pub address: u32,
    pub data: u32,
}

impl DenseWeights {
    /// Weights `w` (N x D, row-major) and bias `b` (N) for `config`.
    pub fn new(config: DenseConfig, w: Vec<i8>, b: Vec<i32>) -> Result<Self, DenseWeightsError> {
        config.validate()?;
        let expected = config.outputs * config.input_dim;
        if w.len() != expected {
            return Err(DenseWeightsError::Length {
                what: "the weight matrix",
                expected,
                got: w.len(),
            });
        }
        if b.len() != config.outputs {
            return Err(DenseWeightsError::Length {
                what: "the bias",
                expected: config.outputs,
                got: b.len(),
            });
        }
        let bits = config.bias_bits;
        let fits = |v: i32| (i64::from(v) >> (bits - 1)) == 0 || (i64::from(v) >> (bits - 1)) == -1;
        if let Some((output, &value)) = b.iter().enumerate().find(|(_, &v)| !fits(v)) {
            return Err(DenseWeightsError::BiasRange {
                output,
                value,
                bits,
            });
        }
        Ok(DenseWeights {
            config,
            weights: w,
            bias: b,
        })
    }

    /// Random int8 weights and `bias_bits`-bit bias, reproducible from `seed`.
    pub fn random(config: DenseConfig, seed: u64) -> Result<Self, DenseWeightsError> {
        let mut rng = SplitMix64(seed);
        let w = (0..config.outputs * config.input_dim)
            .map(|_| rng.next() as i8)
            .collect();
        let b = (0..config.outputs)
            .map(|_| {
                (rng.next() >> (64 - config.bias_bits)) as i64 - (1i64 << (config.bias_bits - 1))
            })
            .map(|b| b as i32)
            .collect();
        Self::new(config, w, b)
    }

    pub fn config(&self) -> &DenseConfig {
        &self.config
    }

    /// The integer reference: `b_n + sum_d W[n][d] x_d`, wrapping at 32 bits
    /// (which only a 32-bit accumulator can reach).
    pub fn reference(&self, x: &[i8]) -> Result<Vec<i32>, DenseWeightsError> {
        let d = self.config.input_dim;
        if x.len() != d {
            return Err(DenseWeightsError::Input {
                expected: d,
                got: x.len(),
            });
        }
        Ok((0..self.config.outputs)
            .map(|n| {
                self.weights[n * d..(n + 1) * d]
                    .iter()
                    .zip(x)
                    .fold(self.bias[n], |acc, (&w, &v)| {
                        acc.wrapping_add(i32::from(w) * i32::from(v))
                    })
            })
            .collect())
    }

    /// Every load-port write that puts these weights into the engine: lane
    /// `l`'s word `d * M + j` holds, in bits `[8r, 8r + 8)`, `W[n][d]` of
    /// output `n = (j * P + l) * R + r` (zero in padding rows); multiplier
    /// `q = l * R + r` has its bias memory `P + q`, `b[n]` at word `j`.
    pub fn load_words(&self) -> Vec<DenseLoadWord> {
        let c = &self.config;
        let (p, r, m, d) = (c.macs, c.weights_per_read, c.rows_per_lane(), c.input_dim);
        let output = |j: usize, q: usize| Some(j * p * r + q).filter(|&n| n < c.outputs);
        let mut words = Vec::with_capacity(p * d * m + p * r * m);
        for l in 0..p {
            for dd in 0..d {
                for j in 0..m {
                    let data = (0..r).fold(0u32, |word, k| {
                        let w = output(j, l * r + k).map_or(0, |n| self.weights[n * d + dd]);
                        word | u32::from(w as u8) << (8 * k)
                    });
                    words.push(DenseLoadWord {
                        address: ((l as u32) << 16) | (dd * m + j) as u32,
                        data,
                    });
                }
            }
        }
        for q in 0..p * r {
            for j in 0..m {
                let b = output(j, q).map_or(0, |n| self.bias[n]);
                words.push(DenseLoadWord {
                    address: (((p + q) as u32) << 16) | j as u32,
                    data: b as u32,
                });
            }
        }
        words
    }
}

/// SplitMix64: a tiny, fixed generator, so random weights are the same on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `x`, an `bits`-bit two's complement value, sign-extended to 32 bits.
fn sign_extend(x: &str, bits: usize) -> String {
    sign_extend_from(x, bits, 32)
}

/// `x`, a `from`-bit two's complement value, sign-extended to `to` bits.
fn sign_extend_from(x: &str, from: usize, to: usize) -> String {
    if to > from {
        format!("{{{{{}{{{x}[{}]}}}}, {x}}}", to - from, from - 1)
    } else {
        x.to_string()
    }
}

/// Lane `l`'s weight memory of `words` words of `bits` bits (R weights
/// side by side): read at `waddr` into a read register and an output
/// register (`wword_l`), both advancing with `advance`; written through the
/// load port. Portable: a memory and two registers; under
/// [`crate::dp16kd::ECP5_PRIMITIVES`]: DP16KD blocks with their output
/// register, as the LUT engine's pipelined memories.
fn weight_memory(l: usize, words: usize, bits: usize) -> String {
    let portable = format!(
        "\
reg [{b1}:0] wmem_{l} [0:{last}];
reg [{b1}:0] wstage_{l};
always @(posedge clock) begin
    if (advance) begin
        wstage_{l} <= wmem_{l}[waddr];
        wword_{l} <= wstage_{l};
    end
    if (load_enable && load_memory == 16'd{l}) wmem_{l}[load_word] <= load_data[{b1}:0];
end
",
        b1 = bits - 1,
        last = words - 1
    );
    let enable = format!("load_enable && load_memory == 16'd{l}");
    let name = format!("weights_{l}");
    let data = format!("wword_{l}");
    let blocks = dp16kd::Layout::for_ram(words, bits).map(|layout| {
        layout.verilog(&dp16kd::Ports {
            name: &name,
            read_enable: "advance",
            output_enable: "advance",
            read_address: "waddr",
            read_data: &data,
            write: Some(dp16kd::WritePorts {
                enable: &enable,
                address: "load_word",
                data: "load_data",
            }),
            ..dp16kd::Ports::default()
        })
    });
    match blocks {
        None => portable,
        Some(blocks) => format!(
            "`ifdef {}\n\
             /* verilator lint_off UNUSEDSIGNAL */\n\
             {blocks}/* verilator lint_on UNUSEDSIGNAL */\n\
             `else\n{portable}`endif\n",
            crate::dp16kd::ECP5_PRIMITIVES
        ),
    }
}

/// Lane `l`'s multiplier: `product_l = weight_l * x1` three cycles later,
/// through registers that advance with `advance`. Portable: the operands
/// registered, then two partial products (`a * b[3:0]`, unsigned nibble,
/// and `a * b[7:4]`, signed), then their sum `16 * high + low`, so no
/// cycle holds a whole 8 x 8 multiply in LUTs (the HX8K has no DSP). Under
/// [`crate::dp16kd::ECP5_PRIMITIVES`]: a `MULT18X18D` with its input,
/// pipeline and output registers, which yosys does not use when it infers
/// one (the multiply is then a combinational path between fabric registers).
fn multiplier(l: usize) -> String {
    let pins = |name: &str, signal: &str| -> String {
        (0..18)
            .rev()
            .map(|i| format!(".{name}{i}({signal}[{}])", i.min(7)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let zeros = (0..18)
        .rev()
        .map(|i| format!(".C{i}(1'b0)"))
        .collect::<Vec<_>>()
        .join(", ");
    let outputs = (0..36)
        .rev()
        .map(|i| format!(".P{i}(p_{l}[{i}])"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "\
`ifdef {ecp5}
// ECP5: one MULT18X18D, operands sign-extended to 18 bits, its input,
// pipeline and output registers clocked with `advance`.
/* verilator lint_off UNUSEDSIGNAL */
wire [35:0] p_{l};
/* verilator lint_on UNUSEDSIGNAL */
MULT18X18D #(
    .REG_INPUTA_CLK(\"CLK0\"), .REG_INPUTA_CE(\"CE0\"), .REG_INPUTA_RST(\"RST0\"),
    .REG_INPUTB_CLK(\"CLK0\"), .REG_INPUTB_CE(\"CE0\"), .REG_INPUTB_RST(\"RST0\"),
    .REG_PIPELINE_CLK(\"CLK0\"), .REG_PIPELINE_CE(\"CE0\"), .REG_PIPELINE_RST(\"RST0\"),
    .REG_OUTPUT_CLK(\"CLK0\"), .REG_OUTPUT_CE(\"CE0\"), .REG_OUTPUT_RST(\"RST0\"),
    .GSR(\"DISABLED\"), .RESETMODE(\"SYNC\")
) multiplier_{l} (
    {a},
    {b},
    {zeros},
    .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),
    .CLK0(clock), .CE0(advance), .RST0(1'b0),
    {outputs}
);
always @(*) product_{l} = p_{l}[15:0];
`else
reg signed [7:0] a_{l};
reg [7:0] b_{l};
wire signed [11:0] a_wide_{l} = {{{{4{{a_{l}[7]}}}}, a_{l}}};
wire signed [11:0] b_low_{l} = {{8'd0, b_{l}[3:0]}};
wire signed [11:0] b_high_{l} = {{{{8{{b_{l}[7]}}}}, b_{l}[7:4]}};
reg signed [11:0] low_{l};
reg signed [11:0] high_{l};
always @(posedge clock) begin
    if (advance) begin
        a_{l} <= weight_{l};
        b_{l} <= x1;
        low_{l} <= a_wide_{l} * b_low_{l};
        high_{l} <= a_wide_{l} * b_high_{l};
        product_{l} <= {{high_{l}, 4'd0}} + {{{{4{{low_{l}[11]}}}}, low_{l}}};
    end
end
`endif
",
        ecp5 = crate::dp16kd::ECP5_PRIMITIVES,
        a = pins("A", &format!("weight_{l}")),
        b = pins("B", "x1"),
    )
}

/// Bits to count `0..n-1` (at least 1).
fn bits_for(n: usize) -> usize {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1) as usize
}

/// The Verilog of the dense engine for `config`: module [`DENSE_MODULE`], ports [`DENSE_PORTS`].
pub fn dense_verilog(config: &DenseConfig) -> Result<String, DenseConfigError> {
    config.validate()?;
    // `p` counts multipliers (P * R): each has its ring of accumulators
    // and its bias memory; lane `l` has one weight memory for its R
    // multipliers `l * R .. l * R + R`.
    let (d, n, p, m) = (
        config.input_dim,
        config.outputs,
        config.multipliers(),
        config.rows_per_lane(),
    );
    let (lanes, r) = (config.macs, config.weights_per_read);
    let words = d * m;
    let aw = bits_for(words);
    let rw = bits_for(m);
    let dw = bits_for(d);
    let lw = bits_for(p);
    let nw = bits_for(n + 1);
    let ab = config.accumulator_bits() as usize;
    let mut v = String::new();
    let w = &mut v;
    let _ = writeln!(
        w,
        "// lutgen {version}: generated dense int8 MAC baseline, do not edit.\n\
         // Layer: D={d} N={n}, {lanes} MAC lanes of {r} weights per read ({p} multipliers), {m} rows per multiplier; {bound} cycles per inference.\n\
         // Same ports and load-port addressing scheme as lutgen_engine (see hdl/src/dense.rs).\n\
         /* verilator lint_off DECLFILENAME */\n\
         module {DENSE_MODULE}(clock, reset, in_data, in_valid, in_ready, out_data, out_valid,\n    \
         out_ready, out_last, load_enable, load_address, load_data, encode_valid, encode_index,\n    \
         encode_distance, fault);\n\
         input wire clock;\ninput wire reset;\ninput wire [7:0] in_data;\ninput wire in_valid;\n\
         output wire in_ready;\noutput wire [31:0] out_data;\noutput wire out_valid;\n\
         input wire out_ready;\noutput wire out_last;\ninput wire load_enable;\n\
         input wire [31:0] load_address;\ninput wire [31:0] load_data;\n\
         output wire encode_valid;\noutput wire [15:0] encode_index;\n\
         output wire [31:0] encode_distance;\noutput wire fault;\n",
        version = env!("CARGO_PKG_VERSION"),
        bound = config.bound_cycles_per_inference(),
    );
    // Input FIFO (registers), sequencer, token pipeline, output stream.
    let _ = writeln!(
        w,
        "\
// No encoder in a dense engine: the trace ports are constant.
assign encode_valid = 1'b0;
assign encode_index = 16'd0;
assign encode_distance = 32'd0;
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] unused_load_address = load_address; // only the used bits are decoded
wire [31:0] unused_load_data = load_data; // a bias has accumulator_bits bits
/* verilator lint_on UNUSEDSIGNAL */
wire [15:0] load_memory = load_address[31:16];
wire [{aw1}:0] load_word = load_address[{aw1}:0];

// ---- Input FIFO: {depth} elements in registers; in_ready depends on registers only.
reg [7:0] fifo_data [0:{depth1}];
reg [1:0] fifo_head;
reg [1:0] fifo_tail;
reg [2:0] fifo_count;
reg fault_flag;
assign in_ready = !reset && (fifo_count != 3'd{depth});
assign fault = fault_flag;
wire push = in_valid && in_ready;
wire fifo_nonempty = fifo_count != 3'd0;

// ---- Sequencer: holds element x for M cycles, one row per cycle.
reg busy;
reg [7:0] x_cur;
reg [{aw1}:0] waddr;
reg [{rw1}:0] row;
reg [{dw1}:0] element;
reg advance;
wire issue = advance && busy;
wire row_last = row == {rw}'d{m1};
wire element_last = element == {dw}'d{d1};
wire pop = advance && fifo_nonempty && (!busy || row_last);

// ---- Token pipeline: stage 0 (weight read), 1 (the memory's output
// register), 2 (multiplier inputs), 3 (partial products), 4 (product).
reg t0_valid, t0_first, t0_last;
reg t1_valid, t1_first, t1_last;
reg t2_valid, t2_first, t2_last;
reg t3_valid, t3_first, t3_last;
reg t4_valid, t4_first, t4_last;
reg signed [7:0] x0;
reg signed [7:0] x1;
reg [{rw1}:0] row0;
reg [{rw1}:0] row1;
reg [{rw1}:0] row2;
reg done;

// ---- Output stream.
reg [{nw1}:0] remaining;
reg [{lw1}:0] lane_select;
reg idle; // remaining == 0, as a register
assign out_valid = !idle;
assign out_last = remaining == {nw}'d1;
wire fire = out_valid && out_ready;
wire shift = fire && ((lane_select == {lw}'d{p1}) || (remaining == {nw}'d1));

// A finished vector is copied to the output registers once the output
// stream is idle; `advance` (= !done || idle) is a register formed from the
// next values of both, so the stall comes straight from a flip-flop (as in
// the LUT engine).
wire capture = done && idle;
wire done_next = reset ? 1'b0 : (advance && t4_valid && t4_last) ? 1'b1 : capture ? 1'b0 : done;
wire idle_next = reset || (capture ? 1'b0 : fire ? remaining == {nw}'d1 : idle);

always @(posedge clock) begin
    if (push) begin
        fifo_data[fifo_tail] <= in_data;
        fifo_tail <= fifo_tail + 2'd1;
    end
    if (pop) begin
        fifo_head <= fifo_head + 2'd1;
        x_cur <= fifo_data[fifo_head];
    end
    fifo_count <= fifo_count + {{2'd0, push}} - {{2'd0, pop}};
    if (push && fifo_count == 3'd{depth}) fault_flag <= 1'b1;
    if (advance) begin
        t0_valid <= issue;
        t0_first <= element == {dw}'d0;
        t0_last <= element_last && row_last;
        x0 <= x_cur;
        row0 <= row;
        t1_valid <= t0_valid;
        t1_first <= t0_first;
        t1_last <= t0_last;
        x1 <= x0;
        row1 <= row0;
        t2_valid <= t1_valid;
        t2_first <= t1_first;
        t2_last <= t1_last;
        row2 <= row1;
        t3_valid <= t2_valid;
        t3_first <= t2_first;
        t3_last <= t2_last;
        t4_valid <= t3_valid;
        t4_first <= t3_first;
        t4_last <= t3_last;
        if (issue) begin
            waddr <= (waddr == {aw}'d{words1}) ? {aw}'d0 : waddr + {aw}'d1;
            row <= row_last ? {rw}'d0 : row + {rw}'d1;
            if (row_last) element <= element_last ? {dw}'d0 : element + {dw}'d1;
        end
        if (pop) busy <= 1'b1;
        else if (issue && row_last) busy <= 1'b0;
    end
    done <= done_next;
    advance <= !done_next || idle_next;
    idle <= idle_next;
    if (capture) begin
        remaining <= {nw}'d{n};
        lane_select <= {lw}'d0;
    end else if (fire) begin
        remaining <= remaining - {nw}'d1;
        lane_select <= (lane_select == {lw}'d{p1}) ? {lw}'d0 : lane_select + {lw}'d1;
    end
    if (reset) begin
        fifo_head <= 2'd0;
        fifo_tail <= 2'd0;
        fifo_count <= 3'd0;
        fault_flag <= 1'b0;
        busy <= 1'b0;
        waddr <= {aw}'d0;
        row <= {rw}'d0;
        element <= {dw}'d0;
        t0_valid <= 1'b0;
        t1_valid <= 1'b0;
        t2_valid <= 1'b0;
        t3_valid <= 1'b0;
        t4_valid <= 1'b0;
        remaining <= {nw}'d0;
        lane_select <= {lw}'d0;
    end
end
",
        depth = INPUT_FIFO_DEPTH,
        depth1 = INPUT_FIFO_DEPTH - 1,
        aw1 = aw - 1,
        rw1 = rw - 1,
        dw1 = dw - 1,
        nw1 = nw - 1,
        lw1 = lw - 1,
        m1 = m - 1,
        d1 = d - 1,
        p1 = p - 1,
        words1 = words - 1,
    );
    // Output mux over the lanes' heads.
    let _ = writeln!(w, "wire [{}:0] head [0:{}];", ab - 1, p - 1);
    if p == 1 {
        let _ = writeln!(
            w,
            "/* verilator lint_off UNUSEDSIGNAL */\nwire unused_lane_select = lane_select[0];\n/* verilator lint_on UNUSEDSIGNAL */\nassign out_data = {};",
            sign_extend("head[0]", ab)
        );
    } else {
        let _ = writeln!(
            w,
            "reg [{}:0] out_mux;\nalways @(*) begin\n    out_mux = head[0];\n    case (lane_select)",
            ab - 1
        );
        for l in 1..p {
            let _ = writeln!(w, "        {lw}'d{l}: out_mux = head[{l}];");
        }
        let _ = writeln!(
            w,
            "        default: out_mux = head[0];\n    endcase\nend\nassign out_data = {};",
            sign_extend("out_mux", ab)
        );
    }
    for l in 0..p {
        // Lane `l / R`'s weight memory, before its first multiplier.
        if l % r == 0 {
            let _ = writeln!(
                w,
                "\n// ---- Weight memory of lane {lane}: {r} weights a word, read into two registers\n\
                 // (the second is `wword_{lane}`); on ECP5 DP16KD blocks with their output register.\n\
                 reg [{b1}:0] wword_{lane};\n{memory}",
                lane = l / r,
                b1 = 8 * r - 1,
                memory = weight_memory(l / r, words, 8 * r),
            );
        }
        let _ = writeln!(
            w,
            "
// ---- Multiplier {l} (weight {slot} of lane {lane}): outputs n = j * {p} + {l}.
reg [{a1}:0] bmem_{l} [0:{m1}];
wire signed [7:0] weight_{l} = wword_{lane}[{hi}:{lo}];
reg signed [15:0] product_{l};
reg [{a1}:0] bias_stage_{l};
reg [{a1}:0] bias_{l};
reg [{a1}:0] ring_{l} [0:{m1}];
reg [{a1}:0] out_{l} [0:{m1}];
wire [{a1}:0] base_{l} = t4_first ? bias_{l} : ring_{l}[0];
wire [{a1}:0] total_{l} = base_{l} + {product};
assign head[{l}] = out_{l}[0];
{multiplier}always @(posedge clock) begin
    // The bias memory read twice registered, as the LUT lanes' pipelined
    // bias memory: the block RAM's output meets no logic.
    if (advance) begin
        bias_stage_{l} <= bmem_{l}[row2];
        bias_{l} <= bias_stage_{l};
    end
    if (load_enable && load_memory == 16'd{bias_mem}) bmem_{l}[load_word[{rw1}:0]] <= load_data[{a1}:0];
end",
            m1 = m - 1,
            rw1 = rw - 1,
            bias_mem = lanes + l,
            a1 = ab - 1,
            lane = l / r,
            slot = l % r,
            lo = 8 * (l % r),
            hi = 8 * (l % r) + 7,
            product = sign_extend_from(&format!("product_{l}"), 16, ab),
            multiplier = multiplier(l),
        );
        // Ring and output registers, written out (arrays that shift are not memories).
        let _ = writeln!(
            w,
            "always @(posedge clock) begin\n    if (advance && t4_valid) begin"
        );
        for j in 0..m - 1 {
            let _ = writeln!(w, "        ring_{l}[{j}] <= ring_{l}[{}];", j + 1);
        }
        let _ = writeln!(w, "        ring_{l}[{}] <= total_{l};\n    end", m - 1);
        let _ = writeln!(w, "    if (capture) begin");
        for j in 0..m {
            let _ = writeln!(w, "        out_{l}[{j}] <= ring_{l}[{j}];");
        }
        let _ = writeln!(w, "    end else if (shift) begin");
        for j in 0..m - 1 {
            let _ = writeln!(w, "        out_{l}[{j}] <= out_{l}[{}];", j + 1);
        }
        let _ = writeln!(w, "    end\nend");
    }
    let _ = writeln!(w, "endmodule // {DENSE_MODULE}");
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(input_dim: usize, outputs: usize, macs: usize) -> DenseConfig {
        DenseConfig {
            input_dim,
            outputs,
            macs,
            bias_bits: 16,
            weights_per_read: 1,
        }
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(
            cfg(0, 4, 1).validate(),
            Err(DenseConfigError::Zero { what: "input_dim" })
        );
        assert_eq!(
            cfg(8, 4, 8).validate(),
            Err(DenseConfigError::TooManyMacs {
                macs: 8,
                per_read: 1,
                outputs: 4
            })
        );
        // R multipliers per lane count against the outputs too.
        let wide = |macs, r| DenseConfig {
            weights_per_read: r,
            ..cfg(8, 10, macs)
        };
        assert!(wide(2, 4).validate().is_ok());
        let e = wide(3, 4).validate().unwrap_err();
        assert!(
            e.to_string()
                .contains("(3 x 4) must not exceed outputs (10)"),
            "{e}"
        );
        for r in [0, 3, 8] {
            let e = wide(1, r).validate().unwrap_err();
            assert_eq!(e, DenseConfigError::WeightsPerRead(r));
            assert!(e.to_string().contains("must be 1, 2 or 4"), "{e}");
        }
        assert!(matches!(
            cfg(70000, 2, 1).validate(),
            Err(DenseConfigError::TooDeep { .. })
        ));
        assert!(matches!(
            DenseWeights::new(cfg(4, 2, 1), vec![0; 7], vec![0; 2]),
            Err(DenseWeightsError::Length { got: 7, .. })
        ));
    }

    #[test]
    fn bias_width_and_range_are_checked() {
        for bits in [0, 1, 33] {
            assert_eq!(
                DenseConfig {
                    bias_bits: bits,
                    ..cfg(4, 2, 1)
                }
                .validate(),
                Err(DenseConfigError::BiasBits(bits))
            );
        }
        // 16 bits hold -32768..=32767.
        assert!(DenseWeights::new(cfg(1, 2, 1), vec![0; 2], vec![-32768, 32767]).is_ok());
        let e = DenseWeights::new(cfg(1, 2, 1), vec![0; 2], vec![0, 32768]).unwrap_err();
        assert_eq!(
            e,
            DenseWeightsError::BiasRange {
                output: 1,
                value: 32768,
                bits: 16
            }
        );
        assert!(e.to_string().contains("does not fit 16 signed bits"), "{e}");
        // Random biases stay in range; 32 bits take any i32.
        let c = DenseConfig {
            bias_bits: 32,
            ..cfg(2, 3, 1)
        };
        assert!(DenseWeights::new(c, vec![0; 6], vec![i32::MIN, i32::MAX, 0]).is_ok());
        assert!(DenseWeights::random(cfg(64, 16, 1), 7).is_ok());
    }

    #[test]
    fn accumulator_is_as_wide_as_the_worst_case() {
        // 64 * 128 * 128 + 2^15 = 1,081,344 < 2^21: 21 magnitude bits + sign.
        assert_eq!(cfg(64, 16, 1).accumulator_bits(), 22);
        // 16,384 + 2 needs 15 bits + sign.
        let c = DenseConfig {
            bias_bits: 2,
            ..cfg(1, 1, 1)
        };
        assert_eq!(c.accumulator_bits(), 16);
        // At most 32 (an int32 that wraps).
        let c = DenseConfig {
            bias_bits: 32,
            ..cfg(64, 16, 1)
        };
        assert_eq!(c.accumulator_bits(), 32);
    }

    #[test]
    fn reference_and_load_map() {
        let c = cfg(3, 3, 2);
        let wts =
            DenseWeights::new(c, vec![1, 2, 3, -1, -2, -3, 4, 0, -4], vec![10, 20, 30]).unwrap();
        assert_eq!(wts.reference(&[1, 1, 2]).unwrap(), vec![19, 11, 26]);
        let words = wts.load_words();
        // 2 lanes x (3 elements x 2 rows + 2 bias words).
        assert_eq!(words.len(), 16);
        // Lane 1, element 0, row 1 is output 3: padding, zero.
        assert!(words.contains(&DenseLoadWord {
            address: (1 << 16) | 1,
            data: 0
        }));
        // Lane 0, element 2, row 1 is W[2][2] = -4.
        assert!(words.contains(&DenseLoadWord {
            address: 5,
            data: 0xFC
        }));
        assert!(dense_verilog(&c).unwrap().contains("module lutgen_dense("));
    }
}
