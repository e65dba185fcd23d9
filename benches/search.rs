//! End-to-end latency and throughput on the embedded default, with the real model.
//!
//! `cargo bench --bench search` (after `scripts/setup.sh`). Groups:
//! - `embed/one_query`: one short text through the batching embedder.
//! - `search/service`: a search without HTTP (embed the query, search the index).
//! - `search/http_graphql`: the same search as a client sends it, over HTTP, answered by the
//!   response cache after the first; `search/http_graphql_executed` the same with the response
//!   cache off (HTTP + GraphQL + the L1 result), and `…_executed_without_timing` against a
//!   router whose schema does not time.
//! - `ingest/document`: ingest of a fresh ~4 KB document; throughput in chunks/s.
//! - `search/service_l1_hit` vs `search/service_computed`: the same search answered from L1,
//!   and computed (unique query: embed + index + hydrate).
//! - `graphql/with_timing` vs `graphql/without_timing`: the resolver-timing extension's cost on
//!   an L1-cached search executed in process (no HTTP); `graphql/no_document_cache` the same
//!   with the parsed-document cache off.
//! - `cache/l1_hit`, `cache/miss_then_fill`, and with `SELFRAG_TEST_REDIS_URL` set
//!   `cache/l2_hit` and `cache/miss_then_fill_l2`: one namespace of the tiered cache.

#![recursion_limit = "256"] // the ingest future is deep; rustc computes its layout

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selfrag::app::{App, Overrides};
use selfrag::cache::{CacheKey, CacheNamespace, Level, TieredCache};
use selfrag::config::{Config, ResponseCacheConfig};
use selfrag::graphql::responses::ResponseCache;
use selfrag::ingest::{self, IngestRequest};
use selfrag::redis::RedisClient;
use selfrag::search::{self, SearchRequest};
use selfrag::services::Services;
use serde_json::json;

#[path = "common/provisioned.rs"]
mod provisioned;

fn config(data_dir: &std::path::Path) -> Config {
    let mut config = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    provisioned::locate(&mut config.model);
    // One client address sends everything: budgets would turn the measurement into 429s.
    config.rate_limit.enabled = false;
    config
}

async fn ingest_text(services: &Services, content: String) -> ingest::IngestOutcome {
    let request = ingest::validate(
        IngestRequest {
            content,
            ..IngestRequest::default()
        },
        &services.config.limits,
    )
    .expect("valid");
    ingest::ingest(&services.ingest_context(), request)
        .await
        .expect("ingest")
}

fn top_ten(query: String) -> SearchRequest {
    SearchRequest::new(query, 10)
}

fn corpus() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("article"))
        .collect()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let app = runtime
        .block_on(App::build(config(dir.path()), Overrides::default()))
        .expect("app");
    let services = app.services().clone();
    runtime.block_on(async {
        for content in corpus() {
            ingest_text(&services, content).await;
        }
    });
    let url = format!("http://{}/graphql", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    c.bench_function("embed/one_query", |b| {
        b.to_async(&runtime).iter(|| async {
            services
                .embedder
                .embed(vec!["how do bees survive winter".into()])
                .await
                .expect("embed")
        })
    });

    let unique = AtomicUsize::new(0);
    c.bench_function("search/service_computed", |b| {
        b.to_async(&runtime).iter(|| async {
            // A query never seen: embedding, vector search and hydration all run.
            let n = unique.fetch_add(1, Ordering::Relaxed);
            search::search(
                &services.search_context(),
                top_ten(format!("how do bees survive winter number {n}")),
            )
            .await
            .expect("search")
        })
    });

    c.bench_function("search/service_l1_hit", |b| {
        b.to_async(&runtime).iter(|| async {
            search::search(
                &services.search_context(),
                top_ten("how do bees survive winter".into()),
            )
            .await
            .expect("search")
        })
    });

    // The timing extension's overhead: the same cached search executed by schemas that differ
    // in one setting. `no_document_cache` parses the query every time (the cost the parsed-
    // document cache saves).
    let query = "{ search(query: \"how do bees survive winter\", limit: 10) { totalHits hits { score chunk { content } document { title } } } }";
    let variant = |tweak: fn(&mut Config)| {
        let mut variant = services.clone();
        let mut config = (*services.config).clone();
        tweak(&mut config);
        variant.config = Arc::new(config);
        variant
    };
    for (name, schema_services) in [
        ("graphql/with_timing", services.clone()),
        (
            "graphql/without_timing",
            variant(|c| c.graphql.field_timing = false),
        ),
        (
            "graphql/no_document_cache",
            variant(|c| c.graphql.document_cache_entries = 0),
        ),
    ] {
        let schema = selfrag::graphql::build_schema(
            schema_services.clone(),
            ResponseCache::new(&schema_services.config.cache.responses, false),
        );
        c.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let request = selfrag::graphql::with_request_data(
                    async_graphql::Request::new(query),
                    &schema_services,
                );
                let response = schema.execute(request).await;
                assert!(response.errors.is_empty());
                response
            })
        });
    }

    // The same over HTTP: this server answers repeats from its response cache; two more
    // routers on the same services execute every request, with timing on and off (the
    // extension's cost as a client sees it).
    let off = ResponseCacheConfig {
        capacity_bytes: 0,
        ..ResponseCacheConfig::default()
    };
    let serve = |services: Services| {
        let router = selfrag::http::router(selfrag::http::HttpState::new(
            services.clone(),
            selfrag::graphql::build_schema(services, ResponseCache::new(&off, false)),
            ResponseCache::new(&off, false),
        ));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
        runtime.spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).await
        });
        url
    };
    let executed_url = serve(services.clone());
    let untimed_url = serve(variant(|c| c.graphql.field_timing = false));
    let client = reqwest::Client::new();
    let body = json!({ "query": query });
    for (name, url) in [
        ("search/http_graphql", &url),
        ("search/http_graphql_executed", &executed_url),
        ("search/http_graphql_executed_without_timing", &untimed_url),
    ] {
        c.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let response = client.post(url).json(&body).send().await.expect("sent");
                assert!(response.status().is_success());
                response.bytes().await.expect("body")
            })
        });
    }

    let mut group = c.benchmark_group("ingest");
    let base = corpus().join("\n\n");
    let sample: String = base.chars().take(4_000).collect();
    let chunks_per_doc = services.chunker.chunk(&sample, false).len() as u64;
    group.throughput(Throughput::Elements(chunks_per_doc));
    group.sample_size(10);
    let counter = AtomicUsize::new(0);
    group.bench_function("document", |b| {
        b.to_async(&runtime).iter(|| async {
            // Unique content each time, so deduplication never short-cuts the work.
            let n = counter.fetch_add(1, Ordering::Relaxed);
            ingest_text(&services, format!("Revision {n}.\n\n{sample}")).await
        })
    });
    group.finish();

    let _ = stop.send(());
    let _ = runtime.block_on(server);
}

fn vector(seed: usize) -> Vec<f32> {
    (0..384).map(|i| ((seed * 384 + i) as f32).sin()).collect()
}

fn cache_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let settings = selfrag::config::CacheConfig::default();
    let l1_only: TieredCache<Vec<f32>> = TieredCache::new(
        CacheNamespace::Embeddings,
        &settings.embeddings,
        None,
        settings.compress_above_bytes,
    );
    let hot = CacheKey::of(&[b"hot"]);
    runtime.block_on(async {
        l1_only
            .get_or_compute(hot, || async { Ok(vector(0)) })
            .await
            .expect("fill");
    });
    c.bench_function("cache/l1_hit", |b| {
        b.to_async(&runtime).iter(|| async {
            l1_only
                .get_or_compute(hot, || async { Ok(vector(1)) })
                .await
                .expect("hit")
        })
    });
    let n = AtomicUsize::new(0);
    c.bench_function("cache/miss_then_fill", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = CacheKey::of(&[&n.fetch_add(1, Ordering::Relaxed).to_le_bytes()]);
            l1_only
                .get_or_compute(key, || async { Ok(vector(2)) })
                .await
                .expect("fill")
        })
    });

    let Ok(url) = std::env::var("SELFRAG_TEST_REDIS_URL") else {
        eprintln!("cache/l2_*: skipped (set SELFRAG_TEST_REDIS_URL)");
        return;
    };
    let settings = selfrag::config::CacheConfig {
        key_prefix: format!("selfrag-bench-{}", std::process::id()),
        ..settings
    };
    let redis = Arc::new(
        runtime
            .block_on(async { RedisClient::new(&url, &settings) })
            .expect("redis"),
    );
    let writer: TieredCache<Vec<f32>> = TieredCache::new(
        CacheNamespace::Embeddings,
        &settings.embeddings,
        Some(Arc::clone(&redis)),
        settings.compress_above_bytes,
    );
    // A reader whose L1 keeps nothing: every lookup goes to Redis.
    let no_l1 = selfrag::config::NamespaceConfig {
        l1_capacity_bytes: 0,
        ..settings.embeddings.clone()
    };
    let reader: TieredCache<Vec<f32>> = TieredCache::new(
        CacheNamespace::Embeddings,
        &no_l1,
        Some(Arc::clone(&redis)),
        settings.compress_above_bytes,
    );
    let keys: Vec<CacheKey> = (0..256usize)
        .map(|i| CacheKey::of(&[b"l2", &i.to_le_bytes()]))
        .collect();
    runtime.block_on(async {
        for (i, key) in keys.iter().enumerate() {
            writer
                .get_or_compute(*key, || async move { Ok(vector(i)) })
                .await
                .expect("fill");
        }
    });
    let next = AtomicUsize::new(0);
    c.bench_function("cache/l2_hit", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = keys[next.fetch_add(1, Ordering::Relaxed) % keys.len()];
            let (_, level) = reader
                .get_or_compute(key, || async { Ok(vector(3)) })
                .await
                .expect("hit");
            assert_eq!(level, Level::L2);
        })
    });
    c.bench_function("cache/miss_then_fill_l2", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = CacheKey::of(&[b"fill", &n.fetch_add(1, Ordering::Relaxed).to_le_bytes()]);
            writer
                .get_or_compute(key, || async { Ok(vector(4)) })
                .await
                .expect("fill")
        })
    });
    runtime.block_on(async {
        writer.clear().await;
    });
}

criterion_group!(search_benches, benches, cache_benches);
criterion_main!(search_benches);
