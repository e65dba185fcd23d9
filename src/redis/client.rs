//! Redis through a deadpool-redis pool, behind a circuit breaker and a short timeout, so that
//! a slow or dead Redis costs a caller at most `redis_timeout_ms` once and then nothing until
//! the breaker lets a probe through. The cache's L2, the corpus generation's mirror and the
//! rate limiter share one client, so a Redis outage trips one breaker, not three.
//!
//! A URL of the form `redis+cluster://host1:6379,host2:6379` (or `rediss+cluster://…`) selects
//! Redis Cluster: commands are routed by key slot, and the few commands that span the keyspace
//! (SCAN for clearing, INFO and DBSIZE for analytics) visit every primary.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use deadpool_redis::redis::{self, AsyncCommands, Cmd, Pipeline, RedisFuture, Value};
use deadpool_redis::{Config as PoolSettings, PoolConfig, Runtime, Timeouts};

use super::breaker::{Breaker, BreakerState};
use crate::config::CacheConfig;
use crate::telemetry::PoolStats;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
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

/// Memory and key count, for analytics.
#[derive(Debug, Clone, Default)]
pub struct RedisInfo {
    pub used_memory_bytes: Option<u64>,
    /// Keys in the Redis database (all of them, not only ours: DBSIZE is O(1), counting a prefix is not).
    pub keys: Option<u64>,
}

/// One Redis server, or a cluster reached through any of its nodes.
enum Pool {
    Single(deadpool_redis::Pool),
    Cluster(deadpool_redis::cluster::Pool),
}

/// A pooled connection of either kind; commands go through [`redis::aio::ConnectionLike`], so
/// the callers below do not care which.
enum Connection {
    Single(deadpool_redis::Connection),
    Cluster(deadpool_redis::cluster::Connection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The node URLs of a `redis+cluster://` / `rediss+cluster://` URL, or `None` for a plain one.
/// Credentials and the path apply to every node: `redis+cluster://:pw@a:1,b:2/` gives
/// `redis://:pw@a:1/` and `redis://:pw@b:2/`.
pub fn cluster_urls(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("+cluster://")?;
    if scheme != "redis" && scheme != "rediss" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let urls: Vec<String> = hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}{path}"))
        .collect();
    Some(urls)
}

/// `host:port` of every primary, from CLUSTER NODES (`<id> <host:port@bus> <flags> …`).
fn cluster_primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            if !flags.split(',').any(|flag| flag == "master") || flags.contains("fail") {
                return None;
            }
            let address = address.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// `used_memory` summed over every INFO text in a reply (one per primary in a cluster).
fn used_memory(reply: &Value) -> Option<u64> {
    fn field(info: &str) -> Option<u64> {
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
    }
    match reply {
        Value::BulkString(bytes) => field(&String::from_utf8_lossy(bytes)),
        Value::VerbatimString { text, .. } => field(text),
        Value::SimpleString(text) => field(text),
        Value::Map(entries) => entries
            .iter()
            .map(|(_, info)| used_memory(info))
            .sum::<Option<u64>>(),
        _ => None,
    }
}

pub struct RedisClient {
    pool: Pool,
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

impl RedisClient {
    /// Creates the pool; connections are made on first use, so a Redis that is down at start-up
    /// only shows as `down` in analytics.
    pub fn new(url: &str, config: &CacheConfig) -> Result<Self, RedisError> {
        let timeout = Duration::from_millis(config.redis_timeout_ms);
        let pool_config = PoolConfig {
            max_size: config.redis_pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        };
        let pool = match cluster_urls(url) {
            Some(urls) if urls.is_empty() => {
                return Err(RedisError::Config(format!("{url} names no cluster node")));
            }
            Some(urls) => {
                let mut settings = deadpool_redis::cluster::Config::from_urls(urls);
                settings.pool = Some(pool_config);
                Pool::Cluster(
                    settings
                        .create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| RedisError::Config(e.to_string()))?,
                )
            }
            None => {
                let mut settings = PoolSettings::from_url(url);
                settings.pool = Some(pool_config);
                Pool::Single(
                    settings
                        .create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| RedisError::Config(e.to_string()))?,
                )
            }
        };
        Ok(RedisClient {
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

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// `cluster` or `single`, for health and analytics.
    pub fn topology(&self) -> &'static str {
        match self.pool {
            Pool::Single(_) => "single",
            Pool::Cluster(_) => "cluster",
        }
    }

    pub fn pool_stats(&self) -> PoolStats {
        let status = match &self.pool {
            Pool::Single(pool) => pool.status(),
            Pool::Cluster(pool) => pool.status(),
        };
        PoolStats {
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

    async fn connection(&self) -> Result<Connection, RedisError> {
        let pool_error = |e: &dyn std::fmt::Display| RedisError::Pool(e.to_string());
        Ok(match &self.pool {
            Pool::Single(pool) => Connection::Single(pool.get().await.map_err(|e| pool_error(&e))?),
            Pool::Cluster(pool) => {
                Connection::Cluster(pool.get().await.map_err(|e| pool_error(&e))?)
            }
        })
    }

    /// Runs `op` if the breaker allows, within `timeout`, and records the outcome.
    async fn guarded<T>(
        &self,
        timeout: Duration,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        if !self.breaker.allow() {
            return Err(RedisError::CircuitOpen);
        }
        let outcome = match tokio::time::timeout(timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::Timeout(timeout.as_millis())),
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

    /// GET, read as bytes (`Vec<u8>`) or a number (`u64`).
    #[tracing::instrument(name = "redis", skip_all, fields(otel.kind = "client", db.system = "redis", db.operation.name = "GET"))]
    pub async fn get<T: redis::FromRedisValue>(&self, key: &str) -> Result<Option<T>, RedisError> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            Ok(conn.get(key).await?)
        })
        .await
    }

    #[tracing::instrument(name = "redis", skip_all, fields(otel.kind = "client", db.system = "redis", db.operation.name = "SET"))]
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), RedisError> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            let () = conn.set_ex(key, value, ttl.as_secs().max(1)).await?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(name = "redis", skip_all, fields(otel.kind = "client", db.system = "redis", db.operation.name = "EVAL"))]
    pub async fn set_max(&self, key: &str, value: u64) -> Result<(), RedisError> {
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

    /// Runs a Lua script with EVAL under the same breaker and timeout as every other call.
    #[tracing::instrument(name = "redis", skip_all, fields(otel.kind = "client", db.system = "redis", db.operation.name = "EVAL"))]
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &str,
        key: &str,
        args: &[u64],
    ) -> Result<T, RedisError> {
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
    /// In a cluster each primary is scanned in turn (a cursor belongs to one node), and UNLINK
    /// is split by slot. Slow on purpose-sized keyspaces, so it gets a longer deadline than a
    /// lookup.
    #[tracing::instrument(name = "redis", skip_all, fields(otel.kind = "client", db.system = "redis", db.operation.name = "SCAN+DEL"))]
    pub async fn clear(&self, namespace: &str) -> Result<u64, RedisError> {
        let pattern = format!("{}:{namespace}:*", self.prefix);
        self.guarded(Duration::from_secs(30), async {
            let mut conn = self.connection().await?;
            let primaries = match &mut conn {
                Connection::Single(_) => None,
                Connection::Cluster(cluster) => {
                    let nodes: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query_async(&mut **cluster)
                        .await?;
                    Some(cluster_primaries(&nodes))
                }
            };
            match primaries {
                None => scan_unlink(&mut conn, &pattern, None).await,
                Some(primaries) => {
                    let mut removed = 0;
                    for node in primaries {
                        removed += scan_unlink(&mut conn, &pattern, Some(node)).await?;
                    }
                    Ok(removed)
                }
            }
        })
        .await
    }

    /// Memory and key count from INFO and DBSIZE.
    pub async fn info(&self) -> Result<RedisInfo, RedisError> {
        self.guarded(self.timeout, async {
            let mut conn = self.connection().await?;
            // In a cluster both go to every primary: INFO answers per node, DBSIZE is summed.
            let memory: Value = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut conn)
                .await?;
            let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
            let used_memory_bytes = used_memory(&memory);
            Ok(RedisInfo {
                used_memory_bytes,
                keys: Some(keys),
            })
        })
        .await
    }
}

/// One SCAN + UNLINK pass over a server, or over one cluster primary (`node`).
async fn scan_unlink(
    conn: &mut Connection,
    pattern: &str,
    node: Option<(String, u16)>,
) -> Result<u64, RedisError> {
    let mut cursor: u64 = 0;
    let mut removed = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500);
        let reply = match (&mut *conn, &node) {
            (Connection::Cluster(cluster), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                cluster.route_command(scan, routing).await?
            }
            _ => scan.query_async(&mut *conn).await?,
        };
        let (next, keys): (u64, Vec<String>) =
            redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
        if !keys.is_empty() {
            // Routed by slot in a cluster (split into one UNLINK per node, summed).
            let n: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut *conn)
                .await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_are_not_clusters() {
        assert_eq!(cluster_urls("redis://127.0.0.1:6379"), None);
        assert_eq!(cluster_urls("unix:///tmp/redis.sock"), None);
    }

    #[test]
    fn cluster_urls_name_every_node_with_shared_credentials_and_path() {
        assert_eq!(
            cluster_urls("redis+cluster://:secret@a:7000,b:7001/0"),
            Some(vec![
                "redis://:secret@a:7000/0".to_string(),
                "redis://:secret@b:7001/0".to_string()
            ])
        );
        assert_eq!(
            cluster_urls("rediss+cluster://a:7000"),
            Some(vec!["rediss://a:7000".to_string()])
        );
        assert_eq!(cluster_urls("redis+cluster://"), Some(vec![]));
    }

    #[test]
    fn primaries_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:7001@17001 master - 0 1426238317239 2 connected 5461-10922
292f 127.0.0.1:7003@17003 slave 07c3 0 1426238318243 4 connected
e7d1 127.0.0.1:7002@17002 master,fail - 0 1426238316232 3 connected
";
        assert_eq!(
            cluster_primaries(nodes),
            vec![
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7001)
            ]
        );
    }

    #[test]
    fn used_memory_is_summed_over_nodes() {
        let info =
            |n: u64| Value::BulkString(format!("# Memory\r\nused_memory:{n}\r\n").into_bytes());
        assert_eq!(used_memory(&info(10)), Some(10));
        let map = Value::Map(vec![
            (Value::SimpleString("a".into()), info(10)),
            (Value::SimpleString("b".into()), info(32)),
        ]);
        assert_eq!(used_memory(&map), Some(42));
    }
}
