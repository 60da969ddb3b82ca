//! [`DeviceCore`]: the frame layer on a byte stream, with what the device
//! runs ([`DeviceLayers`]): a dataflow network top of one layer (an engine
//! device) or of the network's layers, or the sequential top (one engine,
//! the layers in turn). Its parts, each a block of its own: the
//! [`FrameReceiver`] (frames in, jobs and payloads out), the [`Executor`]
//! (jobs to the layers and replies), the loader (an [`ImageLoader`] for an
//! engine device, a [`NetworkFileLoader`] for a network device) and the
//! [`Transmitter`] (replies out), joined by the receive buffer and the job
//! and reply queues. The core also holds the power-on reset, the status
//! counters and the `idle` output.
//!
//! One device, two loaders: rust-hdl has no optional child, so the core
//! holds each kind of loader in a vector of zero or one, and wires the one
//! present in a loop over its length (the other loop generates nothing).

use super::config::{DeviceConfig, DeviceKind};
use super::executor::Executor;
use super::layers::DeviceLayers;
use super::loader::ImageLoader;
use super::network_loader::NetworkFileLoader;
use super::queues::{JobFifo, ReplyFifo, TraceFifo};
use super::receiver::FrameReceiver;
use super::transmitter::Transmitter;
use crate::memory::BlockRam;
use lutgen_core::loader::Loader;
use lutgen_core::network_loader::NetworkLoader;
use lutgen_core::protocol;
use lutgen_core::sequential::{SequentialError, SequentialPlan};
use rust_hdl::prelude::*;

/// The frame layer on a byte stream, with the layers it runs.
#[derive(LogicBlock)]
pub struct DeviceCore {
    pub clock: Signal<In, Clock>,
    /// One pulse per received byte (at most one byte per 8 clocks).
    pub rx_valid: Signal<In, Bit>,
    pub rx_data: Signal<In, Bits<8>>,
    /// Bytes to send: taken when `tx_valid & tx_ready`.
    pub tx_valid: Signal<Out, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_ready: Signal<In, Bit>,
    /// High when there is nothing to do: no partial frame, no job, no reply
    /// pending. Time can pass without changing any state until the next byte.
    pub idle: Signal<Out, Bit>,

    engine: DeviceLayers,
    buffer: BlockRam<Bits<8>>,
    jobs: JobFifo,
    replies: ReplyFifo,
    receiver: FrameReceiver,
    executor: Executor,
    // One of the two (see the module doc).
    image_loaders: Vec<ImageLoader>,
    network_loaders: Vec<NetworkFileLoader>,
    transmitter: Transmitter,
    // Power-on reset of the engine.
    power_on: DFF<Bits<8>>,
    // Status counters.
    frames_received: DFF<Bits<32>>,
    frames_rejected: DFF<Bits<32>>,
    vectors: DFF<Bits<32>>,
    // Cycles the device has had nothing to do (saturating).
    settled: DFF<Bits<4>>,
    calm: Signal<Local, Bit>,
    // The counters' events, registered: each counter moves a cycle after
    // its event, clears included, so their order is kept (a status reply
    // reads the counters several cycles after its own frame's event).
    received_p: DFF<Bit>,
    rejected_p: DFF<Bit>,
    refused_p: DFF<Bit>,
    vector_p: DFF<Bit>,
    clear_p: DFF<Bit>,
    // Frames rejected this cycle (0, 1 or 2): one adder for the counter.
    rejected_step: Signal<Local, Bits<32>>,
    // The loader's outputs, whichever it is.
    loader_ready: Signal<Local, Bit>,
    loader_offset: Signal<Local, Bits<32>>,
    loader_loaded: Signal<Local, Bit>,
    loader_fault: Signal<Local, Bits<8>>,
    loader_crc: Signal<Local, Bits<32>>,
    // A network device's trace capture (none in an engine device): the
    // activations the selected layer hands on, `trace_left` more to take.
    trace_fifos: Vec<TraceFifo>,
    trace_left: DFF<Bits<16>>,
    trace_empty: Signal<Local, Bit>,
    trace_head: Signal<Local, Bits<8>>,
    _image_loaders: usize,
    _network_loaders: usize,
    _trace_fifos: usize,
}

impl DeviceCore {
    /// The frame layer around the layers of `device` (validated first by the caller).
    pub fn new(device: &DeviceConfig) -> Self {
        let (image_loaders, network_loaders) = match &device.kind {
            DeviceKind::Engine(engine) => (
                vec![ImageLoader::new(
                    &Loader::new(engine).expect("DeviceConfig::validate checks the image layout"),
                )],
                vec![],
            ),
            DeviceKind::Network(layers, spatial) => (
                vec![],
                vec![NetworkFileLoader::new(
                    &NetworkLoader::with_spatial(layers, spatial)
                        .expect("DeviceConfig::validate checks the network's layers"),
                )],
            ),
            DeviceKind::Sequential(layers) => (
                vec![],
                vec![NetworkFileLoader::new(
                    &SequentialPlan::new(layers)
                        .and_then(|plan| {
                            NetworkLoader::sequential(&plan)
                                .map_err(|source| SequentialError::Image { layer: 0, source })
                        })
                        .expect("DeviceConfig::validate checks the sequential plan"),
                )],
            ),
        };
        DeviceCore {
            clock: Default::default(),
            rx_valid: Default::default(),
            rx_data: Default::default(),
            tx_valid: Default::default(),
            tx_data: Default::default(),
            tx_ready: Default::default(),
            idle: Default::default(),
            engine: DeviceLayers::new(device),
            buffer: BlockRam::new(protocol::BUFFER_BYTES),
            jobs: Default::default(),
            replies: Default::default(),
            receiver: FrameReceiver::new(device),
            executor: Executor::new(
                device.ident().to_bytes().len(),
                4 * device.last().outputs,
                device.ident().image_bytes,
            ),
            trace_fifos: if device.is_network() {
                vec![TraceFifo::default()]
            } else {
                vec![]
            },
            _trace_fifos: usize::from(device.is_network()),
            trace_left: Default::default(),
            trace_empty: Default::default(),
            trace_head: Default::default(),
            _image_loaders: image_loaders.len(),
            _network_loaders: network_loaders.len(),
            image_loaders,
            network_loaders,
            transmitter: Transmitter::new(device),
            power_on: Default::default(),
            frames_received: Default::default(),
            frames_rejected: Default::default(),
            vectors: Default::default(),
            settled: Default::default(),
            calm: Default::default(),
            received_p: Default::default(),
            rejected_p: Default::default(),
            refused_p: Default::default(),
            vector_p: Default::default(),
            clear_p: Default::default(),
            rejected_step: Default::default(),
            loader_ready: Default::default(),
            loader_offset: Default::default(),
            loader_loaded: Default::default(),
            loader_fault: Default::default(),
            loader_crc: Default::default(),
        }
    }
}

impl Logic for DeviceCore {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            power_on,
            frames_received,
            frames_rejected,
            vectors,
            settled,
            received_p,
            rejected_p,
            refused_p,
            vector_p,
            clear_p,
            trace_left
        );
        clock!(
            self,
            clock,
            engine,
            buffer,
            jobs,
            replies,
            receiver,
            executor,
            transmitter
        );

        // ---- Power-on: hold the engine in reset for its first 255 cycles.
        if self.power_on.q.val() != 255 {
            self.power_on.d.next = self.power_on.q.val() + 1;
        }
        self.engine.reset.next = (self.power_on.q.val() != 255) | self.executor.engine_reset.val();

        // ---- Receiver: bytes into the buffer, frames into the job queue.
        self.receiver.rx_valid.next = self.rx_valid.val();
        self.receiver.rx_data.next = self.rx_data.val();
        self.receiver.read_pointer.next = self.executor.read_address.val();
        self.receiver.jobs_full.next = self.jobs.full.val();
        self.buffer.write_enable.next = self.receiver.buffer_write.val();
        self.buffer.write_address.next = self.receiver.write_address.val();
        self.buffer.write_data.next = self.rx_data.val();
        self.jobs.write.next = self.receiver.job_write.val();
        self.jobs.data_in.next = self.receiver.job_data.val();

        // ---- Executor: jobs to the engine, replies into the reply queue.
        self.executor.job.next = self.jobs.data_out.val();
        self.executor.jobs_empty.next = self.jobs.empty.val();
        self.jobs.read.next = self.executor.jobs_read.val();
        self.executor.replies_full.next = self.replies.full.val();
        self.executor.replies_empty.next = self.replies.empty.val();
        self.executor.sender_idle.next = self.transmitter.idle.val();
        self.replies.write.next = self.executor.reply_write.val();
        self.replies.data_in.next = self.executor.reply_data.val();
        self.buffer.read_enable.next = self.executor.buffer_read.val();
        self.buffer.read_address.next = self.executor.read_address.val();
        self.executor.buffer_data.next = self.buffer.read_data.val();
        self.engine.in_valid.next = self.executor.engine_in_valid.val();
        self.engine.in_data.next = self.buffer.read_data.val();
        self.executor.engine_in_ready.next = self.engine.in_ready.val();

        // ---- Loader: file bytes from the executor, writes to the layers.
        // ---- Trace capture: the activations the selected layer hands on.
        self.engine.trace_select.next = self.executor.trace_select.val();
        self.trace_empty.next = true;
        self.trace_head.next = 0.into();
        if self.executor.trace_start.val() {
            self.trace_left.d.next = self.executor.trace_bytes.val();
        }
        for i in 0..self._trace_fifos {
            self.trace_fifos[i].clock.next = self.clock.val();
            self.trace_fifos[i].data_in.next = self.engine.trace_data.val();
            self.trace_fifos[i].write.next = false;
            if (self.trace_left.q.val() != 0) & self.engine.trace_valid.val() {
                self.trace_fifos[i].write.next = true;
                self.trace_left.d.next = self.trace_left.q.val() - 1;
            }
            self.trace_fifos[i].read.next = self.transmitter.trace_read.val();
            self.trace_empty.next = self.trace_fifos[i].empty.val();
            self.trace_head.next = self.trace_fifos[i].data_out.val();
        }
        self.transmitter.trace_data.next = self.trace_head.val();
        self.transmitter.trace_empty.next = self.trace_empty.val();

        self.loader_ready.next = false;
        self.loader_offset.next = 0.into();
        self.loader_loaded.next = false;
        self.loader_fault.next = 0.into();
        self.loader_crc.next = 0.into();
        self.engine.load_enable.next = false;
        self.engine.load_address.next = 0.into();
        self.engine.load_data.next = 0.into();
        for i in 0..self._image_loaders {
            self.image_loaders[i].clock.next = self.clock.val();
            self.image_loaders[i].restart.next = self.executor.loader_restart.val();
            self.image_loaders[i].abandon.next = self.executor.loader_abandon.val();
            self.image_loaders[i].byte_valid.next = self.executor.loader_byte_valid.val();
            self.image_loaders[i].in_byte.next = self.buffer.read_data.val();
            self.loader_ready.next = self.image_loaders[i].ready.val();
            self.loader_offset.next = self.image_loaders[i].offset.val();
            self.loader_loaded.next = self.image_loaders[i].loaded.val();
            self.loader_fault.next = self.image_loaders[i].fault.val();
            self.loader_crc.next = self.image_loaders[i].image_crc.val();
            self.engine.load_enable.next = self.image_loaders[i].load_enable.val();
            self.engine.load_address.next = self.image_loaders[i].load_address.val();
            self.engine.load_data.next = self.image_loaders[i].load_data.val();
        }
        for i in 0..self._network_loaders {
            self.network_loaders[i].clock.next = self.clock.val();
            self.network_loaders[i].restart.next = self.executor.loader_restart.val();
            self.network_loaders[i].abandon.next = self.executor.loader_abandon.val();
            self.network_loaders[i].byte_valid.next = self.executor.loader_byte_valid.val();
            self.network_loaders[i].in_byte.next = self.buffer.read_data.val();
            self.loader_ready.next = self.network_loaders[i].ready.val();
            self.loader_offset.next = self.network_loaders[i].offset.val();
            self.loader_loaded.next = self.network_loaders[i].loaded.val();
            self.loader_fault.next = self.network_loaders[i].fault.val();
            self.loader_crc.next = self.network_loaders[i].image_crc.val();
            self.engine.load_enable.next = self.network_loaders[i].load_enable.val();
            self.engine.load_address.next = self.network_loaders[i].load_address.val();
            self.engine.load_data.next = self.network_loaders[i].load_data.val();
        }
        self.executor.loader_ready.next = self.loader_ready.val();
        self.executor.loader_offset.next = self.loader_offset.val();
        self.executor.loader_loaded.next = self.loader_loaded.val();
        self.executor.loader_fault.next = self.loader_fault.val();

        // ---- Transmitter: replies (and the engine's results) out.
        self.transmitter.reply.next = self.replies.data_out.val();
        self.transmitter.replies_empty.next = self.replies.empty.val();
        self.replies.read.next = self.transmitter.replies_read.val();
        self.transmitter.tx_ready.next = self.tx_ready.val();
        self.tx_valid.next = self.transmitter.tx_valid.val();
        self.tx_data.next = self.transmitter.tx_data.val();
        self.transmitter.engine_out_valid.next = self.engine.out_valid.val();
        self.transmitter.engine_out_data.next = self.engine.out_data.val();
        self.engine.out_ready.next = self.transmitter.engine_out_ready.val();
        self.transmitter.frames_received.next = self.frames_received.q.val();
        self.transmitter.frames_rejected.next = self.frames_rejected.q.val();
        self.transmitter.vectors.next = self.vectors.q.val();
        self.transmitter.engine_fault.next = self.engine.fault.val();
        self.transmitter.loaded.next = self.loader_loaded.val();
        self.transmitter.loading.next = (self.loader_offset.val() != 0) & !self.loader_loaded.val();
        self.transmitter.image_crc.next = self.loader_crc.val();
        self.transmitter.load_offset.next = self.loader_offset.val();

        // ---- Counters (a cycle after their events).
        self.received_p.d.next = self.receiver.frame_received.val();
        self.rejected_p.d.next = self.receiver.frame_rejected.val();
        self.refused_p.d.next = self.executor.refused.val();
        self.vector_p.d.next =
            self.engine.out_valid.val() & self.engine.out_ready.val() & self.engine.out_last.val();
        self.clear_p.d.next = self.executor.clear_counters.val();
        if self.received_p.q.val() {
            self.frames_received.d.next = self.frames_received.q.val() + 1;
        }
        self.rejected_step.next = bit_cast::<32, 1>(self.rejected_p.q.val().into())
            + bit_cast::<32, 1>(self.refused_p.q.val().into());
        if self.rejected_p.q.val() | self.refused_p.q.val() {
            self.frames_rejected.d.next = self.frames_rejected.q.val() + self.rejected_step.val();
        }
        if self.vector_p.q.val() {
            self.vectors.d.next = self.vectors.q.val() + 1;
        }
        if self.clear_p.q.val() {
            self.frames_received.d.next = 0.into();
            self.frames_rejected.d.next = 0.into();
            self.vectors.d.next = 0.into();
        }
        // Idle only after 15 calm cycles in a row: a FIFO's `empty` flag lags
        // its write by a cycle or two, so one calm cycle proves nothing.
        self.calm.next = self.receiver.hunting.val()
            & !self.rx_valid.val()
            & self.jobs.empty.val()
            & self.executor.idle.val()
            & self.replies.empty.val()
            & self.transmitter.idle.val()
            & self.transmitter.flushed.val()
            & (self.power_on.q.val() == 255);
        if !self.calm.val() {
            self.settled.d.next = 0.into();
        } else if self.settled.q.val() != 15 {
            self.settled.d.next = self.settled.q.val() + 1;
        }
        self.idle.next = self.calm.val() & (self.settled.q.val() == 15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verilog_is_lint_clean() {
        let device = crate::device::config::example();
        crate::lint::assert_block_is_clean("device_core", &mut DeviceCore::new(&device));
        let network = crate::device::config::network_example();
        crate::lint::assert_block_is_clean("device_core", &mut DeviceCore::new(&network));
    }
}
