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

pub use batch::{
    BatchOutcome, detached, ingest_in_order, ingest_until_failure, naming_input, validate_batch,
};
pub use chunker::{Chunker, TextChunk};
pub use events::{IngestEvent, IngestEvents, IngestStatus};
pub use keywords::{
    KeywordProgress, KeywordRebuild, check_keyword_settings, fill_missing_keywords,
    record_keyword_settings,
};
pub use pipeline::{IngestOutcome, IngestRequest, content_hash, delete_document, ingest};
pub use recovery::{recover_interrupted_writes, spawn_periodic_recovery};
pub use source::{from_bytes, from_file, from_text};
pub use validate::validate;

use std::collections::HashMap;
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
    /// Texts per model call in a batch (`embed.max_batch`).
    pub model_batch: usize,
    /// Newly embedded chunks a batch's ready documents hold before they are written as a
    /// group (`storage.write_group_chunks`).
    pub write_group_chunks: usize,
    pub chunker: Arc<Chunker>,
    pub keywords: Arc<crate::keywords::Keywords>,
    pub generation: Arc<CorpusGeneration>,
    pub events: IngestEvents,
    /// Documents this process is writing right now, which recovery leaves alone.
    pub in_flight: InFlightWrites,
}

/// The documents this process is writing or deleting at the moment, each behind a lock of its
/// own: writes of one document (two updates, an update and a delete) run one after the other,
/// and recovery leaves a locked document alone (its pending record may be older than the grace
/// period while the write still runs). Across replicas, the revision check and PostgreSQL's
/// row locks keep writes apart.
///
/// A std mutex guards the map: held for a lookup, never across an await.
#[derive(Clone, Default)]
pub struct InFlightWrites(Arc<std::sync::Mutex<HashMap<uuid::Uuid, Arc<tokio::sync::Mutex<()>>>>>);

impl InFlightWrites {
    /// Waits until no other write of `document_id` runs here, and holds it until the returned
    /// guard is dropped.
    pub async fn enter(&self, document_id: uuid::Uuid) -> InFlightGuard {
        let lock = Arc::clone(self.map().entry(document_id).or_default());
        // Made before the wait, so that a caller that gives up waiting still forgets the entry.
        let mut guard = InFlightGuard {
            writes: self.clone(),
            document_id,
            held: None,
        };
        guard.held = Some(lock.lock_owned().await);
        guard
    }

    /// Holds `document_id` if no write of it runs here; `None` if one does (recovery skips it).
    pub fn try_enter(&self, document_id: uuid::Uuid) -> Option<InFlightGuard> {
        let lock = Arc::clone(self.map().entry(document_id).or_default());
        match lock.try_lock_owned() {
            Ok(held) => Some(InFlightGuard {
                writes: self.clone(),
                document_id,
                held: Some(held),
            }),
            Err(_) => {
                self.release(document_id);
                None
            }
        }
    }

    /// Whether a write of `document_id` runs here (or waits to).
    pub fn contains(&self, document_id: uuid::Uuid) -> bool {
        self.map().contains_key(&document_id)
    }

    /// Forgets the document's lock when nobody holds or awaits it any more.
    fn release(&self, document_id: uuid::Uuid) {
        let mut map = self.map();
        if map
            .get(&document_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&document_id);
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, Arc<tokio::sync::Mutex<()>>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Holds a document for one write; lets the next one in when dropped, however the write ends.
pub struct InFlightGuard {
    writes: InFlightWrites,
    document_id: uuid::Uuid,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        // Unlocked first, so that the lock's only remaining owner can be the map.
        drop(self.held.take());
        self.writes.release(self.document_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_of_one_document_take_turns_and_recovery_skips_them() {
        let writes = InFlightWrites::default();
        let id = uuid::Uuid::new_v4();
        let first = writes.enter(id).await;
        assert!(writes.contains(id));
        assert!(
            writes.try_enter(id).is_none(),
            "recovery must skip a running write"
        );
        let waiting = {
            let writes = writes.clone();
            tokio::spawn(async move { writes.enter(id).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let second = waiting.await.expect("the second write goes in");
        assert!(writes.contains(id));
        drop(second);
        assert!(
            !writes.contains(id),
            "the lock is forgotten once nobody wants it"
        );
        assert!(writes.try_enter(id).is_some());
        assert!(!writes.contains(id));
    }
}
