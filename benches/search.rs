//! End-to-end latency and throughput on the embedded default, with the real model.
//!
//! `cargo bench --bench search` (after `scripts/setup.sh`). Groups:
//! - `embed/one_query`: one short text through the batching embedder.
//! - `search/service`: a search without HTTP (embed the query, search the index).
//! - `search/http_graphql`: the same search as a client sends it, over HTTP + GraphQL + hydration.
//! - `ingest/document`: ingest of a fresh ~4 KB document; throughput in chunks/s.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use selfrag::app::{App, Overrides};
use selfrag::config::Config;
use selfrag::ingest::{self, IngestRequest};
use selfrag::search::{self, SearchRequest};
use selfrag::vector::VectorFilter;
use serde_json::json;

fn config(data_dir: &std::path::Path) -> Config {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let provisioned = std::env::var_os("SELFRAG_PROVISION_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".selfrag"));
    let mut config = Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.model.dir = provisioned.join("models/all-MiniLM-L6-v2");
    config.model.onnxruntime_lib = provisioned.join("onnxruntime/libonnxruntime.so");
    config
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
            let request = ingest::validate(
                IngestRequest {
                    content,
                    ..IngestRequest::default()
                },
                &services.config.limits,
            )
            .expect("valid");
            ingest::ingest(&services, request).await.expect("ingest");
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

    c.bench_function("search/service", |b| {
        b.to_async(&runtime).iter(|| async {
            search::search(
                &services,
                SearchRequest {
                    query: "how do bees survive winter".into(),
                    limit: 10,
                    threshold: None,
                    filter: VectorFilter::default(),
                },
            )
            .await
            .expect("search")
        })
    });

    let client = reqwest::Client::new();
    let body = json!({ "query": "{ search(query: \"how do bees survive winter\", limit: 10) { totalHits hits { score chunk { content } document { title } } } }" });
    c.bench_function("search/http_graphql", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.post(&url).json(&body).send().await.expect("sent");
            assert!(response.status().is_success());
            response.bytes().await.expect("body")
        })
    });

    let mut group = c.benchmark_group("ingest");
    let base = corpus().join("\n\n");
    let sample: String = base.chars().take(4_000).collect();
    let chunks_per_doc = services.chunker.chunk(&sample).len() as u64;
    group.throughput(Throughput::Elements(chunks_per_doc));
    group.sample_size(10);
    let counter = AtomicUsize::new(0);
    group.bench_function("document", |b| {
        b.to_async(&runtime).iter(|| async {
            // Unique content each time, so deduplication never short-cuts the work.
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let content = format!("Revision {n}.\n\n{sample}");
            let request = ingest::validate(
                IngestRequest {
                    content,
                    ..IngestRequest::default()
                },
                &services.config.limits,
            )
            .expect("valid");
            ingest::ingest(&services, request).await.expect("ingest")
        })
    });
    group.finish();

    let _ = stop.send(());
    let _ = runtime.block_on(server);
}

criterion_group!(search_benches, benches);
criterion_main!(search_benches);
