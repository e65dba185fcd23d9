//! The two-level cache: L1 in process (moka, bounded by bytes), L2 in Redis (optional), per
//! namespace, with analytics and invalidation.
//!
//! - [`TieredCache`]: one namespace; L1 → L2 → compute, single-flight per key in L1.
//! - [`RedisTier`]: the Redis side, behind a short timeout and a circuit breaker; Redis
//!   trouble degrades the cache to L1, it never fails a request.
//! - [`CorpusGeneration`]: bumped by every ingest and delete and part of every search-result
//!   key, so results never outlive the data they came from.
//! - `codec`: postcard + zstd above a threshold for L2 values.

mod breaker;
mod codec;
mod generation;
mod key;
mod l2;
mod stats;
mod tiered;

pub use breaker::BreakerState;
pub use generation::CorpusGeneration;
pub use key::CacheKey;
pub use l2::{L2Error, L2Info, L2State, RedisTier, cluster_urls};
pub use stats::CounterSnapshot;
pub use tiered::{CacheValue, Level, NamespaceSnapshot, TieredCache};

use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};

use crate::config::Config;
use crate::search::CachedSearch;
use crate::store::{MetadataStore, StoreError};

/// The cache's namespaces, as clients name them.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(SimpleObject, Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Status {
    pub state: L2StateValue,
    /// Redis `used_memory`.
    pub used_memory_bytes: Option<u64>,
    /// Keys in the Redis database (DBSIZE).
    pub keys: Option<u64>,
    /// Failed or timed-out Redis calls since start.
    pub errors: u64,
}

/// `DISABLED` (no Redis configured), `UP`, or `DOWN` (circuit breaker open: serving from L1).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L2StateValue {
    Disabled,
    Up,
    Down,
}

impl From<L2State> for L2StateValue {
    fn from(state: L2State) -> Self {
        match state {
            L2State::Disabled => L2StateValue::Disabled,
            L2State::Up => L2StateValue::Up,
            L2State::Down => L2StateValue::Down,
        }
    }
}

/// Everything a dashboard shows about the cache.
#[derive(SimpleObject, Debug, Clone, serde::Serialize)]
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
#[derive(SimpleObject, Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearedNamespace {
    pub namespace: CacheNamespace,
    pub l1_entries: u64,
    /// Null when L2 is disabled or could not be reached.
    pub l2_keys: Option<u64>,
}

pub struct Caches {
    pub embeddings: TieredCache<Vec<f32>>,
    pub results: TieredCache<CachedSearch>,
    pub persisted_queries: TieredCache<String>,
    pub generation: CorpusGeneration,
    l2: Option<Arc<RedisTier>>,
}

impl Caches {
    pub async fn open(config: &Config, store: MetadataStore) -> Result<Self, CacheStartError> {
        let l2 = match &config.redis_url {
            Some(url) => Some(Arc::new(RedisTier::new(url, &config.cache)?)),
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
            generation: CorpusGeneration::load(store, l2.clone(), &config.cache.key_prefix).await?,
            l2,
        })
    }

    /// The Redis tier, when configured.
    pub fn redis(&self) -> Option<&RedisTier> {
        self.l2.as_deref()
    }

    /// The Redis tier, shared (the rate limiter uses the cache's pool and breaker).
    pub fn redis_shared(&self) -> Option<Arc<RedisTier>> {
        self.l2.clone()
    }

    pub fn l2_state(&self) -> L2State {
        self.l2.as_ref().map_or(L2State::Disabled, |l2| l2.state())
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
                state: L2StateValue::Disabled,
                used_memory_bytes: None,
                keys: None,
                errors: 0,
            },
            Some(l2) => {
                let info = l2.info().await.unwrap_or_default();
                L2Status {
                    state: l2.state().into(),
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
    Redis(#[from] L2Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
