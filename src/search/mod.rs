//! Search: validate → result cache → (embed the query, cached; weigh its keywords) → the
//! index's candidates → fusion → shaping (diversity, grouping) → hydrate the page.
//!
//! Results are cached hydrated, so an L1 hit touches neither the model, the index nor the
//! database. Their key includes the corpus generation, which every ingest and delete bumps:
//! a cached result never outlives the data it came from.

mod fusion;
mod shaping;

pub use crate::config::SearchMode;
pub use fusion::{Fusion, Weights};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

use uuid::Uuid;

use crate::cache::{CacheKey, CacheValue, CorpusGeneration, Level, TieredCache};
use crate::config::{Limits, SearchConfig};
use crate::embed::{Embedder, Reading, Vector, WordPieces};
use crate::error::{Error, Result};
use crate::keywords::{Keywords, SparseVector, TextSpan};
use crate::store::{Chunk, Document, MetadataStore};
use crate::vector::{ScoredPoint, Target, VectorFilter, VectorIndex, VectorQuery};
use fusion::{Ranked, Side};
use shaping::Candidate;

/// The parts a search uses, borrowed for the call: nothing else of the server is reachable
/// from here.
#[derive(Clone, Copy)]
pub struct SearchContext<'a> {
    pub limits: &'a Limits,
    pub settings: &'a SearchConfig,
    pub keywords: &'a Keywords,
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
    /// Hits skipped before the page (stable: the same request ranks the same way).
    pub offset: usize,
    /// Lowest cosine similarity of a hit, in every mode.
    pub threshold: Option<f32>,
    pub filter: VectorFilter,
    /// `None`: `search.default_mode`.
    pub mode: Option<SearchMode>,
    /// `None`: RRF with `search.rrf_k`.
    pub fusion: Option<Fusion>,
    pub weights: Weights,
    /// 0 (off) to 1: how much MMR trades relevance for variety.
    pub diversity: f32,
    /// One hit per document: its best chunk.
    pub group_by_document: bool,
}

impl SearchRequest {
    /// A dense-or-default search of `query` with every option at its default.
    pub fn new(query: impl Into<String>, limit: usize) -> Self {
        SearchRequest {
            query: query.into(),
            limit,
            offset: 0,
            threshold: None,
            filter: VectorFilter::default(),
            mode: None,
            fusion: None,
            weights: Weights::default(),
            diversity: 0.0,
            group_by_document: false,
        }
    }
}

/// One hit, hydrated.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchHit {
    /// The mode's ranking score: cosine (dense), BM25 (keyword) or the fused score (hybrid).
    pub score: f32,
    /// Cosine similarity of query and chunk; `None` in keyword mode without a threshold.
    pub dense_score: Option<f32>,
    /// BM25 score; `None` in dense mode, or when the keyword side did not return the chunk.
    pub keyword_score: Option<f32>,
    /// With `group_by_document`: how many of the document's chunks were candidates.
    pub matched_chunks: Option<usize>,
    /// Where the chunk's words match the query's terms (after stemming).
    pub highlights: Vec<TextSpan>,
    pub chunk: Chunk,
    pub document: Document,
}

/// What the result cache holds for one search.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedSearch {
    pub hits: Vec<SearchHit>,
    /// The mode that ranked the hits (the request's, or the default).
    pub mode: SearchMode,
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
                    + hit.highlights.len() * std::mem::size_of::<TextSpan>()
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
    if request.offset > limits.max_search_offset {
        return Err(Error::bad_input(format!(
            "offset must be between 0 and {} (limits.max_search_offset)",
            limits.max_search_offset
        )));
    }
    if !(0.0..=1.0).contains(&request.diversity) {
        return Err(Error::bad_input("diversity must be between 0 and 1"));
    }
    let Weights { dense, keyword } = request.weights;
    if !(dense.is_finite() && keyword.is_finite() && dense >= 0.0 && keyword >= 0.0)
        || dense + keyword == 0.0
    {
        return Err(Error::bad_input(
            "fusion weights must be at least 0, and not both 0",
        ));
    }
    if let Some(Fusion::Rrf { k }) = request.fusion
        && !(k.is_finite() && k >= 1.0)
    {
        return Err(Error::bad_input("fusion k must be at least 1"));
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

/// The layout of a cached result (documents and chunks as the codec writes them): a new
/// version when their fields change, so that no replica reads another layout's L2 entries.
const RESULT_LAYOUT: &[u8] = b"result-v2";

/// The query as each side of the index reads it. Two queries read alike by both (the model's
/// normalized form, the keyword terms) get the same answer, so they share a result entry:
/// "Tokio runtime" and "tokio runtime" do; "Café" and "cafe" do only if the keyword side
/// also folds accents, since the model's does.
struct QueryAsRead {
    model_form: String,
    terms: SparseVector,
}

impl QueryAsRead {
    fn of(ctx: &SearchContext<'_>, query: &str) -> Self {
        QueryAsRead {
            model_form: ctx.word_pieces.model_form(query),
            terms: ctx.keywords.query(query),
        }
    }

    /// The terms' ids and weights, as bytes for a key.
    fn terms_bytes(&self) -> Vec<u8> {
        let ids = self.terms.indices.iter().map(|id| id.to_le_bytes());
        let weights = self.terms.values.iter().map(|w| w.to_bits().to_le_bytes());
        ids.chain(weights).flatten().collect()
    }
}

/// The result-cache key: everything that changes the answer. The mode and fusion come from the
/// plan, so a request naming the defaults shares the entry of one that does not; the query is
/// keyed as the model and the keyword side read it.
fn result_key(
    request: &SearchRequest,
    read: &QueryAsRead,
    plan: &Plan,
    model: &str,
    generation: u64,
) -> CacheKey {
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
    let mode: &[u8] = match plan.mode {
        SearchMode::Dense => b"dense",
        SearchMode::Keyword => b"keyword",
        SearchMode::Hybrid => b"hybrid",
    };
    let fusion = match plan.fusion {
        Fusion::Rrf { k } => {
            let [a, b, c, d] = k.to_bits().to_le_bytes();
            [1, a, b, c, d]
        }
        Fusion::Dbsf => [2, 0, 0, 0, 0],
    };
    let shaping = [
        request.weights.dense.to_bits().to_le_bytes(),
        request.weights.keyword.to_bits().to_le_bytes(),
        request.diversity.to_bits().to_le_bytes(),
        u32::from(request.group_by_document).to_le_bytes(),
    ]
    .concat();
    CacheKey::of(&[
        RESULT_LAYOUT,
        model.as_bytes(),
        &generation.to_le_bytes(),
        read.model_form.as_bytes(),
        &read.terms_bytes(),
        &(request.limit as u64).to_le_bytes(),
        &(request.offset as u64).to_le_bytes(),
        &threshold.to_le_bytes(),
        mode,
        &fusion,
        &shaping,
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

/// The embedding-cache key of a text under a model, given the text's model form
/// ([`WordPieces::model_form`]): texts the model reads alike share it.
pub fn embedding_key(model: &str, model_form: &str) -> CacheKey {
    CacheKey::of(&[model.as_bytes(), model_form.as_bytes()])
}

/// Embeds one text through the embedding cache.
pub async fn embed_cached(ctx: &SearchContext<'_>, text: &str) -> Result<(Arc<Vector>, Level)> {
    embed_read(ctx, text, &ctx.word_pieces.model_form(text)).await
}

/// [`embed_cached`] for a text whose model form is known (a search has read its query).
async fn embed_read(
    ctx: &SearchContext<'_>,
    text: &str,
    model_form: &str,
) -> Result<(Arc<Vector>, Level)> {
    let key = embedding_key(&ctx.embedder.model().name, model_form);
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
    let plan = Plan::of(&request, ctx.settings);
    let generation = ctx.generation.current().await;
    let read = QueryAsRead::of(ctx, &request.query);
    let key = result_key(
        &request,
        &read,
        &plan,
        &ctx.embedder.model().name,
        generation,
    );
    let (result, level) = ctx
        .results
        .get_or_compute(key, || compute(ctx, &request, plan, read, generation))
        .await?;
    Ok(SearchOutcome {
        query: request.query,
        result,
        level,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// What the request leaves to configuration, decided once: the mode and, for hybrid search,
/// the fusion.
#[derive(Debug, Clone, Copy)]
struct Plan {
    mode: SearchMode,
    fusion: Fusion,
}

impl Plan {
    fn of(request: &SearchRequest, settings: &SearchConfig) -> Self {
        Plan {
            mode: request.mode.unwrap_or(settings.default_mode),
            fusion: request.fusion.unwrap_or(Fusion::Rrf {
                k: settings.rrf_k as f32,
            }),
        }
    }
}

/// What the query becomes for each side of the index.
struct QueryForms {
    /// `None` in keyword mode without a threshold: the model is not run.
    vector: Option<Arc<Vector>>,
    /// The query's keyword terms: searched in keyword and hybrid mode, highlighted in all.
    terms: SparseVector,
}

async fn compute(
    ctx: &SearchContext<'_>,
    request: &SearchRequest,
    plan: Plan,
    read: QueryAsRead,
    generation: u64,
) -> Result<CachedSearch> {
    let needs_vector = plan.mode != SearchMode::Keyword || request.threshold.is_some();
    let vector = if needs_vector {
        Some(embed_read(ctx, &request.query, &read.model_form).await?.0)
    } else {
        None
    };
    let forms = QueryForms {
        vector,
        terms: read.terms,
    };
    let page_end = request.offset + request.limit;
    // Grouping keeps one chunk per document, so it needs more chunks than hits.
    let wanted = if request.group_by_document {
        page_end * GROUPING_FACTOR
    } else {
        page_end
    };
    // Fusion, diversity and grouping choose among more candidates than the page; a single
    // ranking, as is, needs only the page.
    let reshaped =
        plan.mode == SearchMode::Hybrid || request.diversity > 0.0 || request.group_by_document;
    let mut pool = if reshaped {
        wanted.max(ctx.settings.candidates)
    } else {
        wanted
    };
    let mut round = 1;
    loop {
        let started = Instant::now();
        let (candidates, exhausted) = candidates(ctx, request, plan, &forms, pool).await?;
        metrics::histogram!("selfrag_vector_search_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let shaped = shape(candidates, request, page_end);
        let (mut hits, skipped) = hydrate(ctx.store, shaped, page_end).await?;
        if skipped > 0 {
            metrics::counter!("selfrag_search_points_without_rows_total").increment(skipped as u64);
        }
        // Points without rows (a write in flight, or one a crash cut short before recovery)
        // must not take a result slot: ask the index for more until the page is full, the
        // index has no more, or the rounds run out.
        let widest = pool >= wanted + MAX_EXTRA_POINTS;
        if hits.len() >= page_end || exhausted || widest || round == MAX_FETCH_ROUNDS {
            let page: Vec<SearchHit> = hits
                .drain(..)
                .skip(request.offset)
                .take(request.limit)
                .map(|hit| highlighted(ctx.keywords, hit, &forms.terms))
                .collect();
            return Ok(CachedSearch {
                hits: page,
                mode: plan.mode,
                query_reading: ctx.word_pieces.read(&request.query),
                generation,
            });
        }
        pool = (pool * 2 + skipped).min(wanted + MAX_EXTRA_POINTS);
        round += 1;
    }
}

/// Grouping by document draws this many chunks per hit on the page.
const GROUPING_FACTOR: usize = 4;
/// Searches widen at most this many times to make up for points without rows …
const MAX_FETCH_ROUNDS: usize = 4;
/// … and ask for at most this many points beyond the page.
const MAX_EXTRA_POINTS: usize = 1_000;

/// The candidates of the mode, best first, and whether the index ran out before `pool`.
async fn candidates(
    ctx: &SearchContext<'_>,
    request: &SearchRequest,
    plan: Plan,
    forms: &QueryForms,
    pool: usize,
) -> Result<(Vec<Candidate>, bool)> {
    let diversity = request.diversity > 0.0;
    let dense_query = match (&forms.vector, plan.mode) {
        (Some(vector), SearchMode::Dense | SearchMode::Hybrid) => Some(VectorQuery {
            target: Target::Dense(vector.as_ref().clone()),
            limit: pool,
            threshold: request.threshold,
            filter: request.filter.clone(),
            exact: false,
            with_vectors: diversity,
        }),
        _ => None,
    };
    // A query of stopwords only has no terms: the keyword side then has nothing to find.
    let keyword_query = match plan.mode {
        SearchMode::Keyword | SearchMode::Hybrid if !forms.terms.is_empty() => Some(VectorQuery {
            target: Target::Keywords(forms.terms.clone()),
            limit: pool,
            threshold: None,
            filter: request.filter.clone(),
            exact: false,
            // Their cosine similarity is computed from them (threshold, `denseScore`).
            with_vectors: diversity || forms.vector.is_some(),
        }),
        _ => None,
    };
    let has_dense = dense_query.is_some();
    let queries: Vec<VectorQuery> = dense_query.into_iter().chain(keyword_query).collect();
    let mut lists = if queries.is_empty() {
        Vec::new()
    } else {
        let span = tracing::info_span!("vector.search", vector.queries = queries.len());
        ctx.index.search_many(queries).instrument(span).await?
    }
    .into_iter();
    let dense = if has_dense {
        lists.next().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut keyword = lists.next().unwrap_or_default();
    let exhausted = dense.len() < pool && keyword.len() < pool;

    // Keyword hits get their cosine similarity from their vectors, and the threshold applies.
    let mut cosine: HashMap<Uuid, f32> = HashMap::new();
    if let Some(query_vector) = &forms.vector {
        keyword.retain(|point| {
            let Some(vector) = &point.vector else {
                return true;
            };
            let similarity = shaping::dot(query_vector, vector);
            cosine.insert(point.id, similarity);
            request
                .threshold
                .is_none_or(|threshold| similarity >= threshold)
        });
    }
    // Each candidate as the index returned it (the dense side's copy when both did).
    let mut known: HashMap<Uuid, &ScoredPoint> = HashMap::new();
    for point in dense.iter().chain(&keyword) {
        known.entry(point.id).or_insert(point);
    }
    let ranked = |list: &[ScoredPoint]| -> Vec<Ranked> {
        list.iter()
            .map(|point| Ranked {
                id: point.id,
                score: point.score,
            })
            .collect()
    };
    let fused = match plan.mode {
        SearchMode::Dense => fusion::single(&ranked(&dense), Side::Dense),
        SearchMode::Keyword => fusion::single(&ranked(&keyword), Side::Keyword),
        SearchMode::Hybrid => fusion::fuse(
            &ranked(&dense),
            &ranked(&keyword),
            plan.fusion,
            request.weights,
        ),
    };
    let candidates = fused
        .into_iter()
        .filter_map(|mut fused| {
            let point = known.get(&fused.id)?;
            if fused.dense.is_none() {
                fused.dense = cosine.get(&fused.id).copied();
            }
            Some(Candidate {
                fused,
                document_id: point.document_id,
                vector: point.vector.clone().map(Arc::new),
            })
        })
        .collect();
    Ok((candidates, exhausted))
}

/// Diversity, then one hit per document (with how many of its chunks were candidates), as
/// asked; at least `page_end` long when the candidates allow.
fn shape(
    candidates: Vec<Candidate>,
    request: &SearchRequest,
    page_end: usize,
) -> Vec<(Candidate, Option<usize>)> {
    // Grouping needs the whole diversified order; otherwise the page's end is enough.
    let keep = if request.group_by_document {
        candidates.len()
    } else {
        page_end
    };
    let diversified = shaping::mmr(candidates, request.diversity, keep);
    if request.group_by_document {
        shaping::best_per_document(diversified)
            .into_iter()
            .map(|(candidate, matched)| (candidate, Some(matched)))
            .collect()
    } else {
        diversified.into_iter().map(|c| (c, None)).collect()
    }
}

/// The first `wanted` shaped candidates that still have rows, hydrated in order (two batched
/// queries per round, whatever their number), and how many had none.
async fn hydrate(
    store: &MetadataStore,
    shaped: Vec<(Candidate, Option<usize>)>,
    wanted: usize,
) -> Result<(Vec<SearchHit>, usize)> {
    let mut hits = Vec::with_capacity(wanted.min(shaped.len()));
    let mut skipped = 0;
    let mut rest = shaped.into_iter().peekable();
    while hits.len() < wanted && rest.peek().is_some() {
        let batch: Vec<_> = rest.by_ref().take(wanted - hits.len()).collect();
        let chunk_ids: Vec<_> = batch.iter().map(|(c, _)| c.fused.id).collect();
        let document_ids: Vec<_> = batch.iter().map(|(c, _)| c.document_id).collect();
        let (mut chunks, documents) = tokio::try_join!(
            store.chunks_by_ids(&chunk_ids),
            store.documents_by_ids(&document_ids),
        )?;
        for (candidate, matched_chunks) in batch {
            let hit = chunks.remove(&candidate.fused.id).and_then(|chunk| {
                Some(SearchHit {
                    score: candidate.fused.score,
                    dense_score: candidate.fused.dense,
                    keyword_score: candidate.fused.keyword,
                    matched_chunks,
                    highlights: Vec::new(),
                    chunk,
                    document: documents.get(&candidate.document_id)?.clone(),
                })
            });
            match hit {
                Some(hit) => hits.push(hit),
                None => skipped += 1,
            }
        }
    }
    Ok((hits, skipped))
}

/// The hit with the query's terms marked in its chunk.
fn highlighted(keywords: &Keywords, mut hit: SearchHit, terms: &SparseVector) -> SearchHit {
    hit.highlights = keywords.matches(&hit.chunk.content, terms);
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, limit: usize, threshold: Option<f32>) -> SearchRequest {
        SearchRequest {
            threshold,
            ..SearchRequest::new(query, limit)
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
        // The query as read, as a tokenizer would give it (the real one: tests/api/cache.rs).
        let key = |r: &SearchRequest, model: &str, generation: u64| {
            let read = QueryAsRead {
                model_form: r.query.to_lowercase(),
                terms: SparseVector {
                    indices: vec![r.query.len() as u32],
                    values: vec![1.0],
                },
            };
            result_key(
                r,
                &read,
                &Plan::of(r, &SearchConfig::default()),
                model,
                generation,
            )
        };
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
        let mut changed = base.clone();
        changed.filter.source = Some("".into());
        assert_ne!(k, key(&changed, "m", 1), "an empty source is not no source");
        let mut changed = base.clone();
        changed.offset = 10;
        assert_ne!(k, key(&changed, "m", 1), "offset");
        let variants: [fn(&mut SearchRequest); 7] = [
            |r| r.mode = Some(SearchMode::Keyword),
            |r| r.mode = Some(SearchMode::Dense),
            |r| r.fusion = Some(Fusion::Dbsf),
            |r| r.fusion = Some(Fusion::Rrf { k: 10.0 }),
            |r| r.weights.keyword = 2.0,
            |r| r.diversity = 0.5,
            |r| r.group_by_document = true,
        ];
        let mut keys = std::collections::HashSet::from([k]);
        for change in variants {
            let mut changed = base.clone();
            change(&mut changed);
            assert!(keys.insert(key(&changed, "m", 1)), "{changed:?}");
        }
    }
}
