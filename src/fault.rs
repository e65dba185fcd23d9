//! Fault points: places where a test can stop the process at a precise moment, as a crash or
//! `kill -9` there would, to prove that what it leaves behind is recovered.
//!
//! Only debug builds have them (the test suite runs the debug binary); in release builds
//! [`point`] is an empty inline function. A debug process whose `SELFRAG_FAULT_POINT` names a
//! point writes the file named by `SELFRAG_FAULT_MARKER` when it reaches it, then stops there
//! for good, holding whatever it holds, until the test kills it.

/// Ingest: the vectors are written and flushed, the rows not yet committed.
pub const AFTER_VECTOR_WRITE: &str = "ingest.after_vector_write";
/// Replacement: the new version's vectors are written, its rows not yet committed.
pub const REPLACE_AFTER_VECTOR_WRITE: &str = "replace.after_vector_write";
/// Replacement: the new version is committed, the old version's vectors not yet removed.
pub const REPLACE_AFTER_COMMIT: &str = "replace.after_commit";

#[cfg(debug_assertions)]
pub async fn point(name: &str) {
    use std::sync::OnceLock;
    static ARMED: OnceLock<Option<(String, Option<String>)>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| {
        let point = std::env::var("SELFRAG_FAULT_POINT").ok()?;
        Some((point, std::env::var("SELFRAG_FAULT_MARKER").ok()))
    });
    let Some((point, marker)) = armed else { return };
    if point != name {
        return;
    }
    tracing::warn!(
        point = name,
        "fault point reached: stopping here until killed"
    );
    if let Some(marker) = marker {
        let _ = std::fs::write(marker, name);
    }
    std::future::pending::<()>().await;
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub async fn point(_name: &str) {}
