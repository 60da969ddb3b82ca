//! A loaded Verilated model, driven port by port and cycle by cycle.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use libloading::Library;

use crate::port::{Direction, PortId, PortSpec};
use crate::shim::{self, storage_bytes};
use crate::SimError;

type Handle = *mut c_void;

/// The shim's entry points, copied out of the library (which [`Model`] keeps loaded).
struct Api {
    destroy: unsafe extern "C" fn(Handle),
    eval: unsafe extern "C" fn(Handle),
    tick: unsafe extern "C" fn(Handle, u32, c_int) -> u32,
    run: unsafe extern "C" fn(Handle, u32, u64, c_int, u32, *mut u32) -> u64,
    rising_edge: unsafe extern "C" fn(Handle, u32) -> c_int,
    skip: unsafe extern "C" fn(Handle, u64) -> c_int,
    counter: unsafe extern "C" fn(Handle, u32, *mut u64, *mut u64),
    time: unsafe extern "C" fn(Handle) -> u64,
    time_inc: unsafe extern "C" fn(Handle, u64),
    got_finish: unsafe extern "C" fn(Handle) -> c_int,
    trace_open: unsafe extern "C" fn(Handle, *const c_char) -> c_int,
    trace_dump: unsafe extern "C" fn(Handle),
    trace_flush: unsafe extern "C" fn(Handle),
    trace_close: unsafe extern "C" fn(Handle),
}

/// Where a port lives in the model, and how to access it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ptr: NonNull<u8>,
    bytes: u8,
    mask: u64,
    input: bool,
}

/// A Verilated model loaded in this process.
///
/// Look ports up once with [`Model::port`], then `set`/`eval`/`get` (or [`Model::tick`]) as
/// often as needed: those are a bounds check, a mask and a memory access, plus one FFI call
/// per `eval`. Registers start at zero. Dropping the model runs Verilog `final` blocks and
/// closes any open trace.
pub struct Model {
    handle: NonNull<c_void>,
    api: Api,
    slots: Vec<Slot>,
    ports: Vec<PortSpec>,
    by_name: HashMap<String, PortId>,
    traceable: bool,
    tracing: bool,
    was_cached: bool,
    /// Time counters the shim watches (0: the model does not watch its state).
    counters: u32,
    /// Watched cycles in a row that changed nothing (as of the last tick).
    steady: u32,
    /// Ticks evaluate the rising edge alone, where the model allows it.
    rising_edge: bool,
    library_path: PathBuf,
    // Dropped last (fields drop after `Drop::drop`), so the code stays mapped until then.
    _library: Library,
}

// SAFETY: the model's state is reachable only through this value, which needs `&mut` to run
// any Verilator code. Verilator allows a (single-threaded, `--threads 1`) model to be
// evaluated from any thread as long as calls do not overlap, which `&mut self` guarantees.
unsafe impl Send for Model {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("library_path", &self.library_path)
            .field("ports", &self.ports)
            .field("traceable", &self.traceable)
            .field("was_cached", &self.was_cached)
            .finish_non_exhaustive()
    }
}

/// Fetches a function pointer from the library.
///
/// # Safety
/// `T` must be the symbol's true type.
unsafe fn symbol<T: Copy>(lib: &Library, path: &Path, name: &str) -> Result<T, SimError> {
    let sym = lib
        .get::<T>(name.as_bytes())
        .map_err(|source| SimError::Load {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(*sym)
}

impl Model {
    /// Loads a library built by [`crate::ModelBuilder`] and constructs the model.
    pub(crate) fn load(
        path: &Path,
        ports: Vec<PortSpec>,
        traceable: bool,
        was_cached: bool,
        rising_edge: bool,
    ) -> Result<Model, SimError> {
        let load_err = |source| SimError::Load {
            path: path.to_path_buf(),
            source,
        };
        // SAFETY: the library is one we built from our own shim; its initialisers are
        // Verilator's and the C++ run time's.
        let library = unsafe { Library::new(path) }.map_err(load_err)?;
        // SAFETY (all `symbol` calls): the types match the shim's `extern "C"` definitions.
        let abi: unsafe extern "C" fn() -> u32 =
            unsafe { symbol(&library, path, "lutgen_abi_version")? };
        let count: unsafe extern "C" fn() -> u32 =
            unsafe { symbol(&library, path, "lutgen_port_count")? };
        let create: unsafe extern "C" fn() -> Handle =
            unsafe { symbol(&library, path, "lutgen_create")? };
        let port_ptr: unsafe extern "C" fn(Handle, u32) -> *mut c_void =
            unsafe { symbol(&library, path, "lutgen_port_ptr")? };
        let counter_count: unsafe extern "C" fn(Handle) -> u32 =
            unsafe { symbol(&library, path, "lutgen_counter_count")? };
        let api = unsafe {
            Api {
                destroy: symbol(&library, path, "lutgen_destroy")?,
                eval: symbol(&library, path, "lutgen_eval")?,
                tick: symbol(&library, path, "lutgen_tick")?,
                run: symbol(&library, path, "lutgen_run")?,
                rising_edge: symbol(&library, path, "lutgen_rising_edge")?,
                skip: symbol(&library, path, "lutgen_skip")?,
                counter: symbol(&library, path, "lutgen_counter")?,
                time: symbol(&library, path, "lutgen_time")?,
                time_inc: symbol(&library, path, "lutgen_time_inc")?,
                got_finish: symbol(&library, path, "lutgen_got_finish")?,
                trace_open: symbol(&library, path, "lutgen_trace_open")?,
                trace_dump: symbol(&library, path, "lutgen_trace_dump")?,
                trace_flush: symbol(&library, path, "lutgen_trace_flush")?,
                trace_close: symbol(&library, path, "lutgen_trace_close")?,
            }
        };
        // SAFETY: argument-free getters.
        let (abi, count) = unsafe { (abi(), count()) };
        if abi != shim::ABI_VERSION || count as usize != ports.len() {
            return Err(SimError::PortMismatch {
                name: path.display().to_string(),
                reason: format!(
                    "library has shim ABI {abi} and {count} ports, expected ABI {} and {} ports \
                     (stale cache entry? delete it)",
                    shim::ABI_VERSION,
                    ports.len()
                ),
            });
        }
        // SAFETY: creates a fresh model; null means it failed.
        let handle = NonNull::new(unsafe { create() }).ok_or(SimError::Create)?;
        // SAFETY: live handle; a read-only query.
        let counters = unsafe { counter_count(handle.as_ptr()) };

        let mut slots = Vec::with_capacity(ports.len());
        for (i, spec) in ports.iter().enumerate() {
            // SAFETY: `i` is below the shim's port count; the pointer stays valid while the
            // model lives (Verilator port members reference the model's root storage).
            let ptr = unsafe { port_ptr(handle.as_ptr(), i as u32) };
            let Some(ptr) = NonNull::new(ptr.cast::<u8>()) else {
                // SAFETY: handle came from `create` and is destroyed exactly once.
                unsafe { (api.destroy)(handle.as_ptr()) };
                return Err(SimError::Create);
            };
            slots.push(Slot {
                ptr,
                bytes: storage_bytes(spec.width) as u8,
                mask: spec.mask(),
                input: spec.direction == Direction::Input,
            });
        }
        let by_name = ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), PortId(i)))
            .collect();
        Ok(Model {
            handle,
            api,
            slots,
            ports,
            by_name,
            traceable,
            tracing: false,
            was_cached,
            counters,
            steady: 0,
            rising_edge,
            library_path: path.to_path_buf(),
            _library: library,
        })
    }

    /// The handle of the port called `name` (do this once, outside the hot loop).
    pub fn port(&self, name: &str) -> Result<PortId, SimError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| SimError::UnknownPort {
                name: name.to_string(),
                known: self
                    .ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The port list the model was built with; [`PortId`] `i` is entry `i`.
    pub fn ports(&self) -> &[PortSpec] {
        &self.ports
    }

    /// Drives input `port` with the low `width` bits of `value` (higher bits are dropped).
    /// Takes effect at the next [`Model::eval`].
    ///
    /// # Panics
    /// If `port` is an output or not a port of this model.
    #[inline]
    pub fn set(&mut self, port: PortId, value: u64) {
        let slot = self.slots[port.0];
        assert!(
            slot.input,
            "lutgen-sim: cannot set output port `{}`",
            self.ports[port.0].name
        );
        let v = value & slot.mask;
        let p = slot.ptr.as_ptr();
        // SAFETY: `p` points at the port's CData/SData/IData/QData storage, of `bytes` bytes
        // and aligned for it (checked by the shim's static_asserts); the model is alive.
        unsafe {
            match slot.bytes {
                1 => p.write(v as u8),
                2 => p.cast::<u16>().write(v as u16),
                4 => p.cast::<u32>().write(v as u32),
                _ => p.cast::<u64>().write(v),
            }
        }
    }

    /// Reads `port` (input or output), masked to its width.
    ///
    /// # Panics
    /// If `port` is not a port of this model.
    #[inline]
    pub fn get(&self, port: PortId) -> u64 {
        let slot = self.slots[port.0];
        let p = slot.ptr.as_ptr();
        // SAFETY: as in `set`.
        let v = unsafe {
            match slot.bytes {
                1 => u64::from(p.read()),
                2 => u64::from(p.cast::<u16>().read()),
                4 => u64::from(p.cast::<u32>().read()),
                _ => p.cast::<u64>().read(),
            }
        };
        v & slot.mask
    }

    /// [`Model::set`] by name, for setup code; errors on unknown names.
    pub fn set_by_name(&mut self, name: &str, value: u64) -> Result<(), SimError> {
        let id = self.port(name)?;
        self.set(id, value);
        Ok(())
    }

    /// [`Model::get`] by name, for setup code; errors on unknown names.
    pub fn get_by_name(&self, name: &str) -> Result<u64, SimError> {
        Ok(self.get(self.port(name)?))
    }

    /// Evaluates the design until it settles, at the current time.
    #[inline]
    pub fn eval(&mut self) {
        // SAFETY: live handle; `&mut self` keeps calls from overlapping.
        unsafe { (self.api.eval)(self.handle.as_ptr()) }
    }

    /// One clock cycle on `clock`: low, eval, dump; high (the rising edge), eval, dump.
    /// Each half advances time by one unit, so a cycle is two time units. (For a model built
    /// with [`crate::ModelBuilder::rising_edge_only`], one eval at the rising edge: see
    /// [`Model::rising_edge_only`].)
    /// Set inputs before calling; read the registered results after.
    /// The whole cycle is one call into the model's library.
    ///
    /// # Panics
    /// If `clock` is not a 1-bit input of this model.
    #[inline]
    pub fn tick(&mut self, clock: PortId) {
        self.tick_inner(clock, false);
    }

    /// [`Model::tick`], then (for a model built with [`crate::ModelBuilder::watch_state`])
    /// compares every signal of the model but its memories and time counters with its value
    /// one cycle before. Returns how many watched cycles in a row changed nothing (inputs
    /// included), with every time counter moving by the same amount each cycle; always 0
    /// for a model that does not watch its state, and after an unwatched tick.
    ///
    /// Two in a row prove a fixed point in any design: the cycle before the last one ended
    /// where the last one did, so the memories' writes (if any) repeat themselves and the
    /// next cycle, with the same inputs, replays the last one exactly. One is enough in a
    /// design where every cycle that writes a memory also changes a register (a write
    /// pointer, a one-cycle strobe), as in lutgen's device: then a changeless cycle wrote
    /// nothing either, and the next one replays it. [`Model::skip`] then lets cycles pass.
    #[inline]
    pub fn tick_watched(&mut self, clock: PortId) -> u32 {
        self.tick_inner(clock, true)
    }

    #[inline]
    fn tick_inner(&mut self, clock: PortId, watch: bool) -> u32 {
        self.check_clock(clock);
        // SAFETY: live handle; `clock` is a 1-bit input (CData storage), as the shim expects.
        self.steady =
            unsafe { (self.api.tick)(self.handle.as_ptr(), clock.0 as u32, self.flags(watch)) };
        self.steady
    }

    #[inline]
    fn check_clock(&self, clock: PortId) {
        let slot = self.slots[clock.0];
        assert!(
            slot.input && slot.mask == 1,
            "lutgen-sim: `{}` is not a 1-bit input, so it cannot be the clock",
            self.ports[clock.0].name
        );
    }

    /// The shim's tick flags: 1 watch, 2 rising edge alone.
    #[inline]
    fn flags(&self, watch: bool) -> c_int {
        c_int::from(watch) | (c_int::from(self.rising_edge) << 1)
    }

    /// Up to `cycles` ticks on `clock` ([`Model::tick`], or [`Model::tick_watched`] with
    /// `watch`) in one call into the model's library, with the inputs as they are. Stops early
    /// after a watched tick that changed nothing (a fixed point: see [`Model::skip`]), or
    /// after a tick that leaves the 1-bit output `stop` high. Returns the ticks run;
    /// [`Model::steady`] is the last one's.
    ///
    /// # Panics
    /// If `clock` is not a 1-bit input, or `stop` not a 1-bit output, of this model.
    pub fn run(&mut self, clock: PortId, cycles: u64, watch: bool, stop: Option<PortId>) -> u64 {
        self.check_clock(clock);
        let stop = match stop {
            Some(port) => {
                let slot = self.slots[port.0];
                assert!(
                    !slot.input && slot.mask == 1,
                    "lutgen-sim: `{}` is not a 1-bit output, so a run cannot stop on it",
                    self.ports[port.0].name
                );
                port.0 as u32
            }
            None => u32::MAX,
        };
        if cycles == 0 {
            return 0;
        }
        let mut steady = 0u32;
        // SAFETY: live handle; `clock` is a 1-bit input and `stop` a 1-bit output (CData
        // storage) or out of range, as the shim expects; `steady` is valid for a write.
        let done = unsafe {
            (self.api.run)(
                self.handle.as_ptr(),
                clock.0 as u32,
                cycles,
                self.flags(watch),
                stop,
                &mut steady,
            )
        };
        self.steady = steady;
        done
    }

    /// Whether ticks on `clock` evaluate its rising edge alone: the model was built with
    /// [`crate::ModelBuilder::rising_edge_only`], this Verilator keeps the clock's previous
    /// value where the shim can reach it (5.006 does), and it has not been turned off with
    /// [`Model::set_rising_edge_only`]. (Never while a trace is open.)
    pub fn rising_edge_only(&self, clock: PortId) -> bool {
        // SAFETY: live handle; a read-only query.
        self.rising_edge
            && unsafe { (self.api.rising_edge)(self.handle.as_ptr(), clock.0 as u32) } != 0
    }

    /// Turns evaluating the rising edge alone off (both edges, as without
    /// [`crate::ModelBuilder::rising_edge_only`]) or back on, to compare the two.
    pub fn set_rising_edge_only(&mut self, on: bool) {
        self.rising_edge = on;
    }

    /// What the last tick returned: watched cycles in a row that changed nothing.
    pub fn steady(&self) -> u32 {
        self.steady
    }

    /// Whether the model was built to watch its state ([`crate::ModelBuilder::watch_state`]).
    pub fn watches_state(&self) -> bool {
        self.counters > 0
    }

    /// Lets `cycles` clock cycles pass without evaluating them, after a fixed point shown by
    /// [`Model::tick_watched`] (2 or more, or 1 in a design that writes no memory without
    /// changing a register; the caller's call) and with the inputs unchanged since: every
    /// signal keeps its value, each time counter moves on by `cycles` times its last
    /// per-cycle change, and time by two units a cycle. The caller must stop well short of
    /// any cycle in which a counter's value would matter (say, a timeout compare), reading it
    /// with [`Model::counter`]: what the logic derives from a counter is only recomputed at
    /// the next clock edge.
    ///
    /// # Panics
    /// If the last tick did not show a changeless cycle.
    pub fn skip(&mut self, cycles: u64) {
        assert!(
            self.steady >= 1,
            "lutgen-sim: skip needs a changeless watched cycle first"
        );
        // SAFETY: live handle.
        let refused = unsafe { (self.api.skip)(self.handle.as_ptr(), cycles) };
        assert_eq!(refused, 0, "lutgen-sim: the shim refused to skip");
    }

    /// Time counter `index` (in the order given to [`crate::ModelBuilder::watch_state`]):
    /// its value, and how much it moved in the last watched cycle.
    ///
    /// # Panics
    /// If the model has no such counter.
    pub fn counter(&self, index: usize) -> (u64, u64) {
        assert!(
            index < self.counters as usize,
            "lutgen-sim: no time counter {index} (the model watches {})",
            self.counters
        );
        let (mut value, mut delta) = (0u64, 0u64);
        // SAFETY: live handle; the index is in range; both pointers are valid for writes.
        unsafe { (self.api.counter)(self.handle.as_ptr(), index as u32, &mut value, &mut delta) };
        (value, delta)
    }

    /// The simulation time (in the design's time precision units).
    pub fn time(&self) -> u64 {
        // SAFETY: live handle; a read-only query.
        unsafe { (self.api.time)(self.handle.as_ptr()) }
    }

    /// Advances the simulation time by `delta` units.
    #[inline]
    pub fn advance_time(&mut self, delta: u64) {
        // SAFETY: live handle.
        unsafe { (self.api.time_inc)(self.handle.as_ptr(), delta) }
    }

    /// Writes the current signal values to the open trace at the current time (no-op
    /// without one). [`Model::tick`] does this itself.
    #[inline]
    pub fn dump(&mut self) {
        if self.tracing {
            // SAFETY: live handle.
            unsafe { (self.api.trace_dump)(self.handle.as_ptr()) }
        }
    }

    /// Starts writing a VCD trace to `path` (closing any previous one). Needs a model built
    /// with [`crate::ModelBuilder::trace`]; dumps happen in [`Model::tick`] / [`Model::dump`].
    pub fn open_trace(&mut self, path: impl AsRef<Path>) -> Result<(), SimError> {
        let path = path.as_ref();
        if !self.traceable {
            return Err(SimError::TraceNotEnabled);
        }
        // Create the file first, so a bad path gets a proper OS error.
        std::fs::File::create(path).map_err(|e| SimError::io(path, e))?;
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            SimError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"),
            )
        })?;
        // SAFETY: live handle; `c_path` outlives the call (Verilator copies it).
        let rc = unsafe { (self.api.trace_open)(self.handle.as_ptr(), c_path.as_ptr()) };
        self.tracing = rc == 0;
        match rc {
            0 => Ok(()),
            1 => Err(SimError::TraceNotEnabled),
            _ => Err(SimError::io(
                path,
                std::io::Error::other("Verilator could not open the VCD file"),
            )),
        }
    }

    /// Flushes buffered trace data to the file.
    pub fn flush_trace(&mut self) {
        // SAFETY: live handle; no-op without a trace.
        unsafe { (self.api.trace_flush)(self.handle.as_ptr()) }
    }

    /// Closes the trace file, if one is open.
    pub fn close_trace(&mut self) {
        // SAFETY: live handle; no-op without a trace.
        unsafe { (self.api.trace_close)(self.handle.as_ptr()) }
        self.tracing = false;
    }

    /// Whether the design has executed `$finish`.
    pub fn finished(&self) -> bool {
        // SAFETY: live handle; a read-only query.
        unsafe { (self.api.got_finish)(self.handle.as_ptr()) != 0 }
    }

    /// Whether the model was built with tracing support.
    pub fn traceable(&self) -> bool {
        self.traceable
    }

    /// Whether this model came from the cache (no Verilator or compiler run).
    pub fn was_cached(&self) -> bool {
        self.was_cached
    }

    /// The shared library the model was loaded from (inside its cache entry).
    pub fn library_path(&self) -> &Path {
        &self.library_path
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the handle came from `lutgen_create` and is destroyed exactly once, before
        // the library is unloaded (fields drop after this).
        unsafe { (self.api.destroy)(self.handle.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::verilator_version;
    use crate::test_designs::{
        build, counter_ports, shared_cache, waiter_ports, wide_ports, COUNTER, WAITER, WIDE,
    };
    use crate::ModelBuilder;

    /// Outputs of the waiter after each of `cycles` cycles from `go`, ticked one by one or
    /// (`skip`) skipping every changeless stretch up to 20 cycles short of the alarm.
    fn waiter_run(m: &mut Model, cycles: u64, skip: bool) -> Vec<(u64, [u64; 3])> {
        let [clk, go, amount, alarm, work, echo] =
            ["clk", "go", "amount", "alarm", "work", "echo"].map(|p| m.port(p).unwrap());
        let mut seen = Vec::new();
        let mut cycle = 0;
        for round in 0..3u64 {
            m.set(go, 1);
            m.set(amount, 3 + round * 4);
            m.tick_watched(clk);
            m.set(go, 0);
            let end = cycle + cycles;
            cycle += 1;
            while cycle < end {
                let (since, delta) = m.counter(0);
                if skip && m.steady() >= 2 {
                    assert_eq!(delta, 1, "the counter counts");
                    let room = 1000u64.saturating_sub(since + 20).min(end - cycle);
                    if room > 0 {
                        m.skip(room);
                        cycle += room;
                        continue;
                    }
                }
                m.tick_watched(clk);
                cycle += 1;
                seen.push((cycle, [m.get(alarm), m.get(work), m.get(echo)]));
            }
        }
        seen
    }

    #[test]
    fn watched_model_skips_fixed_points_exactly() {
        let cache = shared_cache();
        let builder = ModelBuilder::new(WAITER, "waiter", waiter_ports())
            .cache_dir(cache.path())
            .watch_state(&["since"]);
        let mut m = builder.build().unwrap();
        assert!(m.watches_state());
        let clk = m.port("clk").unwrap();
        // Counting down, then the memory's echo catches up: two changeless cycles in a row
        // only after both.
        let go = m.port("go").unwrap();
        m.set_by_name("amount", 2).unwrap();
        m.set(go, 1);
        m.tick_watched(clk);
        m.set(go, 0);
        let steady: Vec<u32> = (0..7).map(|_| m.tick_watched(clk)).collect();
        assert_eq!(steady, [0, 0, 0, 0, 1, 2, 3]);
        // An input change breaks the run; an unwatched tick forgets it.
        m.set_by_name("amount", 5).unwrap();
        assert_eq!(m.tick_watched(clk), 0);
        assert_eq!(m.tick_watched(clk), 1);
        m.tick(clk);
        assert_eq!(m.steady(), 0);
        assert_eq!(m.tick_watched(clk), 0);

        let mut plain = builder.clone().build().unwrap();
        let mut skipping = builder.build().unwrap();
        let every = waiter_run(&mut plain, 1100, false);
        let some = waiter_run(&mut skipping, 1100, true);
        assert!(
            some.len() < every.len() / 5,
            "{} of {}",
            some.len(),
            every.len()
        );
        assert_eq!(every.last().map(|e| e.0), some.last().map(|s| s.0));
        // Every cycle the skipping run simulated looks as it did in the full run,
        // the alarm included (at cycle 1002 of each round).
        let every: std::collections::HashMap<u64, [u64; 3]> = every.into_iter().collect();
        for (cycle, outputs) in &some {
            assert_eq!(every.get(cycle), Some(outputs), "cycle {cycle}");
        }
        let alarms: Vec<u64> = some
            .iter()
            .filter(|(_, o)| o[0] == 1)
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(alarms, [1002, 2102, 3202]);
        assert_eq!(skipping.time(), plain.time());
    }

    /// Two waiters that watch their state and evaluate rising edges alone.
    fn two_rising_edge_waiters() -> (
        Model,
        Model,
        std::sync::Arc<crate::test_designs::SharedCache>,
    ) {
        let cache = shared_cache();
        let builder = ModelBuilder::new(WAITER, "waiter", waiter_ports())
            .cache_dir(cache.path())
            .watch_state(&["since"])
            .rising_edge_only(true);
        (
            builder.clone().build().unwrap(),
            builder.build().unwrap(),
            cache,
        )
    }

    /// Evaluating the rising edge alone gives what evaluating both edges gives, cycle by
    /// cycle and with skips (Verilator 5.006 keeps the clock's previous value where the shim
    /// reaches it; another Verilator may not, and then both runs evaluate both edges).
    #[test]
    fn rising_edge_alone_matches_both_edges() {
        let (mut rising, mut both, _cache) = two_rising_edge_waiters();
        let clk = rising.port("clk").unwrap();
        both.set_rising_edge_only(false);
        assert!(!both.rising_edge_only(clk));
        let on_5006 = verilator_version(Path::new("verilator"))
            .is_ok_and(|v| v.starts_with("Verilator 5.006"));
        assert!(rising.rising_edge_only(clk) || !on_5006);
        // Not for an input that is no clock, nor a model built without it.
        assert!(!rising.rising_edge_only(rising.port("go").unwrap()));
        let (mut plain, _cache) = build_plain();
        assert!(!plain.rising_edge_only(plain.port("clk").unwrap()));
        plain.set_rising_edge_only(true);
        assert!(!plain.rising_edge_only(plain.port("clk").unwrap()));

        for skip in [false, true] {
            let a = waiter_run(&mut rising, 1100, skip);
            let b = waiter_run(&mut both, 1100, skip);
            let first = a.iter().zip(&b).position(|(a, b)| a != b);
            assert_eq!(
                first,
                None,
                "skip {skip}: {:?}",
                first.map(|i| (a[i], b[i]))
            );
            assert_eq!(a.len(), b.len());
            assert_eq!(rising.time(), both.time());
        }
        assert_eq!(rising.time(), 2 * 2 * 3300);
    }

    /// `run` does what as many ticks do, in one call, and stops where it says.
    #[test]
    fn run_is_ticks_in_one_call() {
        let (mut ran, mut ticked, _cache) = two_rising_edge_waiters();
        let [clk, go, amount, alarm, work] =
            ["clk", "go", "amount", "alarm", "work"].map(|p| ran.port(p).unwrap());
        for m in [&mut ran, &mut ticked] {
            m.set(amount, 6);
            m.set(go, 1);
            m.tick_watched(clk);
            m.set(go, 0);
        }
        // Watched: stops after the first changeless cycle (work counts down from 6, then
        // the memory's echo follows one cycle later).
        let done = ran.run(clk, 100, true, None);
        let mut ticks = 0;
        while ticked.tick_watched(clk) == 0 {
            ticks += 1;
        }
        assert_eq!(done, ticks + 1);
        assert_eq!(ran.steady(), 1);
        assert_eq!(ran.get(work), 0);
        // Unwatched: all of them; the steady count is forgotten as by `tick`.
        assert_eq!(ran.run(clk, 500, false, None), 500);
        assert_eq!(ran.steady(), 0);
        for _ in 0..500 {
            ticked.tick(clk);
        }
        assert_eq!(ran.time(), ticked.time());
        assert_eq!(ran.counter(0).0, ticked.counter(0).0);
        // On an output: the alarm rises in the cycle the counter shows 1000.
        let done = ran.run(clk, 2000, false, Some(alarm));
        let mut ticks = 0;
        while ticked.get(alarm) == 0 {
            ticked.tick(clk);
            ticks += 1;
        }
        assert_eq!((done, ran.get(alarm)), (ticks, 1));
        assert_eq!(ran.time(), ticked.time());
        assert_eq!(ran.run(clk, 0, true, Some(alarm)), 0);
    }

    #[test]
    #[should_panic(expected = "`work` is not a 1-bit output")]
    fn run_stops_on_one_bit_outputs() {
        let (mut m, _cache) = build_plain();
        let (clk, work) = (m.port("clk").unwrap(), m.port("work").unwrap());
        m.run(clk, 10, false, Some(work));
    }

    #[test]
    #[should_panic(expected = "skip needs a changeless watched cycle")]
    fn skipping_needs_a_fixed_point() {
        let cache = shared_cache();
        let mut m = ModelBuilder::new(WAITER, "waiter", waiter_ports())
            .cache_dir(cache.path())
            .watch_state(&["since"])
            .build()
            .unwrap();
        let clk = m.port("clk").unwrap();
        m.set_by_name("go", 1).unwrap();
        m.tick_watched(clk);
        m.skip(10);
    }

    #[test]
    fn time_counters_must_name_one_register() {
        let cache = shared_cache();
        let build = |counters: &[&str]| {
            ModelBuilder::new(WAITER, "waiter", waiter_ports())
                .cache_dir(cache.path())
                .watch_state(counters)
                .build()
        };
        let err = build(&["nothing"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("time counter `nothing`: no signal of the Verilated model"),
            "{err}"
        );
        let err = build(&["mem"]).unwrap_err();
        assert!(err.to_string().contains("is not a register"), "{err}");
        // A model that does not watch: ticks say nothing.
        let (mut m, _cache) = build_plain();
        assert!(!m.watches_state());
        let clk = m.port("clk").unwrap();
        assert_eq!(
            (
                m.tick_watched(clk),
                m.tick_watched(clk),
                m.tick_watched(clk)
            ),
            (0, 0, 0)
        );
    }

    fn build_plain() -> (Model, std::sync::Arc<crate::test_designs::SharedCache>) {
        build(WAITER, "waiter", waiter_ports(), false)
    }

    #[test]
    fn counter_counts_when_enabled() {
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), false);
        let clk = m.port("clk").unwrap();
        let rst = m.port("rst").unwrap();
        let en = m.port("en").unwrap();
        let q = m.port("q").unwrap();
        assert_eq!(m.time(), 0);
        m.set(rst, 1);
        m.tick(clk);
        m.set(rst, 0);
        assert_eq!(m.get(q), 0);
        for _ in 0..5 {
            m.tick(clk);
        }
        assert_eq!(m.get(q), 0, "a disabled counter holds");
        m.set(en, 1);
        for i in 1..=300u64 {
            m.tick(clk);
            assert_eq!(m.get(q), i % 256, "after {i} enabled cycles");
        }
        assert_eq!(m.time(), 2 * 306, "a tick is two time units");
        assert_eq!(m.get(en), 1, "inputs read back");
        m.advance_time(10);
        assert_eq!(m.time(), 622);
        assert!(!m.finished());
    }

    #[test]
    fn ports_wider_than_32_bits_and_mangled_names() {
        let (mut m, _cache) = build(WIDE, "wide", wide_ports(), false);
        let [a, b, sum, x, not_x, x_plus_1, in_h, out_h] =
            ["a", "b", "sum", "x", "not_x", "x_plus_1", "in$h", "out__h"]
                .map(|name| m.port(name).unwrap());
        assert_eq!((a, sum, out_h), (PortId(0), PortId(2), PortId(7)));

        let max40 = (1u64 << 40) - 1;
        m.set(a, max40);
        m.set(b, 0x12_3456_789a);
        m.set(x, 0xffff_ffff_ffff_ffff);
        m.set(in_h, 0x00f0);
        m.eval();
        assert_eq!(m.get(sum), max40 + 0x12_3456_789a);
        assert!(m.get(sum) > max40, "the 41st bit comes through");
        assert_eq!(m.get(not_x), 0);
        assert_eq!(m.get(x_plus_1), 0, "64-bit wrap-around");
        assert_eq!(m.get(out_h), 0xff0f);

        // Values are masked to the port width on the way in.
        m.set(a, u64::MAX);
        m.set(b, 1);
        m.set(x, 0x8000_0000_0000_0000);
        m.eval();
        assert_eq!(m.get(a), max40);
        assert_eq!(m.get(sum), max40 + 1);
        assert_eq!(m.get(not_x), 0x7fff_ffff_ffff_ffff);
        assert_eq!(m.get(x_plus_1), 0x8000_0000_0000_0001);

        m.set_by_name("in$h", 0x1234).unwrap();
        m.set_by_name("goto", 0b0110).unwrap();
        m.eval();
        assert_eq!(m.get_by_name("out__h").unwrap(), 0xedcb);
        assert_eq!(m.get_by_name("not_goto").unwrap(), 0b1001);
    }

    #[test]
    fn unknown_port_is_an_error() {
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), false);
        let err = m.port("enable").unwrap_err();
        assert!(matches!(&err, SimError::UnknownPort { name, .. } if name == "enable"));
        assert_eq!(
            err.to_string(),
            "unknown port `enable` (ports: clk, rst, en, q)"
        );
        assert!(m.set_by_name("nope", 1).is_err());
        assert!(m.get_by_name("nope").is_err());
    }

    #[test]
    #[should_panic(expected = "cannot set output port `q`")]
    fn setting_an_output_panics() {
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), false);
        let q = m.port("q").unwrap();
        m.set(q, 1);
    }

    #[test]
    fn trace_writes_a_vcd() {
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), true);
        let out = tempfile::tempdir().unwrap();
        assert!(m.traceable());
        let (clk, en) = (m.port("clk").unwrap(), m.port("en").unwrap());
        let vcd = out.path().join("counter.vcd");
        m.open_trace(&vcd).unwrap();
        m.set(en, 1);
        for _ in 0..10 {
            m.tick(clk);
        }
        m.flush_trace();
        m.close_trace();
        let text = std::fs::read_to_string(&vcd).unwrap();
        assert!(text.contains("$enddefinitions"), "{text}");
        assert!(text.contains(" q [7:0]"), "the port is declared: {text}");
        assert!(
            text.contains("#19"),
            "the last half cycle is dumped: {text}"
        );
        assert!(text.contains("b00001010"), "q reaches 10: {text}");

        // A second trace picks up where the simulation is.
        let vcd2 = out.path().join("again.vcd");
        m.open_trace(&vcd2).unwrap();
        m.tick(clk);
        drop(m); // closes the trace
        let text = std::fs::read_to_string(&vcd2).unwrap();
        assert!(
            text.contains("$enddefinitions") && text.contains("#20"),
            "{text}"
        );

        let missing_dir = out.path().join("no/such/dir/x.vcd");
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), true);
        assert!(matches!(
            m.open_trace(&missing_dir),
            Err(SimError::Io { path, .. }) if path == missing_dir
        ));
    }

    #[test]
    fn trace_needs_a_traced_build() {
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), false);
        assert!(!m.traceable());
        let err = m.open_trace("x.vcd").unwrap_err();
        assert!(matches!(err, SimError::TraceNotEnabled));
        assert!(err.to_string().contains("ModelBuilder::trace(true)"));
        // Dumping without a trace is a no-op.
        let clk = m.port("clk").unwrap();
        m.tick(clk);
        m.dump();
    }

    #[test]
    fn models_are_independent_and_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Model>();
        let (mut m1, _cache) = build(COUNTER, "counter", counter_ports(), false);
        let (m2, _cache2) = build(COUNTER, "counter", counter_ports(), false);
        let (clk, en, q) = (
            m1.port("clk").unwrap(),
            m1.port("en").unwrap(),
            m1.port("q").unwrap(),
        );
        // Same library, separate state; and a model can move to another thread.
        let mut m2 = std::thread::spawn(move || {
            let mut m2 = m2;
            m2.set(en, 1);
            for _ in 0..7 {
                m2.tick(clk);
            }
            m2
        })
        .join()
        .unwrap();
        m1.set(en, 1);
        m1.tick(clk);
        assert_eq!((m1.get(q), m2.get(q)), (1, 7));
        m2.tick(clk);
        assert_eq!((m1.get(q), m2.get(q)), (1, 8));
    }
}
