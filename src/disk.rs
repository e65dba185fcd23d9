//! Free space in the data directory, checked before every write.
//!
//! The embedded index memory-maps files it has extended without writing them (WAL segments,
//! vector chunks, payload pages): their holes take no space until a write lands in them. When
//! the filesystem cannot back such a write, the kernel raises SIGBUS and the process dies with
//! no error and no log line, and dies again at every start while the disk stays full. So a
//! write is refused, with `UNAVAILABLE` naming the cause, unless the space left after filling
//! every hole is at least `storage.min_free_bytes`, enough for the files the next write may
//! create. Searches never write and keep working; once space is freed, writes resume.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Error;

/// What the data directory's filesystem has to offer, as of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged writer may still allocate (statvfs `f_bavail`).
    pub available_bytes: u64,
    /// Bytes the index's files claim but have not yet allocated (sparse holes a write into a
    /// mapping would fill).
    pub unbacked_bytes: u64,
    /// `storage.min_free_bytes`.
    pub reserve_bytes: u64,
}

impl DiskSpace {
    /// What is left once every hole is filled.
    pub fn headroom_bytes(&self) -> u64 {
        self.available_bytes.saturating_sub(self.unbacked_bytes)
    }

    pub fn allows_writes(&self) -> bool {
        self.headroom_bytes() >= self.reserve_bytes
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot measure free space in {path}: {source}")]
    Measure {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the disk holding {path} has {headroom} MiB left (after {unbacked} MiB the index has \
         reserved but not yet written), under the {reserve} MiB reserve: writes are refused \
         until space is freed there (or storage.min_free_bytes is lowered)",
        headroom = .space.headroom_bytes() / MIB,
        unbacked = .space.unbacked_bytes / MIB,
        reserve = .space.reserve_bytes / MIB
    )]
    BelowReserve { path: PathBuf, space: DiskSpace },
}

impl From<DiskError> for Error {
    fn from(err: DiskError) -> Self {
        Error::Unavailable {
            message: err.to_string(),
            source: None,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// How long [`DiskGuard::check`] reuses the index's holes from an earlier walk that found at
/// least twice the reserve free.
pub const REUSE_WALK_FOR: Duration = Duration::from_secs(1);

/// Measures the data directory: one `statvfs`, and a walk of the embedded index's files (a
/// `stat` each, an open and `SEEK_HOLE`s for each sparse one: about 70 system calls for one
/// segment, more as segments multiply).
#[derive(Debug, Clone)]
pub struct DiskGuard {
    data_dir: PathBuf,
    /// The embedded index's directory, whose sparse files count against the headroom; `None`
    /// when vectors live elsewhere (a Qdrant server).
    index_dir: Option<PathBuf>,
    reserve_bytes: u64,
    /// The last walk that left at least twice the reserve: when, and the holes it found.
    ample_walk: Arc<Mutex<Option<(Instant, u64)>>>,
}

impl DiskGuard {
    pub fn new(data_dir: &Path, index_dir: Option<PathBuf>, reserve_bytes: u64) -> Self {
        DiskGuard {
            data_dir: data_dir.to_path_buf(),
            index_dir,
            reserve_bytes,
            ample_walk: Arc::default(),
        }
    }

    /// The data directory, counting the embedded index's files when it is the one in use.
    pub fn for_config(config: &crate::config::Config) -> Self {
        let index_dir = config
            .qdrant_url
            .is_none()
            .then(|| config.vector_index_dir());
        DiskGuard::new(&config.data_dir, index_dir, config.storage.min_free_bytes)
    }

    /// Measures now: free space and the index's holes.
    pub fn measure(&self) -> Result<DiskSpace, DiskError> {
        let available_bytes = self.available_bytes()?;
        let unbacked_bytes = self.walk()?;
        Ok(self.space(available_bytes, unbacked_bytes))
    }

    fn space(&self, available_bytes: u64, unbacked_bytes: u64) -> DiskSpace {
        DiskSpace {
            available_bytes,
            unbacked_bytes,
            reserve_bytes: self.reserve_bytes,
        }
    }

    fn measure_error(&self, source: std::io::Error) -> DiskError {
        DiskError::Measure {
            path: self.data_dir.clone(),
            source,
        }
    }

    fn available_bytes(&self) -> Result<u64, DiskError> {
        fs4::available_space(&self.data_dir).map_err(|err| self.measure_error(err))
    }

    fn walk(&self) -> Result<u64, DiskError> {
        match &self.index_dir {
            Some(dir) => unbacked_bytes(dir).map_err(|err| self.measure_error(err)),
            None => Ok(0),
        }
    }

    /// Free space now, and the index's holes as of a walk less than [`REUSE_WALK_FOR`] old
    /// that left at least twice the reserve (else a new walk). A bulk ingest checks before
    /// every document, and walking for each was a few percent of a core beside the model.
    /// Free space is always read afresh, so another process filling the disk is seen at
    /// once; only holes our own index adds within the second go unseen, and those (a new
    /// segment's files: ~120 MiB at most) fit in the spare reserve that reuse requires.
    fn measure_reusing_walk(&self) -> Result<DiskSpace, DiskError> {
        let available_bytes = self.available_bytes()?;
        let mut ample_walk = self
            .ample_walk
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((at, unbacked_bytes)) = *ample_walk
            && at.elapsed() < REUSE_WALK_FOR
        {
            return Ok(self.space(available_bytes, unbacked_bytes));
        }
        let space = self.space(available_bytes, self.walk()?);
        let ample = space.headroom_bytes() >= self.reserve_bytes.saturating_mul(2);
        *ample_walk = ample.then(|| (Instant::now(), space.unbacked_bytes));
        Ok(space)
    }

    /// `Ok` when writes may go ahead; the reason otherwise (readiness, the optimiser, start-up).
    pub fn check(&self) -> Result<DiskSpace, DiskError> {
        let space = self.measure_reusing_walk()?;
        if !space.allows_writes() {
            return Err(DiskError::BelowReserve {
                path: self.data_dir.clone(),
                space,
            });
        }
        Ok(space)
    }

    /// [`check`](Self::check) before a client's write; refusals are counted in
    /// `selfrag_writes_refused_disk_total`.
    pub fn check_writable(&self) -> Result<DiskSpace, DiskError> {
        self.check().inspect_err(|_| {
            metrics::counter!("selfrag_writes_refused_disk_total").increment(1);
        })
    }
}

/// The bytes of the holes in the files under `dir`. Walks with an explicit stack; a file that
/// vanishes mid-walk (the optimiser replaces segments) is skipped.
fn unbacked_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += holes(&entry.path(), &metadata);
            }
        }
    }
    Ok(total)
}

/// The bytes of a file's holes, found with `SEEK_HOLE`/`SEEK_DATA`: compressed data
/// (ZFS, btrfs) also takes fewer blocks than its length, but it is data, not a hole a write
/// would have to allocate. Where the filesystem cannot say, size less allocated blocks.
fn holes(path: &Path, metadata: &std::fs::Metadata) -> u64 {
    use rustix::fs::{SeekFrom, seek};
    let len = metadata.len();
    let estimate = len.saturating_sub(metadata.blocks() * 512);
    if estimate == 0 {
        return 0; // fully allocated: nothing to look for
    }
    let Ok(file) = std::fs::File::open(path) else {
        return estimate;
    };
    let (mut at, mut total) = (0u64, 0u64);
    while at < len {
        let hole = match seek(&file, SeekFrom::Hole(at)) {
            Ok(hole) => hole,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return estimate,
        };
        if hole >= len {
            break;
        }
        let data = match seek(&file, SeekFrom::Data(hole)) {
            Ok(data) => data.min(len),
            Err(rustix::io::Errno::NXIO) => len, // a hole to the end
            Err(_) => return estimate,
        };
        total += data - hole;
        at = data;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_files_count_as_unbacked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = std::fs::File::create(dir.path().join("sparse")).expect("create");
        file.set_len(64 * MIB).expect("extend");
        std::fs::write(dir.path().join("dense"), vec![1u8; 1 << 20]).expect("write");
        let unbacked = unbacked_bytes(dir.path()).expect("walk");
        assert!((63 * MIB..=64 * MIB).contains(&unbacked), "{unbacked}");
    }

    #[test]
    fn holes_between_data_are_counted_and_data_is_not() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gappy");
        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(&vec![1u8; 1 << 20]).expect("write");
        file.seek(SeekFrom::Start(4 << 20)).expect("seek");
        file.write_all(&vec![1u8; 1 << 20]).expect("write");
        file.set_len(8 << 20).expect("extend");
        file.sync_all().expect("sync");
        let metadata = std::fs::metadata(&path).expect("metadata");
        let found = holes(&path, &metadata);
        assert!((5 * MIB..=6 * MIB).contains(&found), "{found}");
    }

    #[test]
    fn checks_reuse_a_recent_walk_only_while_twice_the_reserve_is_free() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sparse = |name: &str| {
            let file = std::fs::File::create(dir.path().join(name)).expect("create");
            file.set_len(64 * MIB).expect("extend");
        };
        sparse("first");
        let reserve_for = |share: f64| {
            let headroom = DiskGuard::new(dir.path(), Some(dir.path().to_path_buf()), 0)
                .measure()
                .expect("measured")
                .headroom_bytes();
            (headroom as f64 * share) as u64
        };

        // Ample room: the second check, within the second, reuses the first one's walk...
        let guard = DiskGuard::new(dir.path(), Some(dir.path().to_path_buf()), MIB);
        let first = guard.check().expect("room").unbacked_bytes;
        assert!(first >= 63 * MIB, "{first}");
        sparse("second");
        assert_eq!(guard.check().expect("room").unbacked_bytes, first);
        // ...while a measurement always walks.
        assert!(guard.measure().expect("measured").unbacked_bytes >= first + 63 * MIB);

        // Less than twice the reserve free: every check walks again.
        let guard = DiskGuard::new(dir.path(), Some(dir.path().to_path_buf()), reserve_for(0.6));
        let before = guard.check().expect("room").unbacked_bytes;
        sparse("third");
        let after = guard.check().expect("room").unbacked_bytes;
        assert!(after >= before + 63 * MIB, "{before} then {after}");
    }

    #[test]
    fn the_reserve_is_measured_after_the_holes() {
        let space = DiskSpace {
            available_bytes: 300 * MIB,
            unbacked_bytes: 100 * MIB,
            reserve_bytes: 256 * MIB,
        };
        assert_eq!(space.headroom_bytes(), 200 * MIB);
        assert!(!space.allows_writes());
        assert!(
            DiskSpace {
                unbacked_bytes: 0,
                ..space
            }
            .allows_writes()
        );
    }
}
