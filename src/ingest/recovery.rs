//! Rolling back writes a crash interrupted.
//!
//! Every ingest and delete records its document as "pending" (committed) before it touches the
//! vector index, and the transaction that commits or deletes the document's rows removes the
//! record. A record left behind means the process died between the two: the index may hold
//! vectors with no rows (which would rank, and take result slots), or rows may have lost their
//! vectors. Recovery settles each one the same way, as "the document is absent": its vectors
//! are deleted, then its rows (if any) and the record, in one transaction.

use chrono::{DateTime, Utc};

use crate::error::Result;

use super::IngestContext;

/// Rolls back every write recorded before `started_before`; returns how many.
pub async fn recover_interrupted_writes(
    ctx: &IngestContext,
    started_before: DateTime<Utc>,
) -> Result<usize> {
    let pending = ctx.store.pending_writes(started_before).await?;
    for &document_id in &pending {
        ctx.index.delete_document(document_id).await?;
        let removed_rows = ctx.store.delete_document(document_id).await?;
        if let Some(generation) = removed_rows {
            ctx.generation.advanced(generation).await;
        }
        metrics::counter!("selfrag_interrupted_writes_recovered_total").increment(1);
        tracing::warn!(
            document = %document_id,
            had_rows = removed_rows.is_some(),
            "rolled back a write that was interrupted (crash or kill): the document's vectors \
             and rows are removed; ingest it again"
        );
    }
    Ok(pending.len())
}

/// Recovers, every minute, the writes older than `grace` (`storage.interrupted_write_grace_secs`: a
/// replica that crashed mid-write on a shared index, or a clean-up that failed in process).
pub fn spawn_periodic_recovery(
    ctx: IngestContext,
    grace: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            let before = Utc::now() - grace;
            if let Err(err) = recover_interrupted_writes(&ctx, before).await {
                tracing::error!(error = %err, "recovering interrupted writes failed; will retry");
            }
        }
    })
}
