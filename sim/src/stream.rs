//! What the engine and network drivers share: loading memories through the
//! load port, offering a partial stream, collecting N-word vectors (checking
//! `out_last`), hang detection, and the steady-state rate.

use crate::error::SimError;
use crate::{Model, PortId};
use lutgen_hdl::memory_map::LoadWord;

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
        })
    }
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

    /// Steady-state cycles between consecutive vectors' last outputs (the
    /// whole run's cycles for a single vector).
    pub fn cycles_per_inference(&self) -> f64 {
        match self.last_cycles[..] {
            [] => 0.0,
            [only] => only as f64 + 1.0,
            [first, .., last] => (last - first) as f64 / (self.last_cycles.len() - 1) as f64,
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
        assert_eq!(c.cycles_per_inference(), 4.0);
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
