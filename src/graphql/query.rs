//! Read-only root fields.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use uuid::Uuid;

use super::access::spend;
use super::errors::ApiResult;
use super::loaders::{DocumentKey, Loaders};
use super::reports::{CacheAnalytics, HealthReport, PerformanceReport};
use super::types::{
    CacheLevel, Chunk, CollectionStats, Document, DocumentFilter, DocumentRef, Embedding,
    FusionInput, SearchFilter, SearchHit, SearchMode, SearchResult,
};
use crate::cache::Level;
use crate::error::Error;
use crate::health;
use crate::ratelimit::BudgetKind;
use crate::search::{self, SearchRequest, Weights};
use crate::services::Services;
use crate::store::DocumentCursor;

pub struct Query;

#[Object]
impl Query {
    /// Search over every chunk, by meaning (`DENSE`: the query's embedding against the
    /// chunks'), by words (`KEYWORD`: BM25) or both fused (`HYBRID`, the default). `limit` is
    /// 1..100 (limits.max_search_limit) and `offset` 0..1000 (limits.max_search_offset): pages
    /// of one request are stable. `threshold` drops hits whose cosine similarity is below it
    /// (-1..1), in every mode. `diversity` (0..1, MMR) trades relevance for variety so that
    /// near-identical chunks do not fill a page; `groupByDocument` keeps each document's best
    /// chunk. Spends 1 from the caller's `search` budget.
    #[graphql(complexity = "(limit.unwrap_or(10).clamp(1, 1_000) as usize) * child_complexity")]
    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default = 10)] limit: Option<i32>,
        #[graphql(default)] offset: i32,
        threshold: Option<f64>,
        filter: Option<SearchFilter>,
        mode: Option<SearchMode>,
        fusion: Option<FusionInput>,
        #[graphql(default)] diversity: f64,
        #[graphql(default)] group_by_document: bool,
    ) -> ApiResult<SearchResult> {
        spend(ctx, BudgetKind::Search, 1).await?;
        let services = ctx.data_unchecked::<Services>();
        let (fusion, weights) = match fusion {
            Some(fusion) => {
                let (fusion, weights) = fusion.into_parts(services.config.search.rrf_k);
                (Some(fusion), weights)
            }
            None => (None, Weights::default()),
        };
        let request = SearchRequest {
            query,
            limit: usize::try_from(limit.unwrap_or(10)).unwrap_or(0),
            offset: usize::try_from(offset)
                .map_err(|_| Error::bad_input("offset must not be negative"))?,
            threshold: threshold.map(|t| t as f32),
            filter: filter.unwrap_or_default().into_vector_filter()?,
            mode: mode.map(Into::into),
            fusion,
            weights,
            diversity: diversity as f32,
            group_by_document,
        };
        let outcome = search::search(&services.search_context(), request).await?;
        let hits: Vec<SearchHit> = outcome
            .result
            .hits
            .iter()
            .map(|hit| SearchHit {
                score: hit.score,
                dense_score: hit.dense_score,
                keyword_score: hit.keyword_score,
                matched_chunks: hit.matched_chunks,
                highlights: hit.highlights.iter().copied().map(Into::into).collect(),
                chunk: Chunk(hit.chunk.clone()),
                document: Document(hit.document.clone()),
            })
            .collect();
        Ok(SearchResult {
            query: outcome.query,
            mode: outcome.result.mode.into(),
            total_hits: hits.len(),
            hits,
            took_ms: outcome.took_ms,
            cache_hit: outcome.level != Level::Computed,
            cache_level: CacheLevel::of(outcome.level),
            query_truncated: outcome.result.query_reading.truncated,
            query_word_pieces: outcome.result.query_reading.word_pieces,
        })
    }

    /// Embeds texts with the server's model (unit-length vectors). Up to 256 texts
    /// (limits.max_embed_texts), each up to limits.max_query_chars characters; text beyond the
    /// model's 256 word pieces is not read. Spends one per text from the `search` budget.
    #[graphql(complexity = "texts.len().max(1) * child_complexity")]
    async fn embed(&self, ctx: &Context<'_>, texts: Vec<String>) -> ApiResult<Vec<Embedding>> {
        let services = ctx.data_unchecked::<Services>();
        search::validate_texts(&texts, &services.config.limits)?;
        spend(ctx, BudgetKind::Search, texts.len()).await?;
        // Concurrent lookups: the misses reach the embedder together and share one batch.
        let context = services.search_context();
        let vectors = futures_util::future::try_join_all(
            texts
                .iter()
                .map(|text| search::embed_cached(&context, text)),
        )
        .await?;
        let model = services.embedder.model();
        Ok(texts
            .into_iter()
            .zip(vectors)
            .map(|(text, (vector, level))| {
                let reading = services.word_pieces.read(&text);
                Embedding {
                    text,
                    dimensions: vector.len(),
                    vector: vector.as_ref().clone(),
                    model: model.name.clone(),
                    cached: level != Level::Computed,
                    truncated: reading.truncated,
                    word_pieces: reading.word_pieces,
                }
            })
            .collect())
    }

    /// One document by `id` or by `externalId` (give one); NOT_FOUND when there is none.
    async fn document(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> ApiResult<Document> {
        let found = match DocumentRef::of(id, external_id)? {
            DocumentRef::Id(id) => {
                ctx.data_unchecked::<Loaders>()
                    .load_one(DocumentKey(id))
                    .await?
            }
            DocumentRef::External(external_id) => ctx
                .data_unchecked::<Services>()
                .store
                .find_by_external_id(&external_id)
                .await
                .map_err(Error::from)?,
        };
        found
            .map(Document)
            .ok_or_else(|| Error::not_found("no document with that id or externalId").into())
    }

    /// Documents, newest first, as a cursor connection. `first` defaults to 20, at most
    /// limits.max_page_size.
    #[graphql(complexity = "(first.unwrap_or(20).clamp(1, 1_000) as usize) * child_complexity")]
    async fn documents(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DocumentFilter>,
    ) -> ApiResult<Connection<String, Document>> {
        let services = ctx.data_unchecked::<Services>();
        let first = services.config.limits.page_size(first)?;
        let after = after.as_deref().map(decode_cursor).transpose()?;
        let mut page = services
            .store
            .list_documents(&filter.unwrap_or_default().into(), after, first as u64 + 1)
            .await?;
        let has_next = page.len() > first;
        page.truncate(first);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            page.into_iter()
                .map(|doc| Edge::new(encode_cursor(&DocumentCursor::of(&doc)), Document(doc))),
        );
        Ok(connection)
    }

    /// Readiness and each dependency's check (the same as `GET /health/ready`).
    async fn health(&self, ctx: &Context<'_>) -> HealthReport {
        health::readiness(ctx.data_unchecked::<Services>())
            .await
            .into()
    }

    /// The last minute of requests, host and process figures, pools and cache (the same as
    /// `GET /health/metrics`).
    async fn performance_metrics(&self, ctx: &Context<'_>) -> PerformanceReport {
        health::performance(ctx.data_unchecked::<Services>())
            .await
            .into()
    }

    /// Hits, misses, sizes and state of both cache levels, per namespace and overall.
    async fn cache_analytics(&self, ctx: &Context<'_>) -> CacheAnalytics {
        ctx.data_unchecked::<Services>()
            .cache
            .analytics()
            .await
            .into()
    }

    /// Sizes of the corpus and the model that embeds it.
    async fn collection_stats(&self, ctx: &Context<'_>) -> ApiResult<CollectionStats> {
        let services = ctx.data_unchecked::<Services>();
        let (documents, chunks, index) = tokio::try_join!(
            async { services.store.count_documents().await.map_err(Error::from) },
            async { services.store.count_chunks().await.map_err(Error::from) },
            async { services.index.status().await.map_err(Error::from) },
        )?;
        let model = services.embedder.model();
        Ok(CollectionStats {
            documents,
            chunks,
            vectors: index.vectors,
            indexed_vectors: index.indexed_vectors,
            dimensions: model.dimensions,
            model: model.name.clone(),
            vector_backend: index.backend.to_string(),
            metadata_backend: services.store.backend_name().to_string(),
        })
    }
}

const CURSOR_VERSION: &str = "d1";

/// Opaque to clients: `d1:<created_at µs>:<id>`, base64url.
pub fn encode_cursor(cursor: &DocumentCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{CURSOR_VERSION}:{}:{}",
        cursor.created_at.timestamp_micros(),
        cursor.id
    ))
}

pub fn decode_cursor(text: &str) -> Result<DocumentCursor, Error> {
    let malformed =
        || Error::bad_input("malformed cursor: pass back an endCursor from a previous page");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.splitn(3, ':');
    let (Some(CURSOR_VERSION), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let micros: i64 = micros.parse().map_err(|_| malformed())?;
    Ok(DocumentCursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or_else(malformed)?,
        id: Uuid::parse_str(id).map_err(|_| malformed())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = DocumentCursor {
            created_at: crate::store::now(),
            id: Uuid::new_v4(),
        };
        assert_eq!(
            decode_cursor(&encode_cursor(&cursor)).expect("round trip"),
            cursor
        );
        for bad in ["", "!!!", "ZDE6eDp5", &URL_SAFE_NO_PAD.encode("d2:1:x")] {
            assert!(
                matches!(decode_cursor(bad), Err(Error::BadInput(_))),
                "{bad}"
            );
        }
    }
}
