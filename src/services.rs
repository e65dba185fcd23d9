//! The one context every transport shares: configuration, the backends and the
//! cross-cutting services (keys, rate limits, events).

use std::sync::Arc;

use crate::auth::ApiKeys;
use crate::cache::Caches;
use crate::config::Config;
use crate::disk::DiskGuard;
use crate::embed::{Embedder, WordPieces};
use crate::ingest::{Chunker, InFlightWrites, IngestContext, IngestEvents};
use crate::keywords::Keywords;
use crate::ratelimit::RateLimiter;
use crate::search::{CachedSearch, SearchContext};
use crate::store::MetadataStore;
use crate::telemetry::{RequestStats, SystemSampler};
use crate::vector::VectorIndex;

/// Cheap to clone (every field is shared). Handed to GraphQL as schema data and to the plain
/// HTTP routes as axum state, so both see the same backends.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    /// Free space in the data directory, checked before every write.
    pub disk: DiskGuard,
    pub store: MetadataStore,
    pub index: Arc<dyn VectorIndex>,
    pub embedder: Arc<dyn Embedder>,
    pub chunker: Arc<Chunker>,
    /// How much of a query or text the model reads.
    pub word_pieces: Arc<WordPieces>,
    /// BM25 term weights for chunks and queries.
    pub keywords: Arc<Keywords>,
    pub cache: Arc<Caches<CachedSearch>>,
    /// The last minute of requests, for `/health/metrics` and `performanceMetrics`.
    pub requests: Arc<RequestStats>,
    /// Host and process figures, sampled in the background.
    pub system: SystemSampler,
    /// API keys and roles.
    pub keys: Arc<ApiKeys>,
    /// Search and ingest budgets per caller.
    pub limiter: Arc<RateLimiter>,
    /// Progress of ingests, for the `ingestProgress` subscription.
    pub ingest_events: IngestEvents,
    /// Writes running in this process, which recovery leaves alone.
    pub in_flight: InFlightWrites,
}

impl Services {
    /// The parts writes use (shared handles, cloned).
    pub fn ingest_context(&self) -> IngestContext {
        IngestContext {
            disk: self.disk.clone(),
            store: self.store.clone(),
            index: Arc::clone(&self.index),
            embedder: Arc::clone(&self.embedder),
            model_batch: self.config.embed.max_batch,
            write_group_chunks: self.config.storage.write_group_chunks,
            chunker: Arc::clone(&self.chunker),
            keywords: Arc::clone(&self.keywords),
            generation: Arc::clone(&self.cache.generation),
            events: self.ingest_events.clone(),
            in_flight: self.in_flight.clone(),
        }
    }

    /// The parts a search uses.
    pub fn search_context(&self) -> SearchContext<'_> {
        SearchContext {
            limits: &self.config.limits,
            settings: &self.config.search,
            keywords: &self.keywords,
            embedder: self.embedder.as_ref(),
            index: self.index.as_ref(),
            store: &self.store,
            embeddings: &self.cache.embeddings,
            results: &self.cache.results,
            generation: &self.cache.generation,
            word_pieces: &self.word_pieces,
        }
    }
}
