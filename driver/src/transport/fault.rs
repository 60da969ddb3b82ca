//! A transport that damages traffic on purpose: flipped, dropped and inserted
//! bytes in both directions, or a device that goes silent. For tests.

use super::{Transport, TransportError};
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What to do to the bytes, each with a probability per byte.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub flip: f64,
    pub drop: f64,
    pub insert: f64,
    /// After this many bytes from the device, pass nothing more (a device that stops answering).
    pub mute_after: Option<usize>,
}

/// Counts of the damage done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    pub flipped: usize,
    pub dropped: usize,
    pub inserted: usize,
}

pub struct FaultyTransport<T> {
    inner: T,
    faults: Faults,
    rng: rand_chacha::ChaCha8Rng,
    received: usize,
    damage: Damage,
}

impl<T: Transport> FaultyTransport<T> {
    pub fn new(inner: T, faults: Faults, seed: u64) -> Self {
        FaultyTransport {
            inner,
            faults,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            received: 0,
            damage: Damage::default(),
        }
    }

    pub fn damage(&self) -> Damage {
        self.damage
    }

    /// The undamaged transport, giving up the fault injector.
    pub fn into_inner(self) -> T {
        self.inner
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn mangle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 4);
        for &b in bytes {
            if self.rng.gen_bool(self.faults.insert) {
                out.push(self.rng.gen());
                self.damage.inserted += 1;
            }
            if self.rng.gen_bool(self.faults.drop) {
                self.damage.dropped += 1;
                continue;
            }
            if self.rng.gen_bool(self.faults.flip) {
                out.push(b ^ (1 << self.rng.gen_range(0..8)));
                self.damage.flipped += 1;
            } else {
                out.push(b);
            }
        }
        out
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let bytes = self.mangle(bytes);
        self.inner.write(&bytes)
    }

    fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        // Damage must not look like a timeout: read again when every byte
        // that arrived was dropped or muted.
        loop {
            let bytes = self.inner.read(timeout)?;
            if bytes.is_empty() {
                return Ok(bytes);
            }
            let keep = match self.faults.mute_after {
                Some(limit) => limit.saturating_sub(self.received).min(bytes.len()),
                None => bytes.len(),
            };
            self.received += bytes.len();
            let out = self.mangle(&bytes[..keep]);
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }

    fn simulated_seconds(&self) -> Option<f64> {
        self.inner.simulated_seconds()
    }
}
