//! Small hand-written designs and helpers shared by the unit tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use tempfile::TempDir;

use crate::cache::CACHE_DIR_ENV;
use crate::{Model, ModelBuilder, PortSpec};

/// 8-bit counter with enable and synchronous reset.
pub const COUNTER: &str = "\
module counter(
    input wire clk,
    input wire rst,
    input wire en,
    output reg [7:0] q
);
    always @(posedge clk) begin
        if (rst) q <= 8'd0;
        else if (en) q <= q + 8'd1;
    end
endmodule
";

/// The counter's port list.
pub fn counter_ports() -> Vec<PortSpec> {
    vec![
        PortSpec::input("clk", 1),
        PortSpec::input("rst", 1),
        PortSpec::input("en", 1),
        PortSpec::output("q", 8),
    ]
}

/// Combinational logic on ports of 40, 41, 64 and 16 bits, with names Verilator mangles
/// (`$`, `__`, and `goto`, a C++ keyword).
pub const WIDE: &str = "\
module wide(
    input wire [39:0] a,
    input wire [39:0] b,
    output wire [40:0] sum,
    input wire [63:0] x,
    output wire [63:0] not_x,
    output wire [63:0] x_plus_1,
    input wire [15:0] in$h,
    output wire [15:0] out__h,
    /* verilator lint_off SYMRSVDWORD */
    input wire [3:0] goto,
    /* verilator lint_on SYMRSVDWORD */
    output wire [3:0] not_goto
);
    assign sum = {1'b0, a} + {1'b0, b};
    assign not_x = ~x;
    assign x_plus_1 = x + 64'd1;
    assign out__h = in$h ^ 16'hffff;
    assign not_goto = ~goto;
endmodule
";

/// The wide design's port list.
pub fn wide_ports() -> Vec<PortSpec> {
    vec![
        PortSpec::input("a", 40),
        PortSpec::input("b", 40),
        PortSpec::output("sum", 41),
        PortSpec::input("x", 64),
        PortSpec::output("not_x", 64),
        PortSpec::output("x_plus_1", 64),
        PortSpec::input("in$h", 16),
        PortSpec::output("out__h", 16),
        PortSpec::input("goto", 4),
        PortSpec::output("not_goto", 4),
    ]
}

/// Work that takes a few cycles after `go`, a memory written from a register and read back,
/// and a 32-bit counter of the cycles since `go` whose value matters only when it reaches
/// 1000 (`alarm`): a design that settles into a fixed point but for its counter.
pub const WAITER: &str = "\
module waiter(
    input wire clk,
    input wire go,
    input wire [3:0] amount,
    output reg alarm,
    output reg [3:0] work,
    output reg [3:0] echo
);
    reg [31:0] since;
    reg [3:0] mem [0:3];
    always @(posedge clk) begin
        if (go) begin
            since <= 32'd0;
            work <= amount;
        end else begin
            since <= since + 32'd1;
            if (work != 4'd0) work <= work - 4'd1;
        end
        alarm <= since == 32'd1000;
        mem[2'd1] <= work;
        echo <= mem[2'd1];
    end
endmodule
";

/// The waiter's port list.
pub fn waiter_ports() -> Vec<PortSpec> {
    vec![
        PortSpec::input("clk", 1),
        PortSpec::input("go", 1),
        PortSpec::input("amount", 4),
        PortSpec::output("alarm", 1),
        PortSpec::output("work", 4),
        PortSpec::output("echo", 4),
    ]
}

/// A cache directory for the tests' designs. Under `$LUTGEN_CACHE_DIR` (set by
/// scripts/test.sh) it is that cache's `test-designs/` and kept, so the one-process-per-test
/// runner (nextest) builds each design and Verilator's run time once per suite, not once per
/// test; otherwise a temporary directory shared by the tests running right now in this
/// process, deleted when the last of them finishes. Either way concurrent tests race on
/// installing the same entry, as parallel test binaries would.
pub struct SharedCache {
    dir: PathBuf,
    _temp: Option<TempDir>,
}

impl SharedCache {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

pub fn shared_cache() -> Arc<SharedCache> {
    static SHARED: Mutex<Weak<SharedCache>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cache) = slot.upgrade() {
        return cache;
    }
    let cache = Arc::new(
        match std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => SharedCache {
                dir: PathBuf::from(dir).join("test-designs"),
                _temp: None,
            },
            None => {
                let temp = tempfile::tempdir().unwrap();
                SharedCache {
                    dir: temp.path().to_path_buf(),
                    _temp: Some(temp),
                }
            }
        },
    );
    *slot = Arc::downgrade(&cache);
    cache
}

/// Builds `verilog` in the [`shared_cache`] (returned, so it outlives the model).
pub fn build(
    verilog: &str,
    top: &str,
    ports: Vec<PortSpec>,
    trace: bool,
) -> (Model, Arc<SharedCache>) {
    let cache = shared_cache();
    let model = ModelBuilder::new(verilog, top, ports)
        .trace(trace)
        .cache_dir(cache.path())
        .build()
        .unwrap_or_else(|e| panic!("building `{top}` failed: {e}"));
    (model, cache)
}
