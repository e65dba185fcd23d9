//! Semantic search: validate → result cache → (embed the query, cached) → vector index →
//! hydrate the hits with their chunks and documents.
//!
//! Results are cached hydrated, so an L1 hit touches neither the model, the index nor the
//! database. Their key includes the corpus generation, which every ingest and delete bumps:
//! a cached result never outlives the data it came from.

use std::sync::Arc;
use std::time::Instant;

use crate::cache::{CacheKey, CacheValue, CorpusGeneration, Level, TieredCache};
use crate::config::Limits;
use crate::embed::{Embedder, Reading, Vector, WordPieces};
use crate::error::{Error, Result};
use crate::store::{Chunk, Document, MetadataStore};
use crate::vector::{ScoredPoint, VectorFilter, VectorIndex, VectorQuery};

/// The parts a search uses, borrowed for the call: nothing else of the server is reachable
/// from here.
#[derive(Clone, Copy)]
pub struct SearchContext<'a> {
    pub limits: &'a Limits,
    pub embedder: &'a dyn Embedder,
    pub index: &'a dyn VectorIndex,
    pub store: &'a MetadataStore,
    /// Query embeddings, by model and text.
    pub embeddings: &'a TieredCache<Vec<f32>>,
    /// Hydrated results, by request and corpus generation.
    pub results: &'a TieredCache<CachedSearch>,
    pub generation: &'a CorpusGeneration,
    /// How much of the query the model reads.
    pub word_pieces: &'a WordPieces,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub limit: usize,
    pub threshold: Option<f32>,
    pub filter: VectorFilter,
}

/// One hit, hydrated.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchHit {
    pub score: f32,
    pub chunk: Chunk,
    pub document: Document,
}

/// What the result cache holds for one search.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedSearch {
    pub hits: Vec<SearchHit>,
    /// What the model read of the query: it embeds the first 254 word pieces; keyword search,
    /// when there is one, will use the whole text.
    pub query_reading: Reading,
    /// The corpus generation the hits were computed at.
    pub generation: u64,
}

impl CacheValue for CachedSearch {
    fn weight(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.hits
            .iter()
            .map(|hit| {
                let doc = &hit.document;
                std::mem::size_of::<SearchHit>()
                    + hit.chunk.content.len()
                    + text(&doc.title)
                    + text(&doc.source)
                    + text(&doc.doc_type)
                    + text(&doc.author)
                    + doc.tags.iter().map(|t| t.len() + 24).sum::<usize>()
                    + doc.metadata.as_ref().map_or(0, |m| m.to_string().len())
                    + doc.content_hash.len()
            })
            .sum::<usize>()
            + std::mem::size_of::<Self>()
    }
}

#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The query as searched (trimmed, inner whitespace collapsed).
    pub query: String,
    pub result: Arc<CachedSearch>,
    /// Where the result came from.
    pub level: Level,
    pub took_ms: f64,
}

/// Trims and collapses runs of whitespace: the model's tokenizer splits on whitespace, so
/// these variants embed identically and should share cache entries.
pub fn normalize_query(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn validate(mut request: SearchRequest, limits: &Limits) -> Result<SearchRequest> {
    request.query = normalize_query(&request.query);
    if request.query.is_empty() {
        return Err(Error::bad_input("query must not be empty"));
    }
    let chars = request.query.chars().count();
    if chars > limits.max_query_chars {
        return Err(Error::bad_input(format!(
            "query is {chars} characters; the limit is {} (limits.max_query_chars)",
            limits.max_query_chars
        )));
    }
    if request.limit == 0 || request.limit > limits.max_search_limit {
        return Err(Error::bad_input(format!(
            "limit must be between 1 and {} (limits.max_search_limit)",
            limits.max_search_limit
        )));
    }
    if let Some(threshold) = request.threshold
        && !(-1.0..=1.0).contains(&threshold)
    {
        return Err(Error::bad_input("threshold must be between -1 and 1"));
    }
    Ok(request)
}

/// Checks the texts of an `embed` call: 1 to `limits.max_embed_texts` of them, none empty or
/// longer than `limits.max_query_chars`; an error names the text (`texts[i]`).
pub fn validate_texts(texts: &[String], limits: &Limits) -> Result<()> {
    if texts.is_empty() || texts.len() > limits.max_embed_texts {
        return Err(Error::bad_input(format!(
            "texts must hold 1 to {} entries (limits.max_embed_texts)",
            limits.max_embed_texts
        )));
    }
    for (i, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            return Err(Error::bad_input(format!("texts[{i}] is empty")));
        }
        if text.chars().count() > limits.max_query_chars {
            return Err(Error::bad_input(format!(
                "texts[{i}] is longer than {} characters (limits.max_query_chars)",
                limits.max_query_chars
            )));
        }
    }
    Ok(())
}

/// The result-cache key: everything that changes the answer.
fn result_key(request: &SearchRequest, model: &str, generation: u64) -> CacheKey {
    let mut tags = request.filter.tags.clone();
    tags.sort();
    tags.dedup();
    let mut ids: Vec<String> = request
        .filter
        .document_ids
        .iter()
        .map(|id| id.to_string())
        .collect();
    ids.sort();
    ids.dedup();
    let threshold = request.threshold.map(f32::to_bits).unwrap_or(u32::MAX);
    CacheKey::of(&[
        model.as_bytes(),
        &generation.to_le_bytes(),
        request.query.as_bytes(),
        &(request.limit as u64).to_le_bytes(),
        &threshold.to_le_bytes(),
        tags.join("\u{1f}").as_bytes(),
        request
            .filter
            .doc_type
            .as_deref()
            .unwrap_or("\u{0}")
            .as_bytes(),
        request
            .filter
            .source
            .as_deref()
            .unwrap_or("\u{0}")
            .as_bytes(),
        ids.join(",").as_bytes(),
    ])
}

/// The embedding-cache key of a text under a model.
pub fn embedding_key(model: &str, text: &str) -> CacheKey {
    CacheKey::of(&[model.as_bytes(), text.as_bytes()])
}

/// Embeds one text through the embedding cache.
pub async fn embed_cached(ctx: &SearchContext<'_>, text: &str) -> Result<(Arc<Vector>, Level)> {
    let key = embedding_key(&ctx.embedder.model().name, text);
    ctx.embeddings
        .get_or_compute(key, || async {
            ctx.embedder
                .embed(vec![text.to_owned()])
                .await?
                .pop()
                .ok_or_else(|| Error::internal(anyhow::anyhow!("the embedder returned no vector")))
        })
        .await
}

pub async fn search(ctx: &SearchContext<'_>, request: SearchRequest) -> Result<SearchOutcome> {
    let started = Instant::now();
    let request = validate(request, ctx.limits)?;
    let generation = ctx.generation.current().await;
    let key = result_key(&request, &ctx.embedder.model().name, generation);
    let (result, level) = ctx
        .results
        .get_or_compute(key, || compute(ctx, &request, generation))
        .await?;
    Ok(SearchOutcome {
        query: request.query,
        result,
        level,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

async fn compute(
    ctx: &SearchContext<'_>,
    request: &SearchRequest,
    generation: u64,
) -> Result<CachedSearch> {
    let (vector, _) = embed_cached(ctx, &request.query).await?;
    let mut fetch = request.limit;
    let mut round = 1;
    loop {
        let started = Instant::now();
        let points = ctx
            .index
            .search(VectorQuery {
                vector: vector.as_ref().clone(),
                limit: fetch,
                threshold: request.threshold,
                filter: request.filter.clone(),
                exact: false,
            })
            .await?;
        metrics::histogram!("selfrag_vector_search_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let found = points.len();
        let mut hits = hydrate(ctx.store, points).await?;
        let skipped = found - hits.len();
        if skipped > 0 {
            metrics::counter!("selfrag_search_points_without_rows_total").increment(skipped as u64);
        }
        // Points without rows (a write in flight, or one a crash cut short before recovery)
        // must not take a result slot: ask the index for more until the page is full, the
        // index has no more, or the rounds run out.
        let exhausted = found < fetch;
        let widest = fetch >= request.limit + MAX_EXTRA_POINTS;
        if hits.len() >= request.limit || exhausted || widest || round == MAX_FETCH_ROUNDS {
            hits.truncate(request.limit);
            return Ok(CachedSearch {
                hits,
                query_reading: ctx.word_pieces.read(&request.query),
                generation,
            });
        }
        fetch = (fetch * 2 + skipped).min(request.limit + MAX_EXTRA_POINTS);
        round += 1;
    }
}

/// Searches widen at most this many times to make up for points without rows …
const MAX_FETCH_ROUNDS: usize = 4;
/// … and ask for at most this many points beyond the page.
const MAX_EXTRA_POINTS: usize = 1_000;

/// The hits' chunks and documents, in two batched queries whatever their number. A point whose
/// rows do not exist (deleted after the vector search, or never committed) is dropped.
async fn hydrate(store: &MetadataStore, points: Vec<ScoredPoint>) -> Result<Vec<SearchHit>> {
    let chunk_ids: Vec<_> = points.iter().map(|p| p.id).collect();
    let document_ids: Vec<_> = points.iter().map(|p| p.document_id).collect();
    let (mut chunks, documents) = tokio::try_join!(
        store.chunks_by_ids(&chunk_ids),
        store.documents_by_ids(&document_ids),
    )?;
    Ok(points
        .into_iter()
        .filter_map(|point| {
            Some(SearchHit {
                score: point.score,
                chunk: chunks.remove(&point.id)?,
                document: documents.get(&point.document_id)?.clone(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, limit: usize, threshold: Option<f32>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            limit,
            threshold,
            filter: VectorFilter::default(),
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let limits = Limits::default();
        assert!(validate(request("  ", 10, None), &limits).is_err());
        assert!(validate(request("q", 0, None), &limits).is_err());
        assert!(validate(request("q", 101, None), &limits).is_err());
        assert!(validate(request("q", 100, Some(1.0)), &limits).is_ok());
        assert!(validate(request("q", 10, Some(1.01)), &limits).is_err());
        assert!(validate(request("q", 10, Some(f32::NAN)), &limits).is_err());
        assert_eq!(
            validate(request(" q \n r ", 1, None), &limits)
                .expect("valid")
                .query,
            "q r"
        );
    }

    #[test]
    fn result_keys_cover_everything_that_changes_the_answer() {
        let base =
            validate(request("bees  in winter", 10, None), &Limits::default()).expect("valid");
        let key =
            |r: &SearchRequest, model: &str, generation: u64| result_key(r, model, generation);
        let k = key(&base, "m", 1);
        assert_eq!(
            k,
            key(
                &validate(request(" bees in winter ", 10, None), &Limits::default())
                    .expect("valid"),
                "m",
                1
            )
        );
        assert_ne!(k, key(&base, "m", 2), "generation");
        assert_ne!(k, key(&base, "other", 1), "model");
        let mut changed = base.clone();
        changed.limit = 11;
        assert_ne!(k, key(&changed, "m", 1), "limit");
        let mut changed = base.clone();
        changed.threshold = Some(0.5);
        assert_ne!(k, key(&changed, "m", 1), "threshold");
        let mut a = base.clone();
        a.filter.tags = vec!["x".into(), "y".into()];
        let mut b = base.clone();
        b.filter.tags = vec!["y".into(), "x".into(), "x".into()];
        assert_eq!(
            key(&a, "m", 1),
            key(&b, "m", 1),
            "tag order does not matter"
        );
        assert_ne!(k, key(&a, "m", 1), "tags");
        let mut changed = base.clone();
        changed.filter.doc_type = Some("note".into());
        assert_ne!(k, key(&changed, "m", 1), "type");
        let mut changed = base;
        changed.filter.source = Some("".into());
        assert_ne!(k, key(&changed, "m", 1), "an empty source is not no source");
    }
}
