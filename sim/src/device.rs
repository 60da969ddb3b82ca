//! The lutgen device (engine + frame layer, optionally + UART) in Verilator,
//! with both directions of the serial wire modeled in clock cycles.
//!
//! Two ways to connect the wire:
//!
//! - [`Link::Bit`] builds the board's top module (`lutgen_device`) and drives
//!   its `rx` pin bit by bit (8N1, `clocks_per_bit` cycles per bit) and
//!   decodes its `tx` pin with a software UART: the whole hardware path.
//! - [`Link::Byte`] builds the frame layer alone (`lutgen_device_core`) and
//!   hands it each byte at the cycle its stop bit would end, and takes each
//!   reply byte when the modeled wire is free, holding the wire for ten bit
//!   times. This shortcut skips only the UART shift registers; the frame layer,
//!   buffer, engine and every cycle of wire time are the same, so throughput
//!   figures match the bit-level path (a test checks it).
//!
//! Cycles in which nothing can happen are skipped, not simulated, and the
//! timing stays exact to the cycle:
//!
//! - When the device reports `idle` and nothing is on either wire, no state can
//!   change until the next byte arrives.
//! - Otherwise the model watches its own state ([`crate::Model::tick_watched`]):
//!   once a cycle has changed no signal of the device (its memories aside, and
//!   the receiver's frame-timeout counter, which counts up), the next cycle with
//!   the same inputs would replay it. (The device writes no memory without
//!   changing a register in the same cycle: a buffer or FIFO write pointer, the
//!   loader's one-cycle write strobe; so a changeless cycle wrote nothing.) That is the case
//!   while the device waits for the next byte on the wire, or for the wire to
//!   take the byte it holds, with the engine finished or stalled. The wait is
//!   skipped up to the next cycle in which the wire changes an input (a byte
//!   arrives, the outgoing wire frees up), the frame-timeout counter is moved on
//!   by the cycles skipped, and the skip always stops short of that counter
//!   reaching the timeout. On the bit-level link the UART's bit-time counters
//!   count down through every bit; they are moved on the same way, and a skip
//!   also stops at each bit edge on the host's wire, each mid-bit sample of the
//!   device's, and short of a counter reaching zero.
//!   [`DeviceSimOptions::every_cycle`] turns skipping off, to check that it
//!   changes nothing (a test does).
//!
//! The cycles that are simulated cost one evaluation of the model each: the
//! device acts on rising clock edges only ([`crate::ModelBuilder::rising_edge_only`]),
//! and on the byte link the cycles between two events on the wire run in one
//! call into the model ([`crate::Model::run`]), which stops at a changeless
//! cycle or when the device offers a byte. `every_cycle` turns both off too:
//! two evaluations a cycle, one call each, as the reference.

use crate::{Model, ModelBuilder, PortId, PortSpec, SimError};
use lutgen_hdl::device::{
    core_verilog, device_verilog, DeviceConfig, DeviceConfigError, CORE_MODULE, CORE_PORTS,
    DEVICE_MODULE, DEVICE_PORTS,
};
use std::collections::VecDeque;
use std::path::PathBuf;

/// Why a simulated device could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeviceSimError {
    /// The device cannot be generated for this engine and link.
    #[error("{0}")]
    Config(#[from] DeviceConfigError),
    /// Building or loading the Verilated model failed.
    #[error("{0}")]
    Sim(#[from] SimError),
}

/// How the simulated wire meets the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// Byte-level shortcut at the frame layer (fast; same timing).
    #[default]
    Byte,
    /// The full top module with its UART, driven bit by bit.
    Bit,
}

/// How to build the simulated device.
#[derive(Clone, Debug, Default)]
pub struct DeviceSimOptions {
    pub link: Link,
    /// Where built models are cached (default: [`crate::default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Simulate every cycle in which the device is not idle, skipping none of the
    /// waits the model proves changeless, one call into the model a cycle and both
    /// clock edges each (slower; the timing is the same: the reference the fast
    /// paths are tested against).
    pub every_cycle: bool,
}

/// The registers that count while the device waits, each with its `d` input: the
/// receiver's frame-timeout counter (up, 32 bits; counter 0 of the model), and on
/// the bit-level link the UART's bit-time counters (down, 16 bits; counters 2, 4).
const TIME_COUNTERS: [&str; 6] = [
    "receiver.silence$q",
    "receiver.silence$d",
    "uart_rx.counter$q",
    "uart_rx.counter$d",
    "uart_tx.counter$q",
    "uart_tx.counter$d",
];
/// Of which the byte-level core has the first two.
const CORE_COUNTERS: usize = 2;

/// A skip ends at least this many cycles before the frame-timeout counter
/// reaches the timeout, and this many before a UART counter reaches zero; the
/// last cycles before are simulated. (A skip must end at least one cycle short:
/// what the logic derives from a counter is only recomputed at the next edge.)
const TIMEOUT_MARGIN: u64 = 16;
const UART_MARGIN: u64 = 2;

enum Pins {
    Byte {
        rx_valid: PortId,
        rx_data: PortId,
        tx_valid: PortId,
        tx_data: PortId,
        tx_ready: PortId,
    },
    Bit {
        rx: PortId,
        tx: PortId,
    },
}

/// Wire traffic counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Bytes delivered to the device.
    pub bytes_to_device: u64,
    /// Bytes delivered to the host.
    pub bytes_to_host: u64,
    /// Cycles the host-to-device wire was carrying a byte.
    pub busy_cycles_to_device: u64,
    /// Cycles the device-to-host wire was carrying a byte.
    pub busy_cycles_to_host: u64,
}

/// A simulated lutgen device with its serial wire.
pub struct DeviceSim {
    device: DeviceConfig,
    model: Model,
    clock: PortId,
    idle: PortId,
    pins: Pins,
    cycle: u64,
    clocks_per_bit: u64,
    byte_cycles: u64,
    /// Bytes written by the host, not yet on the wire.
    to_device: VecDeque<u8>,
    /// The byte on the host-to-device wire and the cycle it started.
    rx_current: Option<(u8, u64)>,
    /// Bytes that reached the host.
    to_host: VecDeque<u8>,
    /// Byte-level: the byte on the device-to-host wire and the cycle it arrives.
    tx_current: Option<(u8, u64)>,
    /// Bit-level: the start cycle of the byte the software UART is receiving.
    tx_start: Option<u64>,
    tx_shift: u8,
    stats: WireStats,
    /// Skip the waits the model proves changeless.
    skip_waits: bool,
    frame_timeout: u64,
    skipped: u64,
    simulated: u64,
}

impl DeviceSim {
    /// Generates, builds (or loads from the cache) and powers up the device.
    pub fn new(device: &DeviceConfig, options: &DeviceSimOptions) -> Result<Self, DeviceSimError> {
        let (verilog, top, ports) = match options.link {
            Link::Byte => (core_verilog(device), CORE_MODULE, &CORE_PORTS[..]),
            Link::Bit => (device_verilog(device), DEVICE_MODULE, &DEVICE_PORTS[..]),
        };
        let verilog = verilog?;
        let specs = ports
            .iter()
            .map(|&(name, width, input)| {
                if input {
                    PortSpec::input(name, width)
                } else {
                    PortSpec::output(name, width)
                }
            })
            .collect();
        let counters = match options.link {
            Link::Byte => &TIME_COUNTERS[..CORE_COUNTERS],
            Link::Bit => &TIME_COUNTERS[..],
        };
        // rust-hdl's Verilog acts on rising edges only.
        let mut builder = ModelBuilder::new(&verilog, top, specs)
            .watch_state(counters)
            .rising_edge_only(true);
        if let Some(dir) = &options.cache_dir {
            builder = builder.cache_dir(dir);
        }
        let mut model = builder.build()?;
        // The reference: every cycle evaluated as the clock falls and rises.
        model.set_rising_edge_only(!options.every_cycle);
        let pins = match options.link {
            Link::Byte => Pins::Byte {
                rx_valid: model.port("rx_valid")?,
                rx_data: model.port("rx_data")?,
                tx_valid: model.port("tx_valid")?,
                tx_data: model.port("tx_data")?,
                tx_ready: model.port("tx_ready")?,
            },
            Link::Bit => Pins::Bit {
                rx: model.port("rx")?,
                tx: model.port("tx")?,
            },
        };
        let clocks_per_bit = u64::from(device.clocks_per_bit());
        let mut sim = DeviceSim {
            device: device.clone(),
            clock: model.port("clock")?,
            idle: model.port("idle")?,
            model,
            pins,
            cycle: 0,
            clocks_per_bit,
            byte_cycles: 10 * clocks_per_bit,
            to_device: VecDeque::new(),
            rx_current: None,
            to_host: VecDeque::new(),
            tx_current: None,
            tx_start: None,
            tx_shift: 0,
            stats: WireStats::default(),
            skip_waits: !options.every_cycle,
            frame_timeout: u64::from(device.frame_timeout_cycles()),
            skipped: 0,
            simulated: 0,
        };
        if let Pins::Bit { rx, .. } = sim.pins {
            sim.model.set(rx, 1);
        }
        // Power-on reset.
        while !sim.device_idle() && sim.cycle < 4096 {
            sim.step();
        }
        Ok(sim)
    }

    /// How the device was built.
    pub fn device(&self) -> &DeviceConfig {
        &self.device
    }

    /// True when the model came from the cache rather than a fresh Verilator build.
    pub fn was_cached(&self) -> bool {
        self.model.was_cached()
    }

    /// Clock cycles since power-up (including skipped idle stretches).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Simulated seconds since power-up.
    pub fn seconds(&self) -> f64 {
        self.cycle as f64 / f64::from(self.device.clock_hz)
    }

    /// Cycles one byte takes on the wire (ten bit times).
    pub fn byte_cycles(&self) -> u64 {
        self.byte_cycles
    }

    pub fn stats(&self) -> WireStats {
        self.stats
    }

    /// Cycles skipped as changeless waits (not counting idle stretches).
    pub fn skipped_cycles(&self) -> u64 {
        self.skipped
    }

    /// Cycles simulated (the rest of [`DeviceSim::cycle`] were skipped: changeless
    /// waits, [`DeviceSim::skipped_cycles`], and idle stretches).
    pub fn simulated_cycles(&self) -> u64 {
        self.simulated
    }

    /// Queues bytes on the host-to-device wire; they arrive one per byte time.
    pub fn send(&mut self, bytes: &[u8]) {
        self.to_device.extend(bytes);
    }

    /// Bytes that have reached the host since the last call.
    pub fn receive(&mut self) -> Vec<u8> {
        self.to_host.drain(..).collect()
    }

    /// Bytes waiting for the host.
    pub fn received_len(&self) -> usize {
        self.to_host.len()
    }

    /// Bytes written by the host that have not reached the device yet.
    pub fn unsent_len(&self) -> usize {
        self.to_device.len() + usize::from(self.rx_current.is_some())
    }

    /// Drops the bytes the host queued that have not started on the wire.
    pub fn discard_unsent(&mut self) {
        self.to_device.clear();
    }

    fn device_idle(&self) -> bool {
        self.model.get(self.idle) == 1
    }

    /// Nothing on either wire and nothing to do: time can pass without simulating it.
    pub fn quiet(&self) -> bool {
        self.to_device.is_empty()
            && self.rx_current.is_none()
            && self.tx_current.is_none()
            && self.tx_start.is_none()
            && self.device_idle()
    }

    /// One clock cycle.
    pub fn step(&mut self) {
        let now = self.cycle;
        if self.rx_current.is_none() {
            if let Some(b) = self.to_device.pop_front() {
                self.rx_current = Some((b, now));
            }
        }
        if self.rx_current.is_some() {
            self.stats.busy_cycles_to_device += 1;
        }
        if self.tx_current.is_some() || self.tx_start.is_some() {
            self.stats.busy_cycles_to_host += 1;
        }
        match self.pins {
            Pins::Byte {
                rx_valid,
                rx_data,
                tx_valid,
                tx_data,
                tx_ready,
            } => {
                // The byte reaches the frame layer when its stop bit ends.
                let mut deliver = false;
                if let Some((b, start)) = self.rx_current {
                    if now + 1 >= start + self.byte_cycles {
                        self.model.set(rx_data, u64::from(b));
                        deliver = true;
                        self.rx_current = None;
                        self.stats.bytes_to_device += 1;
                    }
                }
                self.model.set(rx_valid, u64::from(deliver));
                if let Some((b, arrive)) = self.tx_current {
                    if now >= arrive {
                        self.to_host.push_back(b);
                        self.stats.bytes_to_host += 1;
                        self.tx_current = None;
                    }
                }
                let ready = self.tx_current.is_none();
                self.model.set(tx_ready, u64::from(ready));
                if ready && self.model.get(tx_valid) == 1 {
                    let b = self.model.get(tx_data) as u8;
                    self.tx_current = Some((b, now + self.byte_cycles));
                }
            }
            Pins::Bit { rx, tx } => {
                let level = match self.rx_current {
                    Some((b, start)) => {
                        let bit = (now - start) / self.clocks_per_bit;
                        if now + 1 >= start + self.byte_cycles {
                            self.rx_current = None;
                            self.stats.bytes_to_device += 1;
                        }
                        match bit {
                            0 => 0,
                            1..=8 => (b >> (bit - 1)) & 1,
                            _ => 1,
                        }
                    }
                    None => 1,
                };
                self.model.set(rx, u64::from(level));
                let line = self.model.get(tx);
                match self.tx_start {
                    None if line == 0 => self.tx_start = Some(now),
                    None => {}
                    Some(start) => {
                        let offset = now - start;
                        let half = self.clocks_per_bit / 2;
                        if offset >= half && (offset - half).is_multiple_of(self.clocks_per_bit) {
                            let bit = (offset - half) / self.clocks_per_bit;
                            match bit {
                                0 if line != 0 => self.tx_start = None, // glitch
                                1..=8 => self.tx_shift = (self.tx_shift >> 1) | ((line as u8) << 7),
                                9 => {
                                    if line == 1 {
                                        self.to_host.push_back(self.tx_shift);
                                        self.stats.bytes_to_host += 1;
                                    }
                                    self.tx_start = None;
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        if self.skip_waits {
            self.model.tick_watched(self.clock);
        } else {
            self.model.tick(self.clock);
        }
        self.cycle += 1;
        self.simulated += 1;
    }

    /// The first cycle from now whose [`DeviceSim::step`] would do more than tick
    /// the model with the inputs it has: a byte starts or ends on a wire, the
    /// device offers a byte to a free wire, or (bit level) a bit starts on the
    /// host's wire or the software UART samples the device's. Also never past the
    /// cycle in which a counter could reach the value that matters to it.
    fn next_event(&self) -> u64 {
        let now = self.cycle;
        let mut next = u64::MAX;
        match self.rx_current {
            Some((_, start)) => next = next.min(start + self.byte_cycles - 1),
            None if !self.to_device.is_empty() => return now,
            None => {}
        }
        match self.pins {
            Pins::Byte { tx_valid, .. } => match self.tx_current {
                Some((_, arrive)) => next = next.min(arrive),
                None if self.model.get(tx_valid) == 1 => return now,
                None => {}
            },
            Pins::Bit { tx, .. } => {
                let bit = self.clocks_per_bit;
                if let Some((_, start)) = self.rx_current {
                    // The next bit on the host's wire.
                    next = next.min(start + ((now - start) / bit + 1) * bit);
                }
                match self.tx_start {
                    // The software UART's next sample, mid-bit.
                    Some(start) => {
                        let first = start + bit / 2;
                        next = next.min(if now <= first {
                            first
                        } else {
                            first + (now - first).div_ceil(bit) * bit
                        });
                    }
                    None if self.model.get(tx) == 0 => return now,
                    None => {}
                }
            }
        }
        // A skip writes only the counters; what the logic derives from them is
        // recomputed at the next clock edge, so the skip must end where that is
        // still what it was in the cycles skipped: well short of the value at
        // which a counter matters. The frame timeout fires in the cycle that sees
        // the (32-bit) counter equal to it.
        let (silence, delta) = self.model.counter(0);
        let timeout = self.frame_timeout;
        let mut room = match delta {
            0 => u64::MAX,
            1 if silence < timeout => (timeout - silence).saturating_sub(TIMEOUT_MARGIN),
            // Past it (no frame in progress): the next equality is after the wrap.
            1 => ((1u64 << 32) - silence + timeout).saturating_sub(TIMEOUT_MARGIN),
            _ => 0,
        };
        if let Pins::Bit { .. } = self.pins {
            // The UART's bit-time counters act when they reach zero.
            for counter in [2, 4] {
                let (value, delta) = self.model.counter(counter);
                room = room.min(match delta {
                    0 => u64::MAX,
                    0xFFFF => value.saturating_sub(UART_MARGIN),
                    _ => 0,
                });
            }
        }
        next.min(now.saturating_add(room))
    }

    /// Lets the changeless cycles up to the next event (or `until`) pass unsimulated.
    /// Returns false if there were none to skip.
    fn skip_wait(&mut self, until: u64) -> bool {
        if !self.skip_waits || self.model.steady() < 1 {
            return false;
        }
        let to = self.next_event().min(until);
        if to <= self.cycle {
            return false;
        }
        let cycles = to - self.cycle;
        self.model.skip(cycles);
        if self.rx_current.is_some() {
            self.stats.busy_cycles_to_device += cycles;
        }
        if self.tx_current.is_some() || self.tx_start.is_some() {
            self.stats.busy_cycles_to_host += cycles;
        }
        self.cycle = to;
        self.skipped += cycles;
        true
    }

    /// Byte link: runs the cycles before the next event (or `until`) in one call into
    /// the model, as [`DeviceSim::step`] would one by one: in them the wire changes no
    /// input (no byte is delivered, the outgoing wire neither frees up nor takes a
    /// byte). Stops early after a changeless cycle (to skip the rest) or when the device
    /// offers a byte to the free outgoing wire (to take it). Returns false if there is
    /// no such cycle, or on the bit-level link (its inputs follow every bit).
    fn run_until_event(&mut self, until: u64) -> bool {
        let Pins::Byte {
            rx_valid,
            tx_ready,
            tx_valid,
            ..
        } = self.pins
        else {
            return false;
        };
        if !self.skip_waits {
            return false;
        }
        let to = self.next_event().min(until);
        if to <= self.cycle + 1 {
            return false;
        }
        // The inputs `step` would set in each of these cycles.
        let ready = self.tx_current.is_none();
        self.model.set(rx_valid, 0);
        self.model.set(tx_ready, u64::from(ready));
        let stop = ready.then_some(tx_valid);
        let cycles = self.model.run(self.clock, to - self.cycle, true, stop);
        if self.rx_current.is_some() {
            self.stats.busy_cycles_to_device += cycles;
        }
        if !ready {
            self.stats.busy_cycles_to_host += cycles;
        }
        self.cycle += cycles;
        self.simulated += cycles;
        true
    }

    /// Runs until `until` cycles have passed or (when `stop_on_output`) a byte
    /// reaches the host, skipping quiet stretches. Returns true if it stopped on output.
    pub fn advance(&mut self, until: u64, stop_on_output: bool) -> bool {
        while self.cycle < until {
            if stop_on_output && !self.to_host.is_empty() {
                return true;
            }
            if self.quiet() {
                self.cycle = until;
                break;
            }
            if self.skip_wait(until) || self.run_until_event(until) {
                continue;
            }
            self.step();
        }
        stop_on_output && !self.to_host.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::ident::Ident;
    use lutgen_core::protocol::{self, Command, Decoded, Decoder, Frame};
    use lutgen_core::{EngineConfig, Image};

    fn small() -> DeviceConfig {
        DeviceConfig::engine(
            EngineConfig {
                input_dim: 8,
                codebooks: 4,
                centroids: 4,
                outputs: 4,
                ..EngineConfig::default()
            },
            12_000_000,
            1_500_000,
        )
    }

    fn exchange(sim: &mut DeviceSim, frames: &[Frame], replies: usize) -> Vec<Decoded> {
        for f in frames {
            sim.send(&f.encode());
        }
        let mut decoder = Decoder::new(65535);
        let mut out = Vec::new();
        let deadline = sim.cycle() + 2_000_000;
        while out.len() < replies && sim.cycle() < deadline {
            sim.advance(deadline, true);
            decoder.push(&sim.receive());
            while let Some(d) = decoder.next_frame() {
                out.push(d);
            }
        }
        out
    }

    /// The bit-level UART path: identify and status through the top module's pins.
    #[test]
    fn bit_level_identify_and_status() {
        let device = small();
        let mut sim = DeviceSim::new(
            &device,
            &DeviceSimOptions {
                link: Link::Bit,
                ..Default::default()
            },
        )
        .unwrap();
        let got = exchange(
            &mut sim,
            &[
                Frame::new(Command::Identify.code(), 3, vec![]),
                Frame::new(Command::Status.code(), 4, vec![]),
            ],
            2,
        );
        let Decoded::Frame(ident) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!((ident.code, ident.seq), (0x81, 3));
        assert_eq!(Ident::from_bytes(&ident.payload).unwrap(), device.ident());
        let Decoded::Frame(status) = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!((status.code, status.seq), (0x82, 4));
        // Two frames received when the status reply was built (identify, status).
        assert_eq!(status.payload[..4], 2u32.to_le_bytes());
    }

    /// Every byte that reached the host, with the cycle at which `advance` saw it.
    fn timeline(sim: &mut DeviceSim, traffic: &[Vec<u8>], gap: u64) -> Vec<(u64, u8)> {
        let mut seen = Vec::new();
        for bytes in traffic {
            sim.send(bytes);
            let until = sim.cycle() + gap;
            while sim.cycle() < until {
                sim.advance(until, true);
                let at = sim.cycle();
                seen.extend(sim.receive().into_iter().map(|b| (at, b)));
            }
        }
        seen
    }

    /// Load, a few data frames (one with a bad CRC), a burst, status, and a frame
    /// that stops arriving (the device drops it after its timeout): with and without
    /// skipping, every byte reaches the host in the same cycle and the wires' counts
    /// agree; the skipping run skipped most of its cycles.
    fn skipping_keeps_every_cycle(link: Link, baud: u32) {
        let device = DeviceConfig { baud, ..small() };
        let image = Image::random(device.first().clone(), 5).unwrap().to_bytes();
        let mut seq = 0u8;
        let mut frame = |code: Command, payload: Vec<u8>| {
            seq = seq.wrapping_add(1);
            Frame::new(code.code(), seq, payload).encode()
        };
        let mut traffic = vec![frame(Command::Identify, vec![])];
        for (i, chunk) in image.chunks(200).enumerate() {
            traffic.push(frame(
                Command::Load,
                protocol::load_payload((i * 200) as u32, chunk),
            ));
        }
        let vectors: Vec<u8> = (0..6 * 8).map(|i| (i * 37 % 251) as u8).collect();
        traffic.push(frame(Command::Data, vectors[..16].to_vec()));
        let mut damaged = frame(Command::Data, vectors[16..24].to_vec());
        damaged[8] ^= 0x10;
        traffic.push(damaged);
        // Back to back: replies overlap the next frames on the wire.
        traffic.push(
            [
                frame(Command::Data, vectors[..24].to_vec()),
                frame(Command::Status, vec![]),
                frame(Command::Data, vectors[24..].to_vec()),
            ]
            .concat(),
        );
        // Header and half the payload: the rest never comes.
        traffic.push(frame(Command::Data, vectors[..16].to_vec())[..14].to_vec());
        traffic.push(frame(Command::Status, vec![]));
        // Long enough for the frame timeout (600,000 cycles) to pass after each.
        let gap = 700_000 + 200 * device.clocks_per_bit() as u64 * 10;

        let run = |every_cycle: bool| {
            let options = DeviceSimOptions {
                link,
                every_cycle,
                ..Default::default()
            };
            let mut sim = DeviceSim::new(&device, &options).unwrap();
            let seen = timeline(&mut sim, &traffic, gap);
            let counts = (sim.skipped_cycles(), sim.simulated_cycles());
            (seen, sim.stats(), sim.cycle(), counts)
        };
        let (exact, exact_stats, exact_cycles, (none, all)) = run(true);
        let (skipped, skipped_stats, skipped_cycles, (skips, simulated)) = run(false);
        assert_eq!(none, 0);
        eprintln!(
            "{link:?}, {baud} baud: {exact_cycles} cycles; simulated {all} of them, \
             or {simulated} skipping {skips}"
        );
        // The replies: identify, loads, data, a bad-CRC error, data, status, data,
        // the timeout error and the final status.
        let mut decoder = Decoder::new(65535);
        decoder.push(&exact.iter().map(|&(_, b)| b).collect::<Vec<u8>>());
        let mut codes = Vec::new();
        while let Some(Decoded::Frame(f)) = decoder.next_frame() {
            codes.push((f.code, f.payload.first().copied()));
        }
        let loads = image.len().div_ceil(200);
        assert_eq!(codes.len(), 8 + loads, "{codes:?}");
        assert_eq!(codes[loads + 2], (0xFF, Some(1)), "bad CRC: {codes:?}");
        assert_eq!(codes[loads + 6], (0xFF, Some(6)), "timeout: {codes:?}");
        assert_eq!(exact.len(), skipped.len());
        for (i, (a, b)) in exact.iter().zip(&skipped).enumerate() {
            assert_eq!(
                a, b,
                "byte {i} to the host: (cycle, value) every cycle vs skipping"
            );
        }
        assert_eq!(exact_stats, skipped_stats);
        assert_eq!(exact_cycles, skipped_cycles);
        // The frame timeout's wait is skipped on both links; so are most cycles of
        // wire time on the byte link, and of long bits on the bit-level link.
        assert!(skips > 590_000, "{link:?}: skipped {skips}");
        if link == Link::Byte || device.clocks_per_bit() > 50 {
            assert!(simulated * 4 < all, "simulated {simulated} of {all}");
        }
    }

    #[test]
    fn skipping_keeps_every_cycle_byte_link() {
        skipping_keeps_every_cycle(Link::Byte, 1_500_000);
    }

    #[test]
    fn skipping_keeps_every_cycle_bit_link() {
        skipping_keeps_every_cycle(Link::Bit, 1_500_000);
    }

    /// 104 cycles a bit: skips inside the bits.
    #[test]
    fn skipping_keeps_every_cycle_bit_link_115200() {
        skipping_keeps_every_cycle(Link::Bit, 115_200);
    }
}
