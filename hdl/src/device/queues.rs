//! The two queues between the parts of the frame layer and the words they
//! hold: jobs (receiver to executor) and replies (executor to transmitter).

use rust_hdl::prelude::*;

/// Queued frames: `[7:0]` command (0xFF: error), `[15:8]` sequence, `[31:16]`
/// payload length, `[47:32]` reply length, `[55:48]` error code, `[63:56]` rejected command.
pub type Job = Bits<64>;
declare_sync_fifo!(JobFifo, Job, 16, 1);
/// Queued replies: `[7:0]` reply code, `[15:8]` sequence, `[31:16]` payload
/// length, `[39:32]` error code, `[47:40]` rejected command.
pub type Reply = Bits<48>;
declare_sync_fifo!(ReplyFifo, Reply, 16, 1);
