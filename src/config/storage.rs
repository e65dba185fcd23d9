//! `storage`: keeping the data directory writable and the index consistent with the rows.

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

/// Keeping the data directory writable and the index consistent with the rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Writes are refused (`UNAVAILABLE`) while the data directory's filesystem has less than
    /// this left after the embedded index's reserved-but-unwritten space; start-up refuses too.
    /// The default is about twice what one write can make the embedded index allocate (a WAL
    /// segment, a vector chunk and a payload page of 32 MiB each, four 4 MiB keyword-index
    /// pages, ~8 MiB of trackers and flags: ~120 MiB), leaving room for the optimiser's
    /// temporary segment and the database's growth.
    pub min_free_bytes: u64,
    /// A write recorded as in flight for longer than this is taken to have been interrupted
    /// (a crash) and is rolled back by the periodic recovery. With the embedded index, whose
    /// only writer is this process, start-up rolls back every such write at once.
    pub interrupted_write_grace_secs: u64,
    /// A bulk ingest writes its ready documents together once they hold this many newly
    /// embedded chunks (or nothing else is on its way to them). Every write ends in syncs of
    /// the database and the index, which take CPU from the model: larger groups spend less on
    /// them, smaller ones report progress sooner. 1 writes each document as soon as it can.
    pub write_group_chunks: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            min_free_bytes: 256 * 1024 * 1024,
            interrupted_write_grace_secs: 600,
            write_group_chunks: 32,
        }
    }
}

impl StorageConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Shorter, and recovery could take a slow write that is still running for a crashed one.
        if self.interrupted_write_grace_secs < 60 {
            return Err(invalid(
                "storage.interrupted_write_grace_secs",
                "must be at least 60 (longer than any write takes)",
            ));
        }
        all_positive(&[("storage.write_group_chunks", self.write_group_chunks as u64)])
    }
}
