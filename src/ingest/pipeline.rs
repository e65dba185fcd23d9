//! Ingest: validate → deduplicate (or find the document an external id names) → chunk → embed
//! → store metadata and vectors, all or nothing. Replacing a stored document is `replace`.
//!
//! Before the vectors are written, the document is recorded as a pending write (committed), and
//! the rows' transaction removes that record: a crash in between leaves the record, and
//! `recovery` removes the vectors at the next start. Writes are refused while the data
//! directory is short of space (`disk`).
//!
//! The metadata rows are written in a transaction that commits only after the vectors are stored;
//! if the vector write fails the transaction rolls back, and if the commit fails the vectors are
//! deleted again. Identical content without an external id is stored once: a lookup by hash
//! answers the common case, the unique constraint on the hash settles concurrent ingests (from
//! this or another replica). A document with an external id is found by it instead.

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::embed::Vector;
use crate::error::{Error, Result};
use crate::keywords::SparseVector;
use crate::store::{self, Chunk, Document, InsertError, NewDocument};
use crate::vector::VectorPoint;

use super::IngestContext;
use super::chunker::TextChunk;
use super::events::IngestStatus;
use crate::formats::{Layout, Outline};

#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    pub content: String,
    pub title: Option<String>,
    pub source: Option<String>,
    pub doc_type: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Value>,
    /// The client's name for the document: ingesting again under it replaces the document.
    pub external_id: Option<String>,
    /// How `content` is structured (Markdown, pages), from its format.
    pub layout: Layout,
}

#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub document: Document,
    /// `Ingested`, `Deduplicated`, `Updated` or `Unchanged`.
    pub status: IngestStatus,
    /// Chunks written (0 when nothing changed).
    pub chunks_created: usize,
    /// Chunks that went through the model.
    pub chunks_embedded: usize,
    /// Chunks of a replacement whose text was unchanged, which kept their vectors.
    pub chunks_reused: usize,
    pub embedding_ms: f64,
    pub total_ms: f64,
}

/// Which version of a document a write makes.
pub(super) struct Version {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub revision: u32,
    pub updated_at: Option<DateTime<Utc>>,
}

impl IngestRequest {
    /// The document this request describes at `version` (its content goes separately).
    pub(super) fn into_document(
        self,
        version: Version,
        content_hash: String,
        chunk_count: usize,
    ) -> Document {
        Document {
            id: version.id,
            title: self.title,
            source: self.source,
            doc_type: self.doc_type,
            author: self.author,
            tags: self.tags,
            metadata: self.metadata,
            content_hash,
            chunk_count,
            created_at: version.created_at,
            external_id: self.external_id,
            revision: version.revision,
            updated_at: version.updated_at,
        }
    }
}

/// SHA-256 of the exact bytes, hex-encoded: the identity used for deduplication.
pub fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Ingests one validated request (see [`validate`](super::validate)): plans it, embeds the
/// chunks it needs, writes it. A batch does the same across documents (`batch`).
pub async fn ingest(ctx: &IngestContext, request: IngestRequest) -> Result<IngestOutcome> {
    let plan = plan(ctx, request).await?;
    let texts: Vec<String> = plan.texts().map(str::to_owned).collect();
    let embedding_started = Instant::now();
    let vectors = if texts.is_empty() {
        Vec::new()
    } else {
        ctx.embedder.embed(texts).await?
    };
    let embedding_ms = elapsed_ms(embedding_started);
    write(ctx, plan, vectors, embedding_ms).await
}

/// What a document needs before it can be written, found without writing anything: its
/// outcome when nothing is to be written, else its chunks and which of them need the model.
pub(super) enum Plan {
    /// Deduplicated: the outcome is known.
    Done(Box<IngestOutcome>),
    /// The stored document already has this content and these fields, as planned; confirmed
    /// under the document's lock at write time (`replace::confirm_unchanged`).
    Unchanged(Box<(IngestOutcome, IngestRequest)>),
    /// A new document.
    Insert(Box<Insertion>),
    /// A new version of a stored document (`replace`).
    Replace(Box<super::replace::Replacement>),
}

/// A new document, chunked and waiting for its vectors.
pub(super) struct Insertion {
    request: IngestRequest,
    hash: String,
    prepared: Prepared,
    started: Instant,
}

impl Plan {
    /// The texts that need the model, in the order `write` takes their vectors.
    pub(super) fn texts(&self) -> Box<dyn Iterator<Item = &str> + Send + '_> {
        match self {
            Plan::Done(_) | Plan::Unchanged(_) => Box::new(std::iter::empty()),
            Plan::Insert(insertion) => {
                Box::new(insertion.prepared.chunks.iter().map(|c| c.content.as_str()))
            }
            Plan::Replace(replacement) => replacement.texts(),
        }
    }

    /// Whether this plan would store `request`'s content or external id, so that a later
    /// request with either must wait until it is written (to be deduplicated or replace it).
    pub(super) fn claims(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Plan::Done(_) => None,
            Plan::Unchanged(unchanged) => Some((
                unchanged.0.document.content_hash.as_str(),
                unchanged.1.external_id.as_deref(),
            )),
            Plan::Insert(insertion) => Some((
                insertion.hash.as_str(),
                insertion.request.external_id.as_deref(),
            )),
            Plan::Replace(replacement) => Some(replacement.claims()),
        }
    }
}

/// Finds what a request needs: a known outcome (deduplicated, unchanged), or its chunks and
/// the texts to embed. Writes nothing.
pub(super) async fn plan(ctx: &IngestContext, request: IngestRequest) -> Result<Plan> {
    let started = Instant::now();
    let hash = content_hash(&request.content);
    match request.external_id.as_deref() {
        None => {
            if let Some(existing) = ctx.store.find_by_hash(&hash).await? {
                return Ok(Plan::Done(Box::new(untouched(
                    existing,
                    IngestStatus::Deduplicated,
                    started,
                ))));
            }
        }
        Some(external_id) => {
            if let Some(existing) = ctx.store.find_by_external_id(external_id).await? {
                return super::replace::plan(ctx, existing, request, hash, started).await;
            }
        }
    }
    ctx.disk.check_writable()?;
    let mut request = request;
    let content = std::mem::take(&mut request.content);
    let prepared = prepare(ctx, content, request.layout.clone()).await?;
    Ok(Plan::Insert(Box::new(Insertion {
        request,
        hash,
        prepared,
        started,
    })))
}

/// Writes a planned document with the vectors of `plan.texts()`, all or nothing.
pub(super) async fn write(
    ctx: &IngestContext,
    plan: Plan,
    vectors: Vec<Vector>,
    embedding_ms: f64,
) -> Result<IngestOutcome> {
    match plan {
        Plan::Done(outcome) => Ok(*outcome),
        Plan::Unchanged(unchanged) => {
            let (outcome, request) = *unchanged;
            super::replace::confirm_unchanged(ctx, outcome, request).await
        }
        Plan::Insert(insertion) => insert(ctx, *insertion, vectors, embedding_ms).await,
        Plan::Replace(replacement) => {
            super::replace::write(ctx, *replacement, vectors, embedding_ms).await
        }
    }
}

/// Plans, embeds and writes a request from the start: for a request whose plan went stale
/// before its write (another write of the same document or content came first).
pub(super) fn ingest_again(
    ctx: &IngestContext,
    request: IngestRequest,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<IngestOutcome>> + Send + '_>> {
    Box::pin(ingest(ctx, request))
}

/// A text split into chunks, with each chunk's keyword weights and place (heading path, page).
pub(super) struct Prepared {
    pub content: String,
    pub chunks: Vec<TextChunk>,
    pub terms: Vec<SparseVector>,
    pub headings: Vec<Vec<String>>,
    pub pages: Vec<Option<u32>>,
}

/// Chunks a text, weighs each chunk's keywords and finds where it sits: CPU work, off the
/// async threads.
pub(super) async fn prepare(
    ctx: &IngestContext,
    content: String,
    layout: Layout,
) -> Result<Prepared> {
    let chunker = Arc::clone(&ctx.chunker);
    let keywords = Arc::clone(&ctx.keywords);
    tokio::task::spawn_blocking(move || {
        let chunks = chunker.chunk(&content, layout.markdown);
        let terms = chunks
            .iter()
            .map(|c| keywords.document(&c.content))
            .collect();
        let outline = layout.markdown.then(|| Outline::of(&content));
        let headings = chunks
            .iter()
            .map(|c| {
                outline
                    .as_ref()
                    .map_or_else(Vec::new, |o| o.path_at(c.start_char).to_vec())
            })
            .collect();
        let pages = chunks
            .iter()
            .map(|c| layout.page_at(c.start_char))
            .collect();
        Prepared {
            content,
            chunks,
            terms,
            headings,
            pages,
        }
    })
    .await
    .map_err(|err| Error::internal(anyhow::anyhow!("chunking failed: {err}")))
}

impl Prepared {
    /// The stored chunks of `document_id`, with their point ids.
    pub(super) fn stored_chunks(&self, document_id: Uuid, ids: &[Uuid]) -> Vec<Chunk> {
        self.chunks
            .iter()
            .zip(ids)
            .zip(self.headings.iter().zip(&self.pages))
            .map(|((c, &id), (headings, page))| Chunk {
                id,
                document_id,
                index: c.index,
                content: c.content.clone(),
                start_char: c.start_char,
                end_char: c.end_char,
                token_count: c.token_count,
                headings: headings.clone(),
                page: *page,
            })
            .collect()
    }
}

/// The index points of a document's chunks: vectors, keyword weights and the filter fields.
pub(super) fn points(
    document: &Document,
    chunks: &[Chunk],
    vectors: Vec<Vec<f32>>,
    terms: Vec<SparseVector>,
) -> Vec<VectorPoint> {
    chunks
        .iter()
        .zip(vectors)
        .zip(terms)
        .map(|((chunk, vector), keywords)| VectorPoint {
            id: chunk.id,
            document_id: document.id,
            vector,
            keywords,
            tags: document.tags.clone(),
            doc_type: document.doc_type.clone(),
            source: document.source.clone(),
        })
        .collect()
}

/// A new document with its vectors, ready to be written: its rows and its points.
struct ReadyInsert {
    id: Uuid,
    document: Document,
    new: NewDocument,
    chunks: Vec<Chunk>,
    points: Vec<VectorPoint>,
    /// Kept to start over should a concurrent ingest store this content or external id first.
    again: IngestRequest,
    started: Instant,
    embedding_ms: f64,
}

impl ReadyInsert {
    fn of(insertion: Insertion, vectors: Vec<Vector>, embedding_ms: f64) -> Result<Self> {
        let Insertion {
            request,
            hash,
            prepared,
            started,
        } = insertion;
        if vectors.len() != prepared.chunks.len() {
            return Err(Error::internal(anyhow::anyhow!(
                "the model returned {} vectors for {} chunks",
                vectors.len(),
                prepared.chunks.len()
            )));
        }
        let id = Uuid::new_v4();
        let ids: Vec<Uuid> = prepared
            .chunks
            .iter()
            .map(|c| chunk_id(id, c.index))
            .collect();
        let chunks = prepared.stored_chunks(id, &ids);
        let Prepared { content, terms, .. } = prepared;
        let again = IngestRequest {
            content: content.clone(),
            ..request.clone()
        };
        let document = request.into_document(
            Version {
                id,
                created_at: store::now(),
                revision: 1,
                updated_at: None,
            },
            hash,
            chunks.len(),
        );
        let points = points(&document, &chunks, vectors, terms);
        let new = NewDocument {
            document: document.clone(),
            content,
        };
        Ok(ReadyInsert {
            id,
            document,
            new,
            chunks,
            points,
            again,
            started,
            embedding_ms,
        })
    }

    fn outcome(self) -> IngestOutcome {
        ingested(
            self.id,
            self.document,
            self.chunks.len(),
            self.embedding_ms,
            self.started,
        )
    }
}

/// The outcome of a new document written with `chunks_created` chunks.
fn ingested(
    id: Uuid,
    document: Document,
    chunks_created: usize,
    embedding_ms: f64,
    started: Instant,
) -> IngestOutcome {
    tracing::info!(document = %id, chunks = chunks_created, embedding_ms, "document ingested");
    IngestOutcome {
        document,
        status: IngestStatus::Ingested,
        chunks_created,
        chunks_embedded: chunks_created,
        chunks_reused: 0,
        embedding_ms,
        total_ms: elapsed_ms(started),
    }
}

/// Stores a new document. When the unique constraint finds its content (or external id)
/// stored a moment ago by a concurrent ingest, answers with that document (or replaces it).
async fn insert(
    ctx: &IngestContext,
    insertion: Insertion,
    vectors: Vec<Vector>,
    embedding_ms: f64,
) -> Result<IngestOutcome> {
    insert_ready(ctx, ReadyInsert::of(insertion, vectors, embedding_ms)?).await
}

async fn insert_ready(ctx: &IngestContext, ready: ReadyInsert) -> Result<IngestOutcome> {
    let ReadyInsert {
        id,
        document,
        new,
        chunks,
        points,
        again,
        started,
        embedding_ms,
    } = ready;
    let chunks_created = chunks.len();
    // Committed before the index is touched; the rows' own transaction removes it. Left
    // behind by a crash, it tells recovery to remove the vectors written below.
    let _writing = ctx.in_flight.enter(id).await;
    ctx.store.record_pending_write(id, false).await?;
    let pending = match ctx.store.begin_insert(new, chunks).await {
        Ok(pending) => pending,
        Err(InsertError::Duplicate) => {
            forget_pending_write(ctx, id).await;
            drop(_writing);
            return stored_meanwhile(ctx, again, started).await;
        }
        Err(InsertError::Store(err)) => {
            forget_pending_write(ctx, id).await;
            return Err(err.into());
        }
    };
    if let Err(err) = ctx
        .index
        .upsert(points)
        .instrument(tracing::info_span!("vector.upsert"))
        .await
    {
        let _ = pending.rollback().await;
        // The upsert may have partly applied before failing.
        discard_vectors(ctx, id).await;
        return Err(err.into());
    }
    crate::fault::point(crate::fault::AFTER_VECTOR_WRITE).await;
    match commit_inserts(ctx, pending, &[id]).await {
        Ok(()) => Ok(ingested(
            id,
            document,
            chunks_created,
            embedding_ms,
            started,
        )),
        Err(CommitFailed::NotCommitted(err) | CommitFailed::Unknown(err)) => Err(err),
    }
}

/// Why rows whose vectors are stored were not (known to be) committed.
enum CommitFailed {
    /// Not committed; the vectors were removed.
    NotCommitted(Error),
    /// The commit's answer was lost and the rows could not be read: the pending records stay,
    /// and recovery settles them. Nothing may be written again meanwhile.
    Unknown(Error),
}

/// Commits the rows of inserts whose vectors are stored. The COMMIT may have gone through
/// before an error (a connection lost after it was sent): the rows tell.
async fn commit_inserts(
    ctx: &IngestContext,
    pending: store::PendingInsert,
    ids: &[Uuid],
) -> std::result::Result<(), CommitFailed> {
    match pending.commit().await {
        Ok(generation) => {
            ctx.generation.advanced(generation).await;
            Ok(())
        }
        Err(err) => match ctx.store.documents_by_ids(ids).await {
            // One transaction: all of them, or none.
            Ok(found) if ids.iter().all(|id| found.contains_key(id)) => {
                refresh_generation(ctx).await;
                Ok(())
            }
            Ok(_) => {
                for &id in ids {
                    discard_vectors(ctx, id).await;
                }
                Err(CommitFailed::NotCommitted(err.into()))
            }
            Err(_) => Err(CommitFailed::Unknown(err.into())),
        },
    }
}

/// Writes planned documents with their vectors in order, each all or nothing, until one
/// fails: the outcomes of the written ones, then the failure, if any. Runs of new documents
/// are written as a group, with one pending-write statement, one transaction and one vector
/// write for all (a commit per group, not per document: on a 2-core machine the per-document
/// syncs cost bulk ingest a third of its speed). A group that fails is written again one
/// document at a time, so that each gets its own outcome and a failure stops at its document.
pub(super) async fn write_planned(
    ctx: &IngestContext,
    planned: Vec<(Plan, Vec<Vector>, f64)>,
) -> Vec<Result<IngestOutcome>> {
    let mut results = Vec::with_capacity(planned.len());
    let mut planned = planned.into_iter().peekable();
    while let Some((plan, vectors, embedding_ms)) = planned.next() {
        let insertion = match plan {
            Plan::Insert(insertion) => insertion,
            other => {
                let result = write(ctx, other, vectors, embedding_ms).await;
                let failed = result.is_err();
                results.push(result);
                if failed {
                    break;
                }
                continue;
            }
        };
        let mut group = vec![ReadyInsert::of(*insertion, vectors, embedding_ms)];
        while let Some((Plan::Insert(insertion), vectors, embedding_ms)) =
            planned.next_if(|(plan, _, _)| matches!(plan, Plan::Insert(_)))
        {
            group.push(ReadyInsert::of(*insertion, vectors, embedding_ms));
        }
        let failed = match insert_group(ctx, group).await {
            Ok(outcomes) => {
                results.extend(outcomes.into_iter().map(Ok));
                false
            }
            Err(GroupFailed::Unknown(err)) => {
                results.push(Err(err));
                true
            }
            Err(GroupFailed::Undone(group)) => {
                let mut failed = false;
                for ready in group {
                    let result = match ready {
                        Ok(ready) => insert_ready(ctx, ready).await,
                        Err(err) => Err(err),
                    };
                    failed = result.is_err();
                    results.push(result);
                    if failed {
                        break;
                    }
                }
                failed
            }
        };
        if failed {
            break;
        }
    }
    results
}

/// Why a group was not written.
enum GroupFailed {
    /// Undone (or never started): the group, to be written one document at a time.
    Undone(Vec<Result<ReadyInsert>>),
    /// Its commit's outcome is unknown: the batch stops at its first document, and recovery
    /// settles the group.
    Unknown(Error),
}

/// Writes a group of new documents at once: their pending records (one statement), their rows
/// (one transaction), their vectors (one write), one commit. A failure undoes the group and
/// hands it back, to be written one document at a time.
async fn insert_group(
    ctx: &IngestContext,
    group: Vec<Result<ReadyInsert>>,
) -> std::result::Result<Vec<IngestOutcome>, GroupFailed> {
    if group.len() < 2 || group.iter().any(Result::is_err) {
        return Err(GroupFailed::Undone(group));
    }
    let ready: Vec<ReadyInsert> = group.into_iter().flatten().collect();
    let back = |ready: Vec<ReadyInsert>| {
        GroupFailed::Undone(ready.into_iter().map(Ok).collect::<Vec<_>>())
    };
    let ids: Vec<Uuid> = ready.iter().map(|r| r.id).collect();
    let mut writing = Vec::with_capacity(ids.len());
    for &id in &ids {
        writing.push(ctx.in_flight.enter(id).await);
    }
    if ctx.store.record_pending_writes(&ids, false).await.is_err() {
        return Err(back(ready));
    }
    let rows = ready
        .iter()
        .map(|r| (r.new.clone(), r.chunks.clone()))
        .collect();
    let Ok(pending) = ctx.store.begin_insert_many(rows).await else {
        // A duplicate among them (a concurrent ingest), or the store: one at a time.
        for &id in &ids {
            forget_pending_write(ctx, id).await;
        }
        return Err(back(ready));
    };
    let points = ready
        .iter()
        .flat_map(|r| r.points.iter().cloned())
        .collect();
    if ctx
        .index
        .upsert(points)
        .instrument(tracing::info_span!("vector.upsert"))
        .await
        .is_err()
    {
        let _ = pending.rollback().await;
        for &id in &ids {
            discard_vectors(ctx, id).await;
        }
        return Err(back(ready));
    }
    crate::fault::point(crate::fault::AFTER_VECTOR_WRITE).await;
    match commit_inserts(ctx, pending, &ids).await {
        Ok(()) => {}
        Err(CommitFailed::NotCommitted(_)) => return Err(back(ready)),
        Err(CommitFailed::Unknown(err)) => return Err(GroupFailed::Unknown(err)),
    }
    drop(writing);
    Ok(ready.into_iter().map(ReadyInsert::outcome).collect())
}

/// The answer when a concurrent ingest (here or on another replica) stored the request's
/// content, or its external id, between its plan and its write: that document, deduplicated,
/// or replaced by this request.
async fn stored_meanwhile(
    ctx: &IngestContext,
    request: IngestRequest,
    started: Instant,
) -> Result<IngestOutcome> {
    match request.external_id.clone() {
        None => {
            let hash = content_hash(&request.content);
            let existing = ctx.store.find_by_hash(&hash).await?.ok_or_else(|| {
                Error::internal(anyhow::anyhow!("duplicate content hash {hash} vanished"))
            })?;
            Ok(untouched(existing, IngestStatus::Deduplicated, started))
        }
        Some(external_id) => match ctx.store.find_by_external_id(&external_id).await? {
            Some(_) => ingest_again(ctx, request).await,
            None => Err(Error::conflict(format!(
                "the document with externalId {external_id} changed while it was being \
                 ingested; send it again"
            ))),
        },
    }
}

/// Removes the vectors of an ingest that did not complete, then its pending record. Failing
/// here leaves the record, so recovery retries later (meanwhile search hydration skips the
/// orphan vectors); it is logged, not raised.
async fn discard_vectors(ctx: &IngestContext, id: Uuid) {
    match ctx.index.delete_document(id).await {
        Ok(()) => forget_pending_write(ctx, id).await,
        Err(err) => tracing::error!(
            document = %id,
            error = %err,
            "cannot remove vectors of a failed ingest; recovery will retry"
        ),
    }
}

/// Drops the pending record of a write that touched no vectors. Failing leaves it for
/// recovery, which then has nothing to remove.
pub(super) async fn forget_pending_write(ctx: &IngestContext, id: Uuid) {
    if let Err(err) = ctx.store.forget_pending_write(id).await {
        tracing::warn!(document = %id, error = %err, "cannot drop a pending-write record");
    }
}

/// Deletes a document's vectors, then its rows. Returns whether it existed.
///
/// Vectors go first: if the row delete then fails, a retry finishes the job, whereas rows
/// deleted first would leave orphan vectors that nothing points at.
pub async fn delete_document(ctx: &IngestContext, id: Uuid) -> Result<bool> {
    // After any write of the document running here, never beside it.
    let _deleting = ctx.in_flight.enter(id).await;
    if ctx.store.documents_by_ids(&[id]).await?.is_empty() {
        return Ok(false);
    }
    ctx.disk.check_writable()?;
    // A crash after the vectors go leaves this record; recovery then removes the rows too.
    ctx.store.record_pending_write(id, false).await?;
    ctx.index.delete_document(id).await?;
    match ctx.store.delete_document(id).await? {
        Some(generation) => {
            ctx.generation.advanced(generation).await;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A chunk's id, also its vector's point id: stable for a (document, position).
pub fn chunk_id(document_id: Uuid, index: usize) -> Uuid {
    Uuid::new_v5(&document_id, index.to_string().as_bytes())
}

/// Brings this process's corpus generation up to the store's (after a commit whose answer was
/// lost).
pub(super) async fn refresh_generation(ctx: &IngestContext) {
    match ctx.store.generation().await {
        Ok(generation) => ctx.generation.advanced(generation).await,
        Err(err) => tracing::warn!(error = %err, "cannot read the corpus generation"),
    }
}

/// The outcome of an ingest that wrote nothing: `document` is already the answer.
pub(super) fn untouched(
    document: Document,
    status: IngestStatus,
    started: Instant,
) -> IngestOutcome {
    IngestOutcome {
        document,
        status,
        chunks_created: 0,
        chunks_embedded: 0,
        chunks_reused: 0,
        embedding_ms: 0.0,
        total_ms: elapsed_ms(started),
    }
}

pub(super) fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_stable_and_distinct() {
        let doc = Uuid::new_v4();
        assert_eq!(chunk_id(doc, 3), chunk_id(doc, 3));
        assert_ne!(chunk_id(doc, 3), chunk_id(doc, 4));
    }
}
