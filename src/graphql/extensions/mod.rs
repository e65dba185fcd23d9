//! async-graphql extensions of ours: one [`Pipeline`] on the schema, made of admission (checks
//! before anything runs) and timing (resolver and operation metrics).

mod admission;
mod nesting;
mod operation;
mod pipeline;
mod timing;

pub use admission::ViaGet;
pub use pipeline::{OperationSlot, Pipeline};
pub use timing::TimingRequested;
