//! The device: the engine behind a UART and the framed protocol of
//! `docs/protocol.md` ([`lutgen_core::protocol`] holds the wire constants).
//!
//! [`DeviceCore`] is the frame layer on a byte stream; [`Device`] puts an
//! 8N1 UART in front of it and is the board's top module. Inside the core,
//! each part is a block (and a file) of its own:
//!
//! - the **parser** ([`FrameReceiver`], `receiver.rs`) finds frames (two
//!   sync bytes), checks the CRC, the command and the length, and writes
//!   payloads into a 2 KiB receive buffer.
//!   A frame is committed (its payload kept, a job queued) only when all of it
//!   checks out; otherwise its bytes are rolled back and an error job is queued.
//!   A frame that stops arriving is dropped after a timeout, so garbage or lost
//!   bytes never wedge it: it always returns to hunting for the sync bytes.
//! - the **executor** ([`Executor`], `executor.rs`) takes jobs in order: it
//!   streams data payloads into the engine, writes load payloads through the load port (after every earlier
//!   reply has gone out, so no vector in flight sees a half-loaded image),
//!   holds the engine in reset for a reset command, and queues one reply per
//!   job.
//! - the **loader** ([`ImageLoader`], `loader.rs`) takes an image file's
//!   bytes in file order, checks its header against the device's own
//!   configuration, both CRCs and every value's width, and writes the
//!   engine's memories itself (the walk of [`lutgen_core::loader`]).
//! - the **transmitter** ([`Transmitter`], `transmitter.rs`) sends the
//!   replies in order: header, a body (engine results for data, a constant for identify, the counters for status, the
//!   code for errors) and the CRC, computed one bit per clock on the way out.
//!
//! `queues.rs` holds the job and reply words and their FIFOs, `frame_layer.rs`
//! the wiring, `top.rs` the UART top, `config.rs` the [`DeviceConfig`] and
//! `verilog.rs` the Verilog output.

mod config;
mod executor;
mod frame_layer;
mod layers;
mod loader;
mod network_loader;
mod queues;
mod receiver;
mod top;
mod transmitter;
mod verilog;

pub use config::{DeviceConfig, DeviceConfigError, DeviceKind};
pub use executor::{ExecState, Executor};
pub use frame_layer::DeviceCore;
pub use layers::DeviceLayers;
pub use loader::{descriptor, Descriptor, ImageLoader, LoaderState};
pub use network_loader::NetworkFileLoader;
pub use queues::{
    Job, JobFifo, Reply, ReplyFifo, TraceFifo, JOB_BITS, REPLY_BITS, REPLY_QUEUE_DEPTH,
    TRACE_FIFO_DEPTH,
};
pub use receiver::{FrameReceiver, ParseState};
pub use top::Device;
pub use transmitter::{Body, SendState, Transmitter};
pub use verilog::{
    core_verilog, device_verilog, CORE_MODULE, CORE_PORTS, DEVICE_MODULE, DEVICE_PORTS,
};
