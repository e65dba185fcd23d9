//! Where chunk vectors live and how they are searched.
//!
//! [`VectorIndex`] is ours: no backend's types cross it, so the search and ingest code, and the
//! integration suite, are the same whichever index serves. The embedded default is
//! [`EdgeIndex`] (qdrant-edge, in process, persisted under the data directory); replicas share a
//! Qdrant server or cluster through [`QdrantIndex`] (qdrant-client, gRPC).

#[cfg(feature = "embedded-index")]
mod edge;

#[cfg(feature = "embedded-index")]
pub use edge::EdgeIndex;

#[cfg(feature = "qdrant")]
mod qdrant;

#[cfg(feature = "qdrant")]
pub use qdrant::{QdrantIndex, QdrantOptions};

use async_trait::async_trait;
use uuid::Uuid;

use crate::embed::{ModelInfo, Vector};
use crate::keywords::SparseVector;

/// The payload keys every backend writes and filters on (each keyword-indexed), so that a filter
/// means the same whichever index serves it.
pub(crate) const KEY_DOCUMENT: &str = "document_id";
pub(crate) const KEY_TAGS: &str = "tags";
pub(crate) const KEY_TYPE: &str = "type";
pub(crate) const KEY_SOURCE: &str = "source";

/// The name of the keyword (BM25) sparse vector beside each point's dense one.
pub(crate) const KEYWORD_VECTOR: &str = "bm25";

/// One chunk's vector and the payload that search filters on.
#[derive(Debug, Clone)]
pub struct VectorPoint {
    /// Equal to the chunk id, which is a UUIDv5 of (document id, chunk index): re-upserting a
    /// document's chunks overwrites instead of duplicating.
    pub id: Uuid,
    pub document_id: Uuid,
    pub vector: Vector,
    /// The chunk's BM25 term weights (empty when it has no keyword terms).
    pub keywords: SparseVector,
    pub tags: Vec<String>,
    pub doc_type: Option<String>,
    pub source: Option<String>,
}

/// The small filter language every backend supports. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorFilter {
    /// Any of these tags.
    pub tags: Vec<String>,
    pub doc_type: Option<String>,
    pub source: Option<String>,
    /// Only these documents.
    pub document_ids: Vec<Uuid>,
}

impl VectorFilter {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.doc_type.is_none()
            && self.source.is_none()
            && self.document_ids.is_empty()
    }
}

/// What a search ranks the points by.
#[derive(Debug, Clone)]
pub enum Target {
    /// Cosine similarity to this (unit-length) embedding.
    Dense(Vector),
    /// BM25: the sum, over the query's terms, of each term's IDF times its weight in the chunk.
    Keywords(SparseVector),
}

#[derive(Debug, Clone)]
pub struct VectorQuery {
    pub target: Target,
    pub limit: usize,
    /// Lowest score returned (cosine similarity for a dense target).
    pub threshold: Option<f32>,
    pub filter: VectorFilter,
    /// Brute force instead of the HNSW graph: the ground truth for recall measurements.
    pub exact: bool,
    /// Return each hit's dense vector too (diversity and cosine scores of keyword hits).
    pub with_vectors: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    pub id: Uuid,
    pub document_id: Uuid,
    pub score: f32,
    /// The point's dense vector, when the query asked for it.
    pub vector: Option<Vector>,
}

/// A snapshot of the index for stats and health.
#[derive(Debug, Clone)]
pub struct IndexStatus {
    pub backend: &'static str,
    pub vectors: u64,
    /// Vectors reachable through the HNSW graph; the rest are searched exactly.
    pub indexed_vectors: u64,
    pub segments: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "the vector index at {path} was built with {found}, but the server is configured for {configured}; \
         configure that model (and `model.precision`) again, or use another data directory, or \
         re-ingest into an empty one"
    )]
    ModelMismatch {
        path: String,
        found: String,
        configured: String,
    },
    #[error(
        "the keyword vectors in {path} were computed with {recorded}, but the server is configured \
         for {configured}; run `selfrag reindex` to compute them again, or restore the settings"
    )]
    KeywordSettingsMismatch {
        path: String,
        recorded: String,
        configured: String,
    },
    #[error(
        "the vector index at {path} is in use by another selfrag process (a running server?); \
         the embedded index admits one process at a time"
    )]
    InUse { path: String },
    #[error("vector index I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("vector index operation failed: {0}")]
    Backend(String),
}

impl From<IndexError> for crate::Error {
    fn from(err: IndexError) -> Self {
        crate::Error::unavailable("the vector index is unavailable", err)
    }
}

#[async_trait]
pub trait VectorIndex: Send + Sync + 'static {
    /// Inserts or overwrites points; visible to searches when this returns.
    async fn upsert(&self, points: Vec<VectorPoint>) -> Result<(), IndexError>;
    async fn search(&self, query: VectorQuery) -> Result<Vec<ScoredPoint>, IndexError>;
    /// Several searches at once: one round trip where the backend allows it.
    async fn search_many(
        &self,
        queries: Vec<VectorQuery>,
    ) -> Result<Vec<Vec<ScoredPoint>>, IndexError> {
        futures_util::future::try_join_all(queries.into_iter().map(|query| self.search(query)))
            .await
    }
    /// Up to `limit` points that have no keyword vector yet (written before keyword search
    /// existed), for the upgrade to fill in.
    async fn without_keywords(&self, limit: usize) -> Result<Vec<Uuid>, IndexError>;
    /// How many points have no keyword vector yet.
    async fn count_without_keywords(&self) -> Result<u64, IndexError>;
    /// Sets the keyword vectors of existing points, leaving their dense vectors and payloads.
    async fn set_keywords(&self, points: Vec<(Uuid, SparseVector)>) -> Result<(), IndexError>;
    /// Removes every point's keyword vector, so that all are computed again.
    async fn clear_keywords(&self) -> Result<(), IndexError>;
    /// The keyword settings (`Keywords::fingerprint`) the keyword vectors were computed with;
    /// `None` when none were recorded yet.
    async fn keyword_settings(&self) -> Result<Option<String>, IndexError>;
    async fn record_keyword_settings(&self, fingerprint: &str) -> Result<(), IndexError>;
    /// Removes every point of the document (one delete-by-filter).
    async fn delete_document(&self, document_id: Uuid) -> Result<(), IndexError>;
    /// Removes these points (a replaced document's old chunks); absent ones are ignored.
    async fn delete_points(&self, ids: Vec<Uuid>) -> Result<(), IndexError>;
    /// The ids of every point of the document (recovery of an interrupted replacement).
    async fn document_points(&self, document_id: Uuid) -> Result<Vec<Uuid>, IndexError>;
    /// The dense vectors of these points, those that exist (a replacement reuses the vectors of
    /// chunks whose text did not change).
    async fn vectors(
        &self,
        ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, Vec<f32>>, IndexError>;
    async fn status(&self) -> Result<IndexStatus, IndexError>;
    /// Completes once the index has let go of its storage after its last handle is dropped.
    /// Take it before dropping, await it after: a restart (or the CLI after a server) can then
    /// open the same files without finding them still locked by a task that was finishing up.
    fn released(&self) -> Released {
        Released::already()
    }
}

/// See [`VectorIndex::released`].
pub struct Released(Option<tokio::sync::watch::Receiver<()>>);

impl Released {
    /// For an index that holds nothing local (a remote server).
    pub fn already() -> Self {
        Released(None)
    }

    /// Completes when `sender` (held by the storage's owner, dropped after the storage) goes.
    pub fn when_dropped(sender: &tokio::sync::watch::Sender<()>) -> Self {
        Released(Some(sender.subscribe()))
    }

    pub async fn wait(self) {
        if let Some(mut receiver) = self.0 {
            // Never sent on: `changed` returns only when the sender is gone.
            while receiver.changed().await.is_ok() {}
        }
    }
}

/// The record kept beside an index so that vectors of two models are never mixed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexIdentity {
    pub model: String,
    pub dimensions: usize,
}

impl From<&ModelInfo> for IndexIdentity {
    fn from(model: &ModelInfo) -> Self {
        IndexIdentity {
            model: model.name.clone(),
            dimensions: model.dimensions,
        }
    }
}

impl std::fmt::Display for IndexIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}-d)", self.model, self.dimensions)
    }
}
