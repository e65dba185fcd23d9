//! Keyword vectors for points written before keyword search existed: the upgrade of an old
//! index, run at start (before the server answers, so no search is ever half-keyword) and by
//! `selfrag reindex`.
//!
//! The index itself says what is left (points without a keyword vector), so the upgrade
//! resumes wherever a crash or a restart stopped it, and costs one count when nothing is left.

use std::collections::HashSet;

use crate::error::Result;
use crate::vector::IndexError;

use super::IngestContext;

/// Points weighted per round trip: one chunk read and one index write each.
const BATCH: usize = 256;

/// How far the upgrade is, for progress bars and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordProgress {
    pub done: u64,
    pub total: u64,
}

/// What to do when the index's keyword vectors were computed with other settings than the
/// configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeywordRebuild {
    /// Refuse (the server: mixing weights of two settings would skew every keyword score).
    #[default]
    Never,
    /// Compute every keyword vector again (`selfrag reindex`).
    IfChanged,
    /// Compute every keyword vector again even when the settings are the same
    /// (`selfrag reindex --all`).
    Always,
}

/// Checks the settings the index's keyword vectors were computed with against the configured
/// ones; on a difference, refuses or (as `rebuild` says) removes every keyword vector, so that
/// [`fill_missing_keywords`] computes them all again. Call [`record_keyword_settings`] once
/// that has finished: a crash in between leaves the old settings recorded, and the next run
/// clears again rather than trusting half-computed vectors.
pub async fn check_keyword_settings(
    ctx: &IngestContext,
    rebuild: KeywordRebuild,
) -> std::result::Result<(), IndexError> {
    let configured = ctx.keywords.fingerprint();
    let recorded = ctx.index.keyword_settings().await?;
    let changed = recorded
        .as_deref()
        .is_some_and(|recorded| recorded != configured);
    match (rebuild, changed) {
        (KeywordRebuild::Never, true) => Err(IndexError::KeywordSettingsMismatch {
            path: "the vector index".into(),
            recorded: recorded.unwrap_or_default(),
            configured: configured.to_owned(),
        }),
        (KeywordRebuild::Always, _) | (KeywordRebuild::IfChanged, true) => {
            tracing::info!(
                recorded = recorded.as_deref().unwrap_or("none"),
                configured,
                "computing every keyword vector again"
            );
            ctx.index.clear_keywords().await
        }
        _ => Ok(()),
    }
}

/// Records the configured keyword settings as those of every keyword vector in the index.
pub async fn record_keyword_settings(ctx: &IngestContext) -> std::result::Result<(), IndexError> {
    let configured = ctx.keywords.fingerprint();
    if ctx.index.keyword_settings().await?.as_deref() != Some(configured) {
        ctx.index.record_keyword_settings(configured).await?;
    }
    Ok(())
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
