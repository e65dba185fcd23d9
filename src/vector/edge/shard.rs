//! The open qdrant-edge shard, which can be closed and opened again in place to compact it.
//!
//! qdrant-edge 0.7.2 writes every operation to its write-ahead log and never truncates it (0.9
//! does, after a flush, but needs a newer Rust than ours). Each closed log file stays mapped,
//! and every open reads them all through (a CRC check), so the log grew the disk and the
//! resident set without bound: 214 MiB after 100k chunks. Nor does 0.7.2 ever replay the log: a
//! write is durable once `flush` has persisted the segments, which `EdgeIndex` does before it
//! reports success, and the log's only use on open is numbering the next operations, from its
//! newest closed file. So [`prune_wal`] removes every closed file but the newest while the
//! shard is closed — what qdrant's own acknowledgement does — and [`Shard::reopen`] closes and
//! opens the shard, which also unmaps the pages that writes and graph builds touched.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use qdrant_edge::{EdgeConfig, EdgeShard, OperationResult};

use super::backend;
use crate::vector::IndexError;

const WAL_DIR: &str = "wal";
/// How the log names a closed file: this prefix and the number of its first operation.
const CLOSED_PREFIX: &str = "closed-";

pub(super) struct Shard {
    dir: PathBuf,
    /// `None` only when reopening failed; every call then fails until a restart.
    open: RwLock<Option<EdgeShard>>,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Compaction {
    pub removed_files: usize,
    pub removed_bytes: u64,
}

impl Shard {
    pub fn new(dir: &Path, shard: EdgeShard) -> Self {
        Shard {
            dir: dir.to_path_buf(),
            open: RwLock::new(Some(shard)),
        }
    }

    /// Runs `operation` on the open shard, its error as ours. Writers call this too
    /// (qdrant-edge's update takes `&self`); they are serialised by the index's write gate, not
    /// here.
    pub fn with<T>(
        &self,
        operation: impl FnOnce(&EdgeShard) -> OperationResult<T>,
    ) -> Result<T, IndexError> {
        let open = self.open.read().unwrap_or_else(PoisonError::into_inner);
        let shard = open.as_ref().ok_or_else(|| closed(&self.dir))?;
        operation(shard).map_err(backend)
    }

    /// Compacts when it pays: after the optimiser rewrote segments (their files were written
    /// through mappings that stay resident) or when the log has closed files to remove. The
    /// caller holds the write gate.
    pub fn compact(&self, rewritten: bool) -> Result<Option<Compaction>, IndexError> {
        if !rewritten && closed_wal_files(&self.dir.join(WAL_DIR))?.len() < 2 {
            return Ok(None);
        }
        self.reopen().map(Some)
    }

    /// Closes the shard (qdrant-edge flushes on drop), prunes its log and opens it again with
    /// the configuration it had. Searches wait meanwhile; the caller holds the write gate.
    fn reopen(&self) -> Result<Compaction, IndexError> {
        let mut open = self.open.write().unwrap_or_else(PoisonError::into_inner);
        let shard = open.take().ok_or_else(|| closed(&self.dir))?;
        let config: EdgeConfig = shard.config().clone();
        drop(shard);
        // Open again even when pruning failed: a kept file only costs space.
        let pruned = prune_wal(&self.dir);
        *open = Some(EdgeShard::load(&self.dir, Some(config)).map_err(|err| {
            tracing::error!(error = %err, path = %self.dir.display(), "vector index could not be opened again; restart the server");
            backend(err)
        })?);
        pruned
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let open = self.open.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(shard) = open.take() {
            if self.dir.exists() {
                drop(shard);
            } else {
                // The directory was removed under us (a deleted data directory): qdrant-edge's
                // flush on drop would panic, so the shard's memory is leaked instead. Its data
                // is gone anyway.
                tracing::warn!(path = %self.dir.display(), "vector index directory vanished; not flushing");
                std::mem::forget(shard);
            }
        }
    }
}

/// Removes the closed log files of the shard in `shard_dir` but the newest, oldest first, so
/// that a crash midway leaves the contiguous run of files the log requires. The shard must be
/// closed.
pub(super) fn prune_wal(shard_dir: &Path) -> Result<Compaction, IndexError> {
    let wal = shard_dir.join(WAL_DIR);
    let mut closed = closed_wal_files(&wal)?;
    closed.pop();
    let mut removed = Compaction {
        removed_files: 0,
        removed_bytes: 0,
    };
    for (_, path) in closed {
        let bytes = std::fs::metadata(&path)?.len();
        std::fs::remove_file(&path)?;
        removed.removed_files += 1;
        removed.removed_bytes += bytes;
    }
    if removed.removed_files > 0 {
        std::fs::File::open(&wal)?.sync_all()?;
    }
    Ok(removed)
}

/// The closed log files in `wal`, by their first operation, ascending. No log yet: none.
fn closed_wal_files(wal: &Path) -> Result<Vec<(u64, PathBuf)>, IndexError> {
    let entries = match std::fs::read_dir(wal) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    let mut closed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let first = name
            .to_str()
            .and_then(|name| name.strip_prefix(CLOSED_PREFIX))
            .and_then(|first| first.parse::<u64>().ok());
        if let Some(first) = first {
            closed.push((first, entry.path()));
        }
    }
    closed.sort_unstable_by_key(|(first, _)| *first);
    Ok(closed)
}

fn closed(dir: &Path) -> IndexError {
    IndexError::Backend(format!(
        "the vector index at {} could not be opened again after compaction (see the log); \
         restart the server",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, bytes: usize) {
        std::fs::write(dir.join(name), vec![0u8; bytes]).expect("write");
    }

    #[test]
    fn pruning_keeps_the_newest_closed_file_and_every_open_one() {
        let shard = tempfile::tempdir().expect("temp dir");
        let wal = shard.path().join(WAL_DIR);
        std::fs::create_dir(&wal).expect("wal dir");
        // Numerically, not lexically: closed-9 is older than closed-10.
        for (name, bytes) in [
            ("closed-0", 10),
            ("closed-9", 20),
            ("closed-10", 30),
            ("open-3", 40),
            ("open-4", 50),
        ] {
            touch(&wal, name, bytes);
        }
        let removed = prune_wal(shard.path()).expect("pruned");
        assert_eq!((removed.removed_files, removed.removed_bytes), (2, 30));
        let mut left: Vec<String> = std::fs::read_dir(&wal)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(left, ["closed-10", "open-3", "open-4"]);
        // Nothing more to remove.
        assert_eq!(prune_wal(shard.path()).expect("again").removed_files, 0);
    }

    #[test]
    fn a_shard_without_a_log_has_nothing_to_prune() {
        let shard = tempfile::tempdir().expect("temp dir");
        assert_eq!(prune_wal(shard.path()).expect("pruned").removed_files, 0);
    }
}
