//! Replacing a stored document (ingested again under its external id): same id, new content,
//! fields and chunks, all or nothing.
//!
//! Chunks whose text did not change keep their vectors (read back from the index) instead of
//! going through the model again. The new chunks get new point ids, so the old version stays
//! whole and searchable until the rows' transaction commits; its points are removed after.
//! The pending record is marked `replacing`: recovery then keeps whichever version is
//! committed and removes the points that are not its chunks' (the new ones before the commit,
//! the old ones after), instead of removing the document.

use std::collections::{HashMap, HashSet};
use std::time::Instant;
use tracing::Instrument as _;

use uuid::Uuid;

use super::IngestContext;
use super::events::IngestStatus;
use super::pipeline::{
    IngestOutcome, IngestRequest, Plan, Prepared, Version, elapsed_ms, forget_pending_write,
    ingest_again, points, prepare, refresh_generation, untouched,
};
use crate::embed::Vector;
use crate::error::{Error, Result};
use crate::store::{self, Document, NewDocument, ReplaceError};

/// A new version of a stored document, chunked, with the vectors of its chunks whose text
/// recurs; the rest wait for the model.
pub(super) struct Replacement {
    /// The version this replaces, as planned.
    existing: Document,
    request: IngestRequest,
    hash: String,
    prepared: Prepared,
    old_ids: Vec<Uuid>,
    /// Per chunk: the old vector when its text recurs, else `None` until `write`.
    vectors: Vec<Option<Vec<f32>>>,
    /// The chunks without a vector, in order.
    missing: Vec<usize>,
    started: Instant,
}

impl Replacement {
    pub(super) fn texts(&self) -> Box<dyn Iterator<Item = &str> + Send + '_> {
        Box::new(
            self.missing
                .iter()
                .map(|&i| self.prepared.chunks[i].content.as_str()),
        )
    }

    /// The content hash and external id this replacement stores.
    pub(super) fn claims(&self) -> (&str, Option<&str>) {
        (self.hash.as_str(), self.request.external_id.as_deref())
    }

    /// The request again, with its content, to start over.
    fn into_request(self) -> IngestRequest {
        IngestRequest {
            content: self.prepared.content,
            ..self.request
        }
    }
}

/// Plans replacing `existing` with `request` (whose content hashes to `hash`): `Unchanged`
/// when content and every field are as stored; otherwise the new chunks, with the vectors of
/// the old chunks whose text recurs (read back from the index, by text).
pub(super) async fn plan(
    ctx: &IngestContext,
    existing: Document,
    request: IngestRequest,
    hash: String,
    started: Instant,
) -> Result<Plan> {
    if existing.content_hash == hash && same_fields(&existing, &request) {
        let outcome = untouched(existing, IngestStatus::Unchanged, started);
        return Ok(Plan::Unchanged(Box::new((outcome, request))));
    }
    ctx.disk.check_writable()?;
    let mut request = request;
    let content = std::mem::take(&mut request.content);
    let prepared = prepare(ctx, content, request.layout.clone()).await?;
    let old_chunks = ctx
        .store
        .chunks_of_documents(&[existing.id])
        .await?
        .remove(&existing.id)
        .unwrap_or_default();
    let old_ids: Vec<Uuid> = old_chunks.iter().map(|c| c.id).collect();
    let old_by_text: HashMap<&str, Uuid> = old_chunks
        .iter()
        .map(|c| (c.content.as_str(), c.id))
        .collect();
    let recurring: Vec<Uuid> = prepared
        .chunks
        .iter()
        .filter_map(|c| old_by_text.get(c.content.as_str()).copied())
        .collect();
    let old_vectors = ctx.index.vectors(recurring).await?;
    let vectors: Vec<Option<Vec<f32>>> = prepared
        .chunks
        .iter()
        .map(|c| {
            old_by_text
                .get(c.content.as_str())
                .and_then(|old| old_vectors.get(old))
                .cloned()
        })
        .collect();
    let missing = (0..vectors.len())
        .filter(|&i| vectors[i].is_none())
        .collect();
    Ok(Plan::Replace(Box::new(Replacement {
        existing,
        request,
        hash,
        prepared,
        old_ids,
        vectors,
        missing,
        started,
    })))
}

/// Writes a planned replacement with the vectors of its missing chunks, all or nothing. If
/// another write of the document came first, plans again on top of it.
pub(super) async fn write(
    ctx: &IngestContext,
    replacement: Replacement,
    embedded: Vec<Vector>,
    embedding_ms: f64,
) -> Result<IngestOutcome> {
    let id = replacement.existing.id;
    // One write of a document at a time here. The version replaced is read again under that
    // lock: a write that came first since the plan makes this one start over on its result.
    let writing = ctx.in_flight.enter(id).await;
    let current = ctx.store.documents_by_ids(&[id]).await?.remove(&id);
    // Changed or deleted since the plan: start over on what is stored now (a deleted
    // document is then ingested anew, as it would be if sent again).
    if current.is_none_or(|current| current.revision != replacement.existing.revision) {
        drop(writing);
        return ingest_again(ctx, replacement.into_request()).await;
    }
    let Replacement {
        existing,
        request,
        hash,
        prepared,
        old_ids,
        mut vectors,
        missing,
        started,
    } = replacement;
    if embedded.len() != missing.len() {
        return Err(Error::internal(anyhow::anyhow!(
            "the model returned {} vectors for {} chunks",
            embedded.len(),
            missing.len()
        )));
    }
    let chunks_reused = vectors.len() - missing.len();
    for (i, vector) in missing.into_iter().zip(embedded) {
        vectors[i] = Some(vector);
    }
    let vectors: Vec<Vec<f32>> = vectors.into_iter().flatten().collect();
    let chunks = &prepared.chunks;

    // New point ids: the old version's points stay untouched until the commit.
    let new_ids: Vec<Uuid> = chunks.iter().map(|_| Uuid::new_v4()).collect();
    let stored = prepared.stored_chunks(id, &new_ids);
    let Prepared { content, terms, .. } = prepared;
    let document = request.into_document(
        Version {
            id,
            created_at: existing.created_at,
            revision: existing.revision + 1,
            updated_at: Some(store::now()),
        },
        hash,
        stored.len(),
    );
    let points = points(&document, &stored, vectors, terms);
    let chunks_created = stored.len();
    let new = NewDocument {
        document: document.clone(),
        content,
    };

    ctx.store.record_pending_write(id, true).await?;
    let pending = match ctx.store.begin_replace(new, stored).await {
        Ok(pending) => pending,
        Err(err) => {
            forget_pending_write(ctx, id).await;
            return Err(match err {
                ReplaceError::Conflict => Error::conflict(format!(
                    "document {id} was changed or deleted while it was being replaced; send it again"
                )),
                ReplaceError::Store(err) => err.into(),
            });
        }
    };
    if let Err(err) = ctx
        .index
        .upsert(points)
        .instrument(tracing::info_span!("vector.upsert"))
        .await
    {
        let _ = pending.rollback().await;
        discard_points(ctx, id, new_ids).await;
        return Err(err.into());
    }
    crate::fault::point(crate::fault::REPLACE_AFTER_VECTOR_WRITE).await;
    match pending.commit().await {
        Ok(generation) => ctx.generation.advanced(generation).await,
        // The COMMIT may have gone through before the error (a connection lost after it was
        // sent): the stored revision tells which version stands.
        Err(err) => match committed(ctx, id, &new_ids).await {
            Some(true) => refresh_generation(ctx).await,
            Some(false) => {
                discard_points(ctx, id, new_ids).await;
                return Err(err.into());
            }
            // Unknown: the record stays, and recovery keeps whichever version committed.
            None => return Err(err.into()),
        },
    }
    crate::fault::point(crate::fault::REPLACE_AFTER_COMMIT).await;
    // The old version's points, now that nothing refers to them. Only those: another
    // replica's replacement of the same document may have points written and not yet
    // committed (leftovers of an interrupted attempt are recovery's, under its claim).
    discard_points(ctx, id, old_ids).await;
    tracing::info!(
        document = %id,
        revision = document.revision,
        chunks = chunks_created,
        reused = chunks_reused,
        embedding_ms,
        "document replaced"
    );
    Ok(IngestOutcome {
        document,
        status: IngestStatus::Updated,
        chunks_created,
        chunks_embedded: chunks_created - chunks_reused,
        chunks_reused,
        embedding_ms,
        total_ms: elapsed_ms(started),
    })
}

/// Answers `Unchanged` if the document is still the version planned against, checked under
/// its lock, so that a request waiting behind another write of the document compares with
/// that write's result; otherwise starts over.
pub(super) async fn confirm_unchanged(
    ctx: &IngestContext,
    outcome: IngestOutcome,
    request: IngestRequest,
) -> Result<IngestOutcome> {
    let id = outcome.document.id;
    let writing = ctx.in_flight.enter(id).await;
    let current = ctx.store.documents_by_ids(&[id]).await?.remove(&id);
    if current.is_some_and(|current| current.revision == outcome.document.revision) {
        return Ok(outcome);
    }
    drop(writing);
    ingest_again(ctx, request).await
}

/// Whether this write's chunks are the document's committed ones (their ids are random, so
/// only this write has them); `None` when the store cannot say.
async fn committed(ctx: &IngestContext, id: Uuid, new_ids: &[Uuid]) -> Option<bool> {
    let mut chunks = ctx.store.chunks_of_documents(&[id]).await.ok()?;
    let ours: HashSet<&Uuid> = new_ids.iter().collect();
    Some(
        chunks
            .remove(&id)
            .unwrap_or_default()
            .iter()
            .any(|chunk| ours.contains(&chunk.id)),
    )
}

/// Whether the request's fields are those stored (the content is compared by hash).
fn same_fields(existing: &Document, request: &IngestRequest) -> bool {
    existing.title == request.title
        && existing.source == request.source
        && existing.doc_type == request.doc_type
        && existing.author == request.author
        && existing.tags == request.tags
        && existing.metadata == request.metadata
}

/// Removes points a replacement no longer needs (its own when it failed, the old version's
/// when it committed), then its pending record. Failing leaves the record, and recovery removes
/// whatever points are not the committed version's; logged, not raised.
async fn discard_points(ctx: &IngestContext, id: Uuid, points: Vec<Uuid>) {
    match ctx.index.delete_points(points).await {
        Ok(()) => forget_pending_write(ctx, id).await,
        Err(err) => tracing::error!(
            document = %id,
            error = %err,
            "cannot remove the points of a replaced version; recovery will retry"
        ),
    }
}
