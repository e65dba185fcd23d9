//! What operators ask of a running server: is it ready, what does each dependency say, and how
//! is it performing. HTTP (`/health/*`) and GraphQL (`health`, `performanceMetrics`) serve the
//! same reports.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cache::CacheAnalytics;
use crate::services::Services;
use crate::telemetry::{PoolStats, StatsWindow, SystemSnapshot};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    /// An optional dependency is down; the server still serves (Redis: from L1).
    Degraded,
    Down,
    /// Not configured.
    Disabled,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: CheckStatus,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Every required dependency answers.
    Ready,
    /// Ready, but an optional dependency is down, or writes are refused for want of disk.
    Degraded,
    /// A required dependency does not answer: take this replica out of rotation.
    Unavailable,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checks {
    pub database: Check,
    pub vector_index: Check,
    pub embedder: Check,
    /// Optional: its loss degrades the cache to L1 but does not fail readiness.
    pub redis: Check,
    /// Free space in the data directory: below `storage.min_free_bytes` writes are refused
    /// and readiness is degraded (searches still work).
    pub disk: Check,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub status: Readiness,
    pub checks: Checks,
}

/// Asks every dependency, concurrently, each within a deadline.
pub async fn readiness(services: &Services) -> HealthReport {
    let redis = async {
        match services.cache.redis() {
            None => Check {
                status: CheckStatus::Disabled,
                latency_ms: 0.0,
                error: None,
            },
            Some(redis) => {
                let mut check = check(redis.info()).await;
                if check.status == CheckStatus::Down {
                    check.status = CheckStatus::Degraded;
                }
                check
            }
        }
    };
    let disk = async {
        let disk = services.disk.clone();
        let mut check = check(async move {
            tokio::task::spawn_blocking(move || disk.check())
                .await
                .map_err(|err| err.to_string())?
                .map_err(|err| err.to_string())
        })
        .await;
        if check.status == CheckStatus::Down {
            check.status = CheckStatus::Degraded;
        }
        check
    };
    let (database, vector_index, embedder, redis, disk) = tokio::join!(
        check(services.store.ping()),
        check(services.index.status()),
        check(services.embedder.embed(vec!["readiness probe".to_owned()])),
        redis,
        disk,
    );
    let required_up = [&database, &vector_index, &embedder]
        .iter()
        .all(|c| c.status == CheckStatus::Up);
    let degraded = [&redis, &disk]
        .iter()
        .any(|c| c.status == CheckStatus::Degraded);
    let status = match (required_up, degraded) {
        (false, _) => Readiness::Unavailable,
        (true, true) => Readiness::Degraded,
        (true, false) => Readiness::Ready,
    };
    HealthReport {
        status,
        checks: Checks {
            database,
            vector_index,
            embedder,
            redis,
            disk,
        },
    }
}

async fn check<T, E: std::fmt::Display>(probe: impl Future<Output = Result<T, E>>) -> Check {
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, probe).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match result {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    Check {
        status: if error.is_none() {
            CheckStatus::Up
        } else {
            CheckStatus::Down
        },
        latency_ms,
        error,
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseService {
    pub backend: String,
    pub check: Check,
    pub pool: PoolStats,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisService {
    pub check: Check,
    /// `single` or `cluster`; null when Redis is not configured.
    pub topology: Option<String>,
    /// Null when Redis is not configured.
    pub pool: Option<PoolStats>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VectorIndexService {
    pub backend: String,
    pub check: Check,
    pub vectors: Option<u64>,
    pub indexed_vectors: Option<u64>,
    pub segments: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedderService {
    pub check: Check,
    pub model: String,
    pub dimensions: usize,
}

/// Every dependency in detail.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicesReport {
    pub status: Readiness,
    pub database: DatabaseService,
    pub redis: RedisService,
    pub vector_index: VectorIndexService,
    pub embedder: EmbedderService,
}

pub async fn services_report(services: &Services) -> ServicesReport {
    let (health, index) = tokio::join!(readiness(services), services.index.status());
    let model = services.embedder.model();
    let index = index.ok();
    ServicesReport {
        status: health.status,
        database: DatabaseService {
            backend: services.store.backend_name().to_owned(),
            check: health.checks.database,
            pool: services.store.pool_stats(),
        },
        redis: RedisService {
            check: health.checks.redis,
            topology: services.cache.redis().map(|r| r.topology().to_owned()),
            pool: services.cache.redis().map(|r| r.pool_stats()),
        },
        vector_index: VectorIndexService {
            backend: index.as_ref().map_or("unknown", |i| i.backend).to_owned(),
            check: health.checks.vector_index,
            vectors: index.as_ref().map(|i| i.vectors),
            indexed_vectors: index.as_ref().map(|i| i.indexed_vectors),
            segments: index.as_ref().map(|i| i.segments as u64),
        },
        embedder: EmbedderService {
            check: health.checks.embedder,
            model: model.name.clone(),
            dimensions: model.dimensions,
        },
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pools {
    pub database: PoolStats,
    pub redis: Option<PoolStats>,
}

/// How the server is doing: the last minute of requests, the host, the pools, the cache.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceReport {
    pub uptime_seconds: f64,
    pub requests: StatsWindow,
    pub system: SystemSnapshot,
    pub pools: Pools,
    pub cache: CacheAnalytics,
}

pub async fn performance(services: &Services) -> PerformanceReport {
    PerformanceReport {
        uptime_seconds: services.requests.uptime().as_secs_f64(),
        requests: services.requests.window(),
        system: services.system.latest(),
        pools: Pools {
            database: services.store.pool_stats(),
            redis: services.cache.redis().map(|r| r.pool_stats()),
        },
        cache: services.cache.analytics().await,
    }
}
