//! `index`: the embedded vector index's HNSW and optimiser settings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexConfig {
    /// Segments above this size (KiB of vectors) get an HNSW graph; smaller ones are searched exactly.
    pub indexing_threshold_kb: usize,
    /// Segments whose vectors are smaller than this (KiB) are searched exactly even when they
    /// have a graph: brute force is faster there, and exact.
    pub full_scan_threshold_kb: usize,
    /// Quiet time after the last ingest before the background HNSW build starts.
    pub optimize_delay_ms: u64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            indexing_threshold_kb: 4_000,
            full_scan_threshold_kb: 2_000,
            optimize_delay_ms: 2_000,
        }
    }
}
