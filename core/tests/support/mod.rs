//! What every fuzz target shares: the mutations, an allocation meter and
//! the runner. Included by `core/tests/fuzz.rs` and (by path)
//! `compile/tests/fuzz_npy.rs`; `docs/fuzzing.md` says how to run them.
//!
//! A target takes valid encoded inputs, made from random valid values, and
//! applies a few [`Mutation`]s (flip, set, truncate, extend, insert, remove,
//! splice, or a length field set to an extreme), optionally recomputing the
//! format's CRCs afterwards so the checks behind them are reached.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Cases per target: `LUTGEN_FUZZ_CASES`, default 100,000 (the suite's run).
pub fn cases() -> u32 {
    std::env::var("LUTGEN_FUZZ_CASES")
        .ok()
        .map(|v| v.parse().expect("LUTGEN_FUZZ_CASES is a number of cases"))
        .unwrap_or(100_000)
}

/// The runner's seed: `LUTGEN_FUZZ_SEED`, default 0, so the suite is
/// reproducible; a long run picks its own. Each target mixes in its name.
fn seed(target: &str) -> [u8; 32] {
    let base: u64 = std::env::var("LUTGEN_FUZZ_SEED")
        .ok()
        .map(|v| v.parse().expect("LUTGEN_FUZZ_SEED is a u64"))
        .unwrap_or(0);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&base.to_le_bytes());
    for (i, b) in target.bytes().enumerate() {
        seed[8 + i % 24] ^= b;
    }
    seed
}

/// What a case ended in, for the summary a target prints (which checks the
/// inputs reached): "accepted" or the error's variant name.
pub fn outcome<T, E: std::fmt::Debug>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(e) => {
            let debug = format!("{e:?}");
            let end = debug
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(debug.len());
            debug[..end].to_string()
        }
    }
}

/// Runs `test` on `cases()` values of `strategy` (overflow checks are on:
/// see the workspace Cargo.toml), panicking with the smallest failing input
/// proptest finds. Prints the cases, the time and how many cases ended in
/// each outcome (`cargo test ... -- --nocapture` shows it).
pub fn run<S: Strategy>(
    target: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<String, TestCaseError>,
) {
    let cases = cases();
    let config = Config {
        cases,
        failure_persistence: None,
        // Mutated inputs are small: shrinking a failure takes little time.
        max_shrink_iters: 100_000,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed(target));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let outcomes = Mutex::new(BTreeMap::<String, u64>::new());
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        let outcome = test(value)?;
        *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
        Ok(())
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = result {
        panic!("fuzz target {target}: {e}");
    }
    let outcomes = outcomes.into_inner().unwrap();
    let summary: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "fuzz target {target}: {cases} cases in {seconds:.1} s; {}",
        summary.join(", ")
    );
}

/// A global allocator that counts, per thread, the bytes live and their
/// high-water mark, so a target can bound what one call allocates.
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grow(by: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(by);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(by: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(by)));
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Count the old and the new block both live, as during a copy.
            grow(new_size);
            shrink(layout.size());
        }
        p
    }
}

/// Runs `f` and returns its result and the most bytes it had allocated at
/// once, beyond what was live before (on this thread).
pub fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let value = f();
    let peak = PEAK.with(Cell::get);
    (value, peak.saturating_sub(before))
}

/// One edit of an encoded input. Positions are [`Index`]es, taken modulo
/// the length at the time of the edit.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// XOR one byte with a mask.
    Flip { at: Index, mask: u8 },
    /// Set one byte.
    Set { at: Index, value: u8 },
    /// Set one of the format's length or count fields (offset, width in
    /// bytes) to a value, mostly an extreme one.
    Field { field: Index, value: u32 },
    /// Cut the input short.
    Truncate { to: Index },
    /// Append bytes.
    Extend { bytes: Vec<u8> },
    /// Insert bytes.
    Insert { at: Index, bytes: Vec<u8> },
    /// Remove up to `len` bytes.
    Remove { at: Index, len: usize },
    /// Copy up to `len` bytes from one place over another (within the input).
    Splice { from: Index, to: Index, len: usize },
}

/// Values a length field is set to: the extremes around every width, and
/// small numbers.
pub fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(2),
        Just(u32::from(u8::MAX)),
        Just(u32::from(u16::MAX)),
        Just(1 << 16),
        Just(1 << 31),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        0..64u32,
        any::<u32>(),
    ]
}

/// Bytes, with the values formats treat specially (sync bytes, 0, 0xFF) often.
pub fn fuzz_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        1 => Just(0u8),
        1 => Just(0xFFu8),
        1 => Just(0xA5u8),
        1 => Just(0x5Au8),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = || proptest::collection::vec(fuzz_byte(), 1..16);
    prop_oneof![
        4 => (any::<Index>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<Index>(), fuzz_byte()).prop_map(|(at, value)| Mutation::Set { at, value }),
        3 => (any::<Index>(), extreme_u32()).prop_map(|(field, value)| Mutation::Field { field, value }),
        1 => any::<Index>().prop_map(|to| Mutation::Truncate { to }),
        1 => bytes().prop_map(|bytes| Mutation::Extend { bytes }),
        1 => (any::<Index>(), bytes()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<Index>(), 1..16usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<Index>(), any::<Index>(), 1..64usize)
            .prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
    ]
}

/// Zero to four mutations: a share of the cases are the valid input itself.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 0..=4)
}

/// Applies `m` to `bytes`; `fields` lists the format's length and count
/// fields as (offset, width in bytes), little-endian.
pub fn apply(bytes: &mut Vec<u8>, m: &Mutation, fields: &[(usize, usize)]) {
    let len = bytes.len();
    match m {
        Mutation::Flip { at, mask } if len > 0 => bytes[at.index(len)] ^= mask,
        Mutation::Set { at, value } if len > 0 => bytes[at.index(len)] = *value,
        Mutation::Field { field, value } if !fields.is_empty() => {
            let (offset, width) = fields[field.index(fields.len())];
            let le = value.to_le_bytes();
            for (i, &b) in le.iter().take(width).enumerate() {
                if let Some(slot) = bytes.get_mut(offset + i) {
                    *slot = b;
                }
            }
        }
        Mutation::Truncate { to } => bytes.truncate(to.index(len + 1)),
        Mutation::Extend { bytes: more } => bytes.extend_from_slice(more),
        Mutation::Insert { at, bytes: more } => {
            let at = at.index(len + 1);
            bytes.splice(at..at, more.iter().copied());
        }
        Mutation::Remove { at, len: n } if len > 0 => {
            let at = at.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Splice { from, to, len: n } if len > 0 => {
            let (from, to) = (from.index(len), to.index(len));
            let n = (*n).min(len - from).min(len - to);
            bytes.copy_within(from..from + n, to);
        }
        _ => {}
    }
}

/// Writes the CRC-32 of `bytes[range]` little-endian at `at`, if both fit.
pub fn put_crc(bytes: &mut [u8], range: std::ops::Range<usize>, at: usize) {
    if range.end <= bytes.len() && at + 4 <= bytes.len() {
        let crc = lutgen_core::protocol::crc32(&bytes[range]);
        bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    }
}
