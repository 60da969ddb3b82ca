//! [`DeviceLayers`]: what a device runs, in the schedule it was generated
//! for: the dataflow [`NetworkTop`] (one engine per layer; one layer for an
//! engine device) or the [`SequentialTop`] (one engine, the layers in turn).
//! Both have the same ports, load port and trace port, so the frame layer
//! drives either the same way. rust-hdl has no optional child: the block
//! holds each kind in a vector of zero or one and wires the one present in
//! a loop over its length (the other loop generates nothing).

use super::config::{DeviceConfig, DeviceKind};
use crate::network::NetworkTop;
use crate::sequential::SequentialTop;
use lutgen_core::sequential::SequentialPlan;
use rust_hdl::prelude::*;

/// The device's layers behind the network top's ports (see the module doc).
#[derive(LogicBlock)]
pub struct DeviceLayers {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<32>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    pub out_last: Signal<Out, Bit>,
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    pub fault: Signal<Out, Bit>,
    pub trace_select: Signal<In, Bits<4>>,
    pub trace_data: Signal<Out, Bits<8>>,
    pub trace_valid: Signal<Out, Bit>,
    dataflow: Vec<NetworkTop>,
    sequential: Vec<SequentialTop>,
    _dataflow: usize,
    _sequential: usize,
}

impl DeviceLayers {
    /// The layers of `device` (validated first by the caller).
    pub fn new(device: &DeviceConfig) -> Self {
        let (dataflow, sequential) = match &device.kind {
            DeviceKind::Sequential(layers) => (
                vec![],
                vec![SequentialTop::new(
                    &SequentialPlan::new(layers)
                        .expect("DeviceConfig::validate checks the sequential plan"),
                )],
            ),
            DeviceKind::Network(layers, spatial) => {
                (vec![NetworkTop::with_spatial(layers, spatial)], vec![])
            }
            DeviceKind::Engine(_) => (vec![NetworkTop::new(device.layers())], vec![]),
        };
        DeviceLayers {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            fault: Default::default(),
            trace_select: Default::default(),
            trace_data: Default::default(),
            trace_valid: Default::default(),
            _dataflow: dataflow.len(),
            _sequential: sequential.len(),
            dataflow,
            sequential,
        }
    }
}

impl Logic for DeviceLayers {
    #[hdl_gen]
    fn update(&mut self) {
        self.in_ready.next = false;
        self.out_data.next = 0.into();
        self.out_valid.next = false;
        self.out_last.next = false;
        self.fault.next = false;
        self.trace_data.next = 0.into();
        self.trace_valid.next = false;
        for i in 0..self._dataflow {
            self.dataflow[i].clock.next = self.clock.val();
            self.dataflow[i].reset.next = self.reset.val();
            self.dataflow[i].in_data.next = self.in_data.val();
            self.dataflow[i].in_valid.next = self.in_valid.val();
            self.dataflow[i].out_ready.next = self.out_ready.val();
            self.dataflow[i].load_enable.next = self.load_enable.val();
            self.dataflow[i].load_address.next = self.load_address.val();
            self.dataflow[i].load_data.next = self.load_data.val();
            self.dataflow[i].trace_select.next = self.trace_select.val();
            self.in_ready.next = self.dataflow[i].in_ready.val();
            self.out_data.next = self.dataflow[i].out_data.val();
            self.out_valid.next = self.dataflow[i].out_valid.val();
            self.out_last.next = self.dataflow[i].out_last.val();
            self.fault.next = self.dataflow[i].fault.val();
            self.trace_data.next = self.dataflow[i].trace_data.val();
            self.trace_valid.next = self.dataflow[i].trace_valid.val();
        }
        for i in 0..self._sequential {
            self.sequential[i].clock.next = self.clock.val();
            self.sequential[i].reset.next = self.reset.val();
            self.sequential[i].in_data.next = self.in_data.val();
            self.sequential[i].in_valid.next = self.in_valid.val();
            self.sequential[i].out_ready.next = self.out_ready.val();
            self.sequential[i].load_enable.next = self.load_enable.val();
            self.sequential[i].load_address.next = self.load_address.val();
            self.sequential[i].load_data.next = self.load_data.val();
            self.sequential[i].trace_select.next = self.trace_select.val();
            self.in_ready.next = self.sequential[i].in_ready.val();
            self.out_data.next = self.sequential[i].out_data.val();
            self.out_valid.next = self.sequential[i].out_valid.val();
            self.out_last.next = self.sequential[i].out_last.val();
            self.fault.next = self.sequential[i].fault.val();
            self.trace_data.next = self.sequential[i].trace_data.val();
            self.trace_valid.next = self.sequential[i].trace_valid.val();
        }
    }
}
