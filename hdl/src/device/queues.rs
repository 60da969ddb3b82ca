//! The two queues between the parts of the frame layer and the words they
//! hold: jobs (receiver to executor) and replies (executor to transmitter).

use rust_hdl::prelude::*;

/// Queued frames: `[7:0]` command, `[15:8]` sequence, `[31:16]` payload
/// length, `[47:32]` reply length; for a rejected frame, `[7:0]` is 0xFF,
/// `[23:16]` the error code and `[31:24]` the rejected command. The queue
/// is deep ([`lutgen_core::protocol::JOB_QUEUE_DEPTH`], in block RAM) so that a burst of
/// frames far past the 16 a host should keep in flight is still answered
/// frame by frame.
pub type Job = Bits<48>;
/// Bits of a [`Job`] (for the board's memory estimate).
pub const JOB_BITS: usize = 48;
declare_sync_fifo!(JobFifo, Job, 256, 1);
/// Queued replies: `[7:0]` reply code, `[15:8]` sequence, `[31:16]` payload
/// length, `[39:32]` error code, `[47:40]` rejected command.
pub type Reply = Bits<48>;
/// Bits of a [`Reply`], and replies the reply queue holds.
pub const REPLY_BITS: usize = 48;
pub const REPLY_QUEUE_DEPTH: usize = 16;
declare_sync_fifo!(ReplyFifo, Reply, 16, 1);
/// Activations a trace command captures at most (one layer's outputs, in
/// block RAM); a trace of a wider layer is refused as no such layer.
pub const TRACE_FIFO_DEPTH: usize = 512;
declare_sync_fifo!(TraceFifo, Bits<8>, 512, 1);
