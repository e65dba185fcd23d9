//! `cache`: the two-level cache's namespaces, Redis timeouts and breaker.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// The two-level cache: L1 in process (always on), L2 in Redis when `redis_url` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Query embeddings (`emb`), keyed by model and text.
    pub embeddings: NamespaceConfig,
    /// Search results (`q`), keyed by everything that changes the answer and the corpus generation.
    pub results: NamespaceConfig,
    /// Persisted query texts (`apq`), keyed by their SHA-256.
    pub persisted_queries: NamespaceConfig,
    /// Whole `search` responses, serialised, in this process only (`graphql::responses`).
    pub responses: ResponseCacheConfig,
    /// L2 values larger than this are zstd-compressed (when that makes them smaller).
    pub compress_above_bytes: usize,
    /// Longest wait for one Redis command before the cache answers without it.
    pub redis_timeout_ms: u64,
    /// Consecutive Redis failures that open the circuit breaker (no more calls until the cooldown).
    pub breaker_failures: u32,
    /// How long an open breaker waits before letting one probe through.
    pub breaker_cooldown_ms: u64,
    /// Prefix of every Redis key, so that several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// Redis connections per replica.
    pub redis_pool_size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            embeddings: NamespaceConfig {
                l1_capacity_bytes: 64 * 1024 * 1024,
                l1_ttl_secs: 3_600,
                l2_ttl_secs: 86_400,
            },
            results: NamespaceConfig {
                l1_capacity_bytes: 128 * 1024 * 1024,
                l1_ttl_secs: 3_600,
                l2_ttl_secs: 3_600,
            },
            persisted_queries: NamespaceConfig {
                l1_capacity_bytes: 16 * 1024 * 1024,
                l1_ttl_secs: 86_400,
                l2_ttl_secs: 7 * 86_400,
            },
            responses: ResponseCacheConfig::default(),
            compress_above_bytes: 1024,
            redis_timeout_ms: 100,
            breaker_failures: 3,
            breaker_cooldown_ms: 5_000,
            key_prefix: "selfrag".into(),
            redis_pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamespaceConfig {
    /// L1 budget in bytes (approximate sizes of keys and values).
    pub l1_capacity_bytes: u64,
    pub l1_ttl_secs: u64,
    pub l2_ttl_secs: u64,
}

/// The response cache: serialised `search` responses by request body, role and corpus
/// generation, answered before GraphQL execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponseCacheConfig {
    /// Budget in bytes (bodies and keys); 0 turns the response cache off.
    pub capacity_bytes: u64,
    pub ttl_secs: u64,
}

impl Default for ResponseCacheConfig {
    fn default() -> Self {
        ResponseCacheConfig {
            capacity_bytes: 32 * 1024 * 1024,
            ttl_secs: 3_600,
        }
    }
}

impl CacheConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, ns) in [
            ("cache.embeddings", &self.embeddings),
            ("cache.results", &self.results),
            ("cache.persisted_queries", &self.persisted_queries),
        ] {
            if ns.l1_ttl_secs == 0 || ns.l2_ttl_secs == 0 {
                return Err(invalid(key, "TTLs must be greater than 0"));
            }
        }
        if self.responses.ttl_secs == 0 {
            return Err(invalid(
                "cache.responses.ttl_secs",
                "must be greater than 0",
            ));
        }
        if self.redis_timeout_ms == 0 || self.breaker_failures == 0 || self.redis_pool_size == 0 {
            return Err(invalid(
                "cache",
                "redis_timeout_ms, breaker_failures and redis_pool_size must be greater than 0",
            ));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['*', '?', '[', ' ']) {
            return Err(invalid(
                "cache.key_prefix",
                "must be non-empty without spaces or glob characters",
            ));
        }
        Ok(())
    }
}
