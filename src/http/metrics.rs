//! `GET /metrics` in the Prometheus text format.
//!
//! Cache series are not counted twice on the hot path: the cache keeps its own atomics, and a
//! scrape copies them into the registry just before rendering.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::HttpState;
use crate::cache::{CacheAnalytics, L2StateValue};

pub fn router() -> Router<HttpState> {
    Router::new().route("/metrics", get(render))
}

/// The process-wide registry (metrics has one global recorder).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows only what it forwards"
            );
        }
        handle
    })
}

async fn render(State(state): State<HttpState>) -> impl IntoResponse {
    let handle = prometheus();
    record_cache(&state.services.cache.analytics().await);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
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
    for state in [L2StateValue::Disabled, L2StateValue::Up, L2StateValue::Down] {
        let label = match state {
            L2StateValue::Disabled => "disabled",
            L2StateValue::Up => "up",
            L2StateValue::Down => "down",
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
