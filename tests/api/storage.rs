//! Where the embedded index keeps its vectors (`index.storage`, `index.quantization`): a data
//! directory written with one setting keeps serving the same answers under the other, and the
//! optimisation after start moves its segments over. `index.vector_type` applies to new indexes;
//! an existing one keeps the type it was created with. And the index's write-ahead log, which
//! qdrant-edge 0.7.2 never truncates, is pruned at start and by the compaction after an
//! optimisation, without losing a write.

use std::path::Path;

use selfrag::config::{Config, IndexStorage, Quantization, VectorType};
use serde_json::{Value, json};

use crate::corpus::{ingest_corpus, queries};
use crate::helpers::{Backend, TestApp, collection_stats, wait_for};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_keeps_the_vector_type_it_was_created_with() {
    let float32 = |config: &mut Config| {
        storing(IndexStorage::Disk, Quantization::None)(config);
        config.index.vector_type = VectorType::Float32;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, float32).await;
    ingest_corpus(&app).await;
    wait_until_graphed(&app).await;
    let shard = app.services().config.vector_index_dir().join("shard");
    assert_eq!(vector_types(&shard), ["float32"]);
    let before = answers(&app).await;

    // Now configured as float16 (the default): the index opens as it was saved, answers the
    // same to the last digit, and a write after the restart lands in a float32 segment too.
    let app = app
        .restart_with(storing(IndexStorage::Disk, Quantization::None))
        .await;
    assert_same_answers(&before, &answers(&app).await);
    let added = app
        .ingest(
            json!({ "content": "Half precision halves the vectors' memory.",
                         "title": "Half" }),
        )
        .await;
    assert_eq!(added["chunksCreated"], 1, "{added}");
    wait_until_graphed(&app).await;
    assert_eq!(vector_types(&shard), ["float32"]);

    // A new index stores float16, and ranks the fixture queries as float32 did.
    let fresh = TestApp::spawn_with(
        Backend::Sqlite,
        storing(IndexStorage::Disk, Quantization::None),
    )
    .await;
    ingest_corpus(&fresh).await;
    wait_until_graphed(&fresh).await;
    let shard = fresh.services().config.vector_index_dir().join("shard");
    assert_eq!(vector_types(&shard), ["float16"]);
    let half = answers(&fresh).await;
    for ((query, was), (_, now)) in before.iter().zip(&half) {
        // Different chunk ids (a new ingest), so the scores are compared in order.
        assert_eq!(was.len(), now.len(), "{query}");
        for ((_, a), (_, b)) in was.iter().zip(now) {
            assert!((a - b).abs() < 2e-3, "{query}: float32 {a}, float16 {b}");
        }
    }
}

/// The dense vectors' element type in every segment on disk (graphed or not), deduplicated.
fn vector_types(shard: &Path) -> Vec<String> {
    let mut types: Vec<String> = segment_configs(shard)
        .iter()
        // qdrant leaves the type out for float32, its default.
        .map(|config| {
            config["vector_data"][""]["datatype"]
                .as_str()
                .unwrap_or("float32")
                .to_owned()
        })
        .collect();
    types.sort();
    types.dedup();
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_pruned_and_later_writes_still_apply() {
    // A log file of 1 KiB holds no operation: each write retires the file before it. Each
    // model call's documents are a write of their own, so the corpus makes several. The
    // optimiser waits long enough not to compact during the ingest.
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.index.wal_segment_kb = 1;
        config.storage.write_group_chunks = 1;
        config.index.optimize_delay_ms = 600_000;
    })
    .await;
    let documents = ingest_corpus(&app).await;
    let wal = app
        .services()
        .config
        .vector_index_dir()
        .join("shard")
        .join("wal");
    let written = closed_logs(&wal);
    assert!(written.len() >= 2, "closed log files: {written:?}");
    let before = answers(&app).await;

    // At start, every closed file but the newest goes; the answers stay.
    let app = app.restart().await;
    let newest = *written.last().expect("a closed file");
    assert_eq!(closed_logs(&wal), [newest]);
    assert_same_answers(&before, &answers(&app).await);

    // The newest file numbers the next operations after every stored point: a delete of points
    // written before the pruning applies (one numbered lower would be skipped as stale).
    let mut documents = documents.into_values();
    let deleted = documents.next().expect("a document");
    assert_deleted(&app, &deleted).await;

    // While serving: once writes are quiet, the optimiser compacts the index in place.
    let app = app
        .restart_with(|config| config.index.optimize_delay_ms = 200)
        .await;
    wait_for("the compaction after start", async || {
        closed_logs(&wal).len() == 1
    })
    .await;
    let settled = closed_logs(&wal)[0];
    let kept = documents.next().expect("another document");
    let _ = app
        .ingest(
            json!({ "content": "Compaction reopens the index and prunes its log.",
                        "title": "Compaction" }),
        )
        .await;
    wait_for(
        "the compaction after the optimisation",
        async || matches!(closed_logs(&wal)[..], [only] if only > settled),
    )
    .await;
    assert_deleted(&app, &kept).await;
    let vectors = collection_stats(&app).await["vectors"].clone();
    let app = app.restart().await;
    assert_eq!(collection_stats(&app).await["vectors"], vectors);
    for document in [&deleted, &kept] {
        let points = points_of(&app, document).await;
        assert!(points.is_empty(), "{document} came back after a restart");
    }
}

/// The first operation of each closed log file in `wal`, ascending.
fn closed_logs(wal: &Path) -> Vec<u64> {
    let mut first: Vec<u64> = std::fs::read_dir(wal)
        .expect("the log directory")
        .filter_map(|entry| {
            let name = entry.expect("entry").file_name().into_string().ok()?;
            name.strip_prefix("closed-")?.parse().ok()
        })
        .collect();
    first.sort_unstable();
    first
}

/// Deletes `document` and checks that the index has none of its points left.
async fn assert_deleted(app: &TestApp, document: &str) {
    let points = points_of(app, document).await;
    assert!(!points.is_empty(), "{document} has no points to delete");
    let deleted = app.delete(document).await;
    assert_eq!(deleted["data"]["deleteDocument"], true, "{deleted}");
    let points = points_of(app, document).await;
    assert!(points.is_empty(), "{document} kept {} points", points.len());
}

/// The index's points of `document` (a document id as the API gives it).
async fn points_of(app: &TestApp, document: &str) -> Vec<uuid::Uuid> {
    let id = uuid::Uuid::parse_str(document).expect("uuid");
    app.services()
        .index
        .document_points(id)
        .await
        .expect("points")
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
    segment_configs(shard)
        .into_iter()
        .filter(|config| config["vector_data"][""]["index"]["type"] == "hnsw")
        .collect()
}

/// The saved configuration (`segment.json`) of every segment on disk.
fn segment_configs(shard: &Path) -> Vec<Value> {
    let mut configs = Vec::new();
    for entry in std::fs::read_dir(shard.join("segments")).expect("segments") {
        let Ok(saved) = std::fs::read(entry.expect("entry").path().join("segment.json")) else {
            continue;
        };
        let saved: Value = serde_json::from_slice(&saved).expect("segment.json is JSON");
        configs.push(saved["config"].clone());
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
