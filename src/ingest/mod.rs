//! From raw text to stored, searchable chunks, and back out again.

mod batch;
mod chunker;
mod events;
mod keywords;
mod pipeline;
mod recovery;
mod replace;
mod source;
mod validate;

pub use batch::{detached, ingest_in_order, naming_input, validate_batch};
pub use chunker::{Chunker, TextChunk};
pub use events::{IngestEvent, IngestEvents, IngestStatus};
pub use keywords::{
    KeywordProgress, KeywordRebuild, check_keyword_settings, fill_missing_keywords,
    record_keyword_settings,
};
pub use pipeline::{IngestOutcome, IngestRequest, content_hash, delete_document, ingest};
pub use recovery::{recover_interrupted_writes, spawn_periodic_recovery};
pub use source::{from_bytes, from_text};
pub use validate::validate;

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
    pub keywords: Arc<crate::keywords::Keywords>,
    pub generation: Arc<CorpusGeneration>,
    pub events: IngestEvents,
    /// Documents this process is writing right now, which recovery leaves alone.
    pub in_flight: InFlightWrites,
}

/// The documents this process is writing or deleting at the moment. Recovery skips them: a
/// write's pending record may be older than the grace period while the write still runs.
/// A std mutex: held for a hash-set insert or lookup, never across an await.
#[derive(Clone, Default)]
pub struct InFlightWrites(Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>);

impl InFlightWrites {
    /// Marks `document_id` as being written until the returned guard is dropped.
    pub fn enter(&self, document_id: uuid::Uuid) -> InFlightGuard {
        self.lock().insert(document_id);
        InFlightGuard {
            writes: self.clone(),
            document_id,
        }
    }

    pub fn contains(&self, document_id: uuid::Uuid) -> bool {
        self.lock().contains(&document_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<uuid::Uuid>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes its document from the in-flight set when the write ends, however it ends.
pub struct InFlightGuard {
    writes: InFlightWrites,
    document_id: uuid::Uuid,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.writes.lock().remove(&self.document_id);
    }
}
