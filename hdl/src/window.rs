//! [`WindowGenerator`]: the line buffers in front of a convolution's engine.
//! Feature maps stream in once, row by row (HWC, see [`lutgen_core::conv`]),
//! and every output pixel's patch streams out channel-major, the padding
//! generated at the borders, in exactly the order
//! [`ConvGeometry::patches`] defines.
//!
//! **Line buffers.** One block RAM of [`line_buffer_rows`] rows of `W * C`
//! bytes, used as a ring of rows. An output row needs `k` input rows (fewer
//! at a padded border); the next output row needs `s` more. With `k + s`
//! rows the `s` rows the next output row adds are written while the current
//! row's patches are read, so input and output overlap a whole output row;
//! with fewer, the input would wait for the end of each output row (a row is
//! the unit of release: the reads of a patch reach back to its first row
//! until the output row's last patch). At a map's end the ring must also
//! hold, beside the last output row's rows, the bottom rows no output reads
//! and the next map's first output row's rows, or the next map starts late:
//! the ring has the more of the two counts: `k + s` for "same" padding
//! (`k / 2` on every border), up to `2k + s - 1` rows without padding (`2k`
//! at stride 1).
//! Padding is never stored: an element whose pixel lies outside the map is
//! `pad_value`, picked after the read.
//!
//! **Flow control.** `held` counts the complete input rows in the ring at
//! or after the first row the current output row reads (it goes negative at
//! the end of a map whose bottom rows no output reads, until they have
//! streamed past). The input is accepted while `held` is below the ring's
//! rows; an output row's patches are read once `held` covers the rows it
//! needs, one element per cycle, into a four-entry output queue whose
//! occupancy decides each read. Both decisions are registers (`space`,
//! `rows_in`), formed a cycle ahead for every outcome of that cycle's
//! issue and row write and picked by them, and the border rows' counts are
//! constants looked up a row ahead: `in_ready` is `space` and `!reset`, and
//! no combinational path runs from `out_ready` to `in_ready` or to the
//! memory. At the end of each output row the rows no later output row
//! reads are released (at a map's end, up to the next map's first row), so
//! maps stream back to back.
//!
//! **Timing.** An element is read from the block RAM in the cycle it is
//! issued, enters the queue at the next edge and is on `out_data` after the
//! one after: a byte accepted in cycle `t` can be read in `t + 1` and its
//! element leaves in `t + 3` at the earliest, so a map's first element
//! leaves three cycles after the last byte of the rows its first output row
//! reads (`k - pad_top` rows) goes in. After that one element leaves per
//! cycle while `out_ready` is high and the rows are there: no bubble
//! between patches, output rows or maps.
//!
//! The block is written as Verilog ([`Verilog::Custom`]): rust-hdl's own
//! simulation of it is not modelled (its outputs stay zero there); it is
//! checked in Verilator against [`ConvGeometry::patches`]
//! (`tests/tests/window.rs`).

use lutgen_core::config::ADDRESS_BITS;
use lutgen_core::conv::{ConvError, ConvGeometry};
use rust_hdl::prelude::*;
use thiserror::Error;

/// Entries of the output queue (the in-flight read and the element on
/// `out_data` need three to keep one element per cycle).
const QUEUE_DEPTH: usize = 4;

/// Why a window generator cannot be generated for a geometry.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WindowError {
    #[error(transparent)]
    Geometry(#[from] ConvError),
    #[error(
        "the line buffers of a {height}x{width}x{channels} map with a {kernel}x{kernel} kernel, \
         stride {stride}, take {bytes} bytes ({rows} rows of {width}x{channels}), more than the \
         {max} a window generator addresses: narrow the map or split its channels"
    )]
    LineBuffer {
        height: usize,
        width: usize,
        channels: usize,
        kernel: usize,
        stride: usize,
        rows: usize,
        bytes: usize,
        max: usize,
    },
}

/// Input rows output row `oy` reads: `[first, first + need)` (clipped to
/// the map) as `(first, need)`.
fn rows_read(g: &ConvGeometry, oy: usize) -> (usize, usize) {
    let top = oy * g.stride;
    let first = top.saturating_sub(g.padding.top);
    let end = (top + g.kernel)
        .saturating_sub(g.padding.top)
        .min(g.in_height);
    (first, end - first)
}

/// Input rows the line buffers hold: the more of `k + s` (an output row's
/// rows and the `s` rows the next one adds, written while it is read) and,
/// at a map's end, the last output row's rows, the bottom rows no output
/// reads and the next map's first output row's rows (see the module
/// documentation). `k + s` unless the padding is uneven.
pub fn line_buffer_rows(geometry: &ConvGeometry) -> usize {
    let g = geometry;
    let (first, need_last) = rows_read(g, g.out_height() - 1);
    let unread = g.in_height - first - need_last;
    let need_first = rows_read(g, 0).1;
    (g.kernel + g.stride).max(need_last + unread + need_first)
}

/// Bytes of line buffer: `line_buffer_rows * W * C`.
pub fn line_buffer_bytes(geometry: &ConvGeometry) -> usize {
    line_buffer_rows(geometry) * geometry.in_width * geometry.in_channels
}

/// The largest line buffer, in bytes: the engine's memories' address space.
pub const MAX_LINE_BUFFER_BYTES: usize = 1 << ADDRESS_BITS;

/// The window generator for one convolution geometry (fixed at generation).
#[derive(LogicBlock)]
pub struct WindowGenerator {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: empties the line buffers and starts a new map.
    pub reset: Signal<In, Bit>,
    /// Input stream: maps one after another, each in HWC order.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    /// High when a row slot is free; depends on a register and `reset` only.
    pub in_ready: Signal<Out, Bit>,
    /// The value of padding elements (the input zero point), taken as each
    /// element is read: hold it while a map's patches are still leaving
    /// (up to its `out_last_map`) if it changes from map to map.
    pub pad_value: Signal<In, Bits<8>>,
    /// Output stream: each output pixel's patch, channel-major, pixels in
    /// row-major order.
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// High with the last element of each patch.
    pub out_last: Signal<Out, Bit>,
    /// High with the last element of a map's last patch.
    pub out_last_map: Signal<Out, Bit>,
    _geometry: ConvGeometry,
}

impl WindowGenerator {
    /// Name of the module in [`WindowGenerator::verilog`].
    pub const MODULE: &'static str = "lutgen_window";

    /// Ports of [`WindowGenerator::MODULE`]: (name, width, input).
    pub const PORTS: [(&'static str, u32, bool); 11] = [
        ("clock", 1, true),
        ("reset", 1, true),
        ("in_data", 8, true),
        ("in_valid", 1, true),
        ("in_ready", 1, false),
        ("pad_value", 8, true),
        ("out_data", 8, false),
        ("out_valid", 1, false),
        ("out_ready", 1, true),
        ("out_last", 1, false),
        ("out_last_map", 1, false),
    ];

    /// The generator for `geometry`, or why there is none.
    pub fn new(geometry: &ConvGeometry) -> Result<Self, WindowError> {
        geometry.validate()?;
        let bytes = line_buffer_bytes(geometry);
        if bytes > MAX_LINE_BUFFER_BYTES {
            return Err(WindowError::LineBuffer {
                height: geometry.in_height,
                width: geometry.in_width,
                channels: geometry.in_channels,
                kernel: geometry.kernel,
                stride: geometry.stride,
                rows: line_buffer_rows(geometry),
                bytes,
                max: MAX_LINE_BUFFER_BYTES,
            });
        }
        Ok(WindowGenerator {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            pad_value: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            out_last_map: Default::default(),
            _geometry: *geometry,
        })
    }

    /// The generator for `geometry` on its own, module
    /// [`WindowGenerator::MODULE`] (ports [`WindowGenerator::PORTS`]).
    pub fn verilog(geometry: &ConvGeometry) -> Result<String, WindowError> {
        let mut block = Self::new(geometry)?;
        block.connect_all();
        let g = geometry;
        let p = g.padding;
        let top = Self::MODULE;
        let mut out = format!(
            "// lutgen {}: generated window generator, do not edit.\n\
             // Input map {}x{}x{} (HWC), kernel {k}x{k}, stride {}, padding top {} left {} \
             bottom {} right {};\n\
             // output map {}x{}, patches of {} elements (channel-major); line buffers {} rows, {} bytes.\n\
             // Lint waiver: DECLFILENAME (the module is written into a file of any name).\n\
             /* verilator lint_off DECLFILENAME */\n",
            env!("CARGO_PKG_VERSION"),
            g.in_height,
            g.in_width,
            g.in_channels,
            g.stride,
            p.top,
            p.left,
            p.bottom,
            p.right,
            g.out_height(),
            g.out_width(),
            g.patch_len(),
            line_buffer_rows(g),
            line_buffer_bytes(g),
            k = g.kernel,
        );
        for line in generate_verilog(&block).lines() {
            let line = line
                .replace("module top(", &format!("module {top}("))
                .replace("endmodule // top", &format!("endmodule // {top}"));
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }
}

/// Bits to hold `value` (at least 1).
fn bits(value: usize) -> usize {
    (usize::BITS - value.leading_zeros()).max(1) as usize
}

/// The module body for a valid geometry (checked by [`WindowGenerator::new`]).
pub(crate) fn body(g: &ConvGeometry) -> String {
    let (h, w, c, k, s) = (g.in_height, g.in_width, g.in_channels, g.kernel, g.stride);
    let p = g.padding;
    let (oh, ow) = (g.out_height(), g.out_width());
    let rows = line_buffer_rows(g);
    let row_bytes = w * c;
    let words = rows * row_bytes;
    // Addresses wrap modulo 2^aw: a real element's address is below
    // `words`, so the arithmetic modulo 2^aw is exact for it.
    let aw = bits(words - 1);
    let modulus = 1usize << aw;
    // Counters, coordinates and `held` (signed: down to -H).
    let cw = bits(h + w + c + oh * s + ow * s + 2 * rows + 16) + 1;
    let a = |v: usize| format!("{aw}'d{}", v % modulus);
    let n = |v: usize| format!("{cw}'d{v}");
    // First input row of output row `oy` (clipped to the map).
    let first = |oy: usize| (oy * s).saturating_sub(p.top);
    // At a map's end the ring's first row moves to the next map's row 0,
    // and the row the patches start from (row `oy * s - pad_top`, maybe
    // above the map) moves on by H - (OH - 1) * s rows (maybe negative).
    let map_release = h - first(oh - 1);
    // Rows output row `oy` reads, and releases at its end.
    let counts = |oy: usize| {
        let released = if oy + 1 == oh {
            map_release
        } else {
            first(oy + 1) - first(oy)
        };
        (rows_read(g, oy).1, released)
    };
    let row_cases: String = (0..oh)
        .filter(|&oy| counts(oy) != (k, s))
        .map(|oy| {
            let (need, released) = counts(oy);
            format!(
                "        {}: begin after_need = {}; after_released = {}; end\n",
                n(oy),
                n(need),
                n(released)
            )
        })
        .collect();
    // Per output row `r`: what `held` is compared with when row `r - 1`
    // ends (the row it starts is `r`'s next): `need(r + 1) + released(r)`
    // for the rows of the row after it to be in, `rows + released(r)` for
    // space; written where they differ from the interior rows' `k + s`,
    // `rows + s`.
    let thresholds = |r: usize| {
        let released = counts(r).1;
        (counts((r + 1) % oh).0 + released, rows + released)
    };
    let threshold_cases: String = (0..oh)
        .filter(|&r| thresholds(r) != (k + s, rows + s))
        .map(|r| {
            let (t, u) = thresholds(r);
            format!(
                "        {}: begin next_t = {}; next_t_m1 = {}; next_u = {}; next_u_m1 = {}; end\n",
                n(r),
                n(t),
                n(t - 1),
                n(u),
                n(u - 1)
            )
        })
        .collect();
    let map_step = ((h as isize - ((oh - 1) * s) as isize).rem_euclid(rows as isize)) as usize;
    let ring = |slots: usize| a((slots % rows) * row_bytes);
    let aw1 = aw + 1;
    let wide = |v: usize| format!("{aw1}'d{v}");
    let aq = QUEUE_DEPTH.trailing_zeros();
    let queue_limit = format!("{}'d{}", aq + 1, QUEUE_DEPTH - 1);
    // `x < v | `, written without a comparison with 0
    // (Verilator's UNSIGNED warning).
    let below = |x: &str, v: usize| {
        if v == 0 {
            String::new()
        } else {
            format!("({x} < {}) | ", n(v))
        }
    };
    format!(
        "\
// The line buffers: {rows} rows of {row_bytes} bytes, a ring.
reg [7:0] mem [0:{last_word}];
reg [7:0] read_data;
// Input side: the next byte's address and column, and the complete rows
// held at or after the first row the current output row reads.
reg [{aw_1}:0] write_address;
reg [{aw_1}:0] write_column;
reg signed [{cw_1}:0] held;
reg space;
reg rows_in;
always @(*) in_ready = !reset & space;
wire accept = in_valid & in_ready;
wire row_written = accept & (write_column == {last_column});
// Issue side: the element being read, as kernel column, kernel row,
// channel, output column and row; `ox_s`, `oy_s` are `ox * s`, `oy * s`.
reg [{cw_1}:0] kx;
reg [{cw_1}:0] ky;
reg [{cw_1}:0] ch;
reg [{cw_1}:0] ox;
reg [{cw_1}:0] oy;
reg [{cw_1}:0] ox_s;
reg [{cw_1}:0] oy_s;
// Column part of the address, (ox * s + kx - pad_left) * C + c; its value
// at kx = 0 for this channel and for channel 0; the ring offset of the
// current kernel row and of kernel row 0 (input row oy * s - pad_top).
reg [{aw_1}:0] column_address;
reg [{aw_1}:0] channel_base;
reg [{aw_1}:0] pixel_base;
reg [{aw_1}:0] row_base;
reg [{aw_1}:0] row_start;
wire [{cw_1}:0] ix = ox_s + kx;
wire [{cw_1}:0] iy = oy_s + ky;
wire pad = {ix_below}(ix >= {w_pl}) | {iy_below}(iy >= {h_pt});
wire kx_end = kx == {k_1};
wire ky_end = ky == {k_1};
wire ch_end = ch == {c_1};
wire ox_end = ox == {ow_1};
wire oy_end = oy == {oh_1};
wire patch_end = kx_end & ky_end & ch_end;
wire row_end = patch_end & ox_end;
wire map_end = row_end & oy_end;
// Registers of the current output row: the rows of the map it reads,
// [first, first + need), and the rows released at its end (up to the next
// row's first; at a map's end, up to the next map's row 0). They are formed
// for the next row (row_...) while the current one is read.
reg [{cw_1}:0] need;
// Away from the borders an output row reads k rows and releases s; the
// other rows' counts are constants looked up by row.
wire [{cw_1}:0] row_s = oy_end ? {zero} : oy_s + {s};
// The next output row's index and counts (registers), and those of the
// row after it, which they take when a row ends.
reg [{cw_1}:0] row_oy;
reg [{cw_1}:0] row_need;
reg [{cw_1}:0] row_released;
wire [{cw_1}:0] after_oy = (row_oy == {oh_1}) ? {zero} : row_oy + {one};
reg [{cw_1}:0] after_need;
reg [{cw_1}:0] after_released;
always @(*) begin
    case (after_oy)
{row_cases}        default: begin after_need = {k_pt}; after_released = {s}; end
    endcase
end
// The output queue: `count` entries, one more arriving when `valid1`.
reg [{aq_1}:0] write_pointer;
reg [{aq_1}:0] read_pointer;
reg [{aq}:0] count;
reg valid1;
reg pad1;
reg last1;
reg map_last1;
reg [9:0] queue [0:{q_1}];
wire issue = !reset & rows_in & ({{{aq_1_1}'d0, valid1}} + count < {q_1_n});
// `held` next: the current row goes on (`held`) or ends and releases its
// `released` rows, plus one if a row was written. `rows_in` (the rows of
// the then current output row are in) and `space` (`held` is below the
// ring's rows) are registers formed from comparisons of both outcomes with
// and without the written row, picked by the late `issue` and
// `row_written`: the issue decision and `in_ready` are one LUT. Every
// comparison is of `held` with a register or a constant (one carry chain
// a cycle): the thresholds are moved to the other side and kept in
// registers set when a row ends, `held + w - released >= row_need` as
// `held >= t - w` with `t = row_need + released`, `held + w - released <
// rows` as `held < u - w` with `u = rows + released`.
reg signed [{cw_1}:0] need_m1;
reg signed [{cw_1}:0] t;
reg signed [{cw_1}:0] t_m1;
reg signed [{cw_1}:0] u;
reg signed [{cw_1}:0] u_m1;
reg signed [{cw_1}:0] minus_released;
reg signed [{cw_1}:0] one_minus_released;
// The thresholds the next row end sets, by the row that ends after it.
reg signed [{cw_1}:0] next_t;
reg signed [{cw_1}:0] next_t_m1;
reg signed [{cw_1}:0] next_u;
reg signed [{cw_1}:0] next_u_m1;
always @(*) begin
    case (row_oy)
{threshold_cases}        default: begin next_t = {t_default}; next_t_m1 = {t_default_m1}; next_u = {u_default}; next_u_m1 = {u_default_m1}; end
    endcase
end
wire move = issue & row_end;
wire signed [{cw_1}:0] held_step = move ? (row_written ? one_minus_released : minus_released)
                                        : $signed({{{cw_1_0}'d0, row_written}});
wire rows_in_stay = row_written ? (held >= need_m1) : (held >= $signed(need));
wire rows_in_moved = row_written ? (held >= t_m1) : (held >= t);
wire space_stay = row_written ? (held < {rows_m1_s}) : (held < {rows_s});
wire space_moved = row_written ? (held < u_m1) : (held < u);
// Ring arithmetic: the next kernel row's offset, the next output row's.
wire [{aw}:0] row_base_sum = {{1'b0, row_base}} + {row_step};
wire [{aw_1}:0] next_row_base = (row_base_sum >= {words_w}) ? row_base_sum[{aw_1}:0] - {words_a} : row_base_sum[{aw_1}:0];
wire [{aw}:0] row_start_sum = {{1'b0, row_start}} + (oy_end ? {map_step} : {stride_step});
wire [{aw_1}:0] next_row_start = (row_start_sum >= {words_w}) ? row_start_sum[{aw_1}:0] - {words_a} : row_start_sum[{aw_1}:0];
wire [{aw_1}:0] read_address = row_base + column_address;
wire pop = out_valid & out_ready;
always @(posedge clock) begin
    if (accept) mem[write_address] <= in_data;
    if (issue) read_data <= mem[read_address];
end
always @(posedge clock) begin
    if (reset) begin
        write_address <= {a0};
        write_column <= {a0};
        held <= {zero};
        rows_in <= 1'b0;
        space <= 1'b1;
        kx <= {zero};
        ky <= {zero};
        ch <= {zero};
        ox <= {zero};
        oy <= {zero};
        ox_s <= {zero};
        oy_s <= {zero};
        column_address <= {left};
        channel_base <= {left};
        pixel_base <= {left};
        row_base <= {row0};
        row_start <= {row0};
        need <= {need0};
        need_m1 <= $signed({need0_m1});
        t <= $signed({t0});
        t_m1 <= $signed({t0_m1});
        u <= $signed({u0});
        u_m1 <= $signed({u0_m1});
        minus_released <= -$signed({released0});
        one_minus_released <= {one_s} - $signed({released0});
        row_oy <= {row_oy0};
        row_need <= {row_need0};
        row_released <= {row_released0};
        valid1 <= 1'b0;
        count <= {aq1}'d0;
        write_pointer <= {aq}'d0;
        read_pointer <= {aq}'d0;
    end else begin
        if (accept) begin
            write_address <= (write_address == {last_word_a}) ? {a0} : write_address + {a1};
            write_column <= (write_column == {last_column}) ? {a0} : write_column + {a1};
        end
        held <= held + held_step;
        rows_in <= move ? rows_in_moved : rows_in_stay;
        space <= move ? space_moved : space_stay;
        if (issue) begin
            if (!kx_end) begin
                kx <= kx + {one};
                column_address <= column_address + {c_a};
            end else begin
                kx <= {zero};
                if (!ky_end) begin
                    ky <= ky + {one};
                    column_address <= channel_base;
                    row_base <= next_row_base;
                end else begin
                    ky <= {zero};
                    row_base <= row_start;
                    if (!ch_end) begin
                        ch <= ch + {one};
                        channel_base <= channel_base + {a1};
                        column_address <= channel_base + {a1};
                    end else begin
                        ch <= {zero};
                        if (!ox_end) begin
                            ox <= ox + {one};
                            ox_s <= ox_s + {s};
                            pixel_base <= pixel_base + {sc};
                            channel_base <= pixel_base + {sc};
                            column_address <= pixel_base + {sc};
                        end else begin
                            ox <= {zero};
                            ox_s <= {zero};
                            pixel_base <= {left};
                            channel_base <= {left};
                            column_address <= {left};
                            oy <= oy_end ? {zero} : oy + {one};
                            oy_s <= row_s;
                            need <= row_need;
                            need_m1 <= $signed(row_need) - {one_s};
                            t <= next_t;
                            t_m1 <= next_t_m1;
                            u <= next_u;
                            u_m1 <= next_u_m1;
                            minus_released <= -$signed(row_released);
                            one_minus_released <= {one_s} - $signed(row_released);
                            row_oy <= after_oy;
                            row_need <= after_need;
                            row_released <= after_released;
                            row_start <= next_row_start;
                            row_base <= next_row_start;
                        end
                    end
                end
            end
        end
        valid1 <= issue;
        if (valid1) write_pointer <= write_pointer + {aq}'d1;
        if (pop) read_pointer <= read_pointer + {aq}'d1;
        count <= count + {{{aq}'d0, valid1}} - {{{aq}'d0, pop}};
    end
    pad1 <= pad;
    last1 <= patch_end;
    map_last1 <= map_end;
    if (valid1) queue[write_pointer] <= {{map_last1, last1, (pad1 ? pad_value : read_data)}};
end
always @(*) begin
    out_valid = count != {aq1}'d0;
    {{out_last_map, out_last, out_data}} = queue[read_pointer];
end
",
        last_word = words - 1,
        last_word_a = a(words - 1),
        aw_1 = aw - 1,
        cw_1 = cw - 1,
        cw_1_0 = cw - 1,
        rows_s = format!("$signed({})", n(rows)),
        rows_m1_s = format!("$signed({})", n(rows - 1)),
        threshold_cases = threshold_cases,
        t_default = n(k + s),
        t_default_m1 = n(k + s - 1),
        u_default = n(rows + s),
        u_default_m1 = n(rows + s - 1),
        need0_m1 = n(counts(0).0 - 1),
        t0 = n(thresholds(0).0),
        t0_m1 = n(thresholds(0).0 - 1),
        u0 = n(thresholds(0).1),
        u0_m1 = n(thresholds(0).1 - 1),
        one_s = format!("$signed({})", n(1)),
        last_column = a(row_bytes - 1),
        ix_below = below("ix", p.left),
        iy_below = below("iy", p.top),
        row_cases = row_cases,
        need0 = n(counts(0).0),
        released0 = n(counts(0).1),
        row_oy0 = n(1 % oh),
        row_need0 = n(counts(1 % oh).0),
        row_released0 = n(counts(1 % oh).1),
        w_pl = n(w + p.left),
        h_pt = n(h + p.top),
        k_pt = n(k),
        k_1 = n(k - 1),
        c_1 = n(c - 1),
        ow_1 = n(ow - 1),
        oh_1 = n(oh - 1),
        zero = n(0),
        one = n(1),
        s = n(s),
        aq_1 = aq - 1,
        aq1 = aq + 1,
        aq_1_1 = aq,
        q_1 = QUEUE_DEPTH - 1,
        q_1_n = queue_limit,
        row_step = wide(row_bytes % words),
        words_w = wide(words),
        words_a = a(words),
        map_step = wide(map_step * row_bytes),
        stride_step = wide((s % rows) * row_bytes),
        a0 = a(0),
        a1 = a(1),
        c_a = a(c),
        sc = a(s * c),
        left = a(modulus - (p.left * c) % modulus),
        row0 = ring(rows - p.top % rows),
    )
}

impl Logic for WindowGenerator {
    /// Not modelled in rust-hdl's simulator (see the module documentation).
    fn update(&mut self) {}

    fn connect(&mut self) {
        self.in_ready.connect();
        self.out_data.connect();
        self.out_valid.connect();
        self.out_last.connect();
        self.out_last_map.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(body(&self._geometry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::conv::Padding;

    /// Elaborates in yosys without latches and lints clean, with and
    /// without padding (the comparisons with a zero padding are left out).
    #[test]
    fn window_generator_is_lint_clean() {
        for (i, padding) in [Padding::default(), Padding::uniform(1)].iter().enumerate() {
            let geometry = ConvGeometry {
                in_height: 6,
                in_width: 5,
                in_channels: 3,
                kernel: 3,
                stride: 2,
                padding: *padding,
            };
            let mut block = WindowGenerator::new(&geometry).unwrap();
            crate::lint::assert_block_is_clean(&format!("window{i}"), &mut block);
        }
    }
}
