//! The two-level cache: L1 in process (moka, bounded by bytes), L2 in Redis (optional), per
//! namespace, with analytics and invalidation.
//!
//! - [`TieredCache`]: one namespace; L1 → L2 → compute, single-flight per key in L1.
//! - L2 is the shared [`RedisClient`](crate::redis::RedisClient) (timeout, circuit breaker);
//!   Redis trouble degrades the cache to L1, it never fails a request.
//! - [`CorpusGeneration`]: bumped by every ingest and delete and part of every search-result
//!   key, so results never outlive the data they came from.
//! - `codec`: postcard + zstd above a threshold for L2 values.

mod codec;
mod generation;
mod key;
mod stats;
mod tiered;

pub use generation::CorpusGeneration;
pub use key::CacheKey;
pub use stats::CounterSnapshot;
pub use tiered::{CacheValue, Level, NamespaceSnapshot, TieredCache};

use std::sync::Arc;

use crate::config::Config;
use crate::redis::{BreakerState, RedisClient, RedisError};
use crate::store::{MetadataStore, StoreError};

/// The cache's namespaces, as clients name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheNamespace {
    /// Query embeddings (`emb`).
    Embeddings,
    /// Search results (`q`).
    Results,
    /// Automatic persisted queries (`apq`): query texts by their SHA-256, shared by replicas.
    PersistedQueries,
}

impl CacheNamespace {
    pub const ALL: [CacheNamespace; 3] = [
        CacheNamespace::Embeddings,
        CacheNamespace::Results,
        CacheNamespace::PersistedQueries,
    ];

    /// The name traces show.
    pub fn name(self) -> &'static str {
        match self {
            CacheNamespace::Embeddings => "embeddings",
            CacheNamespace::Results => "results",
            CacheNamespace::PersistedQueries => "persisted_queries",
        }
    }

    /// The short name used in Redis keys and metric labels.
    pub fn key(self) -> &'static str {
        match self {
            CacheNamespace::Embeddings => "emb",
            CacheNamespace::Results => "q",
            CacheNamespace::PersistedQueries => "apq",
        }
    }
}

/// L2 as the analytics show it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Status {
    pub state: L2State,
    /// Redis `used_memory`.
    pub used_memory_bytes: Option<u64>,
    /// Keys in the Redis database (DBSIZE).
    pub keys: Option<u64>,
    /// Failed or timed-out Redis calls since start.
    pub errors: u64,
}

/// `DISABLED` (no Redis configured), `UP`, or `DOWN` (circuit breaker open: serving from L1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L2State {
    Disabled,
    Up,
    Down,
}

impl From<BreakerState> for L2State {
    fn from(state: BreakerState) -> Self {
        match state {
            BreakerState::Closed => L2State::Up,
            BreakerState::Open | BreakerState::HalfOpen => L2State::Down,
        }
    }
}

/// Everything a dashboard shows about the cache.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheAnalytics {
    pub namespaces: Vec<NamespaceSnapshot>,
    /// All namespaces together.
    pub overall: CounterSnapshot,
    pub l2: L2Status,
    /// Bumped by every ingest and delete; part of every search-result key.
    pub corpus_generation: u64,
}

/// What a clear removed from one namespace.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearedNamespace {
    pub namespace: CacheNamespace,
    pub l1_entries: u64,
    /// Null when L2 is disabled or could not be reached.
    pub l2_keys: Option<u64>,
}

/// The namespaces, and what they share. `R` is what the result namespace holds (search
/// results): chosen by whoever assembles the services, so the cache knows nothing of search.
pub struct Caches<R: CacheValue> {
    pub embeddings: TieredCache<Vec<f32>>,
    pub results: TieredCache<R>,
    pub persisted_queries: TieredCache<String>,
    pub generation: Arc<CorpusGeneration>,
    l2: Option<Arc<RedisClient>>,
}

impl<R: CacheValue> Caches<R> {
    pub async fn open(config: &Config, store: MetadataStore) -> Result<Self, CacheStartError> {
        let l2 = match &config.redis_url {
            Some(url) => Some(Arc::new(RedisClient::new(url, &config.cache)?)),
            None => None,
        };
        let compress = config.cache.compress_above_bytes;
        Ok(Caches {
            embeddings: TieredCache::new(
                CacheNamespace::Embeddings,
                &config.cache.embeddings,
                l2.clone(),
                compress,
            ),
            results: TieredCache::new(
                CacheNamespace::Results,
                &config.cache.results,
                l2.clone(),
                compress,
            ),
            persisted_queries: TieredCache::new(
                CacheNamespace::PersistedQueries,
                &config.cache.persisted_queries,
                l2.clone(),
                compress,
            ),
            generation: Arc::new(
                CorpusGeneration::load(store, l2.clone(), &config.cache.key_prefix).await?,
            ),
            l2,
        })
    }

    /// The Redis client, when configured.
    pub fn redis(&self) -> Option<&RedisClient> {
        self.l2.as_deref()
    }

    /// The Redis client, shared (the rate limiter uses the same pool and breaker).
    pub fn redis_shared(&self) -> Option<Arc<RedisClient>> {
        self.l2.clone()
    }

    pub fn l2_state(&self) -> L2State {
        self.l2
            .as_ref()
            .map_or(L2State::Disabled, |l2| l2.breaker_state().into())
    }

    pub async fn analytics(&self) -> CacheAnalytics {
        let namespaces = vec![
            self.embeddings.snapshot().await,
            self.results.snapshot().await,
            self.persisted_queries.snapshot().await,
        ];
        let overall = CounterSnapshot::total(namespaces.iter().map(|n| &n.counters));
        let l2 = match &self.l2 {
            None => L2Status {
                state: L2State::Disabled,
                used_memory_bytes: None,
                keys: None,
                errors: 0,
            },
            Some(l2) => {
                let info = l2.info().await.unwrap_or_default();
                L2Status {
                    state: l2.breaker_state().into(),
                    used_memory_bytes: info.used_memory_bytes,
                    keys: info.keys,
                    errors: l2.errors(),
                }
            }
        };
        CacheAnalytics {
            namespaces,
            overall,
            l2,
            corpus_generation: self.generation.last_seen(),
        }
    }

    /// Clears one namespace, or all of them, in both levels.
    pub async fn clear(&self, namespace: Option<CacheNamespace>) -> Vec<ClearedNamespace> {
        let mut cleared = Vec::new();
        for ns in CacheNamespace::ALL {
            if namespace.is_some_and(|wanted| wanted != ns) {
                continue;
            }
            let (l1_entries, l2_keys) = match ns {
                CacheNamespace::Embeddings => self.embeddings.clear().await,
                CacheNamespace::Results => self.results.clear().await,
                CacheNamespace::PersistedQueries => self.persisted_queries.clear().await,
            };
            cleared.push(ClearedNamespace {
                namespace: ns,
                l1_entries,
                l2_keys,
            });
        }
        cleared
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheStartError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
