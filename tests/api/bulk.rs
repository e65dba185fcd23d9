//! Bulk ingest: the chunks of a batch go to the model across documents in full
//! `embed.max_batch` calls, each document still all or nothing and reported in order, and a
//! batch that keeps making progress is never cut by `http.request_timeout_ms`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::faults::spawn_with_faults_and;
use crate::helpers::{Backend, TestApp, error_code, wait_for};
use crate::on_every_backend;

const INGEST_MANY: &str = "mutation($inputs: [IngestInput!]!) { ingestDocuments(inputs: $inputs) {
    status chunksCreated chunksEmbedded chunksReused document { id revision externalId } } }";

/// Short, distinct texts: one chunk each.
fn sentences(count: usize) -> Vec<String> {
    let topics = [
        "tidal energy",
        "bread baking",
        "glacier retreat",
        "chess openings",
        "bee colonies",
        "sourdough starters",
        "volcanic soil",
        "jazz harmony",
        "orbital mechanics",
        "moss growth",
        "river deltas",
        "paper folding",
        "coral bleaching",
        "violin making",
        "desert lichens",
    ];
    (0..count)
        .map(|i| {
            let topic = topics[i % topics.len()];
            format!("Note {i} on {topic}: a short paragraph about {topic} and nothing else.")
        })
        .collect()
}

async fn documents(app: &TestApp) -> u64 {
    app.data("{ collectionStats { documents } }", Value::Null)
        .await["collectionStats"]["documents"]
        .as_u64()
        .expect("documents")
}

async fn a_batch_embeds_across_documents_in_full_model_batches(backend: Backend) {
    let (app, _, embedder) =
        spawn_with_faults_and(backend, |config| config.embed.max_batch = 4).await;
    app.ingest(json!({ "content": "Before the batch.", "externalId": "kept" }))
        .await;
    let texts = sentences(10);
    let mut inputs: Vec<Value> = texts.iter().map(|t| json!({ "content": t })).collect();
    // The same content again (found once the first copy is written), an update of a document
    // stored before the batch, and one external id twice in the batch.
    inputs.push(json!({ "content": texts[2] }));
    inputs.push(json!({ "content": "Before the batch, then changed.", "externalId": "kept" }));
    inputs.push(json!({ "content": "First version in the batch.", "externalId": "twice" }));
    inputs.push(json!({ "content": "Second version in the batch.", "externalId": "twice" }));
    embedder.calls.lock().expect("calls").clear();

    let data = app.data(INGEST_MANY, json!({ "inputs": inputs })).await;
    let results = data["ingestDocuments"].as_array().expect("results");
    assert_eq!(results.len(), 14);
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [
            vec!["INGESTED"; 10],
            vec!["DEDUPLICATED", "UPDATED", "INGESTED", "UPDATED"]
        ]
        .concat()
    );
    assert_eq!(results[10]["document"]["id"], results[2]["document"]["id"]);
    assert_eq!(results[11]["document"]["revision"], 2);
    assert_eq!(results[13]["document"]["id"], results[12]["document"]["id"]);
    assert_eq!(results[13]["document"]["revision"], 2);

    // 13 texts went to the model (the duplicate none); every call but the last was full.
    let calls = embedder.calls();
    let embedded: usize = results
        .iter()
        .map(|r| r["chunksEmbedded"].as_u64().expect("count") as usize)
        .sum();
    assert_eq!(embedded, 13);
    assert_eq!(calls.iter().sum::<usize>(), embedded, "calls: {calls:?}");
    let (last, full) = calls.split_last().expect("calls");
    assert!(
        full.iter().all(|&n| n == 4) && *last <= 4,
        "calls: {calls:?}"
    );
    assert!(calls.len() <= 5, "no call is wasted: {calls:?}");

    // Each document got its own vectors: its own text finds it first.
    for (i, text) in texts.iter().enumerate() {
        let hits = app.search(text, 1, Value::Null).await;
        assert_eq!(
            hits["hits"][0]["document"]["id"], results[i]["document"]["id"],
            "{text}"
        );
    }
    assert_eq!(documents(&app).await, 12);
}

async fn a_failed_model_call_stops_the_batch_at_its_first_document(backend: Backend) {
    let (app, _, embedder) =
        spawn_with_faults_and(backend, |config| config.embed.max_batch = 3).await;
    // The first call carries documents 0–2, the second 3–5: it fails.
    embedder.fail_from_call.store(1, Ordering::SeqCst);
    let inputs: Vec<Value> = sentences(8)
        .iter()
        .map(|t| json!({ "content": t }))
        .collect();
    let body = app.graphql(INGEST_MANY, json!({ "inputs": inputs })).await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body:#}");
    assert_eq!(
        documents(&app).await,
        3,
        "the documents before the failed call stay ingested, none after"
    );
    let (documents, chunks, vectors) = stats(&app).await;
    assert_eq!(
        (chunks, vectors),
        (documents, documents),
        "no half document"
    );
}

/// Documents of several chunks, so that model calls split them: a document's chunks in two
/// calls, a call holding one document's tail and the next one's head, and a replacement whose
/// unchanged chunks keep their vectors among them.
async fn documents_split_across_model_calls_get_their_own_vectors(backend: Backend) {
    let (app, _, embedder) = spawn_with_faults_and(backend, |config| {
        config.embed.max_batch = 4;
        config.chunk.max_tokens = 24;
        config.chunk.overlap_tokens = 0;
    })
    .await;
    let s = [
        "Glaciers in the Alps lost a tenth of their ice in two hot summers.",
        "Sourdough bread rises slowly because wild yeast works at its own pace.",
        "The queen bee lays up to two thousand eggs on a single spring day.",
        "Chess players open with the king's pawn to fight for the centre.",
        "Coral reefs bleach when warm water drives out their algae partners.",
        "A violin's top plate is carved from spruce and its back from maple.",
        "Desert lichens survive for years on the dew of a few cold mornings.",
        "River deltas grow where slow water drops the silt it carried.",
        "Orbital mechanics says a lower orbit is a faster one.",
        "Moss grows on the shaded side of stones that stay damp.",
        "Jazz harmony stacks sevenths and ninths on every chord.",
        "Paper folding can model how proteins find their shapes.",
    ];
    let joined = |ids: &[usize]| ids.iter().map(|&i| s[i]).collect::<Vec<_>>().join(" ");
    app.ingest(json!({ "content": joined(&[0, 1, 2]), "externalId": "r" }))
        .await;
    embedder.calls.lock().expect("calls").clear();
    let inputs = json!([
        { "content": joined(&[3, 4, 5]) },
        { "content": joined(&[6, 7, 8]) },
        { "content": joined(&[0, 1, 9]), "externalId": "r" },
        { "content": joined(&[10, 11]) },
    ]);
    let data = app.data(INGEST_MANY, json!({ "inputs": inputs })).await;
    let results = data["ingestDocuments"].as_array().expect("results");
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["INGESTED", "INGESTED", "UPDATED", "INGESTED"]);
    assert!(
        results[..3]
            .iter()
            .all(|r| r["chunksCreated"].as_u64() == Some(3)),
        "a chunk per sentence: {results:?}"
    );
    assert!(
        results[2]["chunksReused"].as_u64() >= Some(1),
        "the unchanged sentences keep their vectors: {}",
        results[2]
    );
    let embedded: u64 = results
        .iter()
        .map(|r| r["chunksEmbedded"].as_u64().expect("count"))
        .sum();
    let calls = embedder.calls();
    assert_eq!(calls.iter().sum::<usize>() as u64, embedded, "{calls:?}");
    let (_, full) = calls.split_last().expect("calls");
    assert!(full.iter().all(|&n| n == 4), "calls: {calls:?}");
    assert!(calls.len() >= 2, "the documents span calls: {calls:?}");

    // Every sentence finds its own chunk, in its own document.
    let owner = [
        (3, 0),
        (4, 0),
        (5, 0),
        (6, 1),
        (7, 1),
        (8, 1),
        (9, 2),
        (10, 3),
        (11, 3),
    ];
    for (sentence, document) in owner {
        let found = app.search(s[sentence], 1, Value::Null).await;
        let hit = &found["hits"][0];
        assert_eq!(
            hit["document"]["id"], results[document]["document"]["id"],
            "{}: {found:#}",
            s[sentence]
        );
        assert!(
            hit["chunk"]["content"]
                .as_str()
                .is_some_and(|c| c.contains(s[sentence])),
            "{}: {found:#}",
            s[sentence]
        );
    }
}

async fn stats(app: &TestApp) -> (u64, u64, u64) {
    let stats = app
        .data(
            "{ collectionStats { documents chunks vectors } }",
            Value::Null,
        )
        .await["collectionStats"]
        .clone();
    let n = |f: &str| stats[f].as_u64().expect("count");
    (n("documents"), n("chunks"), n("vectors"))
}

/// The new documents a model call finishes are written as one group (one vector write, one
/// commit); a group whose write fails is undone and written again one document at a time, so
/// every document still arrives once, with its own vectors and none left over.
async fn new_documents_are_written_in_groups_and_a_failed_group_one_by_one(backend: Backend) {
    let (app, index, _) = spawn_with_faults_and(backend, |config| config.embed.max_batch = 4).await;
    let inputs = |texts: Vec<String>| -> Vec<Value> {
        texts.iter().map(|t| json!({ "content": t })).collect()
    };
    let data = app
        .data(INGEST_MANY, json!({ "inputs": inputs(sentences(8)) }))
        .await;
    assert_eq!(
        data["ingestDocuments"].as_array().expect("results").len(),
        8
    );
    // Written together (the default group, 32 chunks, holds the whole batch), or in groups of
    // at least a model call's documents.
    let groups = index.upserted.lock().expect("upserted").clone();
    assert!(
        groups.iter().sum::<usize>() == 8 && groups.iter().all(|&n| n >= 4),
        "written in groups: {groups:?}"
    );
    assert_eq!(stats(&app).await, (8, 8, 8));

    // A group fails, then the second of its documents alone: the batch stops there, with the
    // first stored and no vector left of the others (the group's points are removed, not
    // overwritten by a retry).
    index.upserted.lock().expect("upserted").clear();
    index.fail_upserts_above.store(1, Ordering::SeqCst);
    index.fail_upsert_at.store(2, Ordering::SeqCst);
    let body = app
        .graphql(
            INGEST_MANY,
            json!({ "inputs": inputs(sentences(16).split_off(8)) }),
        )
        .await;
    assert!(body.get("errors").is_some(), "{body}");
    let upserted = index.upserted.lock().expect("upserted").clone();
    assert!(
        matches!(upserted[..], [group, 1, 1] if group >= 4),
        "a group, then one by one: {upserted:?}"
    );
    assert_eq!(stats(&app).await, (9, 9, 9), "no vectors of a failed group");

    // A group fails and its documents then succeed one by one: all arrive, each once.
    index.upserted.lock().expect("upserted").clear();
    index.fail_upsert_at.store(usize::MAX, Ordering::SeqCst);
    let texts: Vec<String> = sentences(24).split_off(16);
    let data = app
        .data(INGEST_MANY, json!({ "inputs": inputs(texts.clone()) }))
        .await;
    let results = data["ingestDocuments"].as_array().expect("results");
    assert!(
        results.iter().all(|r| r["status"] == "INGESTED"),
        "{results:?}"
    );
    // Each failed group, then its documents one by one.
    let upserted = index.upserted.lock().expect("upserted").clone();
    let mut rest = &upserted[..];
    while let [group, after @ ..] = rest {
        assert!(
            *group >= 4 && after.len() >= *group && after[..*group].iter().all(|&n| n == 1),
            "each failed group, then its documents one by one: {upserted:?}"
        );
        rest = &after[*group..];
    }
    assert_eq!(
        upserted.iter().filter(|&&n| n == 1).count(),
        8,
        "{upserted:?}"
    );
    assert_eq!(stats(&app).await, (17, 17, 17));
    for (i, text) in texts.iter().enumerate() {
        let hits = app.search(text, 1, Value::Null).await;
        assert_eq!(
            hits["hits"][0]["document"]["id"],
            results[i]["document"]["id"]
        );
    }
}

/// Ready documents wait until they hold `storage.write_group_chunks` newly embedded chunks, so
/// that a bulk ingest syncs the database and the index once per group, not once per model
/// call; the last group takes what is left.
async fn ready_documents_wait_for_a_group_before_they_are_written(backend: Backend) {
    let (app, index, _) = spawn_with_faults_and(backend, |config| {
        config.embed.max_batch = 2;
        config.storage.write_group_chunks = 5;
    })
    .await;
    let inputs: Vec<Value> = sentences(12)
        .iter()
        .map(|t| json!({ "content": t }))
        .collect();
    let data = app.data(INGEST_MANY, json!({ "inputs": inputs })).await;
    let results = data["ingestDocuments"].as_array().expect("results");
    assert!(
        results.len() == 12 && results.iter().all(|r| r["status"] == "INGESTED"),
        "{results:?}"
    );
    // Calls of two one-chunk documents: without the wait, groups of 2 (or 4 when two calls
    // finish together).
    let groups = index.upserted.lock().expect("upserted").clone();
    let (_, full) = groups.split_last().expect("a write");
    assert!(
        groups.iter().sum::<usize>() == 12 && full.iter().all(|&n| n >= 5),
        "groups of at least 5 but the last: {groups:?}"
    );
    assert_eq!(stats(&app).await, (12, 12, 12));
}

on_every_backend!(
    ready_documents_wait_for_a_group_before_they_are_written,
    new_documents_are_written_in_groups_and_a_failed_group_one_by_one,
    a_batch_embeds_across_documents_in_full_model_batches,
    documents_split_across_model_calls_get_their_own_vectors,
    a_failed_model_call_stops_the_batch_at_its_first_document,
);

/// With two model sessions (int8's default on two cores), a batch keeps a call in flight for
/// each and a full one queued: the calls overlap, never more than three at once, a batch too
/// small to fill both sessions splits its texts between them, every document still gets its
/// own vectors in order, and a failed call still stops the batch at its first document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_keeps_a_call_in_flight_per_model_session() {
    let (app, _, embedder) =
        spawn_with_faults_and(Backend::Sqlite, |config| config.embed.max_batch = 3).await;
    embedder.sessions.store(2, Ordering::SeqCst);
    embedder.delay_ms.store(150, Ordering::SeqCst);
    let inputs = |texts: &[String]| -> Value {
        json!({ "inputs": texts.iter().map(|t| json!({ "content": t })).collect::<Vec<_>>() })
    };
    let texts = sentences(14);

    let data = app.data(INGEST_MANY, inputs(&texts[..10])).await;
    let results = data["ingestDocuments"].as_array().expect("results");
    assert!(
        results.len() == 10 && results.iter().all(|r| r["status"] == "INGESTED"),
        "{results:?}"
    );
    let calls = embedder.calls();
    assert_eq!(calls.iter().sum::<usize>(), 10, "calls: {calls:?}");
    assert!(calls.iter().all(|&n| n <= 3), "calls: {calls:?}");
    assert_eq!(
        embedder.most_running.load(Ordering::SeqCst),
        3,
        "a call per session and one queued, never more: {calls:?}"
    );
    for (i, text) in texts[..10].iter().enumerate() {
        let hits = app.search(text, 1, Value::Null).await;
        assert_eq!(
            hits["hits"][0]["document"]["id"], results[i]["document"]["id"],
            "{text}"
        );
    }

    // Four texts: two calls of two, not one of three and one of one.
    embedder.calls.lock().expect("calls").clear();
    app.data(INGEST_MANY, inputs(&texts[10..])).await;
    assert_eq!(embedder.calls(), [2, 2]);

    // The second of two overlapping calls fails: the first call's documents are stored, the
    // failed call's first document fails the batch, and nothing after it is written.
    embedder.calls.lock().expect("calls").clear();
    embedder.fail_from_call.store(1, Ordering::SeqCst);
    let more: Vec<String> = sentences(22).split_off(14);
    let body = app.graphql(INGEST_MANY, inputs(&more)).await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body:#}");
    assert_eq!(documents(&app).await, 17, "14, then the first call's 3");
    let (documents, chunks, vectors) = stats(&app).await;
    assert_eq!(
        (chunks, vectors),
        (documents, documents),
        "no half document"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_keeps_making_progress_outlives_the_request_timeout() {
    let (app, _, embedder) = spawn_with_faults_and(Backend::Sqlite, |config| {
        config.embed.max_batch = 2;
        config.http.request_timeout_ms = 1_500;
    })
    .await;
    // Six model calls of 700 ms, at most two at a time (the model's one session and a call
    // queued behind it): at least 2.1 s in all, each call well within the timeout.
    embedder.delay_ms.store(700, Ordering::SeqCst);
    let inputs: Vec<Value> = sentences(12)
        .iter()
        .map(|t| json!({ "content": t }))
        .collect();
    let started = std::time::Instant::now();
    let data = app.data(INGEST_MANY, json!({ "inputs": inputs })).await;
    assert!(started.elapsed() > Duration::from_millis(1_500));
    assert_eq!(data["ingestDocuments"].as_array().map(Vec::len), Some(12));
    assert_eq!(documents(&app).await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_stalls_gets_408_and_still_completes() {
    let (app, _, embedder) = spawn_with_faults_and(Backend::Sqlite, |config| {
        config.http.request_timeout_ms = 400;
    })
    .await;
    embedder.delay_ms.store(1_500, Ordering::SeqCst);
    let (status, body) = app
        .post_json(&json!({ "query": INGEST_MANY, "variables": { "inputs": [{ "content": "slow to embed" }] } }))
        .await;
    assert_eq!(status, 408);
    assert_eq!(error_code(&body), "REQUEST_TIMEOUT", "{body:#}");
    embedder.delay_ms.store(0, Ordering::SeqCst);
    wait_for("the cut-off write to complete", async || {
        documents(&app).await == 1
    })
    .await;
}
