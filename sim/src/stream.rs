//! What the engine and network drivers share: loading memories through the
//! load port, streaming vectors in under back-pressure and collecting N-word
//! vectors (checking `out_last`), hang detection, and the steady-state rate.

use crate::error::SimError;
use crate::{Model, PortId};
use lutgen_core::memory_map::LoadWord;
use lutgen_hdl::engine::RESET_CYCLES;
use rand::{Rng, SeedableRng};

/// When the testbench holds back: output stalls and input gaps, at random.
#[derive(Clone, Debug)]
pub struct Backpressure {
    /// Probability that `out_ready` is low in a cycle.
    pub output_stall: f64,
    /// Probability that `in_valid` is low in a cycle while input is pending.
    pub input_gap: f64,
    rng: rand_chacha::ChaCha8Rng,
}

impl Backpressure {
    /// Always ready, never a gap: the setting that measures throughput.
    pub fn none() -> Self {
        Self::new(0.0, 0.0, 0)
    }

    /// Output stalls with probability `output_stall`, no input gaps.
    pub fn random(output_stall: f64, seed: u64) -> Self {
        Self::new(output_stall, 0.0, seed)
    }

    /// Output stalls and input gaps with the given probabilities.
    pub fn new(output_stall: f64, input_gap: f64, seed: u64) -> Self {
        Backpressure {
            output_stall,
            input_gap,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p)
    }
}

/// What [`stream`] collected.
pub(crate) struct Streamed {
    /// N outputs per vector, in order.
    pub outputs: Vec<Vec<i32>>,
    /// Cycles from the first input offered to the last output taken.
    pub cycles: u64,
    /// Steady-state cycles between consecutive vectors' last outputs.
    pub cycles_per_inference: f64,
}

/// Streams `vectors` (`d` elements each) into a top and collects
/// `per_vector` results of `n` outputs for each (one for an engine, one per
/// output pixel for a convolution layer), under `bp`. `watch` sees the model after each cycle's inputs
/// are settled (before the clock edge) and says whether it saw progress.
///
/// Fails, rather than hangs, after `patience` cycles without progress, and
/// fails on a wrong-length vector, a misplaced `out_last` or a raised `fault`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream(
    model: &mut Model,
    p: StreamPorts,
    vectors: &[Vec<i8>],
    d: usize,
    n: usize,
    per_vector: usize,
    patience: u64,
    bp: &mut Backpressure,
    mut watch: impl FnMut(&Model) -> bool,
) -> Result<Streamed, SimError> {
    if let Some(i) = vectors.iter().position(|v| v.len() != d) {
        return Err(SimError::InputLength {
            index: i,
            expected: d,
            got: vectors[i].len(),
        });
    }
    let elements: Vec<u8> = vectors.iter().flatten().map(|&x| x as u8).collect();
    let results = vectors.len() * per_vector;
    let mut collected = VectorCollector::new(n, results);
    let mut watchdog = Watchdog::new(patience);
    let (mut next, mut cycle) = (0usize, 0u64);
    while collected.outputs.len() < results {
        let offer = next < elements.len() && !bp.chance(bp.input_gap);
        let ready = !bp.chance(bp.output_stall);
        model.set(p.in_valid, offer as u64);
        model.set(p.in_data, elements.get(next).copied().unwrap_or(0) as u64);
        model.set(p.out_ready, ready as u64);
        model.eval();
        let mut progress = watch(model);
        if offer && model.get(p.in_ready) == 1 {
            next += 1;
            progress = true;
        }
        if ready && model.get(p.out_valid) == 1 {
            collected.push(
                model.get(p.out_data) as u32 as i32,
                model.get(p.out_last) == 1,
                cycle,
            )?;
            progress = true;
        }
        if model.get(p.fault) == 1 {
            return Err(SimError::Fault { cycle });
        }
        model.tick(p.clock);
        cycle += 1;
        if watchdog.hung(progress, ready) {
            return Err(SimError::Hung {
                cycle,
                accepted: next / d.max(1),
                completed: collected.outputs.len() / per_vector.max(1),
                expected: vectors.len(),
            });
        }
    }
    model.set(p.in_valid, 0);
    Ok(Streamed {
        cycles: cycle,
        cycles_per_inference: collected.cycles_per_inference(per_vector),
        outputs: collected.outputs,
    })
}

/// The clock, load-port and stream ports every top has.
#[derive(Clone, Copy)]
pub(crate) struct StreamPorts {
    pub clock: PortId,
    pub in_data: PortId,
    pub in_valid: PortId,
    pub in_ready: PortId,
    pub out_ready: PortId,
    pub load_enable: PortId,
    pub load_address: PortId,
    pub load_data: PortId,
    pub out_data: PortId,
    pub out_valid: PortId,
    pub out_last: PortId,
    pub fault: PortId,
}

impl StreamPorts {
    /// Finds the ports by name in `model`.
    pub fn of(model: &Model) -> Result<Self, SimError> {
        Ok(StreamPorts {
            clock: model.port("clock")?,
            in_data: model.port("in_data")?,
            in_valid: model.port("in_valid")?,
            in_ready: model.port("in_ready")?,
            out_ready: model.port("out_ready")?,
            load_enable: model.port("load_enable")?,
            load_address: model.port("load_address")?,
            load_data: model.port("load_data")?,
            out_data: model.port("out_data")?,
            out_valid: model.port("out_valid")?,
            out_last: model.port("out_last")?,
            fault: model.port("fault")?,
        })
    }
}

/// Idles the stream and load ports and holds `reset` high for
/// [`RESET_CYCLES`] cycles, then one cycle low: every stage is empty.
pub(crate) fn reset(model: &mut Model, p: StreamPorts, reset: PortId) {
    for port in [p.in_valid, p.out_ready, p.load_enable] {
        model.set(port, 0);
    }
    model.set(reset, 1);
    for _ in 0..RESET_CYCLES {
        model.tick(p.clock);
    }
    model.set(reset, 0);
    model.tick(p.clock);
}

/// Writes `words` through the load port, one per clock.
pub(crate) fn load(model: &mut Model, p: StreamPorts, words: impl IntoIterator<Item = LoadWord>) {
    model.set(p.load_enable, 1);
    for word in words {
        model.set(p.load_address, u64::from(word.address));
        model.set(p.load_data, u64::from(word.data));
        model.tick(p.clock);
    }
    model.set(p.load_enable, 0);
}

/// Offers `vectors` for `cycles` cycles, taking any output, then stops
/// mid-stream, leaving work in flight (for testing a reset).
pub(crate) fn push_partial(model: &mut Model, p: StreamPorts, vectors: &[Vec<i8>], cycles: u64) {
    let elements: Vec<u8> = vectors.iter().flatten().map(|&x| x as u8).collect();
    let mut next = 0;
    for _ in 0..cycles {
        let offer = next < elements.len();
        model.set(p.in_valid, offer as u64);
        model.set(p.in_data, elements.get(next).copied().unwrap_or(0) as u64);
        model.set(p.out_ready, 1);
        model.eval();
        if offer && model.get(p.in_ready) == 1 {
            next += 1;
        }
        model.tick(p.clock);
    }
    model.set(p.in_valid, 0);
}

/// Collects N-word result vectors from an output stream, checking that
/// `out_last` marks exactly the N-th word of each.
pub(crate) struct VectorCollector {
    n: usize,
    current: Vec<i32>,
    /// The finished vectors, in order.
    pub outputs: Vec<Vec<i32>>,
    /// The cycle each vector's last word was taken.
    last_cycles: Vec<u64>,
}

impl VectorCollector {
    pub fn new(n: usize, vectors: usize) -> Self {
        VectorCollector {
            n,
            current: Vec::with_capacity(n),
            outputs: Vec::with_capacity(vectors),
            last_cycles: Vec::with_capacity(vectors),
        }
    }

    /// Takes one output word seen at `cycle` with its `out_last` flag.
    pub fn push(&mut self, word: i32, last: bool, cycle: u64) -> Result<(), SimError> {
        self.current.push(word);
        if last != (self.current.len() == self.n) {
            return Err(SimError::Protocol(format!(
                "out_last was {} on output {} of vector {} (N = {})",
                last as u8,
                self.current.len() - 1,
                self.outputs.len(),
                self.n
            )));
        }
        if last {
            self.outputs.push(std::mem::take(&mut self.current));
            self.last_cycles.push(cycle);
        }
        Ok(())
    }

    /// Steady-state cycles between the last outputs of consecutive groups
    /// of `per_vector` results (one input vector's; the whole run's cycles
    /// for a single vector).
    pub fn cycles_per_inference(&self, per_vector: usize) -> f64 {
        let ends: Vec<u64> = self
            .last_cycles
            .iter()
            .skip(per_vector.max(1) - 1)
            .step_by(per_vector.max(1))
            .copied()
            .collect();
        match ends[..] {
            [] => 0.0,
            [only] => only as f64 + 1.0,
            [first, .., last] => (last - first) as f64 / (ends.len() - 1) as f64,
        }
    }
}

/// Hang detection that works under any back-pressure: counts only cycles in
/// which the output was ready and nothing moved; stalled cycles neither reset
/// nor advance the count.
pub(crate) struct Watchdog {
    idle: u64,
    patience: u64,
}

impl Watchdog {
    pub fn new(patience: u64) -> Self {
        Watchdog { idle: 0, patience }
    }

    /// Records one cycle; true once more than `patience` idle cycles have passed.
    pub fn hung(&mut self, progress: bool, output_ready: bool) -> bool {
        self.idle = match (progress, output_ready) {
            (true, _) => 0,
            (false, true) => self.idle + 1,
            (false, false) => self.idle,
        };
        self.idle > self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_last_must_mark_the_nth_word() {
        let mut c = VectorCollector::new(2, 2);
        c.push(1, false, 0).unwrap();
        c.push(2, true, 1).unwrap();
        assert_eq!(c.outputs, vec![vec![1, 2]]);
        assert!(c.push(3, true, 2).is_err(), "last on the first word");
        let mut c = VectorCollector::new(2, 1);
        c.push(1, false, 0).unwrap();
        assert!(c.push(2, false, 1).is_err(), "no last on the N-th word");
    }

    #[test]
    fn rate_is_the_spacing_of_last_outputs() {
        let mut c = VectorCollector::new(1, 3);
        for cycle in [10, 14, 18] {
            c.push(0, true, cycle).unwrap();
        }
        assert_eq!(c.cycles_per_inference(1), 4.0);
        // Two results per vector (a convolution's output pixels): the
        // vectors end at 14 and 22.
        let mut c = VectorCollector::new(1, 4);
        for cycle in [10, 14, 18, 22] {
            c.push(0, true, cycle).unwrap();
        }
        assert_eq!(c.cycles_per_inference(2), 8.0);
    }

    #[test]
    fn stalls_neither_reset_nor_advance_the_watchdog() {
        let mut w = Watchdog::new(2);
        assert!(!w.hung(false, true));
        assert!(!w.hung(false, false));
        assert!(!w.hung(false, true));
        assert!(w.hung(false, true));
        let mut w = Watchdog::new(1);
        assert!(!w.hung(false, true));
        assert!(!w.hung(true, true));
        assert!(!w.hung(false, true));
    }
}
