//! From captured frames to a timeline: the timestamp rules the merge relies on, all
//! sans-IO and unit-tested — RTP clocks extended past their 32-bit wrap, frames put in
//! order with duplicates dropped, each gap classified (one lost packet, a short loss,
//! a silence), and join segments placed by the server's wall clock.

pub mod extend;
pub mod order;
pub mod place;
pub mod plan;
pub mod sync;

pub use extend::Extender;
pub use order::{Ordered, OrderedFrames, Reorder, order};
pub use place::{rtp_offset_us, start_sample};
pub use plan::{Gap, gap};
