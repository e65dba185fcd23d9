//! From raw text to stored, searchable chunks, and back out again.

mod batch;
mod chunker;
mod events;
mod pipeline;
mod recovery;

pub use batch::{detached, ingest_in_order, validate_batch};
pub use chunker::{Chunker, TextChunk};
pub use events::{IngestEvent, IngestEvents, IngestStatus};
pub use pipeline::{
    IngestOutcome, IngestRequest, content_hash, delete_document, ingest, refuse_nul, validate,
};
pub use recovery::{recover_interrupted_writes, spawn_periodic_recovery};

use std::sync::Arc;

use crate::cache::CorpusGeneration;
use crate::disk::DiskGuard;
use crate::embed::Embedder;
use crate::store::MetadataStore;
use crate::vector::VectorIndex;

/// The parts writes use, and nothing else of the server. Cheap to clone (shared handles), so a
/// write can own one on its own task.
#[derive(Clone)]
pub struct IngestContext {
    pub disk: DiskGuard,
    pub store: MetadataStore,
    pub index: Arc<dyn VectorIndex>,
    pub embedder: Arc<dyn Embedder>,
    pub chunker: Arc<Chunker>,
    pub generation: Arc<CorpusGeneration>,
    pub events: IngestEvents,
}
