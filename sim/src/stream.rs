//! What the engine and network drivers share on the output side of a
//! stream: collecting N-word vectors (checking `out_last`), hang detection,
//! and the steady-state rate.

use crate::error::SimError;

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
