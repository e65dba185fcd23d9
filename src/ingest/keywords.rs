//! Keyword vectors for points written before keyword search existed: the upgrade of an old
//! index, run at start (before the server answers, so no search is ever half-keyword) and by
//! `selfrag reindex`.
//!
//! The index itself says what is left (points without a keyword vector), so the upgrade
//! resumes wherever a crash or a restart stopped it, and costs one count when nothing is left.

use std::collections::HashSet;

use crate::error::Result;

use super::IngestContext;

/// Points weighted per round trip: one chunk read and one index write each.
const BATCH: usize = 256;

/// How far the upgrade is, for progress bars and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordProgress {
    pub done: u64,
    pub total: u64,
}

/// Gives every point without a keyword vector one, computed from its chunk's text; returns how
/// many. A point whose chunk row is gone (a write a crash cut short, left for recovery) gets an
/// empty one, which no keyword search matches.
pub async fn fill_missing_keywords(
    ctx: &IngestContext,
    mut on_progress: impl FnMut(KeywordProgress),
) -> Result<u64> {
    let total = ctx.index.count_without_keywords().await?;
    if total == 0 {
        return Ok(0);
    }
    ctx.disk.check_writable()?;
    let mut progress = KeywordProgress { done: 0, total };
    on_progress(progress);
    // Points the index still lists after they were given a vector (an empty vector may not
    // count as one) must not loop forever.
    let mut visited = HashSet::new();
    loop {
        let ids = ctx.index.without_keywords(BATCH).await?;
        let fresh: Vec<_> = ids.into_iter().filter(|id| visited.insert(*id)).collect();
        if fresh.is_empty() {
            break;
        }
        let chunks = ctx.store.chunks_by_ids(&fresh).await?;
        let keywords = std::sync::Arc::clone(&ctx.keywords);
        let points = tokio::task::spawn_blocking(move || {
            fresh
                .into_iter()
                .map(|id| {
                    let terms = chunks
                        .get(&id)
                        .map(|chunk| keywords.document(&chunk.content))
                        .unwrap_or_default();
                    (id, terms)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|err| {
            crate::Error::internal(anyhow::anyhow!("keyword weighting failed: {err}"))
        })?;
        let count = points.len() as u64;
        ctx.index.set_keywords(points).await?;
        progress.done += count;
        // Points written meanwhile arrive with their vectors; a count may still grow if an
        // older replica writes without them.
        progress.total = progress.total.max(progress.done);
        on_progress(progress);
    }
    // No cached result needs dropping: result keys name the search mode, which results
    // cached before keyword search did not have.
    Ok(progress.done)
}
