//! From raw text to stored, searchable chunks.

mod chunker;
mod events;
mod pipeline;

pub use chunker::{Chunker, TextChunk};
pub use events::{IngestEvent, IngestEvents, IngestStatus};
pub use pipeline::{IngestOutcome, IngestRequest, content_hash, delete_document, ingest, validate};
