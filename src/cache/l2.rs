//! The L2 tier: Redis through a deadpool-redis pool, behind a circuit breaker and a short
//! timeout, so that a slow or dead Redis costs a request at most `redis_timeout_ms` once and
//! then nothing until the breaker lets a probe through.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config as PoolSettings, PoolConfig, Runtime, Timeouts};

use super::breaker::{Breaker, BreakerState};
use crate::config::CacheConfig;

#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    #[error("invalid Redis configuration: {0}")]
    Config(String),
    #[error("Redis is skipped while the circuit breaker is open")]
    CircuitOpen,
    #[error("Redis did not answer within {0} ms")]
    Timeout(u128),
    #[error("cannot get a Redis connection: {0}")]
    Pool(String),
    #[error("Redis command failed: {0}")]
    Command(#[from] redis::RedisError),
}

/// What the analytics say about L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L2State {
    /// No Redis configured: the cache is L1 only.
    Disabled,
    Up,
    /// The breaker is open (or probing): requests are served without Redis.
    Down,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Info {
    pub used_memory_bytes: Option<u64>,
    /// Keys in the Redis database (all of them, not only ours: DBSIZE is O(1), counting a prefix is not).
    pub keys: Option<u64>,
}

pub struct RedisTier {
    pool: deadpool_redis::Pool,
    breaker: Breaker,
    timeout: Duration,
    prefix: String,
    errors: AtomicU64,
}

/// Sets a key to a number only if that is larger than what it holds: generations never go back,
/// whatever order concurrent writers' updates arrive in.
const SET_MAX: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1";

impl RedisTier {
    /// Creates the pool; connections are made on first use, so a Redis that is down at start-up
    /// only shows as `down` in analytics.
    pub fn new(url: &str, config: &CacheConfig) -> Result<Self, L2Error> {
        let timeout = Duration::from_millis(config.redis_timeout_ms);
        let mut settings = PoolSettings::from_url(url);
        settings.pool = Some(PoolConfig {
            max_size: config.redis_pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = settings
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| L2Error::Config(e.to_string()))?;
        Ok(RedisTier {
            pool,
            breaker: Breaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_cooldown_ms),
            ),
            timeout,
            prefix: config.key_prefix.clone(),
            errors: AtomicU64::new(0),
        })
    }

    pub fn key(&self, namespace: &str, id: &str) -> String {
        format!("{}:{namespace}:{id}", self.prefix)
    }

    pub fn state(&self) -> L2State {
        match self.breaker.state() {
            BreakerState::Closed => L2State::Up,
            BreakerState::Open | BreakerState::HalfOpen => L2State::Down,
        }
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn pool_stats(&self) -> crate::store::PoolStats {
        let status = self.pool.status();
        crate::store::PoolStats {
            max: status.max_size as u64,
            size: status.size as u64,
            in_use: status.size.saturating_sub(status.available) as u64,
            idle: status.available as u64,
            waiting: Some(status.waiting as u64),
        }
    }

    /// Failed or timed-out Redis calls since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, L2Error> {
        self.pool
            .get()
            .await
            .map_err(|e| L2Error::Pool(e.to_string()))
    }

    /// Runs `op` if the breaker allows, within `timeout`, and records the outcome.
    async fn guarded<T>(
        &self,
        timeout: Duration,
        op: impl Future<Output = Result<T, L2Error>>,
    ) -> Result<T, L2Error> {
        if !self.breaker.allow() {
            return Err(L2Error::CircuitOpen);
        }
        let outcome = match tokio::time::timeout(timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(L2Error::Timeout(timeout.as_millis())),
        };
        match &outcome {
            Ok(_) => self.breaker.success(),
            Err(err) => {
                self.breaker.failure();
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, state = ?self.breaker.state(), "Redis call failed");
            }
        }
        outcome
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            Ok(conn.get(key).await?)
        })
        .await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            let () = conn.set_ex(key, value, ttl.as_secs().max(1)).await?;
            Ok(())
        })
        .await
    }

    pub async fn get_u64(&self, key: &str) -> Result<Option<u64>, L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            Ok(conn.get(key).await?)
        })
        .await
    }

    pub async fn set_max(&self, key: &str, value: u64) -> Result<(), L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            let _: i64 = redis::cmd("EVAL")
                .arg(SET_MAX)
                .arg(1)
                .arg(key)
                .arg(value)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Runs a Lua script with EVAL under the same breaker and timeout as the cache's calls (the
    /// rate limiter uses this, so a Redis outage trips one breaker, not two).
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &str,
        key: &str,
        args: &[u64],
    ) -> Result<T, L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            Ok(redis::cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg(key)
                .arg(args)
                .query_async(&mut conn)
                .await?)
        })
        .await
    }

    /// Deletes every key of a namespace with SCAN + UNLINK (never KEYS, which blocks Redis).
    /// Slow on purpose-sized keyspaces, so it gets a longer deadline than a lookup.
    pub async fn clear(&self, namespace: &str) -> Result<u64, L2Error> {
        let pattern = format!("{}:{namespace}:*", self.prefix);
        self.guarded(Duration::from_secs(30), async {
            let mut conn = self.connection().await?;
            let mut cursor: u64 = 0;
            let mut removed = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async(&mut conn)
                        .await?;
                    removed += n;
                }
                if next == 0 {
                    return Ok(removed);
                }
                cursor = next;
            }
        })
        .await
    }

    /// Memory and key count from INFO and DBSIZE.
    pub async fn info(&self) -> Result<L2Info, L2Error> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            let memory: String = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut conn)
                .await?;
            let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
            let used_memory_bytes = memory
                .lines()
                .find_map(|line| line.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse().ok());
            Ok(L2Info {
                used_memory_bytes,
                keys: Some(keys),
            })
        })
        .await
    }
}
