//! GraphQL object and input types. Objects wrap the domain types; names are the API's.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::errors::ApiResult;
use super::loaders::{DocumentChunksKey, DocumentKey, Loaders};
use super::reports::IngestStatus;
use crate::cache::Level;
use crate::error::Error;
use crate::keywords;
use crate::search::{Fusion, Weights};
use crate::store;
use crate::vector::VectorFilter;

/// Parses a client-supplied ID, naming the argument when it is not a UUID.
pub fn parse_id(id: &ID, what: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| Error::bad_input(format!("{what} `{}` is not a valid id", id.as_str())))
}

/// Which document a field names: by `id` or by `externalId`, exactly one.
pub enum DocumentRef {
    Id(Uuid),
    External(String),
}

impl DocumentRef {
    pub fn of(id: Option<ID>, external_id: Option<String>) -> Result<Self, Error> {
        match (id, external_id) {
            (Some(id), None) => Ok(DocumentRef::Id(parse_id(&id, "id")?)),
            (None, Some(external_id)) => Ok(DocumentRef::External(external_id)),
            _ => Err(Error::bad_input("give either id or externalId")),
        }
    }
}

pub struct Document(pub store::Document);

/// A stored document. Its text is split into `chunks`, each embedded and searchable.
#[Object]
impl Document {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    #[graphql(name = "type")]
    async fn doc_type(&self) -> Option<&str> {
        self.0.doc_type.as_deref()
    }
    async fn author(&self) -> Option<&str> {
        self.0.author.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// Free-form JSON object given at ingest.
    async fn metadata(&self) -> Option<Json<Value>> {
        self.0.metadata.clone().map(Json)
    }
    /// SHA-256 of the content. Identical content without an `externalId` is stored once.
    async fn content_hash(&self) -> &str {
        &self.0.content_hash
    }
    async fn chunk_count(&self) -> usize {
        self.0.chunk_count
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The client's name for the document (a path, a URL), unique: ingesting again under it
    /// replaces the document.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    /// 1 when first stored, +1 each time it is replaced.
    async fn revision(&self) -> u32 {
        self.0.revision
    }
    /// When it was last replaced; null if never.
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.updated_at
    }
    /// The document's chunks, in order.
    async fn chunks(&self, ctx: &Context<'_>) -> ApiResult<Vec<Chunk>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let chunks = loaders
            .load_one(DocumentChunksKey(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(chunks.into_iter().map(Chunk).collect())
    }
}

pub struct Chunk(pub store::Chunk);

/// A piece of a document, small enough for the model to read whole.
#[Object]
impl Chunk {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Position in the document, from 0.
    async fn index(&self) -> usize {
        self.0.index
    }
    async fn content(&self) -> &str {
        &self.0.content
    }
    /// Offset of the first character in the document's content, counted in Unicode characters
    /// (scalar values). JavaScript strings count UTF-16 units: use `Array.from(text)` to slice.
    async fn start_char(&self) -> usize {
        self.0.start_char
    }
    /// One past the last character.
    async fn end_char(&self) -> usize {
        self.0.end_char
    }
    /// Word pieces of the model's tokenizer.
    async fn token_count(&self) -> usize {
        self.0.token_count
    }
    /// The Markdown headings the chunk sits under, outermost first (empty for plain text).
    async fn headings(&self) -> &[String] {
        &self.0.headings
    }
    /// The PDF page the chunk starts on, from 1; null for other formats.
    async fn page(&self) -> Option<u32> {
        self.0.page
    }
    async fn document(&self, ctx: &Context<'_>) -> ApiResult<Option<Document>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders
            .load_one(DocumentKey(self.0.document_id))
            .await?
            .map(Document))
    }
}

#[derive(SimpleObject)]
pub struct SearchHit {
    /// The ranking score of the result's `mode`: cosine similarity (-1..1) in `DENSE`, BM25 in
    /// `KEYWORD`, the fused score in `HYBRID` (RRF: the sum of weight / (k + rank) over the
    /// sides that returned the chunk; DBSF: the sum of the weighted, normalised scores).
    pub score: f32,
    /// Cosine similarity of query and chunk, -1..1; null in `KEYWORD` mode without a threshold
    /// (the query is not embedded).
    pub dense_score: Option<f32>,
    /// BM25 score of the chunk for the query's terms; null in `DENSE` mode, or when the
    /// keyword side did not return the chunk among its candidates.
    pub keyword_score: Option<f32>,
    /// With `groupByDocument`: how many of the document's chunks were among the candidates.
    pub matched_chunks: Option<usize>,
    /// Where the query's terms (after stemming, stopwords left out) occur in the chunk's
    /// `content`, in characters like `startChar`/`endChar`; in every mode.
    pub highlights: Vec<TextSpan>,
    pub chunk: Chunk,
    pub document: Document,
}

/// A range of characters within a chunk's `content`: `startChar` inclusive, `endChar`
/// exclusive.
#[derive(SimpleObject, Clone, Copy)]
pub struct TextSpan {
    pub start_char: usize,
    pub end_char: usize,
}

impl From<keywords::TextSpan> for TextSpan {
    fn from(span: keywords::TextSpan) -> Self {
        TextSpan {
            start_char: span.start_char,
            end_char: span.end_char,
        }
    }
}

/// Which index ranks a search.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::config::SearchMode")]
pub enum SearchMode {
    /// Embeddings compared by cosine similarity: finds paraphrases; misses rare exact tokens.
    Dense,
    /// BM25 over the chunks' words (stemmed, stopwords left out): finds exact tokens such as
    /// codes, identifiers and names; misses paraphrases.
    Keyword,
    /// Both, fused (see `fusion`): the default unless `search.default_mode` says otherwise.
    Hybrid,
}

/// How `HYBRID` merges its two candidate lists.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FusionMethod {
    /// Reciprocal rank fusion: each side adds weight / (k + rank); only ranks count.
    Rrf,
    /// Distribution-based score fusion: each side's scores mapped to 0..1 over their mean ± 3
    /// standard deviations, weighted and summed.
    Dbsf,
}

/// Fusion of `HYBRID` search; ignored by the other modes.
#[derive(InputObject)]
pub struct FusionInput {
    #[graphql(default_with = "FusionMethod::Rrf")]
    pub method: FusionMethod,
    /// RRF's k, at least 1 (default `search.rrf_k`, 60).
    pub k: Option<i32>,
    /// Weight of the dense side, at least 0.
    #[graphql(default = 1.0)]
    pub dense_weight: f64,
    /// Weight of the keyword side, at least 0 (not both 0).
    #[graphql(default = 1.0)]
    pub keyword_weight: f64,
}

impl FusionInput {
    /// The fusion and weights asked for; `k` out of range is left for search's validation.
    pub fn into_parts(self, default_k: u32) -> (Fusion, Weights) {
        let fusion = match self.method {
            FusionMethod::Rrf => Fusion::Rrf {
                k: self.k.map_or(default_k as f32, |k| k as f32),
            },
            FusionMethod::Dbsf => Fusion::Dbsf,
        };
        let weights = Weights {
            dense: self.dense_weight as f32,
            keyword: self.keyword_weight as f32,
        };
        (fusion, weights)
    }
}

#[derive(SimpleObject)]
pub struct SearchResult {
    pub query: String,
    /// The mode that ranked the hits (the one asked for, or the server's default).
    pub mode: SearchMode,
    pub hits: Vec<SearchHit>,
    pub total_hits: usize,
    /// Server time spent on the search, in milliseconds.
    pub took_ms: f64,
    /// True when the result came from the cache (either level).
    pub cache_hit: bool,
    /// `L1` (this process), `L2` (Redis), or null when computed for this request.
    pub cache_level: Option<CacheLevel>,
    /// True when the query is longer than the model reads (254 word pieces): only its start
    /// was embedded.
    pub query_truncated: bool,
    /// Word pieces of the query the model read (at most 254).
    pub query_word_pieces: usize,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CacheLevel {
    L1,
    L2,
}

impl CacheLevel {
    pub fn of(level: Level) -> Option<CacheLevel> {
        match level {
            Level::L1 => Some(CacheLevel::L1),
            Level::L2 => Some(CacheLevel::L2),
            Level::Computed => None,
        }
    }
}

/// Narrows a search. Every given field must match; `tags` matches documents with any of them.
#[derive(InputObject, Default)]
pub struct SearchFilter {
    pub tags: Option<Vec<String>>,
    #[graphql(name = "type")]
    pub doc_type: Option<String>,
    pub source: Option<String>,
    pub document_ids: Option<Vec<ID>>,
}

impl SearchFilter {
    pub fn into_vector_filter(self) -> Result<VectorFilter, Error> {
        let document_ids = self
            .document_ids
            .unwrap_or_default()
            .iter()
            .map(|id| parse_id(id, "documentIds entry"))
            .collect::<Result<_, _>>()?;
        Ok(VectorFilter {
            tags: self.tags.unwrap_or_default(),
            doc_type: self.doc_type,
            source: self.source,
            document_ids,
        })
    }
}

/// Narrows a document listing. Every given field must match; `tags` matches any of them.
#[derive(InputObject, Default)]
pub struct DocumentFilter {
    pub tags: Option<Vec<String>>,
    #[graphql(name = "type")]
    pub doc_type: Option<String>,
    pub source: Option<String>,
    /// Only documents whose `externalId` starts with this (e.g. a directory's path and `/`).
    pub external_id_prefix: Option<String>,
}

impl From<DocumentFilter> for store::DocumentFilter {
    fn from(filter: DocumentFilter) -> Self {
        store::DocumentFilter {
            tags: filter.tags.unwrap_or_default(),
            doc_type: filter.doc_type,
            source: filter.source,
            external_id_prefix: filter.external_id_prefix,
        }
    }
}

#[derive(SimpleObject)]
pub struct Embedding {
    pub text: String,
    pub vector: Vec<f32>,
    pub dimensions: usize,
    pub model: String,
    /// True when the vector came from the embedding cache.
    pub cached: bool,
    /// True when the text is longer than the model reads (254 word pieces): only its start
    /// was embedded.
    pub truncated: bool,
    /// Word pieces of the text the model read (at most 254).
    pub word_pieces: usize,
}

#[derive(SimpleObject)]
pub struct CollectionStats {
    pub documents: u64,
    pub chunks: u64,
    pub vectors: u64,
    /// Vectors reachable through the HNSW graph; the rest are searched exactly until the
    /// background optimiser has run.
    pub indexed_vectors: u64,
    pub dimensions: usize,
    pub model: String,
    /// `embedded` (qdrant-edge in process) or `qdrant`.
    pub vector_backend: String,
    /// `sqlite` or `postgres`.
    pub metadata_backend: String,
}

/// A document to ingest. `content` is required; everything else is optional.
#[derive(InputObject)]
pub struct IngestInput {
    pub content: String,
    pub title: Option<String>,
    pub source: Option<String>,
    #[graphql(name = "type")]
    pub doc_type: Option<String>,
    pub author: Option<String>,
    pub tags: Option<Vec<String>>,
    /// A JSON object, returned as given.
    pub metadata: Option<Json<Value>>,
    /// Your name for the document (a path, a URL), unique. Ingesting again under a known one
    /// replaces that document (same id, next revision; chunks whose text did not change keep
    /// their vectors); identical content and fields are reported `UNCHANGED`. Documents with
    /// one are not deduplicated by content.
    pub external_id: Option<String>,
    /// How `content` is written (default `TEXT`): `MARKDOWN` is split along its structure and
    /// chunks get their heading path; `HTML` is reduced to its readable text (its `<title>` is
    /// the default title). A PDF is binary: upload it with `ingestFile`.
    pub format: Option<DocumentFormat>,
}

/// The formats documents arrive in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::formats::Format")]
pub enum DocumentFormat {
    /// Plain text, split by paragraphs and sentences.
    Text,
    /// Split along headings, lists and code blocks; chunks record their heading path.
    Markdown,
    /// The readable text (no scripts, styles or navigation), as Markdown.
    Html,
    /// The text of each page; chunks record the page they start on.
    Pdf,
}

impl IngestInput {
    /// The request, its content read as its `format`.
    pub async fn into_request(
        self,
        limits: &crate::config::Limits,
    ) -> Result<crate::ingest::IngestRequest, Error> {
        let format = self.format.map(Into::into).unwrap_or_default();
        crate::ingest::from_text(format, self.into(), limits).await
    }
}

impl From<IngestInput> for crate::ingest::IngestRequest {
    fn from(input: IngestInput) -> Self {
        crate::ingest::IngestRequest {
            content: input.content,
            title: input.title,
            source: input.source,
            doc_type: input.doc_type,
            author: input.author,
            tags: input.tags.unwrap_or_default(),
            metadata: input.metadata.map(|json| json.0),
            external_id: input.external_id,
            layout: crate::formats::Layout::default(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct IngestResult {
    #[graphql(skip)]
    pub outcome: crate::ingest::IngestOutcome,
    /// What happened: `INGESTED`, `DEDUPLICATED`, `UPDATED` or `UNCHANGED`.
    pub status: IngestStatus,
    /// Chunks written (0 when nothing was).
    pub chunks_created: usize,
    /// Chunks that went through the model.
    pub chunks_embedded: usize,
    /// Chunks of an update whose text did not change: they kept their vectors.
    pub chunks_reused: usize,
    /// True when identical content was already stored: `document` is that document.
    pub deduplicated: bool,
    pub embedding_ms: f64,
    pub total_ms: f64,
}

#[ComplexObject]
impl IngestResult {
    async fn document(&self) -> Document {
        Document(self.outcome.document.clone())
    }
}

impl From<crate::ingest::IngestOutcome> for IngestResult {
    fn from(outcome: crate::ingest::IngestOutcome) -> Self {
        IngestResult {
            status: outcome.status.into(),
            chunks_created: outcome.chunks_created,
            chunks_embedded: outcome.chunks_embedded,
            chunks_reused: outcome.chunks_reused,
            deduplicated: outcome.status == crate::ingest::IngestStatus::Deduplicated,
            embedding_ms: outcome.embedding_ms,
            total_ms: outcome.total_ms,
            outcome,
        }
    }
}
