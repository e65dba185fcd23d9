//! Rolling back writes a crash interrupted.
//!
//! Every ingest and delete records its document as "pending" (committed) before it touches the
//! vector index, and the transaction that commits or deletes the document's rows removes the
//! record. A record left behind means the process died between the two: the index may hold
//! vectors with no rows (which would rank, and take result slots), or rows may have lost their
//! vectors. Recovery settles an insert or delete as "the document is absent": its vectors are
//! deleted, then its rows (if any) and the record, in one transaction. A replacement (`replace`)
//! is settled as "the committed version stands": the document's points that are not its
//! committed chunks' are deleted (the new version's before the commit, the old one's after),
//! then the record.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::error::Result;

use super::IngestContext;

/// Rolls back every write recorded before `started_before` that no writer is still running;
/// returns how many. A record is claimed first (on PostgreSQL a live writer's transaction holds
/// it locked, in this process the in-flight set names it), so recovery never removes the
/// vectors of a write that is about to commit.
pub async fn recover_interrupted_writes(
    ctx: &IngestContext,
    started_before: DateTime<Utc>,
) -> Result<usize> {
    let pending = ctx.store.pending_writes(started_before).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    // Removing vectors writes to the index: not on a disk short of space.
    ctx.disk.check()?;
    let mut recovered = 0;
    for write in pending {
        let document_id = write.document_id;
        // Held until the record is settled: no write of the document starts meanwhile.
        let Some(_holding) = ctx.in_flight.try_enter(document_id) else {
            continue;
        };
        let Some(claim) = ctx
            .store
            .claim_pending_write(document_id, started_before)
            .await?
        else {
            continue;
        };
        let removed = if claim.write.replacing {
            stray_points(ctx, document_id).await
        } else {
            ctx.index
                .delete_document(document_id)
                .await
                .map_err(Into::into)
        };
        if let Err(err) = removed {
            claim.release().await;
            return Err(err);
        }
        let replacing = claim.write.replacing;
        let removed_rows = claim.settle().await?;
        if let Some(generation) = removed_rows {
            ctx.generation.advanced(generation).await;
        }
        recovered += 1;
        metrics::counter!("selfrag_interrupted_writes_recovered_total").increment(1);
        if replacing {
            tracing::warn!(
                document = %document_id,
                "settled a replacement that was interrupted (crash or kill): the committed \
                 version stands; ingest the document again if it is the old one"
            );
        } else {
            tracing::warn!(
                document = %document_id,
                had_rows = removed_rows.is_some(),
                "rolled back a write that was interrupted (crash or kill): the document's \
                 vectors and rows are removed; ingest it again"
            );
        }
    }
    Ok(recovered)
}

/// Deletes the document's points that are not among its committed chunks.
async fn stray_points(ctx: &IngestContext, document_id: uuid::Uuid) -> Result<()> {
    let committed: HashSet<uuid::Uuid> = ctx
        .store
        .chunks_of_documents(&[document_id])
        .await?
        .remove(&document_id)
        .unwrap_or_default()
        .into_iter()
        .map(|chunk| chunk.id)
        .collect();
    remove_points_except(ctx, document_id, &committed).await
}

/// Deletes every point of the document but those in `keep`.
async fn remove_points_except(
    ctx: &IngestContext,
    document_id: uuid::Uuid,
    keep: &HashSet<uuid::Uuid>,
) -> Result<()> {
    let stray: Vec<uuid::Uuid> = ctx
        .index
        .document_points(document_id)
        .await?
        .into_iter()
        .filter(|id| !keep.contains(id))
        .collect();
    Ok(ctx.index.delete_points(stray).await?)
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
