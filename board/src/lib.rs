//! Boards: the database in `board/constraints/*.toml`, constraint files generated
//! from it, the fit check, the open-source synthesis and place-and-route flow,
//! and the hardware report.
//!
//! Each board is described once, in `board/constraints/<name>.toml` (device,
//! package, clock, the pins of the USB serial bridge and an LED, and the
//! chip's resources). The descriptions are compiled into the binary, so
//! `lutgen` works from any directory; the `.pcf`/`.lpf`/`.xdc` files next to
//! them are generated from the same description (a test keeps them equal).

pub mod conv_sim;
pub mod dense_sim;
pub mod description;
pub mod error;
pub mod fit;
pub mod flow;
pub mod jobs;
pub mod layers;
pub mod pll;
pub mod presets;
pub mod report;
pub mod step_cache;
pub mod sweep;
pub mod top;

pub use description::{Board, Family, Pins, Resources, BOARD_FILES};
pub use error::BoardError;
