//! Where the embedded index keeps its vectors (`index.storage`, `index.quantization`): a data
//! directory written with one setting keeps serving the same answers under the other, and the
//! optimisation after start moves its segments over.

use std::path::Path;

use selfrag::config::{Config, IndexStorage, Quantization};
use serde_json::{Value, json};

use crate::corpus::{ingest_corpus, queries};
use crate::helpers::{Backend, TestApp, wait_for};

/// Small thresholds so that the fixture corpus gets a graph (and, with quantization, a
/// quantized copy), built soon after start.
fn storing(storage: IndexStorage, quantization: Quantization) -> impl FnOnce(&mut Config) {
    move |config| {
        config.index.storage = storage;
        config.index.quantization = quantization;
        config.index.indexing_threshold_kb = 1;
        config.index.full_scan_threshold_kb = 1;
        config.index.optimize_delay_ms = 200;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_index_storage_keeps_answers_and_moves_the_segments() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        storing(IndexStorage::Memory, Quantization::None),
    )
    .await;
    ingest_corpus(&app).await;
    wait_until_graphed(&app).await;
    let shard = app.services().config.vector_index_dir().join("shard");
    assert_segments_in_ram(&shard);
    let before = answers(&app).await;

    let app = app
        .restart_with(storing(IndexStorage::Disk, Quantization::Int8))
        .await;
    // Nothing is written after the restart: the optimisation that runs after start applies
    // the new settings.
    wait_for("segments moved to files", async || {
        let configs = graphed_segments(&shard);
        !configs.is_empty()
            && configs.iter().all(|config| {
                config["vector_data"][""]["storage_type"] == "Mmap"
                    && config["vector_data"][""]["quantization_config"]["scalar"]["always_ram"]
                        == true
                    && config["sparse_vector_data"]["bm25"]["index"]["index_type"] == "Mmap"
            })
    })
    .await;
    wait_until_graphed(&app).await;
    assert_same_answers(&before, &answers(&app).await);

    // And back: every segment returns to RAM, without the quantized copy.
    let app = app
        .restart_with(storing(IndexStorage::Memory, Quantization::None))
        .await;
    wait_for("segments moved back to RAM", async || {
        let configs = graphed_segments(&shard);
        !configs.is_empty() && configs.iter().all(in_ram)
    })
    .await;
    wait_until_graphed(&app).await;
    assert_same_answers(&before, &answers(&app).await);
}

type Answers = Vec<(String, Vec<(String, f64)>)>;

/// The same hits in the same order, with the same scores (to float noise: a quantized walk's
/// candidates are rescored with the full vectors).
fn assert_same_answers(before: &Answers, after: &Answers) {
    assert_eq!(before.len(), after.len());
    for ((query, was), (_, now)) in before.iter().zip(after) {
        let ids = |hits: &Vec<(String, f64)>| hits.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(was), ids(now), "{query}: other hits");
        for ((_, a), (_, b)) in was.iter().zip(now) {
            assert!((a - b).abs() < 1e-4, "{query}: score {a} became {b}");
        }
    }
}

/// Waits until every point is in a segment with an HNSW graph. qdrant-edge counts an indexed
/// segment's points once per vector name (dense and keyword), and a plain segment's not at all.
async fn wait_until_graphed(app: &TestApp) {
    wait_for("the HNSW graph", async || {
        let status = app.services().index.status().await.expect("status");
        status.vectors > 0 && status.indexed_vectors == 2 * status.vectors
    })
    .await;
}

/// Each fixture query's dense and keyword hits (chunk id, score), in order.
async fn answers(app: &TestApp) -> Answers {
    let mut all = Vec::new();
    for (query, mode) in queries()
        .into_iter()
        .flat_map(|(q, _)| [(q.clone(), "DENSE"), (q, "KEYWORD")])
    {
        let found = app
            .data(
                "query($q: String!, $mode: SearchMode) { search(query: $q, limit: 5, mode: $mode) {
                    hits { score chunk { id } } } }",
                json!({ "q": query, "mode": mode }),
            )
            .await;
        let hits = found["search"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|hit| {
                (
                    hit["chunk"]["id"].as_str().expect("id").to_owned(),
                    hit["score"].as_f64().expect("score"),
                )
            })
            .collect();
        all.push((format!("{mode} {query}"), hits));
    }
    all
}

/// The saved configuration of every segment with an HNSW graph: once the graph covers every
/// vector, those hold all the points (the appendable segment beside them is empty).
fn graphed_segments(shard: &Path) -> Vec<Value> {
    let mut configs = Vec::new();
    for entry in std::fs::read_dir(shard.join("segments")).expect("segments") {
        let Ok(saved) = std::fs::read(entry.expect("entry").path().join("segment.json")) else {
            continue;
        };
        let saved: Value = serde_json::from_slice(&saved).expect("segment.json is JSON");
        if saved["config"]["vector_data"][""]["index"]["type"] == "hnsw" {
            configs.push(saved["config"].clone());
        }
    }
    configs
}

/// Whether a segment keeps its dense vectors (qdrant-edge's `InRam*` storages) and its keyword
/// postings in RAM, with no quantized copy.
fn in_ram(config: &Value) -> bool {
    let dense = &config["vector_data"][""];
    dense["storage_type"]
        .as_str()
        .is_some_and(|storage| storage.starts_with("InRam"))
        && dense["quantization_config"].is_null()
        && config["sparse_vector_data"]["bm25"]["index"]["index_type"] == "ImmutableRam"
}

fn assert_segments_in_ram(shard: &Path) {
    let configs = graphed_segments(shard);
    assert!(!configs.is_empty(), "no segment has a graph");
    for config in configs {
        assert!(in_ram(&config), "{config:#}");
    }
}
