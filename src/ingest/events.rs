//! Ingest progress, broadcast to whoever listens (the `ingestProgress` subscription).
//!
//! A bounded broadcast channel: a listener that falls behind loses the oldest events and is
//! told how many (it never slows ingest down); with no listener an event costs nothing.

use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a slow listener may fall behind by before it loses some.
const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStatus {
    /// Chunked, embedded and stored.
    Ingested,
    /// Identical content was already stored; that document is the answer.
    Deduplicated,
    /// The document with this external id was replaced (same id, next revision).
    Updated,
    /// The document with this external id already has this content and these fields.
    Unchanged,
    /// This document failed; the batch stops here (those before it stay ingested).
    Failed,
}

/// One document of a batch finished (or failed).
#[derive(Debug, Clone)]
pub struct IngestEvent {
    /// The `batchId` the client gave `ingestDocuments`, if any.
    pub batch_id: Option<String>,
    /// Position in the batch, from 0.
    pub index: usize,
    pub total: usize,
    pub status: IngestStatus,
    pub document_id: Option<Uuid>,
    pub title: Option<String>,
    pub chunks_created: usize,
    /// Chunks that went through the model.
    pub chunks_embedded: usize,
    /// Chunks of a replacement that kept their vectors (their text did not change).
    pub chunks_reused: usize,
    pub error: Option<String>,
    pub elapsed_ms: f64,
}

#[derive(Clone)]
pub struct IngestEvents(broadcast::Sender<IngestEvent>);

impl Default for IngestEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl IngestEvents {
    pub fn new() -> Self {
        IngestEvents(broadcast::channel(CAPACITY).0)
    }

    /// Sends to current listeners; none listening is not an error.
    pub fn publish(&self, event: IngestEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.0.subscribe()
    }
}
