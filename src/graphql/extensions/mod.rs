//! async-graphql extensions of ours.

mod timing;

pub use timing::{OperationSlot, Timing, TimingRequested};
