//! [`PoolStage`]: the pooling after a layer's requantization, in a network
//! top. It takes the requantized int8 HWC stream of one map (H, W, C fixed
//! at generation) and emits the pooled HWC stream, bit for bit
//! [`lutgen_core::spatial::Pool::apply`]; without a pool it is a wire.
//!
//! **Max2, Avg2** (2x2, stride 2, an odd last row or column dropped): a
//! row of partial results, one per output column and channel, `(W / 2) * C`
//! entries, at `(x / 2) * C + c`. An element at an even row and column
//! starts its entry, the next two update it, the one at an odd row and
//! column completes the window and goes out. The entries are the running
//! maximum (8 bits) or the running sum of the codes (11 bits, the zero point
//! is taken off once at the end: `s = sum - 4z`). The row is **registers /
//! distributed RAM with an asynchronous read, not a block RAM**: an element
//! reads and rewrites its entry in the cycle it is accepted, and with one
//! channel the same entry again in the next cycle; a block RAM's registered
//! read would need forwarding for that, and the row is small (`(W / 2) * C`
//! entries of at most 11 bits, e.g. 32 x 8 bits for a 8x8x8 map; at most
//! [`MAX_ROW_ENTRIES`]).
//!
//! **GlobalAvg**: C accumulators (the same kind of memory), summing the
//! codes of each channel over the `n = H * W` pixels; the last pixel's
//! element completes its channel: `s = sum - n z`.
//!
//! **Rounding** of an average, `z + sign(s) * floor((2|s| + n) / (2n))`:
//! the division by the generation-time constant `d = 2n` is an exact
//! reciprocal multiply (see [`Reciprocal`]): `floor(m / d) = (m * R) >> k`
//! for every `m = 2|s| + n` the stage can see (`|s| <= 255 n`), with
//! `R = ceil(2^k / d)` and `2^k >= (511 n + 1) d`. Proof: `R d = 2^k + e`
//! with `0 <= e < d`; for `m = q d + r` (`r < d`),
//! `m R / 2^k = q + (r + m e / 2^k) / d`, and `m e / 2^k < (511 n + 1) d / 2^k <= 1`,
//! so the fraction stays below 1 and the floor is `q`. The unit tests check
//! it against the software rule over the whole range of `s` too.
//!
//! **Pipeline and flow control**: an accepted element that completes a
//! window puts its value (the maximum, or `s`) in a register (step 1), whose
//! rounding and `z + ...` (step 2) enter a four-entry output queue. The input
//! is ready when the queue and step 1 hold at most two values: `in_ready`
//! depends on registers (and `reset`) only, never on `out_ready`, and one
//! element goes in per cycle while the output is taken.
//!
//! The zero point is a register written through the load port (word
//! [`POOL_ZERO_POINT_WORD`] of [`lutgen_core::memory_map::SPATIAL_MEMORY`],
//! the int8 in the low byte); reset keeps it.
//!
//! The block is written as Verilog ([`Verilog::Custom`]); rust-hdl's
//! simulation models only the pass-through (no pool).

use crate::stream_wire::STREAM_WIRE_BODY;
use lutgen_core::memory_map::POOL_ZERO_POINT_WORD;
use lutgen_core::spatial::{MapShape, Pool};
use rust_hdl::prelude::*;
use thiserror::Error;

/// Entries of the output queue.
const QUEUE_DEPTH: usize = 4;

/// The most partial results a 2x2 pool's row holds (`(W / 2) * C`).
pub const MAX_ROW_ENTRIES: usize = 4096;

/// The most pixels a global average pools (`H * W`).
pub const MAX_GLOBAL_PIXELS: usize = 1 << 20;

/// Why a pooling stage cannot be generated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PoolError {
    #[error(
        "{pool} needs a map of at least 2x2 pixels, not {height}x{width}: drop the pooling or \
         keep a larger map"
    )]
    TooSmall {
        pool: &'static str,
        height: usize,
        width: usize,
    },
    #[error(
        "{pool} of a {height}x{width}x{channels} map keeps {entries} partial results, more \
         than the {max} a pooling stage holds: narrow the map or reduce its channels"
    )]
    RowBuffer {
        pool: &'static str,
        height: usize,
        width: usize,
        channels: usize,
        entries: usize,
        max: usize,
    },
    #[error(
        "GlobalAveragePool of a {height}x{width} map averages {pixels} pixels, more than the \
         {max} a pooling stage divides by exactly: pool the map first"
    )]
    TooManyPixels {
        height: usize,
        width: usize,
        pixels: usize,
        max: usize,
    },
}

/// The exact division of an average's rounding: `floor(m / (2n)) = (m * multiplier) >> shift`
/// for every `m <= 511 n` (see the module documentation for the proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reciprocal {
    /// The number of values averaged.
    pub n: u64,
    /// `R = ceil(2^k / 2n)`.
    pub multiplier: u64,
    /// `k`, the smallest with `2^k >= (511 n + 1) * 2n`.
    pub shift: u32,
}

impl Reciprocal {
    /// The reciprocal for averages of `n` values (`1 <= n <= MAX_GLOBAL_PIXELS`).
    pub fn new(n: usize) -> Self {
        let n = n as u64;
        let d = 2 * n;
        let bound = (511 * n + 1) * d;
        let shift = u64::BITS - (bound - 1).leading_zeros();
        Reciprocal {
            n,
            multiplier: (1u64 << shift).div_ceil(d),
            shift,
        }
    }

    /// Bits of `m = 2|s| + n` (at most `511 n`).
    pub fn m_bits(&self) -> u32 {
        bits((511 * self.n) as usize) as u32
    }

    /// Bits of the multiplier.
    pub fn multiplier_bits(&self) -> u32 {
        bits(self.multiplier as usize) as u32
    }

    /// `floor((2|s| + n) / 2n)` as the hardware computes it.
    pub fn magnitude(&self, s: i64) -> u64 {
        let m = 2 * s.unsigned_abs() + self.n;
        ((u128::from(m) * u128::from(self.multiplier)) >> self.shift) as u64
    }

    /// The rounded average `z + sign(s) * magnitude` as the hardware computes
    /// it (8-bit wrap-around arithmetic; the true value is always an int8).
    pub fn average(&self, s: i64, zero_point: i8) -> i8 {
        let magnitude = self.magnitude(s) as u8;
        if s < 0 {
            (zero_point as u8).wrapping_sub(magnitude) as i8
        } else {
            (zero_point as u8).wrapping_add(magnitude) as i8
        }
    }
}

/// The pooling stage after one layer (or a wire when the layer does not pool).
#[derive(LogicBlock)]
pub struct PoolStage {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: empties the stage and starts a new map (the zero
    /// point is kept).
    pub reset: Signal<In, Bit>,
    /// The requantized map, HWC, maps one after another.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    /// Depends on registers and `reset` only.
    pub in_ready: Signal<Out, Bit>,
    /// The pooled map, HWC.
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// Write `load_data` to word `load_word` (already decoded for this
    /// stage): word [`POOL_ZERO_POINT_WORD`] is the zero point.
    pub load_enable: Signal<In, Bit>,
    pub load_word: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    _pool: Option<(Pool, MapShape)>,
}

impl PoolStage {
    /// A stage that passes its input through (a layer without pooling).
    pub fn wire() -> Self {
        Self::build(None)
    }

    /// The stage pooling `map` with `pool`, or why there is none.
    pub fn new(pool: Pool, map: MapShape) -> Result<Self, PoolError> {
        check(pool, map)?;
        Ok(Self::build(Some((pool, map))))
    }

    /// Ports of [`PoolStage::verilog`]'s module: (name, width, input).
    pub const PORTS: [(&'static str, u32, bool); 11] = [
        ("clock", 1, true),
        ("reset", 1, true),
        ("in_data", 8, true),
        ("in_valid", 1, true),
        ("in_ready", 1, false),
        ("out_data", 8, false),
        ("out_valid", 1, false),
        ("out_ready", 1, true),
        ("load_enable", 1, true),
        ("load_word", 16, true),
        ("load_data", 32, true),
    ];

    /// The stage pooling `map` with `pool` on its own, as module `module`
    /// (ports [`PoolStage::PORTS`]), for testing it alone.
    pub fn verilog(pool: Pool, map: MapShape, module: &str) -> Result<String, PoolError> {
        let mut block = Self::new(pool, map)?;
        block.connect_all();
        let mut out = format!(
            "// lutgen {}: generated pooling stage ({} of a {}x{}x{} map), do not edit.\n",
            env!("CARGO_PKG_VERSION"),
            pool.name(),
            map.height,
            map.width,
            map.channels
        );
        for line in generate_verilog(&block).lines() {
            let line = line
                .replace("module top(", &format!("module {module}("))
                .replace("endmodule // top", &format!("endmodule // {module}"));
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    fn build(pool: Option<(Pool, MapShape)>) -> Self {
        PoolStage {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            load_enable: Default::default(),
            load_word: Default::default(),
            load_data: Default::default(),
            _pool: pool,
        }
    }
}

/// Checks that `pool` on `map` can be generated.
pub fn check(pool: Pool, map: MapShape) -> Result<(), PoolError> {
    let (height, width, channels) = (map.height, map.width, map.channels);
    if pool.output(map).is_none() {
        return Err(PoolError::TooSmall {
            pool: pool.name(),
            height,
            width,
        });
    }
    match pool {
        Pool::Max2 | Pool::Avg2 => {
            let entries = width / 2 * channels;
            if entries > MAX_ROW_ENTRIES {
                return Err(PoolError::RowBuffer {
                    pool: pool.name(),
                    height,
                    width,
                    channels,
                    entries,
                    max: MAX_ROW_ENTRIES,
                });
            }
        }
        Pool::GlobalAvg => {
            let pixels = height * width;
            if pixels > MAX_GLOBAL_PIXELS {
                return Err(PoolError::TooManyPixels {
                    height,
                    width,
                    pixels,
                    max: MAX_GLOBAL_PIXELS,
                });
            }
        }
    }
    Ok(())
}

/// Bits to hold `value` (at least 1).
fn bits(value: usize) -> usize {
    (usize::BITS - value.leading_zeros()).max(1) as usize
}

/// `value` (a `from`-bit two's complement expression) sign-extended to `to` bits.
fn sign_extend(value: &str, from: usize, to: usize) -> String {
    if to == from {
        value.to_string()
    } else {
        format!("{{{{{}{{{value}[{}]}}}}, {value}}}", to - from, from - 1)
    }
}

/// The module body of `pool` on `map` (checked by [`check`]).
fn body(pool: Pool, map: MapShape) -> String {
    let (h, w, c) = (map.height, map.width, map.channels);
    let global = pool == Pool::GlobalAvg;
    let n = if global { h * w } else { 4 };
    let rec = Reciprocal::new(n);
    // Entry width: the maximum (8 bits) or a sum of up to n - 1 codes.
    let ew = match pool {
        Pool::Max2 => 8,
        _ => bits(128 * n) + 1,
    };
    // `s` and the maximum: |s| <= 255 n.
    let sw = bits(255 * n) + 1;
    let mw = rec.m_bits() as usize;
    let pw = mw + rec.multiplier_bits() as usize;
    let entries = if global { c } else { w / 2 * c };
    // One bit more than the entries' indices: `base` steps past the last
    // entry in an odd last column.
    let ab = bits(entries);
    let cb = bits(c.max(2) - 1);
    let qb = QUEUE_DEPTH.trailing_zeros() as usize;
    let value = sign_extend("in_data", 8, ew);
    let combine = match pool {
        Pool::Max2 => "($signed(in_data) > $signed(held)) ? in_data : held".to_string(),
        _ => format!("held + {value}"),
    };
    // Position counters and what an element does.
    let position = if global {
        let pb = bits(n.max(2) - 1);
        format!(
            "\
reg [{cb_1}:0] ch;
reg [{pb_1}:0] pixel;
wire [{cb_1}:0] slot = ch;
wire ch_end = ch == {cb}'d{c_1};
wire first = pixel == {pb}'d0;
wire complete = pixel == {pb}'d{n_1};
wire dropped = 1'b0;
always @(posedge clock) begin
    if (reset) begin
        ch <= {cb}'d0;
        pixel <= {pb}'d0;
    end else if (accept) begin
        ch <= ch_end ? {cb}'d0 : ch + {cb}'d1;
        if (ch_end) pixel <= complete ? {pb}'d0 : pixel + {pb}'d1;
    end
end
",
            cb_1 = cb - 1,
            pb_1 = pb - 1,
            c_1 = c - 1,
            n_1 = n - 1,
        )
    } else {
        let xb = bits(w.max(2) - 1);
        let yb = bits(h.max(2) - 1);
        let odd = |len: usize, v: &str, vb: usize| {
            if len % 2 == 1 {
                format!("({v} == {vb}'d{})", len - 1)
            } else {
                "1'b0".to_string()
            }
        };
        format!(
            "\
reg [{cb_1}:0] ch;
reg [{xb_1}:0] x;
reg [{yb_1}:0] y;
// (x / 2) * C: the first entry of the element's output column.
reg [{ab_1}:0] base;
wire [{ab_1}:0] slot = base + {ch_wide};
wire ch_end = ch == {cb}'d{c_1};
wire x_end = x == {xb}'d{w_1};
wire y_end = y == {yb}'d{h_1};
// An odd last column or row is no window's (the ONNX floor rule).
wire dropped = {x_drop} | {y_drop};
wire first = !x[0] & !y[0];
wire complete = x[0] & y[0];
always @(posedge clock) begin
    if (reset) begin
        ch <= {cb}'d0;
        x <= {xb}'d0;
        y <= {yb}'d0;
        base <= {ab}'d0;
    end else if (accept) begin
        ch <= ch_end ? {cb}'d0 : ch + {cb}'d1;
        if (ch_end) begin
            x <= x_end ? {xb}'d0 : x + {xb}'d1;
            if (x_end) begin
                base <= {ab}'d0;
                y <= y_end ? {yb}'d0 : y + {yb}'d1;
            end else if (x[0]) begin
                base <= base + {ab}'d{c};
            end
        end
    end
end
",
            cb_1 = cb - 1,
            xb_1 = xb - 1,
            yb_1 = yb - 1,
            ab_1 = ab - 1,
            c_1 = c - 1,
            w_1 = w - 1,
            h_1 = h - 1,
            x_drop = odd(w, "x", xb),
            ch_wide = if ab > cb {
                format!("{{{}'d0, ch}}", ab - cb)
            } else {
                "ch".to_string()
            },
            y_drop = odd(h, "y", yb),
        )
    };
    // Step 1's value: the maximum, or s = sum - n z.
    let step1 = match pool {
        Pool::Max2 => sign_extend("combined", 8, sw),
        _ => format!(
            "{} - {} * {sw}'d{n}",
            sign_extend("combined", ew, sw),
            sign_extend("zero_point", 8, sw)
        ),
    };
    let step2 = match pool {
        Pool::Max2 => "wire [7:0] result = s1[7:0];\n".to_string(),
        _ => format!(
            "\
// Rounding: magnitude = floor((2|s| + n) / 2n) = ((2|s| + n) * {r}) >> {k}, exact.
wire negative = s1[{sw_1}];
wire [{sw_1}:0] magnitude_s = negative ? -s1 : s1;
wire [{mw_1}:0] m = {{magnitude_s[{mw_2}:0], 1'b0}} + {mw}'d{n};
wire [{pw_1}:0] product = {{{{{pm}{{1'b0}}}}, m}} * {pw}'d{r};
wire [7:0] magnitude = product[{k_7}:{k}];
wire [7:0] result = negative ? zero_point - magnitude : zero_point + magnitude;
",
            r = rec.multiplier,
            k = rec.shift,
            k_7 = rec.shift + 7,
            sw_1 = sw - 1,
            mw_1 = mw - 1,
            mw_2 = mw - 2,
            pw_1 = pw - 1,
            pm = pw - mw,
        ),
    };
    format!(
        "\
// {name} of a {h}x{w}x{c} map (HWC); partial results: {entries} entries of {ew} bits,
// registers / distributed RAM read asynchronously (see lutgen_hdl::pool).
reg [7:0] zero_point;
always @(posedge clock) begin
    if (load_enable & (load_word == 16'd{zp_word})) zero_point <= load_data[7:0];
end
// Step 1 (`valid1`, `s1`) and the output queue (`count` entries).
reg valid1;
reg [{sw_1}:0] s1;
reg [{qb_1}:0] write_pointer;
reg [{qb_1}:0] read_pointer;
reg [{qb}:0] count;
reg [7:0] queue [0:{q_1}];
always @(*) in_ready = !reset & (({{{qb}'d0, valid1}} + count) < {qb1}'d{limit});
wire accept = in_valid & in_ready;
{position}reg [{ew_1}:0] partial [0:{entries_1}];
wire [{ew_1}:0] held = partial[slot];
// The element's value merged into its entry (the entry's first value starts it).
wire [{ew_1}:0] combined = first ? {value} : {combine};
always @(posedge clock) begin
    if (accept & !dropped & !complete) partial[slot] <= combined;
end
{step2}wire pop = out_valid & out_ready;
// Read here so that lint sees them used: the load word's high bytes, and
// the bits of `s1` and of the rounding a kind does not need, the index's
// top bit (used only past the last entry, by a dropped odd column).
wire _unused_pool_bits = &{{1'b0, load_data[31:8], s1, zero_point, slot{unused}}};
always @(posedge clock) begin
    if (reset) begin
        valid1 <= 1'b0;
        count <= {qb1}'d0;
        write_pointer <= {qb}'d0;
        read_pointer <= {qb}'d0;
    end else begin
        valid1 <= accept & !dropped & complete;
        if (valid1) write_pointer <= write_pointer + {qb}'d1;
        if (pop) read_pointer <= read_pointer + {qb}'d1;
        count <= count + {{{qb}'d0, valid1}} - {{{qb}'d0, pop}};
    end
    s1 <= {step1};
    if (valid1) queue[write_pointer] <= result;
end
always @(*) begin
    out_valid = count != {qb1}'d0;
    out_data = queue[read_pointer];
end
",
        name = pool.name(),
        zp_word = POOL_ZERO_POINT_WORD,
        sw_1 = sw - 1,
        qb_1 = qb - 1,
        qb1 = qb + 1,
        q_1 = QUEUE_DEPTH - 1,
        limit = QUEUE_DEPTH - 1,
        ew_1 = ew - 1,
        entries_1 = entries - 1,
        unused = if pool == Pool::Max2 {
            ""
        } else {
            ", product, magnitude_s"
        },
    )
}

impl Logic for PoolStage {
    /// rust-hdl's simulation models the pass-through only.
    fn update(&mut self) {
        if self._pool.is_none() {
            self.out_data.next = self.in_data.val();
            self.out_valid.next = self.in_valid.val();
            self.in_ready.next = self.out_ready.val();
        }
    }

    fn connect(&mut self) {
        self.in_ready.connect();
        self.out_data.connect();
        self.out_valid.connect();
    }

    fn hdl(&self) -> Verilog {
        match self._pool {
            None => Verilog::Custom(STREAM_WIRE_BODY.to_string()),
            Some((pool, map)) => Verilog::Custom(body(pool, map)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reciprocal multiply equals `floor((2|s| + n) / 2n)`, and the
    /// average the software rule, for every `s` a stage can see
    /// (`|s| <= 255 n`), for every n up to 300 and the 2x2 pools' n = 4,
    /// and for large maps' n (up to the limit).
    #[test]
    fn the_reciprocal_is_exact_over_the_whole_range() {
        let sizes = (1..=300).chain([
            361,
            1000,
            1024,
            4095,
            4096,
            65_536,
            99_991,
            MAX_GLOBAL_PIXELS,
        ]);
        for n in sizes {
            let rec = Reciprocal::new(n);
            let n64 = n as i64;
            assert!(rec.m_bits() + rec.multiplier_bits() <= 64, "n = {n}");
            for s in -255 * n64..=255 * n64 {
                let want = (2 * s.abs() + n64) / (2 * n64);
                assert_eq!(rec.magnitude(s), want as u64, "n = {n}, s = {s}");
            }
        }
        // The averages themselves against Pool::apply (one channel, n pixels).
        for n in [1usize, 2, 3, 4, 7, 9, 64] {
            let rec = Reciprocal::new(n);
            let shape = MapShape {
                height: 1,
                width: n,
                channels: 1,
            };
            for z in [-128i8, -5, 0, 3, 127] {
                for seed in 0..200u32 {
                    let map: Vec<i8> = (0..n as u32)
                        .map(|i| (seed.wrapping_mul(2_654_435_761) ^ i.wrapping_mul(40_503)) as i8)
                        .map(|q| if seed % 3 == 0 { q.max(z) } else { q })
                        .collect();
                    let s: i64 = map.iter().map(|&q| i64::from(q) - i64::from(z)).sum();
                    let want = Pool::GlobalAvg.apply(&map, shape, z)[0];
                    assert_eq!(rec.average(s, z), want, "n {n} z {z} {map:?}");
                }
            }
        }
    }

    #[test]
    fn maps_a_stage_cannot_pool_are_refused_by_name() {
        let map = |height, width, channels| MapShape {
            height,
            width,
            channels,
        };
        let e = PoolStage::new(Pool::Max2, map(1, 5, 2)).err().unwrap();
        assert!(matches!(e, PoolError::TooSmall { height: 1, .. }), "{e}");
        assert!(e.to_string().contains("MaxPool 2x2"), "{e}");
        let e = PoolStage::new(Pool::Avg2, map(4, 100, 100)).err().unwrap();
        assert!(
            matches!(e, PoolError::RowBuffer { entries: 5000, .. }),
            "{e}"
        );
        let e = PoolStage::new(Pool::GlobalAvg, map(2048, 1024, 1))
            .err()
            .unwrap();
        assert!(matches!(e, PoolError::TooManyPixels { .. }), "{e}");
        assert!(PoolStage::new(Pool::GlobalAvg, map(3, 5, 7)).is_ok());
    }

    /// Every kind (and the wire) elaborates in yosys without latches and
    /// lints clean.
    #[test]
    fn pool_stages_are_lint_clean() {
        let map = MapShape {
            height: 5,
            width: 7,
            channels: 3,
        };
        // A map whose row of partial results is a power of two entries too.
        let even = MapShape {
            height: 4,
            width: 4,
            channels: 16,
        };
        for (i, pool) in [Pool::Max2, Pool::Avg2, Pool::GlobalAvg].iter().enumerate() {
            for (j, map) in [map, even].into_iter().enumerate() {
                let mut block = PoolStage::new(*pool, map).unwrap();
                crate::lint::assert_block_is_clean(&format!("pool{i}-{j}"), &mut block);
            }
        }
        crate::lint::assert_block_is_clean("pool-wire", &mut PoolStage::wire());
    }
}
