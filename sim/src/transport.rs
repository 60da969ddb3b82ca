//! The Verilated device in this process, as a [`lutgen_driver::Transport`]. Time is simulated: a read's timeout
//! is measured in device clock cycles, so results never depend on how fast
//! the host machine is.

use crate::device::{DeviceSim, DeviceSimOptions};
use lutgen_driver::{Transport, TransportError};
use lutgen_hdl::device::DeviceConfig;
use std::time::Duration;

pub struct SimTransport {
    name: String,
    sim: DeviceSim,
}

impl SimTransport {
    /// Builds (or loads from the cache) the device and powers it up.
    pub fn new(device: &DeviceConfig, options: &DeviceSimOptions) -> Result<Self, TransportError> {
        let sim =
            DeviceSim::new(device, options).map_err(|e| TransportError::Sim(e.to_string()))?;
        Ok(SimTransport {
            name: format!("simulated device ({} baud)", device.baud),
            sim,
        })
    }

    pub fn sim(&self) -> &DeviceSim {
        &self.sim
    }

    pub fn sim_mut(&mut self) -> &mut DeviceSim {
        &mut self.sim
    }
}

impl Transport for SimTransport {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.sim.send(bytes);
        Ok(())
    }

    fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        let cycles = (timeout.as_secs_f64() * f64::from(self.sim.device().clock_hz)) as u64;
        let until = self.sim.cycle() + cycles.max(1);
        self.sim.advance(until, true);
        Ok(self.sim.receive())
    }

    fn simulated_seconds(&self) -> Option<f64> {
        Some(self.sim.seconds())
    }
}
