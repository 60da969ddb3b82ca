//! The encoder stages: each turns the element stream into one key per
//! codebook, `{score[63:32], index[31:16], row_offset[15:0]}` with
//! `row_offset = index * M`, which the engine pushes into its index FIFO.
//!
//! | stage | encoders | how |
//! |---|---|---|
//! | [`SearchStage`] | `l2`, `l1` | K / F [`DistanceUnit`]s, F passes per element, then an [`ArgminTree`] per pass and an [`ArgminStream`] over the passes |
//! | [`TwoLevelStage`] | `two-level` | G centre units on the stream; the sub-vector is replayed from a buffer to S = K/G key units, whose memories hold the keys of every cluster |
//! | [`TreeStage`] | `tree` | captures the 4 split elements while they stream by, then walks the tree, each level's thresholds read at an address held in registers ([`ThresholdPair`]) |
//! | [`SignStage`] | `sign` | shifts in the sign bits |
//!
//! How the offset is formed: `l2` and `l1` carry only `{distance, index}`
//! through their argmins (narrow compare nodes) and multiply the winner's
//! index by the constant M once, in a register after the last argmin (a
//! shift when M is a power of two); `two-level` carries `g * S * M` and
//! `s * M` as generation-time constants in its keys; `tree` and `sign` build
//! their index bit by bit, most significant first, so the offset follows as
//! `offset = 2 * offset + bit * M`.
//!
//! Timing (`valid_i` and `last_i` are tap i - 1 of the engine's
//! `valid_line` and `last_line`, [`crate::delay::Delay`]s), with an element accepted at cycle t: its address is on
//! `read_address` at t, the element (and every memory read at t) at t + 1
//! (`valid_1`, `first_1`, `last_1`); in the distance units `|x - p|` is
//! registered at t + 2, the nibble products at t + 3 and the product at
//! t + 4, which they accumulate at t + 4 (`valid_4`, `last_4`);
//! `leaf_valid` is high at t + 5 after a codebook's last element (the
//! search stage registers its units' memory output once more and `x - p`
//! before its magnitude, delays `accumulate`, `last`, `pass_first`
//! and `leaf_valid` by two cycles to match, and registers the winner once
//! more with its row offset, so its keys come three cycles later; the
//! two-level stage's units do the same, their control delayed two cycles
//! on both searches). The `tree` stage has no distance units and takes its
//! leaf at t + 3 (`valid_2 & last_2`) and gives its key 9 cycles after it.
//!
//! One stage per file: `search.rs`, `two_level.rs`, `tree.rs` (with its
//! `threshold_pair.rs`) and `sign.rs`.

mod search;
mod sign;
mod threshold_pair;
mod tree;
mod two_level;

pub use search::SearchStage;
pub use sign::SignStage;
pub use threshold_pair::ThresholdPair;
pub use tree::TreeStage;
pub use two_level::{TwoLevelStage, CLUSTER_FIFO_DEPTH};
