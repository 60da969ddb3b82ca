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
        let api = unsafe {
            Api {
                destroy: symbol(&library, path, "lutgen_destroy")?,
                eval: symbol(&library, path, "lutgen_eval")?,
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
    /// Each half advances time by one unit, so a cycle is two time units.
    /// Set inputs before calling; read the registered results after.
    #[inline]
    pub fn tick(&mut self, clock: PortId) {
        self.set(clock, 0);
        self.eval();
        self.dump();
        self.advance_time(1);
        self.set(clock, 1);
        self.eval();
        self.dump();
        self.advance_time(1);
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
    use crate::test_designs::{build, counter_ports, wide_ports, COUNTER, WIDE};

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
        let (mut m, cache) = build(COUNTER, "counter", counter_ports(), true);
        assert!(m.traceable());
        let (clk, en) = (m.port("clk").unwrap(), m.port("en").unwrap());
        let vcd = cache.path().join("counter.vcd");
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
        let vcd2 = cache.path().join("again.vcd");
        m.open_trace(&vcd2).unwrap();
        m.tick(clk);
        drop(m); // closes the trace
        let text = std::fs::read_to_string(&vcd2).unwrap();
        assert!(
            text.contains("$enddefinitions") && text.contains("#20"),
            "{text}"
        );

        let missing_dir = cache.path().join("no/such/dir/x.vcd");
        let (mut m, _cache) = build(COUNTER, "counter", counter_ports(), true);
        assert!(matches!(
            m.open_trace(&missing_dir),
            Err(SimError::Io { path, .. }) if path == missing_dir
        ));
    }

    #[test]
    fn trace_needs_a_traced_build() {
        let (mut m, cache) = build(COUNTER, "counter", counter_ports(), false);
        assert!(!m.traceable());
        let err = m.open_trace(cache.path().join("x.vcd")).unwrap_err();
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
