//! The generated C++ glue: an `extern "C"` API over one Verilated model, the linker export
//! list, and the makefile that links everything into one shared library.
//!
//! The shim gives Rust a raw pointer to each port's storage, so `set`/`get` in the hot loop
//! are plain memory accesses; a clock cycle (two evals) is one FFI call, `lutgen_tick`, and
//! `lutgen_run` ticks many cycles with the inputs as they are, in one call. For a design that
//! acts on rising edges only ([`crate::ModelBuilder::rising_edge_only`]) a cycle is one eval:
//! the shim raises the clock with Verilator's record of its previous value set low.
//!
//! A model built with a [`StateWatch`] can also tell when a cycle changed nothing: the tick
//! compares the model's signals (every root member but the memories) with their values one
//! cycle earlier. Such cycles prove a fixed point (see [`crate::Model::tick_watched`]), and
//! `lutgen_skip` then lets any number of cycles pass at once, advancing only the watched time
//! counters, by the amount each moved in the last cycle.

use std::fmt::Write as _;

use crate::port::{Direction, PortSpec};

/// The `--prefix` given to Verilator, i.e. the C++ class of every model.
pub(crate) const PREFIX: &str = "Vlutgen";
/// File name of the built shared library.
pub(crate) const LIBRARY: &str = "liblutgen_model.so";
/// File name of the shim's C++ source, written into Verilator's output directory.
pub(crate) const SHIM_CPP: &str = "lutgen_shim.cpp";
/// File name of the linker version script.
pub(crate) const EXPORTS_MAP: &str = "lutgen_exports.map";
/// File name of the wrapper makefile.
pub(crate) const MAKEFILE: &str = "lutgen.mk";
/// Bumped whenever the C ABI below changes; checked when loading.
pub(crate) const ABI_VERSION: u32 = 3;

/// Bytes of C++ storage Verilator uses for a port of `width` bits (CData/SData/IData/QData).
pub(crate) fn storage_bytes(width: u32) -> usize {
    match width {
        0..=8 => 1,
        9..=16 => 2,
        17..=32 => 4,
        _ => 8,
    }
}

/// The root members a model's shim watches from cycle to cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StateWatch {
    /// Members compared from one cycle to the next: every signal of the root but its
    /// memories (ports included).
    pub compared: Vec<String>,
    /// Members that count time, with their widths in bits: left out of the comparison, and
    /// advanced by `lutgen_skip`.
    pub counters: Vec<(String, u32)>,
}

/// A clock input whose rising edge the shim can evaluate alone: Verilator (5.006) detects an
/// edge by comparing the clock with `previous`, the root member holding its value at the last
/// evaluation (`__Vtrigrprev__TOP__clock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RisingEdge {
    /// The clock's index in the port list.
    pub port: usize,
    /// The root member with its previous value.
    pub previous: String,
}

/// The root member in which Verilator 5.006 keeps the value input `member` had at the last
/// evaluation, when a process is sensitive to its edges. (Later releases name it otherwise;
/// then the shim evaluates both edges.)
pub(crate) fn previous_value_member(member: &str) -> String {
    format!("__Vtrigrprev__TOP__{member}")
}

/// The C++ shim for a model with these ports (in this order), whose C++ members are
/// `members` (see [`PortSpec::cpp_name`]; Verilator adds `__SYM__` to C++ keywords), and
/// watching the root members of `watch` (none when `None`).
pub(crate) fn shim_source(
    ports: &[PortSpec],
    members: &[String],
    watch: Option<&StateWatch>,
    edges: Option<&[RisingEdge]>,
) -> String {
    let mut asserts = String::new();
    let mut cases = String::new();
    for (i, (p, member)) in ports.iter().zip(members).enumerate() {
        let bytes = storage_bytes(p.width);
        writeln!(
            asserts,
            "    static_assert(sizeof(m->{member}) == {bytes}, \
             \"port `{name}` ({width} bits) does not have the C++ storage its width implies\");",
            name = p.name,
            width = p.width,
        )
        .unwrap();
        writeln!(cases, "    case {i}: return &m->{member};").unwrap();
    }
    let n = ports.len();
    let mut watched = String::new();
    let mut counters = String::new();
    if let Some(watch) = watch {
        for m in &watch.compared {
            writeln!(
                watched,
                "    s->compare(member(r, &r->{m}), sizeof(r->{m}));"
            )
            .unwrap();
        }
        for (m, width) in &watch.counters {
            writeln!(
                counters,
                "    s->counter(member(r, &r->{m}), sizeof(r->{m}), {width});"
            )
            .unwrap();
        }
    }
    let watching = u8::from(watch.is_some());
    let mut edge_cases = String::new();
    for edge in edges.unwrap_or_default() {
        let member = &edge.previous;
        writeln!(
            edge_cases,
            "    case {}: static_assert(sizeof(r->{member}) == 1, \"a clock's previous value is one byte\"); \
             return &r->{member};",
            edge.port
        )
        .unwrap();
    }
    let rising = u8::from(edges.is_some());
    format!(
        r#"// Generated by lutgen-sim: a C ABI over one Verilated model. Do not edit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#define LUTGEN_RISING_EDGE {rising}
#include "verilated.h"
#include "{PREFIX}.h"
#include "{PREFIX}___024root.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

#define LUTGEN_EXPORT extern "C" __attribute__((visibility("default")))

namespace {{
// A byte range of the root, compared from one cycle to the next.
struct Range {{
    size_t offset;
    size_t length;
}};

// A root member that counts time.
struct Counter {{
    size_t offset;
    size_t bytes;
    uint64_t mask;
    uint64_t delta;  // how much it moved in the last watched cycle
}};

struct LutgenSim {{
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<{PREFIX}> model;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
#endif
    std::vector<Range> ranges;
    std::vector<Counter> counters;
    // The root as it was after the last watched cycle (only the compared ranges are kept).
    std::vector<unsigned char> snapshot;
    bool snapshot_valid = false;
    // Watched cycles in a row that changed nothing but the counters, each by the same amount.
    uint32_t steady = 0;
    // The model has been evaluated (and so initialised).
    bool evaluated = false;

    void compare(size_t offset, size_t length) {{ ranges.push_back(Range{{offset, length}}); }}
    void counter(size_t offset, size_t bytes, uint32_t width) {{
        uint64_t mask = width >= 64 ? ~uint64_t{{0}} : (uint64_t{{1}} << width) - 1;
        counters.push_back(Counter{{offset, bytes, mask, 0}});
    }}
}};

LutgenSim* sim(void* h) {{ return static_cast<LutgenSim*>(h); }}

size_t member(const void* root, const void* m) {{
    return static_cast<size_t>(static_cast<const unsigned char*>(m) -
                               static_cast<const unsigned char*>(root));
}}

// A counter's value (CData, SData, IData or QData storage).
uint64_t load(const unsigned char* p, size_t bytes) {{
    switch (bytes) {{
    case 1: return *p;
    case 2: {{ uint16_t v; std::memcpy(&v, p, 2); return v; }}
    case 4: {{ uint32_t v; std::memcpy(&v, p, 4); return v; }}
    default: {{ uint64_t v; std::memcpy(&v, p, 8); return v; }}
    }}
}}

void store(unsigned char* p, size_t bytes, uint64_t v) {{
    switch (bytes) {{
    case 1: *p = static_cast<unsigned char>(v); break;
    case 2: {{ uint16_t w = static_cast<uint16_t>(v); std::memcpy(p, &w, 2); break; }}
    case 4: {{ uint32_t w = static_cast<uint32_t>(v); std::memcpy(p, &w, 4); break; }}
    default: std::memcpy(p, &v, 8); break;
    }}
}}

// The ranges to compare and the counters (generated from the root's header).
void watch(LutgenSim* s) {{
    {PREFIX}___024root* r = s->model->rootp;
    (void)r;
{watched}{counters}    // Counters are compared by their deltas, not their values: cut them out of the ranges.
    std::vector<Range> cut;
    for (const Range& g : s->ranges) {{
        size_t start = g.offset;
        size_t end = g.offset + g.length;
        bool counted = false;
        for (const Counter& c : s->counters) {{
            if (c.offset < end && c.offset + c.bytes > start) counted = true;
        }}
        if (!counted) cut.push_back(Range{{start, end - start}});
    }}
    std::sort(cut.begin(), cut.end(), [](const Range& a, const Range& b) {{ return a.offset < b.offset; }});
    // Merge neighbours (the padding between them is never written, so it compares equal).
    std::vector<Range> merged;
    for (const Range& g : cut) {{
        if (!merged.empty() && g.offset <= merged.back().offset + merged.back().length + 8) {{
            size_t end = std::max(merged.back().offset + merged.back().length, g.offset + g.length);
            merged.back().length = end - merged.back().offset;
        }} else {{
            merged.push_back(g);
        }}
    }}
    s->ranges = merged;
    size_t size = 0;
    for (const Range& g : s->ranges) size = std::max(size, g.offset + g.length);
    for (const Counter& c : s->counters) size = std::max(size, c.offset + c.bytes);
    s->snapshot.assign(size, 0);
}}

// After a cycle: did it change nothing but the counters? Updates the snapshot.
uint32_t watch_cycle(LutgenSim* s) {{
    unsigned char* root = reinterpret_cast<unsigned char*>(s->model->rootp);
    unsigned char* snap = s->snapshot.data();
    bool same = s->snapshot_valid;
    bool same_deltas = true;
    for (Counter& c : s->counters) {{
        uint64_t now = load(root + c.offset, c.bytes);
        uint64_t delta = (now - load(snap + c.offset, c.bytes)) & c.mask;
        if (delta != c.delta) same_deltas = false;
        c.delta = delta;
        store(snap + c.offset, c.bytes, now);
    }}
    for (const Range& g : s->ranges) {{
        if (same && std::memcmp(root + g.offset, snap + g.offset, g.length) != 0) same = false;
        if (!same) std::memcpy(snap + g.offset, root + g.offset, g.length);
    }}
    if (!s->snapshot_valid) {{
        s->snapshot_valid = true;
        s->steady = 0;
    }} else if (!same) {{
        s->steady = 0;
    }} else {{
        s->steady = (s->steady > 0 && !same_deltas) ? 1 : s->steady + 1;
    }}
    return s->steady;
}}
}}  // namespace

LUTGEN_EXPORT uint32_t lutgen_abi_version() {{ return {ABI_VERSION}; }}

LUTGEN_EXPORT uint32_t lutgen_port_count() {{ return {n}; }}

LUTGEN_EXPORT void* lutgen_create() {{
    try {{
        std::unique_ptr<LutgenSim> s{{new LutgenSim}};
        s->ctx.reset(new VerilatedContext);
#if VM_TRACE
        // Must precede the first eval, or opening a trace later is a fatal error.
        s->ctx->traceEverOn(true);
#endif
        s->model.reset(new {PREFIX}{{s->ctx.get(), "TOP"}});
        if ({watching}) watch(s.get());
        return s.release();
    }} catch (...) {{
        return nullptr;
    }}
}}

LUTGEN_EXPORT void lutgen_destroy(void* h) {{
    LutgenSim* s = sim(h);
    s->model->final();
#if VM_TRACE
    if (s->vcd) s->vcd->close();
    s->vcd.reset();
#endif
    s->model.reset();
    delete s;
}}

LUTGEN_EXPORT void lutgen_eval(void* h) {{
    sim(h)->evaluated = true;
    sim(h)->model->eval();
}}

LUTGEN_EXPORT void* lutgen_port_ptr(void* h, uint32_t index);

namespace {{
// The previous value Verilator keeps of clock input `clock`, when the model was built to
// evaluate rising edges alone and this Verilator keeps one (else null).
CData* rising_edge(LutgenSim* s, uint32_t clock) {{
    {PREFIX}___024root* r = s->model->rootp;
    (void)r;
    (void)s;
    switch (clock) {{
{edge_cases}    default: return nullptr;
    }}
}}

// Flags of lutgen_tick and lutgen_run.
const int kWatch = 1;       // compare the state with the cycle before
const int kRisingEdge = 2;  // evaluate the rising edge alone, where the model allows it

// One clock cycle; see lutgen_tick.
uint32_t tick(LutgenSim* s, CData* clk, CData* previous, int flags) {{
#if VM_TRACE
    if (s->vcd) previous = nullptr;  // a trace shows both halves of the cycle
#endif
    // The first evaluation initialises the model, the clock's previous value included.
    if (!s->evaluated) previous = nullptr;
    s->evaluated = true;
    if (previous) {{
        // The design acts on rising edges only (the builder's caller says so): the clock
        // goes high and Verilator sees a rising edge because the value it compares it with,
        // the clock's at the last evaluation, is low. The same as evaluating the falling
        // edge first, for such a design, at half the evaluations.
        *clk = 1;
        *previous = 0;
        s->model->eval();
        s->ctx->timeInc(2);
    }} else {{
        for (CData level = 0; level < 2; ++level) {{
            *clk = level;
            s->model->eval();
#if VM_TRACE
            if (s->vcd) s->vcd->dump(s->ctx->time());
#endif
            s->ctx->timeInc(1);
        }}
    }}
    if (!(flags & kWatch) || s->ranges.empty()) {{
        s->snapshot_valid = false;
        s->steady = 0;
        return 0;
    }}
    return watch_cycle(s);
}}

CData* clock_of(void* h, uint32_t clock, int flags, CData** previous) {{
    LutgenSim* s = sim(h);
    *previous = (flags & kRisingEdge) ? rising_edge(s, clock) : nullptr;
    return static_cast<CData*>(lutgen_port_ptr(h, clock));
}}
}}  // namespace

// One clock cycle on port `clock` (a 1-bit input): low, eval, dump; high, eval, dump; each
// half one time unit. With flag 2 (kRisingEdge) and a model built for it, only the rising
// edge is evaluated (one eval, two time units; not while tracing). With flag 1 (kWatch) and
// a model built to watch its state, returns how many watched cycles in a row changed nothing
// but the time counters; otherwise 0.
LUTGEN_EXPORT uint32_t lutgen_tick(void* h, uint32_t clock, int flags) {{
    CData* previous;
    CData* clk = clock_of(h, clock, flags, &previous);
    return tick(sim(h), clk, previous, flags);
}}

// Up to `cycles` clock cycles as lutgen_tick, with the inputs as they are; stops after a
// cycle that changed nothing (with kWatch) or after which output `stop` (a port index, a
// 1-bit output; none if out of range) is high. Returns the cycles run, and in `steady` what
// the last one's lutgen_tick would have returned.
LUTGEN_EXPORT uint64_t lutgen_run(void* h, uint32_t clock, uint64_t cycles, int flags,
                                  uint32_t stop, uint32_t* steady) {{
    LutgenSim* s = sim(h);
    CData* previous;
    CData* clk = clock_of(h, clock, flags, &previous);
    const CData* stop_port =
        stop < {n} ? static_cast<const CData*>(lutgen_port_ptr(h, stop)) : nullptr;
    *steady = 0;
    for (uint64_t done = 1; done <= cycles; ++done) {{
        *steady = tick(s, clk, previous, flags);
        if (*steady > 0 || (stop_port && *stop_port)) return done;
    }}
    return cycles;
}}

// 1 if ticks on `clock` can evaluate its rising edge alone (see lutgen_tick).
LUTGEN_EXPORT int lutgen_rising_edge(void* h, uint32_t clock) {{
    return rising_edge(sim(h), clock) ? 1 : 0;
}}

// Lets `cycles` cycles pass without evaluating them: each counter moves on by `cycles` times
// its last delta, and time by two units a cycle. Only valid after a steady cycle (returns 1
// and does nothing otherwise); see Model::skip for when one is enough.
LUTGEN_EXPORT int lutgen_skip(void* h, uint64_t cycles) {{
    LutgenSim* s = sim(h);
    if (s->steady < 1) return 1;
    unsigned char* root = reinterpret_cast<unsigned char*>(s->model->rootp);
    for (const Counter& c : s->counters) {{
        uint64_t v = (load(root + c.offset, c.bytes) + cycles * c.delta) & c.mask;
        store(root + c.offset, c.bytes, v);
        store(s->snapshot.data() + c.offset, c.bytes, v);
    }}
    s->ctx->timeInc(2 * cycles);
    return 0;
}}

LUTGEN_EXPORT uint32_t lutgen_counter_count(void* h) {{
    return static_cast<uint32_t>(sim(h)->counters.size());
}}

// Counter `index`: its value now, and how much it moved in the last watched cycle.
LUTGEN_EXPORT void lutgen_counter(void* h, uint32_t index, uint64_t* value, uint64_t* delta) {{
    LutgenSim* s = sim(h);
    if (index >= s->counters.size()) return;
    const Counter& c = s->counters[index];
    *value = load(reinterpret_cast<unsigned char*>(s->model->rootp) + c.offset, c.bytes);
    *delta = c.delta;
}}

LUTGEN_EXPORT void* lutgen_port_ptr(void* h, uint32_t index) {{
    {PREFIX}* m = sim(h)->model.get();
{asserts}    switch (index) {{
{cases}    default: return nullptr;
    }}
}}

LUTGEN_EXPORT uint64_t lutgen_time(void* h) {{ return sim(h)->ctx->time(); }}

LUTGEN_EXPORT void lutgen_time_inc(void* h, uint64_t delta) {{ sim(h)->ctx->timeInc(delta); }}

LUTGEN_EXPORT int lutgen_got_finish(void* h) {{ return sim(h)->ctx->gotFinish() ? 1 : 0; }}

// 0: open; 1: model built without --trace; 2: Verilator could not open the file.
LUTGEN_EXPORT int lutgen_trace_open(void* h, const char* path) {{
#if VM_TRACE
    LutgenSim* s = sim(h);
    if (s->vcd) s->vcd->close();
    s->vcd.reset(new VerilatedVcdC);
    s->model->trace(s->vcd.get(), 99);
    s->vcd->open(path);
    if (!s->vcd->isOpen()) {{
        s->vcd.reset();
        return 2;
    }}
    return 0;
#else
    (void)h;
    (void)path;
    return 1;
#endif
}}

LUTGEN_EXPORT void lutgen_trace_dump(void* h) {{
#if VM_TRACE
    LutgenSim* s = sim(h);
    if (s->vcd) s->vcd->dump(s->ctx->time());
#else
    (void)h;
#endif
}}

LUTGEN_EXPORT void lutgen_trace_flush(void* h) {{
#if VM_TRACE
    LutgenSim* s = sim(h);
    if (s->vcd) s->vcd->flush();
#else
    (void)h;
#endif
}}

LUTGEN_EXPORT void lutgen_trace_close(void* h) {{
#if VM_TRACE
    LutgenSim* s = sim(h);
    if (s->vcd) s->vcd->close();
    s->vcd.reset();
#else
    (void)h;
#endif
}}
"#
    )
}

/// Linker version script: export only the shim, so two models loaded into one process
/// never resolve each other's copy of the Verilator run time.
pub(crate) fn exports_map() -> String {
    "{\n  global: lutgen_*;\n  local: *;\n};\n".to_string()
}

/// Makefile that extends Verilator's generated one with a shared-library target.
///
/// Verilator 5.006's default target archives only the model; the run-time objects it needs
/// (`verilated.o`, `verilated_threads.o`, and `verilated_vcd_c.o` when tracing) are listed in
/// `VK_GLOBAL_OBJS` in every 5.x release, so we link those ourselves. `-z defs` turns a
/// missing run-time object into a link error rather than a load-time one.
pub(crate) fn makefile() -> String {
    format!(
        "# Generated by lutgen-sim. Do not edit.\n\
         include {PREFIX}.mk\n\
         \n\
         {LIBRARY}: lutgen_shim.o $(VK_GLOBAL_OBJS) $(VM_PREFIX)__ALL.a\n\
         \t$(CXX) -shared $(LDFLAGS) -Wl,-z,defs -Wl,--version-script={EXPORTS_MAP} -o $@ $^ $(LDLIBS)\n"
    )
}

/// A top-level port as declared in the generated `Vlutgen.h` (`VL_IN8(&clk,0,0);`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderPort {
    /// The C++ member name.
    pub name: String,
    /// Input, output, or `None` for inout.
    pub direction: Option<Direction>,
    /// Width in bits.
    pub width: u32,
}

/// A signal of the model's root class, as declared in `Vlutgen___024root.h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootMember {
    /// The C++ member name.
    pub name: String,
    /// Width in bits, when the declaration gives it.
    pub width: Option<u32>,
    /// An unpacked array (a memory): `VlUnpacked<...>`.
    pub array: bool,
}

/// Parses the signal members out of Verilator's root header: ports (`VL_IN8(clock,0,0);`),
/// scalars and wide vectors (`IData/*31:0*/ name;`, `VlWide<13>/*415:0*/ name;`) and
/// memories (`VlUnpacked<CData/*7:0*/, 2048> name;`). Verilator's own bookkeeping members
/// of these types (iteration counts, previous trigger values) are signals here too.
pub(crate) fn parse_root_members(header: &str) -> Vec<RootMember> {
    let mut members = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        let Some(decl) = line.strip_suffix(';') else {
            continue;
        };
        if line.starts_with("VL_IN") || line.starts_with("VL_OUT") {
            let (Some(open), Some(close)) = (decl.find('('), decl.rfind(')')) else {
                continue;
            };
            let args: Vec<&str> = decl[open + 1..close].split(',').map(str::trim).collect();
            if args.len() < 3 {
                continue;
            }
            let (Ok(msb), Ok(lsb)) = (args[1].parse::<i64>(), args[2].parse::<i64>()) else {
                continue;
            };
            members.push(RootMember {
                name: args[0].trim_start_matches('&').to_string(),
                width: Some((msb - lsb).unsigned_abs() as u32 + 1),
                array: false,
            });
            continue;
        }
        let array = decl.starts_with("VlUnpacked<");
        let scalar = ["CData", "SData", "IData", "QData", "EData", "VlWide<"]
            .iter()
            .any(|t| decl.starts_with(t));
        if !array && !scalar {
            continue;
        }
        let Some(name) = decl.rsplit([' ', '>', '/']).next() else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        // The range comment of a scalar: `IData/*31:0*/`.
        let width = (!array)
            .then(|| {
                let comment = decl.split("/*").nth(1)?.split("*/").next()?;
                let (msb, lsb) = comment.split_once(':')?;
                let (msb, lsb) = (msb.parse::<i64>().ok()?, lsb.parse::<i64>().ok()?);
                Some((msb - lsb).unsigned_abs() as u32 + 1)
            })
            .flatten();
        members.push(RootMember {
            name: name.to_string(),
            width,
            array,
        });
    }
    members
}

/// The C++ member name of a signal given by its Verilog path below any instance,
/// `receiver.silence$q` -> ends with `__DOT__receiver__DOT__silence__024q`.
pub(crate) fn member_suffix(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        out.push_str("__DOT__");
        out.push_str(&PortSpec::input(part, 1).cpp_name());
    }
    out
}

/// Parses the port declarations out of Verilator's model header.
pub(crate) fn parse_header_ports(header: &str) -> Vec<HeaderPort> {
    let mut ports = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        let direction = if line.starts_with("VL_INOUT") {
            None
        } else if line.starts_with("VL_IN") {
            Some(Direction::Input)
        } else if line.starts_with("VL_OUT") {
            Some(Direction::Output)
        } else {
            continue;
        };
        let (Some(open), Some(close)) = (line.find('('), line.rfind(')')) else {
            continue;
        };
        let args: Vec<&str> = line[open + 1..close].split(',').map(str::trim).collect();
        if args.len() < 3 {
            continue;
        }
        let (Ok(msb), Ok(lsb)) = (args[1].parse::<i64>(), args[2].parse::<i64>()) else {
            continue;
        };
        ports.push(HeaderPort {
            name: args[0].trim_start_matches('&').to_string(),
            direction,
            width: (msb - lsb).unsigned_abs() as u32 + 1,
        });
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ports_are_parsed() {
        let header =
            "class X {\n  public:\n    VL_IN8(&clk,0,0);\n    VL_OUT16(&d___05Fe,15,0);\n    \
                      VL_IN64(&a,39,0);\n    VL_OUT(&w,31,0);\n    VL_INW(&big,99,0,4);\n    \
                      VL_INOUT8(&io,3,0);\n};\n";
        let ports = parse_header_ports(header);
        let summary: Vec<(&str, Option<Direction>, u32)> = ports
            .iter()
            .map(|p| (p.name.as_str(), p.direction, p.width))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("clk", Some(Direction::Input), 1),
                ("d___05Fe", Some(Direction::Output), 16),
                ("a", Some(Direction::Input), 40),
                ("w", Some(Direction::Output), 32),
                ("big", Some(Direction::Input), 100),
                ("io", None, 4),
            ]
        );
    }

    #[test]
    fn root_members_are_parsed() {
        let header = "class Vlutgen___024root final : public VerilatedModule {\n  public:\n    \
                      struct {\n        VL_IN8(clock,0,0);\n        VL_OUT16(q,11,0);\n        \
                      CData/*3:0*/ top__DOT__a__024q;\n        IData/*31:0*/ __VicoIterCount;\n        \
                      VlWide<13>/*415:0*/ top__DOT__body;\n        \
                      VlUnpacked<CData/*7:0*/, 2048> top__DOT__buffer__DOT__mem;\n    };\n    \
                      VlTriggerVec<7> __VactTriggered;\n    Vlutgen__Syms* const vlSymsp;\n    \
                      void __Vconfigure(bool first);\n};\n";
        let members = parse_root_members(header);
        let summary: Vec<(&str, Option<u32>, bool)> = members
            .iter()
            .map(|m| (m.name.as_str(), m.width, m.array))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("clock", Some(1), false),
                ("q", Some(12), false),
                ("top__DOT__a__024q", Some(4), false),
                ("__VicoIterCount", Some(32), false),
                ("top__DOT__body", Some(416), false),
                ("top__DOT__buffer__DOT__mem", None, true),
            ]
        );
        assert_eq!(
            member_suffix("receiver.silence$q"),
            "__DOT__receiver__DOT__silence__024q"
        );
    }

    #[test]
    fn storage_follows_verilator_types() {
        assert_eq!(storage_bytes(1), 1);
        assert_eq!(storage_bytes(8), 1);
        assert_eq!(storage_bytes(9), 2);
        assert_eq!(storage_bytes(32), 4);
        assert_eq!(storage_bytes(33), 8);
        assert_eq!(storage_bytes(64), 8);
    }
}
