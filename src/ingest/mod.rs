//! From raw text to stored, searchable chunks.

mod chunker;
mod events;
mod pipeline;
mod recovery;

pub use chunker::{Chunker, TextChunk};
pub use events::{IngestEvent, IngestEvents, IngestStatus};
pub use pipeline::{
    IngestOutcome, IngestRequest, content_hash, delete_document, ingest, refuse_nul, validate,
};
pub use recovery::{recover_interrupted_writes, spawn_periodic_recovery};
