//! async-graphql extensions of ours.

mod admission;
mod timing;

pub use admission::{Admission, ViaGet};
pub use timing::{OperationSlot, Timing, TimingRequested};
