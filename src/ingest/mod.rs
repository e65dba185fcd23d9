//! From raw text to stored, searchable chunks.

mod chunker;
mod pipeline;

pub use chunker::{Chunker, TextChunk};
pub use pipeline::{IngestOutcome, IngestRequest, content_hash, delete_document, ingest, validate};
