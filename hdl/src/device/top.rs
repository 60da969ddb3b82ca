//! [`Device`]: the board's top module, an 8N1 UART in front of the
//! [`DeviceCore`].

use super::config::DeviceConfig;
use super::frame_layer::DeviceCore;
use crate::uart::{UartRx, UartTx};
use rust_hdl::prelude::*;

/// The board's top module: UART receiver and transmitter around a [`DeviceCore`].
#[derive(LogicBlock)]
pub struct Device {
    pub clock: Signal<In, Clock>,
    /// Serial input (from the host's TX).
    pub rx: Signal<In, Bit>,
    /// Serial output (to the host's RX).
    pub tx: Signal<Out, Bit>,
    /// High while the device has nothing to do (an LED, or a simulator's hint).
    pub idle: Signal<Out, Bit>,
    uart_rx: UartRx,
    uart_tx: UartTx,
    core: DeviceCore,
}

impl Device {
    pub fn new(device: &DeviceConfig) -> Self {
        Device {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            idle: Default::default(),
            uart_rx: UartRx::new(device.clocks_per_bit()),
            uart_tx: UartTx::new(device.clocks_per_bit()),
            core: DeviceCore::new(device),
        }
    }
}

impl Logic for Device {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, uart_rx, uart_tx, core);
        self.uart_rx.rx.next = self.rx.val();
        self.core.rx_valid.next = self.uart_rx.valid.val();
        self.core.rx_data.next = self.uart_rx.data.val();
        self.uart_tx.start.next = self.core.tx_valid.val();
        self.uart_tx.data.next = self.core.tx_data.val();
        self.core.tx_ready.next = !self.uart_tx.busy.val();
        self.tx.next = self.uart_tx.tx.val();
        self.idle.next = self.core.idle.val() & !self.uart_tx.busy.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        let device = crate::device::config::example();
        crate::lint::assert_block_is_clean("device", &mut Device::new(&device));
    }

    /// The sequential device: the network example's layers run in turn on one engine.
    #[test]
    fn sequential_device_verilog_is_lint_clean() {
        let mut layers = crate::device::config::network_example().layers().to_vec();
        layers[0].lanes = 1;
        let device = DeviceConfig::sequential(layers, 12_000_000, 115_200);
        device.validate().unwrap();
        crate::lint::assert_block_is_clean("sequential_device", &mut Device::new(&device));
    }
}
