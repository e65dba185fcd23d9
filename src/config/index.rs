//! `index`: the embedded vector index's storage, HNSW and optimiser settings.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexConfig {
    /// Segments above this size (KiB of vectors) get an HNSW graph; smaller ones are searched exactly.
    pub indexing_threshold_kb: usize,
    /// Segments whose vectors are smaller than this (KiB) are searched exactly even when they
    /// have a graph: brute force is faster there, and exact.
    pub full_scan_threshold_kb: usize,
    /// Quiet time after the last ingest (or after start) before the background HNSW build starts.
    pub optimize_delay_ms: u64,
    /// Where the full vectors and the keyword postings live.
    pub storage: IndexStorage,
    /// How a new index stores its full dense vectors. An existing index keeps the type it was
    /// created with (its segments record it, and qdrant refuses to mix the two).
    pub vector_type: VectorType,
    /// A compact copy of the dense vectors held in RAM for the graph walk, its best candidates
    /// rescored with the full vectors.
    pub quantization: Quantization,
    /// Size of one write-ahead-log file (KiB). Closed files are removed when the index is
    /// compacted (at start and after an optimisation), all but the newest, which numbers the
    /// next writes.
    pub wal_segment_kb: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            indexing_threshold_kb: 4_000,
            full_scan_threshold_kb: 2_000,
            optimize_delay_ms: 2_000,
            storage: IndexStorage::Disk,
            vector_type: VectorType::Float16,
            quantization: Quantization::None,
            // Small against qdrant's 32 MiB: the newest closed file is kept and read at every
            // open, and a file is only closed when full, so this bounds what stays.
            wal_segment_kb: 4_096,
        }
    }
}

impl IndexConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.wal_segment_kb == 0 {
            return Err(invalid("index", "wal_segment_kb must be greater than 0"));
        }
        Ok(())
    }
}

/// Where the embedded index keeps its full dense vectors and keyword postings. Payloads are
/// always in files. A change applies to existing segments at the next optimisation (one runs
/// after every start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexStorage {
    /// Memory-mapped files: the kernel keeps the pages searches touch in its page cache and can
    /// drop them under pressure, so resident memory stays bounded as the corpus grows.
    Disk,
    /// Anonymous memory: every vector and posting resident, whether searched or not.
    Memory,
}

/// The element type of the stored full dense vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorType {
    /// Two bytes per dimension: half the memory and page cache of `float32`, at a relative
    /// error below 0.05 % per component of a unit-length embedding (11 significant bits).
    Float16,
    /// Four bytes per dimension, the model's own output.
    Float32,
}

/// Scalar quantization of the dense vectors (qdrant's `scalar` with `always_ram`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// One byte per dimension (a quarter of f32) in RAM; the graph walk compares those, and the
    /// best candidates are rescored with the full vectors, so scores stay exact cosines.
    Int8,
    /// The graph walk reads the full vectors (the default: at `float16` they are only twice the
    /// int8 copy's size, and no candidate needs rescoring).
    None,
}
