//! Ingest semantics: deduplication, atomicity, deletion, persistence, listing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use selfrag::vector::{EdgeIndex, IndexIdentity};
use serde_json::{Value, json};

use crate::faults::spawn_with_faults;
use crate::helpers::{Backend, TestApp, error_code};
use crate::on_every_backend;

const STATS: &str = "{ collectionStats { documents chunks vectors dimensions model } }";

async fn stats(app: &TestApp) -> Value {
    app.data(STATS, Value::Null).await["collectionStats"].clone()
}

/// (documents, chunks, vectors) as `collectionStats` reports them.
async fn counts(app: &TestApp) -> (u64, u64, u64) {
    let stats = stats(app).await;
    let count = |field: &str| {
        stats[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {stats}"))
    };
    (count("documents"), count("chunks"), count("vectors"))
}

async fn identical_content_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let content =
        "Honeybees cluster in winter and shiver their flight muscles to keep the queen warm.";
    let first = app
        .ingest(json!({ "content": content, "title": "Bees" }))
        .await;
    assert_eq!(first["deduplicated"], false);
    assert_eq!(first["chunksCreated"], 1);
    let second = app
        .ingest(json!({ "content": content, "title": "Bees again" }))
        .await;
    assert_eq!(second["deduplicated"], true);
    assert_eq!(second["chunksCreated"], 0);
    assert_eq!(second["document"]["id"], first["document"]["id"]);
    assert_eq!(second["document"]["title"], "Bees");
    assert_eq!(counts(&app).await, (1, 1, 1));
    assert_eq!(stats(&app).await["dimensions"], 384);
}

async fn concurrent_ingests_of_the_same_content_store_it_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let content = "Sourdough starters are colonies of wild yeast and lactic acid bacteria.";
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.ingest(json!({ "content": content })).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for task in tasks {
        let result = task.await.expect("task");
        ids.insert(result["document"]["id"].as_str().expect("id").to_owned());
        fresh += usize::from(result["deduplicated"] == false);
    }
    assert_eq!(ids.len(), 1, "one document for identical content");
    assert_eq!(fresh, 1);
    assert_eq!(stats(&app).await["vectors"], 1);
}

async fn a_failed_vector_write_leaves_nothing_behind(backend: Backend) {
    let (app, flaky, _) = spawn_with_faults(backend).await;
    flaky.fail_upserts.store(true, Ordering::SeqCst);
    let content = "Coral polyps host algae that feed them through photosynthesis.\n\n".repeat(30);
    let body = app
        .graphql(
            "mutation($c: String!) { ingestDocument(input: {content: $c}) { deduplicated } }",
            json!({ "c": content }),
        )
        .await;
    assert_eq!(error_code(&body), "UNAVAILABLE");
    assert!(body["data"].is_null() || body["data"]["ingestDocument"].is_null());
    assert_eq!(counts(&app).await, (0, 0, 0));

    // Once the fault clears, the same content ingests normally: nothing half-stored blocks it.
    flaky.fail_upserts.store(false, Ordering::SeqCst);
    let ok = app.ingest(json!({ "content": content })).await;
    assert_eq!(ok["deduplicated"], false);
    assert_eq!(stats(&app).await["vectors"], ok["chunksCreated"]);
}

async fn a_failed_embedding_leaves_nothing_behind(backend: Backend) {
    let (app, _, embedder) = spawn_with_faults(backend).await;
    embedder.fail.store(true, Ordering::SeqCst);
    let body = app
        .graphql("mutation { ingestDocument(input: {content: \"Volcanoes vent magma.\"}) { deduplicated } }", Value::Null)
        .await;
    assert_eq!(error_code(&body), "UNAVAILABLE");
    embedder.fail.store(false, Ordering::SeqCst);
    assert_eq!(counts(&app).await, (0, 0, 0));
}

async fn deleting_a_document_removes_its_chunks_and_vectors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let keep = app
        .ingest(json!({ "content": "Chess openings fight for the centre of the board." }))
        .await;
    let gone = app
        .ingest(json!({ "content": "Roman aqueducts carried water on a gentle gradient.\n\n".repeat(40) }))
        .await;
    let gone_id = gone["document"]["id"].as_str().expect("id");
    assert!(gone["chunksCreated"].as_u64().expect("n") > 1);

    let body = app.delete(gone_id).await;
    assert_eq!(body["data"]["deleteDocument"], true, "{body}");
    assert_eq!(counts(&app).await, (1, 1, 1));
    let hits = app
        .search("Roman aqueduct water gradient", 10, Value::Null)
        .await;
    for hit in hits["hits"].as_array().expect("hits") {
        assert_eq!(hit["document"]["id"], keep["document"]["id"]);
    }
    let body = app
        .graphql(
            "query($id: ID!) { document(id: $id) { id } }",
            json!({ "id": gone_id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_code(&app.delete(gone_id).await), "NOT_FOUND");
}

async fn chunk_offsets_slice_the_original_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let paragraph = "Ünïcödé prose — with emoji 🐝, CJK 漢字 and accents — keeps exact offsets. ";
    let content = (0..12)
        .map(|i| format!("{i}. {}", paragraph.repeat(4)))
        .collect::<Vec<_>>()
        .join("\n\n");
    let ingested = app.ingest(json!({ "content": content })).await;
    let data = app
        .data(
            "query($id: ID!) { document(id: $id) { chunkCount chunks { index content startChar endChar } } }",
            json!({ "id": ingested["document"]["id"] }),
        )
        .await;
    let chars: Vec<char> = content.chars().collect();
    let chunks = data["document"]["chunks"].as_array().expect("chunks");
    assert!(chunks.len() > 1);
    assert_eq!(
        data["document"]["chunkCount"].as_u64(),
        Some(chunks.len() as u64)
    );
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk["index"], i);
        let (start, end) = (
            chunk["startChar"].as_u64().expect("start") as usize,
            chunk["endChar"].as_u64().expect("end") as usize,
        );
        let slice: String = chars[start..end].iter().collect();
        assert_eq!(slice, chunk["content"].as_str().expect("content"));
    }
}

async fn documents_page_newest_first_with_cursors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        let doc = app.ingest(json!({ "content": format!("Document number {i} about knitting patterns."), "tags": [tag] })).await;
        ids.push(doc["document"]["id"].as_str().expect("id").to_owned());
    }
    let query = "query($after: String, $filter: DocumentFilter) {
        documents(first: 2, after: $after, filter: $filter) {
            edges { cursor node { id tags } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.data(query, json!({ "after": after })).await["documents"].clone();
        for edge in page["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["id"].as_str().expect("id").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    ids.reverse();
    assert_eq!(seen, ids, "every document once, newest first");

    let odd = app
        .data(query, json!({ "filter": { "tags": ["odd"] } }))
        .await;
    let odd_ids: Vec<_> = odd["documents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(odd_ids, vec![json!(ids[1]), json!(ids[3])]);

    let body = app.graphql(query, json!({ "after": "not-a-cursor" })).await;
    assert_eq!(error_code(&body), "BAD_INPUT");
}

async fn the_corpus_survives_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = app.ingest(json!({ "content": "Black holes bend light around their event horizon.", "tags": ["space"] })).await;
    let app = app.restart().await;
    let result = app
        .search(
            "gravity bending light near a black hole",
            5,
            json!({ "tags": ["space"] }),
        )
        .await;
    assert_eq!(result["hits"][0]["document"]["id"], doc["document"]["id"]);
    assert_eq!(stats(&app).await["vectors"], 1);
}

/// Every field given at ingest comes back the same from `document`, `documents` and search hits
/// (the database column for `type` once read back as null).
async fn every_document_field_reads_back_as_ingested(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fields = "id title source type author tags metadata";
    let ingested = app
        .data(
            &format!(
                "mutation($i: IngestInput!) {{ ingestDocument(input: $i) {{ document {{ {fields} }} }} }}"
            ),
            json!({ "i": {
                "content": "Lighthouse keepers trimmed the lamp wicks every few hours through the night.",
                "title": "Keeping the light",
                "source": "archive",
                "type": "history",
                "author": "A. Keeper",
                "tags": ["sea", "work"],
                "metadata": { "year": 1890 },
            }}),
        )
        .await["ingestDocument"]["document"]
        .clone();
    assert_eq!(ingested["type"], "history", "{ingested}");
    let id = ingested["id"].clone();
    let by_id = app
        .data(
            &format!("query($id: ID!) {{ document(id: $id) {{ {fields} }} }}"),
            json!({ "id": id }),
        )
        .await["document"]
        .clone();
    assert_eq!(by_id, ingested);
    let listed = app
        .data(
            &format!("{{ documents(first: 5) {{ edges {{ node {{ {fields} }} }} }} }}"),
            json!({}),
        )
        .await["documents"]["edges"][0]["node"]
        .clone();
    assert_eq!(listed, ingested);
    let hit = app
        .data(
            &format!(
                "{{ search(query: \"lamp wicks at night\", limit: 1) {{ hits {{ document {{ {fields} }} }} }} }}"
            ),
            json!({}),
        )
        .await["search"]["hits"][0]["document"]
        .clone();
    assert_eq!(hit, ingested);
}

on_every_backend!(
    every_document_field_reads_back_as_ingested,
    identical_content_is_stored_once,
    concurrent_ingests_of_the_same_content_store_it_once,
    a_failed_vector_write_leaves_nothing_behind,
    a_failed_embedding_leaves_nothing_behind,
    deleting_a_document_removes_its_chunks_and_vectors,
    chunk_offsets_slice_the_original_text,
    documents_page_newest_first_with_cursors,
    the_corpus_survives_a_restart,
);

#[tokio::test]
async fn an_index_refuses_vectors_of_another_model() {
    let dir = tempfile::tempdir().expect("dir");
    let minilm = IndexIdentity {
        model: "minilm".into(),
        dimensions: 384,
    };
    let settings = selfrag::config::IndexConfig::default();
    drop(EdgeIndex::open(dir.path(), &minilm, &settings).expect("creates"));
    drop(EdgeIndex::open(dir.path(), &minilm, &settings).expect("reopens with the same model"));
    let other = IndexIdentity {
        model: "bge-small".into(),
        dimensions: 384,
    };
    let err = EdgeIndex::open(dir.path(), &other, &settings)
        .err()
        .expect("refuses another model");
    assert!(
        err.to_string().contains("minilm") && err.to_string().contains("bge-small"),
        "{err}"
    );
}
