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
//! When the device reports `idle` and nothing is on either wire, no state can
//! change until the next byte arrives, so [`DeviceSim::advance`] skips such
//! stretches without simulating them.

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
}

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
        let mut builder = ModelBuilder::new(&verilog, top, specs);
        if let Some(dir) = &options.cache_dir {
            builder = builder.cache_dir(dir);
        }
        let model = builder.build()?;
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
        self.model.tick(self.clock);
        self.cycle += 1;
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
            self.step();
        }
        stop_on_output && !self.to_host.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::protocol::{Command, Decoded, Decoder, Frame, Ident};
    use lutgen_core::EngineConfig;

    fn small() -> DeviceConfig {
        DeviceConfig {
            engine: EngineConfig {
                input_dim: 8,
                codebooks: 4,
                centroids: 4,
                outputs: 4,
                ..EngineConfig::default()
            },
            clock_hz: 12_000_000,
            baud: 1_500_000,
        }
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
                cache_dir: None,
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
}
