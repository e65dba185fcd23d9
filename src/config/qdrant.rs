//! `qdrant`: which collection the Qdrant backend uses, and how it shapes it and its requests.
//! The server's address is the top-level `qdrant_url`, beside `database_url` and `redis_url`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, VectorType, all_positive, invalid};

/// How the Qdrant backend shapes its collection and its requests. The collection options apply
/// when selfrag creates the collection; an existing one keeps its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QdrantSettings {
    /// Sent with every request when the server requires one.
    pub api_key: Option<String>,
    /// The collection holding the chunk vectors; created on first start.
    pub collection: String,
    /// Shards of a new collection (server default: one per node).
    pub shard_number: Option<u32>,
    /// Copies of each shard (server default: 1).
    pub replication_factor: Option<u32>,
    /// Replicas that must acknowledge a write before it succeeds.
    pub write_consistency_factor: Option<u32>,
    /// Keep vectors on disk (memory-mapped) instead of in RAM.
    pub on_disk_vectors: bool,
    /// How the collection stores the dense vectors; `float16` by default, as the embedded index
    /// does, so the two backends compute the same scores. Servers before 1.9 store float32.
    pub vector_type: VectorType,
    /// Keep payloads on disk.
    pub on_disk_payload: bool,
    /// Points per upsert request; each request waits until the server has applied it.
    pub upsert_batch: usize,
    pub write_ordering: WriteOrderingSetting,
    pub read_consistency: ReadConsistency,
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// gRPC channels; 1 multiplexes everything over one HTTP/2 connection.
    pub pool_size: usize,
}

impl Default for QdrantSettings {
    fn default() -> Self {
        QdrantSettings {
            api_key: None,
            collection: "selfrag_chunks".into(),
            shard_number: None,
            replication_factor: None,
            write_consistency_factor: None,
            on_disk_vectors: false,
            vector_type: VectorType::Float16,
            on_disk_payload: true,
            upsert_batch: 256,
            write_ordering: WriteOrderingSetting::Medium,
            read_consistency: ReadConsistency::One,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            pool_size: 1,
        }
    }
}

/// Qdrant's write ordering: `weak` is fastest; `medium`/`strong` route writes through a leader
/// so replicas of a shard apply them in one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteOrderingSetting {
    Weak,
    Medium,
    Strong,
}

/// How many shard replicas a search asks: `one` (the server's default), `majority`, `quorum`
/// or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    One,
    Majority,
    Quorum,
    All,
}

impl QdrantSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.collection.is_empty() {
            return Err(invalid("qdrant.collection", "must not be empty"));
        }
        all_positive(&[
            ("qdrant.upsert_batch", self.upsert_batch as u64),
            ("qdrant.timeout_ms", self.timeout_ms),
        ])
    }
}
