//! `TieredCache<V>`: one namespace of the two-level cache.
//!
//! get = L1 (moka) → L2 (Redis, promoted into L1 on a hit) → compute, written to both.
//! Concurrent misses on one key in this process compute once: moka's entry API runs a single
//! initialiser and the other callers wait for its value (they are counted as L1 hits, since
//! they did no work of their own).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CacheNamespace;
use super::codec;
use super::key::CacheKey;
use super::stats::{CounterSnapshot, Counters};
use crate::config::NamespaceConfig;
use crate::error::Error;
use crate::redis::{RedisClient, RedisError};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Level {
    L1,
    L2,
    /// Not cached: computed for this request.
    Computed,
}

impl Level {
    /// As traces and logs show it.
    pub fn name(self) -> &'static str {
        match self {
            Level::L1 => "L1",
            Level::L2 => "L2",
            Level::Computed => "computed",
        }
    }
}

/// A cacheable value: serialisable for L2, and able to estimate its size for L1's byte budget.
pub trait CacheValue: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Approximate heap + inline bytes.
    fn weight(&self) -> usize;
}

impl CacheValue for Vec<f32> {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>() + self.len() * 4
    }
}

impl CacheValue for String {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>() + self.len()
    }
}

/// The cache's own sizes and settings, for analytics.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSnapshot {
    pub namespace: CacheNamespace,
    pub counters: CounterSnapshot,
    pub l1_entries: u64,
    pub l1_bytes: u64,
    pub l1_capacity_bytes: u64,
    pub l1_ttl_secs: u64,
    pub l2_ttl_secs: u64,
}

pub struct TieredCache<V: CacheValue> {
    namespace: CacheNamespace,
    l1: Cache<CacheKey, Arc<V>>,
    l2: Option<Arc<RedisClient>>,
    counters: Arc<Counters>,
    settings: NamespaceConfig,
    compress_above: usize,
}

const KEY_WEIGHT: usize = std::mem::size_of::<CacheKey>() + 64; // key + moka's per-entry overhead

impl<V: CacheValue> TieredCache<V> {
    pub fn new(
        namespace: CacheNamespace,
        settings: &NamespaceConfig,
        l2: Option<Arc<RedisClient>>,
        compress_above: usize,
    ) -> Self {
        let counters = Arc::new(Counters::default());
        let evictions = Arc::clone(&counters);
        let l1 = Cache::builder()
            .max_capacity(settings.l1_capacity_bytes)
            .weigher(|_key: &CacheKey, value: &Arc<V>| {
                u32::try_from(KEY_WEIGHT + value.weight()).unwrap_or(u32::MAX)
            })
            .time_to_live(Duration::from_secs(settings.l1_ttl_secs))
            .eviction_listener(move |_key, _value, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    Counters::bump(&evictions.evictions);
                }
            })
            .build();
        TieredCache {
            namespace,
            l1,
            l2,
            counters,
            settings: settings.clone(),
            compress_above,
        }
    }

    pub fn namespace(&self) -> CacheNamespace {
        self.namespace
    }

    /// The cached value for `key`, or `compute`'s, which is then cached in both levels.
    /// Errors are not cached. Traced as `cache.lookup` with the level that answered; a
    /// computation runs inside it.
    #[tracing::instrument(name = "cache.lookup", skip_all, fields(cache.namespace = self.namespace.name(), cache.level))]
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: CacheKey,
        compute: F,
    ) -> Result<(Arc<V>, Level), Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, Error>>,
    {
        if let Some(value) = self.l1.get(&key).await {
            Counters::bump(&self.counters.l1_hits);
            tracing::Span::current().record("cache.level", Level::L1.name());
            return Ok((value, Level::L1));
        }
        const FROM_L2: u8 = 1;
        const COMPUTED: u8 = 2;
        let origin = AtomicU8::new(0);
        // Boxed: the initialiser nests the caller's future (itself possibly a cache lookup), and
        // unboxed these nest into a future large enough to overflow a worker's stack.
        let entry = self
            .l1
            .entry(key)
            .or_try_insert_with(Box::pin(async {
                if let Some(value) = self.l2_get(&key).await {
                    origin.store(FROM_L2, Ordering::Relaxed);
                    return Ok(Arc::new(value));
                }
                let value = Box::pin(compute()).await?;
                origin.store(COMPUTED, Ordering::Relaxed);
                self.l2_set(&key, &value).await;
                Ok::<_, Error>(Arc::new(value))
            }))
            .await
            .map_err(shared_error)?;
        let level = if !entry.is_fresh() {
            Level::L1
        } else {
            Counters::bump(&self.counters.l1_sets);
            match origin.load(Ordering::Relaxed) {
                FROM_L2 => Level::L2,
                COMPUTED => Level::Computed,
                _ => Level::L1,
            }
        };
        Counters::bump(match level {
            Level::L1 => &self.counters.l1_hits,
            Level::L2 => &self.counters.l2_hits,
            Level::Computed => &self.counters.misses,
        });
        tracing::Span::current().record("cache.level", level.name());
        Ok((entry.into_value(), level))
    }

    /// The cached value, from either level (an L2 hit is copied into L1). For values only the
    /// client can supply, such as persisted query texts, where there is nothing to compute.
    #[tracing::instrument(name = "cache.lookup", skip_all, fields(cache.namespace = self.namespace.name(), cache.level))]
    pub async fn get(&self, key: CacheKey) -> Option<(Arc<V>, Level)> {
        let span = tracing::Span::current();
        if let Some(value) = self.l1.get(&key).await {
            Counters::bump(&self.counters.l1_hits);
            span.record("cache.level", Level::L1.name());
            return Some((value, Level::L1));
        }
        match self.l2_get(&key).await {
            Some(value) => {
                span.record("cache.level", Level::L2.name());
                let value = Arc::new(value);
                self.l1.insert(key, Arc::clone(&value)).await;
                Counters::bump(&self.counters.l1_sets);
                Counters::bump(&self.counters.l2_hits);
                Some((value, Level::L2))
            }
            None => {
                Counters::bump(&self.counters.misses);
                span.record("cache.level", "miss");
                None
            }
        }
    }

    /// Stores `value` in both levels.
    pub async fn insert(&self, key: CacheKey, value: V) {
        self.l2_set(&key, &value).await;
        self.l1.insert(key, Arc::new(value)).await;
        Counters::bump(&self.counters.l1_sets);
    }

    async fn l2_get(&self, key: &CacheKey) -> Option<V> {
        let l2 = self.l2.as_ref()?;
        let bytes = match l2
            .get::<Vec<u8>>(&l2.key(self.namespace.key(), &key.to_hex()))
            .await
        {
            Ok(bytes) => bytes?,
            Err(RedisError::CircuitOpen) => return None,
            Err(_) => {
                Counters::bump(&self.counters.errors);
                return None;
            }
        };
        match codec::decode(&bytes) {
            Ok(value) => Some(value),
            Err(err) => {
                // A value this version cannot read (corrupt, or written by another version):
                // treat as a miss; the fresh value overwrites it.
                tracing::warn!(namespace = self.namespace.key(), error = %err, "undecodable L2 value");
                Counters::bump(&self.counters.errors);
                None
            }
        }
    }

    async fn l2_set(&self, key: &CacheKey, value: &V) {
        let Some(l2) = &self.l2 else { return };
        let bytes = match codec::encode(value, self.compress_above) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::error!(namespace = self.namespace.key(), error = %err, "cannot encode a cache value");
                Counters::bump(&self.counters.errors);
                return;
            }
        };
        let ttl = Duration::from_secs(self.settings.l2_ttl_secs);
        match l2
            .set(&l2.key(self.namespace.key(), &key.to_hex()), &bytes, ttl)
            .await
        {
            Ok(()) => Counters::bump(&self.counters.l2_sets),
            Err(RedisError::CircuitOpen) => {}
            Err(_) => Counters::bump(&self.counters.errors),
        }
    }

    /// Empties both levels of this namespace; returns (L1 entries, L2 keys) removed.
    pub async fn clear(&self) -> (u64, Option<u64>) {
        self.l1.run_pending_tasks().await;
        let l1 = self.l1.entry_count();
        self.l1.invalidate_all();
        self.l1.run_pending_tasks().await;
        let l2 = match &self.l2 {
            Some(l2) => match l2.clear(self.namespace.key()).await {
                Ok(n) => Some(n),
                Err(err) => {
                    tracing::warn!(namespace = self.namespace.key(), error = %err, "cannot clear L2");
                    Counters::bump(&self.counters.errors);
                    None
                }
            },
            None => None,
        };
        (l1, l2)
    }

    pub async fn snapshot(&self) -> NamespaceSnapshot {
        self.l1.run_pending_tasks().await;
        NamespaceSnapshot {
            namespace: self.namespace,
            counters: self.counters.snapshot(),
            l1_entries: self.l1.entry_count(),
            l1_bytes: self.l1.weighted_size(),
            l1_capacity_bytes: self.settings.l1_capacity_bytes,
            l1_ttl_secs: self.settings.l1_ttl_secs,
            l2_ttl_secs: self.settings.l2_ttl_secs,
        }
    }
}

/// moka hands every waiter the initialiser's error behind an `Arc`; rebuild an owned one with
/// the same code and message (the original, with its cause chain, was logged by its caller).
fn shared_error(err: Arc<Error>) -> Error {
    match Arc::try_unwrap(err) {
        Ok(err) => err,
        Err(shared) => match shared.as_ref() {
            Error::BadInput(m) => Error::BadInput(m.clone()),
            Error::NotFound(m) => Error::NotFound(m.clone()),
            Error::Conflict(m) => Error::Conflict(m.clone()),
            Error::Unavailable { message, .. } => Error::Unavailable {
                message: message.clone(),
                source: None,
            },
            Error::Unauthenticated(m) => Error::Unauthenticated(m.clone()),
            Error::Forbidden(m) => Error::Forbidden(m.clone()),
            Error::RateLimited {
                message,
                retry_after,
            } => Error::RateLimited {
                message: message.clone(),
                retry_after: *retry_after,
            },
            Error::Internal(e) => Error::Internal(anyhow::anyhow!("{e}")),
        },
    }
}
