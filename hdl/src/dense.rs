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
//! multiplier input registers -> product register -> accumulate; the three
//! registers around the `*` are what yosys packs into one `SB_MAC16`
//! (iCE40UP5K) or `MULT18X18D` (ECP5) DSP. A vector takes `D * M` cycles
//! (`D` when `P >= N`), against the LUT engine's `C * ceil(N / L)`.
//!
//! The baseline is written as a Verilog template rather than rust-hdl
//! blocks: the multiplier needs signed operands and registers placed for
//! DSP inference, which rust-hdl 0.46 does not express; the co-simulation
//! test is what holds it to its reference.

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
    /// P: multiply-accumulate lanes (one multiplier each).
    pub macs: usize,
    /// Signed bias width, 2 to 32.
    pub bias_bits: u32,
}

/// A dense configuration the hardware cannot be built for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenseConfigError {
    #[error("{what} must be at least 1 (got 0)")]
    Zero { what: &'static str },
    #[error(
        "macs ({macs}) must not exceed outputs ({outputs}): a lane without outputs does nothing"
    )]
    TooManyMacs { macs: usize, outputs: usize },
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
    /// Rows of outputs each lane computes: `M = ceil(N / P)`.
    pub fn rows_per_lane(&self) -> usize {
        self.outputs.div_ceil(self.macs.max(1))
    }

    /// Weight words in each lane's memory: `D * M`.
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
        if self.macs > self.outputs {
            return Err(DenseConfigError::TooManyMacs {
                macs: self.macs,
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
        if 2 * self.macs > max {
            return Err(DenseConfigError::TooManyMemories {
                memories: 2 * self.macs,
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

    /// Every load-port write that puts these weights into the engine.
    pub fn load_words(&self) -> Vec<DenseLoadWord> {
        let c = &self.config;
        let (p, m, d) = (c.macs, c.rows_per_lane(), c.input_dim);
        let mut words = Vec::with_capacity(p * (d * m + m));
        for l in 0..p {
            for dd in 0..d {
                for j in 0..m {
                    let n = j * p + l;
                    let w = if n < c.outputs {
                        self.weights[n * d + dd]
                    } else {
                        0
                    };
                    words.push(DenseLoadWord {
                        address: ((l as u32) << 16) | (dd * m + j) as u32,
                        data: u32::from(w as u8),
                    });
                }
            }
            for j in 0..m {
                let n = j * p + l;
                let b = if n < c.outputs { self.bias[n] } else { 0 };
                words.push(DenseLoadWord {
                    address: (((p + l) as u32) << 16) | j as u32,
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

/// Bits to count `0..n-1` (at least 1).
fn bits_for(n: usize) -> usize {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1) as usize
}

/// The Verilog of the dense engine for `config`: module [`DENSE_MODULE`], ports [`DENSE_PORTS`].
pub fn dense_verilog(config: &DenseConfig) -> Result<String, DenseConfigError> {
    config.validate()?;
    let (d, n, p, m) = (
        config.input_dim,
        config.outputs,
        config.macs,
        config.rows_per_lane(),
    );
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
         // Layer: D={d} N={n}, {p} MAC lanes, {m} rows per lane; {bound} cycles per inference.\n\
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
wire advance;
wire issue = advance && busy;
wire row_last = row == {rw}'d{m1};
wire element_last = element == {dw}'d{d1};
wire pop = advance && fifo_nonempty && (!busy || row_last);

// ---- Token pipeline: stage 0 (weight read), 1 (multiplier inputs), 2 (product).
reg t0_valid, t0_first, t0_last;
reg t1_valid, t1_first, t1_last;
reg t2_valid, t2_first, t2_last;
reg signed [7:0] x0;
reg [{rw1}:0] row0;
reg [{rw1}:0] row1;
reg done;
wire output_free;
wire capture = done && output_free;
assign advance = !done || output_free;

// ---- Output stream.
reg [{nw1}:0] remaining;
reg [{lw1}:0] lane_select;
assign out_valid = remaining != {nw}'d0;
assign out_last = remaining == {nw}'d1;
wire fire = out_valid && out_ready;
assign output_free = (remaining == {nw}'d0) || ((remaining == {nw}'d1) && out_ready);
wire shift = fire && ((lane_select == {lw}'d{p1}) || (remaining == {nw}'d1));

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
        row1 <= row0;
        t2_valid <= t1_valid;
        t2_first <= t1_first;
        t2_last <= t1_last;
        if (issue) begin
            waddr <= (waddr == {aw}'d{words1}) ? {aw}'d0 : waddr + {aw}'d1;
            row <= row_last ? {rw}'d0 : row + {rw}'d1;
            if (row_last) element <= element_last ? {dw}'d0 : element + {dw}'d1;
        end
        if (pop) busy <= 1'b1;
        else if (issue && row_last) busy <= 1'b0;
    end
    if (advance && t2_valid && t2_last) done <= 1'b1;
    else if (capture) done <= 1'b0;
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
        done <= 1'b0;
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
        let _ = writeln!(
            w,
            "
// ---- MAC lane {l}: outputs n = j * {p} + {l}.
reg [7:0] wmem_{l} [0:{words1}];
reg [{a1}:0] bmem_{l} [0:{m1}];
reg signed [7:0] weight_{l};
reg signed [7:0] a_{l};
reg signed [7:0] b_{l};
reg signed [15:0] product_{l};
reg [{a1}:0] bias_{l};
reg [{a1}:0] ring_{l} [0:{m1}];
reg [{a1}:0] out_{l} [0:{m1}];
wire [{a1}:0] base_{l} = t2_first ? bias_{l} : ring_{l}[0];
wire [{a1}:0] total_{l} = base_{l} + {product};
assign head[{l}] = out_{l}[0];
always @(posedge clock) begin
    if (issue) weight_{l} <= wmem_{l}[waddr];
    if (load_enable && load_memory == 16'd{l}) wmem_{l}[load_word] <= load_data[7:0];
    if (advance) begin
        a_{l} <= weight_{l};
        b_{l} <= x0;
        product_{l} <= a_{l} * b_{l};
        bias_{l} <= bmem_{l}[row1];
    end
    if (load_enable && load_memory == 16'd{bias_mem}) bmem_{l}[load_word[{rw1}:0]] <= load_data[{a1}:0];
end",
            words1 = words - 1,
            m1 = m - 1,
            rw1 = rw - 1,
            bias_mem = p + l,
            a1 = ab - 1,
            product = sign_extend_from(&format!("product_{l}"), 16, ab),
        );
        // Ring and output registers, written out (arrays that shift are not memories).
        let _ = writeln!(
            w,
            "always @(posedge clock) begin\n    if (advance && t2_valid) begin"
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
                outputs: 4
            })
        );
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
