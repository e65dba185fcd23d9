//! Ingest: validate → deduplicate → chunk → embed → store metadata and vectors, all or nothing.
//!
//! Before the vectors are written, the document is recorded as a pending write (committed), and
//! the rows' transaction removes that record: a crash in between leaves the record, and
//! `recovery` removes the vectors at the next start. Writes are refused while the data
//! directory is short of space (`disk`).
//!
//! The metadata rows are written in a transaction that commits only after the vectors are stored;
//! if the vector write fails the transaction rolls back, and if the commit fails the vectors are
//! deleted again. Identical content is stored once: a lookup by hash answers the common case, the
//! unique constraint on the hash settles concurrent ingests (from this or another replica).

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::store::{self, Chunk, Document, InsertError, NewDocument};
use crate::vector::VectorPoint;

use super::IngestContext;

#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    pub content: String,
    pub title: Option<String>,
    pub source: Option<String>,
    pub doc_type: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub document: Document,
    pub chunks_created: usize,
    pub deduplicated: bool,
    pub embedding_ms: f64,
    pub total_ms: f64,
}

/// SHA-256 of the exact bytes, hex-encoded: the identity used for deduplication.
pub fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Checks a request against the configured limits and normalises it (trimmed fields, tags
/// deduplicated in order). Nothing is touched before every input of a batch has passed.
///
/// U+0000 is refused in every text field and inside metadata, on every backend: PostgreSQL
/// cannot store it in text or JSON, and a character SQLite would keep but PostgreSQL refuses
/// would make the same request succeed or fail depending on the deployment.
pub fn validate(mut request: IngestRequest, limits: &Limits) -> Result<IngestRequest> {
    refuse_nul("content", &request.content)?;
    if let Some(metadata) = &request.metadata
        && json_has_nul(metadata)
    {
        return Err(Error::bad_input(
            "metadata contains the character U+0000, which cannot be stored; remove it",
        ));
    }
    if request.content.trim().is_empty() {
        return Err(Error::bad_input("content must not be empty"));
    }
    if request.content.len() > limits.max_content_bytes {
        return Err(Error::bad_input(format!(
            "content is {} bytes; the limit is {} (limits.max_content_bytes)",
            request.content.len(),
            limits.max_content_bytes
        )));
    }
    let field = |name: &str, value: Option<String>| -> Result<Option<String>> {
        let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        refuse_nul(name, &value)?;
        if value.chars().count() > limits.max_field_chars {
            return Err(Error::bad_input(format!(
                "{name} is longer than {} characters (limits.max_field_chars)",
                limits.max_field_chars
            )));
        }
        Ok(Some(value))
    };
    request.title = field("title", request.title)?;
    request.source = field("source", request.source)?;
    request.doc_type = field("type", request.doc_type)?;
    request.author = field("author", request.author)?;
    let mut tags: Vec<String> = Vec::with_capacity(request.tags.len());
    for tag in std::mem::take(&mut request.tags) {
        let tag =
            field("tag", Some(tag))?.ok_or_else(|| Error::bad_input("tags must not be empty"))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > limits.max_tags {
        return Err(Error::bad_input(format!(
            "more than {} tags (limits.max_tags)",
            limits.max_tags
        )));
    }
    request.tags = tags;
    if let Some(metadata) = &request.metadata {
        if !metadata.is_object() {
            return Err(Error::bad_input("metadata must be a JSON object"));
        }
        let size = serde_json::to_vec(metadata)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > limits.max_metadata_bytes {
            return Err(Error::bad_input(format!(
                "metadata is {size} bytes serialised; the limit is {} (limits.max_metadata_bytes)",
                limits.max_metadata_bytes
            )));
        }
    }
    Ok(request)
}

/// A `BAD_INPUT` naming `field` when `value` holds U+0000.
fn refuse_nul(field: &str, value: &str) -> Result<()> {
    match value.find('\0') {
        Some(at) => Err(Error::bad_input(format!(
            "{field} contains the character U+0000 at byte {at}, which cannot be stored; remove it"
        ))),
        None => Ok(()),
    }
}

/// Whether any string or key in `value` holds U+0000. Metadata is bounded in size and in
/// nesting (serde_json's limit), so the recursion is too.
fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

/// Ingests one validated request (see [`validate`]).
pub async fn ingest(ctx: &IngestContext, request: IngestRequest) -> Result<IngestOutcome> {
    let started = Instant::now();
    let hash = content_hash(&request.content);
    if let Some(existing) = ctx.store.find_by_hash(&hash).await? {
        return Ok(deduplicated(existing, started));
    }
    ctx.disk.check_writable()?;

    let chunker = Arc::clone(&ctx.chunker);
    let keywords = Arc::clone(&ctx.keywords);
    // Chunking and keyword weighting are CPU work: off the async threads, together.
    let (content, (chunks, terms)) = tokio::task::spawn_blocking(move || {
        let chunks = chunker.chunk(&request.content);
        let terms: Vec<_> = chunks
            .iter()
            .map(|c| keywords.document(&c.content))
            .collect();
        (request, (chunks, terms))
    })
    .await
    .map_err(|err| Error::internal(anyhow::anyhow!("chunking failed: {err}")))?;
    let request = content;

    let embedding_started = Instant::now();
    let vectors = ctx
        .embedder
        .embed(chunks.iter().map(|c| c.content.clone()).collect())
        .await?;
    let embedding_ms = elapsed_ms(embedding_started);

    let id = Uuid::new_v4();
    let stored_chunks: Vec<Chunk> = chunks
        .into_iter()
        .map(|c| Chunk {
            id: chunk_id(id, c.index),
            document_id: id,
            index: c.index,
            content: c.content,
            start_char: c.start_char,
            end_char: c.end_char,
            token_count: c.token_count,
        })
        .collect();
    let points: Vec<VectorPoint> = stored_chunks
        .iter()
        .zip(vectors)
        .zip(terms)
        .map(|((chunk, vector), keywords)| VectorPoint {
            id: chunk.id,
            document_id: id,
            vector,
            keywords,
            tags: request.tags.clone(),
            doc_type: request.doc_type.clone(),
            source: request.source.clone(),
        })
        .collect();
    let document = Document {
        id,
        title: request.title,
        source: request.source,
        doc_type: request.doc_type,
        author: request.author,
        tags: request.tags,
        metadata: request.metadata,
        content_hash: hash.clone(),
        chunk_count: stored_chunks.len(),
        created_at: store::now(),
    };
    let chunks_created = stored_chunks.len();
    let new = NewDocument {
        document: document.clone(),
        content: request.content,
    };

    // Committed before the index is touched; the rows' own transaction removes it. Left
    // behind by a crash, it tells recovery to remove the vectors written below.
    let _writing = ctx.in_flight.enter(id);
    ctx.store.record_pending_write(id).await?;
    let pending = match ctx.store.begin_insert(new, stored_chunks).await {
        Ok(pending) => pending,
        Err(InsertError::Duplicate) => {
            forget_pending_write(ctx, id).await;
            // Stored a moment ago by a concurrent ingest: answer with that document.
            let existing = ctx.store.find_by_hash(&hash).await?.ok_or_else(|| {
                Error::internal(anyhow::anyhow!("duplicate content hash {hash} vanished"))
            })?;
            return Ok(deduplicated(existing, started));
        }
        Err(InsertError::Store(err)) => {
            forget_pending_write(ctx, id).await;
            return Err(err.into());
        }
    };
    if let Err(err) = ctx.index.upsert(points).await {
        let _ = pending.rollback().await;
        // The upsert may have partly applied before failing.
        discard_vectors(ctx, id).await;
        return Err(err.into());
    }
    crate::fault::point(crate::fault::AFTER_VECTOR_WRITE).await;
    let generation = match pending.commit().await {
        Ok(generation) => generation,
        Err(err) => {
            discard_vectors(ctx, id).await;
            return Err(err.into());
        }
    };
    ctx.generation.advanced(generation).await;
    tracing::info!(document = %id, chunks = chunks_created, embedding_ms, "document ingested");
    Ok(IngestOutcome {
        document,
        chunks_created,
        deduplicated: false,
        embedding_ms,
        total_ms: elapsed_ms(started),
    })
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
async fn forget_pending_write(ctx: &IngestContext, id: Uuid) {
    if let Err(err) = ctx.store.forget_pending_write(id).await {
        tracing::warn!(document = %id, error = %err, "cannot drop a pending-write record");
    }
}

/// Deletes a document's vectors, then its rows. Returns whether it existed.
///
/// Vectors go first: if the row delete then fails, a retry finishes the job, whereas rows
/// deleted first would leave orphan vectors that nothing points at.
pub async fn delete_document(ctx: &IngestContext, id: Uuid) -> Result<bool> {
    if ctx.store.documents_by_ids(&[id]).await?.is_empty() {
        return Ok(false);
    }
    ctx.disk.check_writable()?;
    // A crash after the vectors go leaves this record; recovery then removes the rows too.
    let _deleting = ctx.in_flight.enter(id);
    ctx.store.record_pending_write(id).await?;
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

fn deduplicated(document: Document, started: Instant) -> IngestOutcome {
    IngestOutcome {
        chunks_created: 0,
        document,
        deduplicated: true,
        embedding_ms: 0.0,
        total_ms: elapsed_ms(started),
    }
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content: &str) -> IngestRequest {
        IngestRequest {
            content: content.into(),
            ..IngestRequest::default()
        }
    }

    #[test]
    fn blank_and_oversized_content_is_refused() {
        let limits = Limits {
            max_content_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            validate(request(" \n\t"), &limits),
            Err(Error::BadInput(_))
        ));
        assert!(matches!(
            validate(request("01234567890"), &limits),
            Err(Error::BadInput(_))
        ));
        assert!(validate(request("0123456789"), &limits).is_ok());
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated_in_order() {
        let mut req = request("text");
        req.tags = vec![" b ".into(), "a".into(), "b".into()];
        let req = validate(req, &Limits::default()).expect("valid");
        assert_eq!(req.tags, vec!["b".to_string(), "a".to_string()]);
        let mut req = request("text");
        req.tags = vec!["  ".into()];
        assert!(validate(req, &Limits::default()).is_err());
    }

    #[test]
    fn nul_is_refused_in_every_field_naming_it() {
        let refused = |req: IngestRequest, field: &str| match validate(req, &Limits::default()) {
            Err(Error::BadInput(message)) => assert!(message.starts_with(field), "{message}"),
            other => panic!("{field}: expected BAD_INPUT, got {other:?}"),
        };
        refused(request("a\0b"), "content");
        let mut req = request("text");
        req.title = Some("t\0".into());
        refused(req, "title");
        let mut req = request("text");
        req.tags = vec!["x\0".into()];
        refused(req, "tag");
        let mut req = request("text");
        req.metadata = Some(serde_json::json!({"a": [{"b": "c\u{0}"}]}));
        refused(req, "metadata");
        let mut req = request("text");
        req.metadata = Some(serde_json::json!({"k\u{0}": 1}));
        refused(req, "metadata");
    }

    #[test]
    fn metadata_must_be_an_object() {
        let mut req = request("text");
        req.metadata = Some(serde_json::json!([1, 2]));
        assert!(validate(req, &Limits::default()).is_err());
    }

    #[test]
    fn chunk_ids_are_stable_and_distinct() {
        let doc = Uuid::new_v4();
        assert_eq!(chunk_id(doc, 3), chunk_id(doc, 3));
        assert_ne!(chunk_id(doc, 3), chunk_id(doc, 4));
    }
}
