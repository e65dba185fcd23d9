//! `GET /metrics` in the Prometheus text format.
//!
//! Request, GraphQL, embedder and vector-search series are recorded where they happen. Cache,
//! pool and process series are not counted twice on the hot path: their owners keep their own
//! figures, and a scrape copies them into the registry just before rendering.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::HttpState;
use crate::cache::{CacheAnalytics, L2State};
use crate::telemetry::PoolStats;
use crate::telemetry::SystemSnapshot;

pub fn router() -> Router<HttpState> {
    Router::new().route("/metrics", get(render))
}

/// Seconds: 10 µs (an L1 hit) to 10 s (a large ingest).
const DURATION_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process-wide registry (metrics has one global recorder).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Histograms with fixed buckets, not summaries: a sample is appended to a lock-free
        // buffer and folded into its bucket by `spawn_upkeep` (or a scrape), instead of updating
        // a quantile sketch — this matters at one record per resolved field.
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("selfrag_embed_batch_size".into()),
                    BATCH_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows only what it forwards"
            );
        }
        handle
    })
}

/// Folds buffered histogram samples into their buckets every `every`. Without it the samples
/// would pile up between scrapes — and for ever where nobody scrapes `/metrics`.
pub fn spawn_upkeep(every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let handle = prometheus();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

async fn render(State(state): State<HttpState>) -> impl IntoResponse {
    let handle = prometheus();
    let services = &state.services;
    record_cache(&services.cache.analytics().await);
    record_pool("database", &services.store.pool_stats());
    if let Some(redis) = services.cache.redis() {
        record_pool("redis", &redis.pool_stats());
    }
    record_process(&services.system.latest());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

fn record_pool(pool: &'static str, stats: &PoolStats) {
    metrics::gauge!("selfrag_pool_connections_max", "pool" => pool).set(stats.max as f64);
    metrics::gauge!("selfrag_pool_connections", "pool" => pool).set(stats.size as f64);
    metrics::gauge!("selfrag_pool_connections_in_use", "pool" => pool).set(stats.in_use as f64);
    if let Some(waiting) = stats.waiting {
        metrics::gauge!("selfrag_pool_waiting", "pool" => pool).set(waiting as f64);
    }
}

/// From the background sampler: never measured on the scrape itself.
fn record_process(system: &SystemSnapshot) {
    metrics::gauge!("process_cpu_percent").set(system.process_cpu_percent);
    metrics::gauge!("process_resident_memory_bytes").set(system.process_rss_bytes as f64);
    metrics::gauge!("process_open_fds").set(system.process_open_files as f64);
    metrics::gauge!("system_cpu_percent").set(system.cpu_percent);
    metrics::gauge!("system_memory_used_bytes").set(system.memory_used_bytes as f64);
    metrics::gauge!("system_disk_available_bytes").set(system.disk_available_bytes as f64);
}

fn record_cache(analytics: &CacheAnalytics) {
    for ns in &analytics.namespaces {
        let name = ns.namespace.key();
        let c = &ns.counters;
        for (level, value) in [("l1", c.l1_hits), ("l2", c.l2_hits)] {
            metrics::counter!("selfrag_cache_hits_total", "namespace" => name, "level" => level)
                .absolute(value);
        }
        metrics::counter!("selfrag_cache_misses_total", "namespace" => name).absolute(c.misses);
        for (level, value) in [("l1", c.l1_sets), ("l2", c.l2_sets)] {
            metrics::counter!("selfrag_cache_sets_total", "namespace" => name, "level" => level)
                .absolute(value);
        }
        metrics::counter!("selfrag_cache_evictions_total", "namespace" => name)
            .absolute(c.evictions);
        metrics::counter!("selfrag_cache_errors_total", "namespace" => name).absolute(c.errors);
        metrics::gauge!("selfrag_cache_hit_ratio", "namespace" => name).set(c.hit_rate);
        metrics::gauge!("selfrag_cache_l1_entries", "namespace" => name).set(ns.l1_entries as f64);
        metrics::gauge!("selfrag_cache_l1_bytes", "namespace" => name).set(ns.l1_bytes as f64);
        metrics::gauge!("selfrag_cache_l1_capacity_bytes", "namespace" => name)
            .set(ns.l1_capacity_bytes as f64);
    }
    let l2 = &analytics.l2;
    for state in [L2State::Disabled, L2State::Up, L2State::Down] {
        let label = match state {
            L2State::Disabled => "disabled",
            L2State::Up => "up",
            L2State::Down => "down",
        };
        metrics::gauge!("selfrag_cache_l2_state", "state" => label)
            .set(f64::from(u8::from(l2.state == state)));
    }
    metrics::counter!("selfrag_cache_l2_errors_total").absolute(l2.errors);
    if let Some(bytes) = l2.used_memory_bytes {
        metrics::gauge!("selfrag_cache_l2_used_memory_bytes").set(bytes as f64);
    }
    metrics::gauge!("selfrag_corpus_generation").set(analytics.corpus_generation as f64);
}
