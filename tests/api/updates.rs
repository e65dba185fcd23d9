//! Keeping documents current: an external id names one document, and ingesting under it again
//! replaces that document in place (same id, next revision), re-embedding only the chunks whose
//! text changed; identical input is a no-op reported as such; a failed update leaves the
//! previous version whole.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::faults::spawn_with_faults;
use crate::helpers::{Backend, TestApp, collection_stats, error_code};
use crate::on_every_backend;

const INGEST: &str = "mutation($input: IngestInput!) { ingestDocument(input: $input) {
    status chunksCreated chunksEmbedded chunksReused deduplicated
    document { id externalId revision updatedAt chunkCount contentHash tags }
} }";

const WORDS: &[&str] = &[
    "river", "stone", "garden", "window", "morning", "letter", "harbour", "signal", "meadow",
    "lantern", "journey", "copper", "forest", "thunder", "pocket", "village", "canvas", "orchard",
    "silver", "bridge", "market", "candle", "winter", "engine",
];

/// A paragraph of about 120 common words (roughly 150 word pieces: one chunk each, as two do
/// not fit the window), numbered so that no two are alike.
fn paragraph(n: usize) -> String {
    let sentences: Vec<String> = (0..8)
        .map(|s| {
            let words: Vec<&str> = (0..14)
                .map(|w| WORDS[(n * 7 + s * 5 + w * 3) % WORDS.len()])
                .collect();
            format!("Section {n} part {s}: {}.", words.join(" "))
        })
        .collect();
    sentences.join(" ")
}

fn handbook(edited: Option<(usize, &str)>) -> String {
    (0..50)
        .map(|n| match edited {
            Some((at, text)) if at == n => text.to_owned(),
            _ => paragraph(n),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn ingest(app: &TestApp, input: Value) -> Value {
    app.data(INGEST, json!({ "input": input })).await["ingestDocument"].clone()
}

async fn generation(app: &TestApp) -> u64 {
    app.cache_analytics().await["corpusGeneration"]
        .as_u64()
        .expect("a generation")
}

/// Keyword hits for a word, as document ids (one per document).
async fn found(app: &TestApp, word: &str) -> Vec<Value> {
    let body = app
        .data(
            "query($q: String!) { search(query: $q, mode: KEYWORD, limit: 5, groupByDocument: true) { hits { document { id } } } }",
            json!({ "q": word }),
        )
        .await;
    body["search"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["document"]["id"].clone())
        .collect()
}

async fn an_external_id_names_one_document_that_updates_in_place(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let original = handbook(Some((25, "The xylophone lesson starts at nine.")));
    let first = ingest(
        &app,
        json!({ "content": original, "title": "Handbook", "externalId": "docs/handbook.md" }),
    )
    .await;
    assert_eq!(first["status"], "INGESTED", "{first:#}");
    let chunks = first["chunksCreated"].as_u64().expect("a count");
    assert!(chunks >= 45, "{first:#}");
    assert_eq!(first["chunksEmbedded"], chunks);
    assert_eq!(first["document"]["revision"], 1);
    assert!(first["document"]["updatedAt"].is_null());
    let id = first["document"]["id"].clone();
    let before = generation(&app).await;

    // The same again: nothing is written, and the corpus generation stays.
    let same = ingest(
        &app,
        json!({ "content": original, "title": "Handbook", "externalId": "docs/handbook.md" }),
    )
    .await;
    assert_eq!(same["status"], "UNCHANGED", "{same:#}");
    assert_eq!(
        (
            same["chunksEmbedded"].as_u64(),
            same["document"]["id"].clone()
        ),
        (Some(0), id.clone())
    );
    assert_eq!(generation(&app).await, before);

    // One paragraph edited: the same document, next revision, one generation bump, and only
    // the chunks around the edit go through the model.
    let edited = handbook(Some((25, "The zebrafish lesson starts at ten.")));
    let update = ingest(
        &app,
        json!({ "content": edited, "title": "Handbook", "externalId": "docs/handbook.md" }),
    )
    .await;
    assert_eq!(update["status"], "UPDATED", "{update:#}");
    assert_eq!(update["document"]["id"], id);
    assert_eq!(update["document"]["revision"], 2);
    assert!(update["document"]["updatedAt"].is_string());
    assert_ne!(
        update["document"]["contentHash"],
        first["document"]["contentHash"]
    );
    let embedded = update["chunksEmbedded"].as_u64().expect("a count");
    let reused = update["chunksReused"].as_u64().expect("a count");
    assert!((1..=3).contains(&embedded), "{update:#}");
    assert_eq!(
        embedded + reused,
        update["chunksCreated"].as_u64().expect("a count")
    );
    assert_eq!(generation(&app).await, before + 1);
    assert_eq!(found(&app, "zebrafish").await, vec![id.clone()]);
    assert!(
        found(&app, "xylophone").await.is_empty(),
        "the old text still ranks"
    );
    let stats = collection_stats(&app).await;
    assert_eq!(stats["documents"], 1, "{stats}");
    assert_eq!(
        stats["chunks"], stats["vectors"],
        "old points left behind: {stats}"
    );

    // By external id.
    let by_name = app
        .data(
            "query($e: String!) { document(externalId: $e) { id revision chunks { id } } }",
            json!({ "e": "docs/handbook.md" }),
        )
        .await;
    assert_eq!(by_name["document"]["id"], id);
    assert_eq!(by_name["document"]["revision"], 2);

    // Fields alone changed: every chunk keeps its vector, and filters see the new tags.
    let retagged = ingest(
        &app,
        json!({ "content": edited, "title": "Handbook", "tags": ["guide"], "externalId": "docs/handbook.md" }),
    )
    .await;
    assert_eq!(retagged["status"], "UPDATED", "{retagged:#}");
    assert_eq!(retagged["chunksEmbedded"], 0);
    assert_eq!(retagged["chunksReused"], retagged["chunksCreated"]);
    let tagged = app
        .search("zebrafish lesson", 3, json!({ "tags": ["guide"] }))
        .await;
    assert_eq!(tagged["hits"][0]["document"]["id"], id, "{tagged:#}");

    // The same content under another external id is another document (not deduplicated).
    let copy = ingest(
        &app,
        json!({ "content": edited, "externalId": "docs/copy.md" }),
    )
    .await;
    assert_eq!(copy["status"], "INGESTED", "{copy:#}");
    assert_ne!(copy["document"]["id"], id);

    // Deleted by external id.
    let deleted = app
        .data(
            "mutation($e: String!) { deleteDocument(externalId: $e) }",
            json!({ "e": "docs/handbook.md" }),
        )
        .await;
    assert_eq!(deleted["deleteDocument"], true);
    let gone = app
        .graphql(
            "query($e: String!) { document(externalId: $e) { id } }",
            json!({ "e": "docs/handbook.md" }),
        )
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND", "{gone:#}");
    let both = app
        .graphql(
            "query($id: ID, $e: String) { document(id: $id, externalId: $e) { id } }",
            json!({ "id": copy["document"]["id"], "e": "docs/copy.md" }),
        )
        .await;
    assert_eq!(error_code(&both), "BAD_INPUT", "{both:#}");
}

async fn a_failed_update_leaves_the_previous_version_whole(backend: Backend) {
    let (app, flaky, embedder) = spawn_with_faults(backend).await;
    let v1 = handbook(Some((3, "Otters hold hands while they sleep.")));
    let first = ingest(&app, json!({ "content": v1, "externalId": "otters" })).await;
    let id = first["document"]["id"].clone();
    let v2 = handbook(Some((3, "Walruses haul out on the ice to rest.")));
    let update = || {
        app.graphql(
            INGEST,
            json!({ "input": { "content": v2, "externalId": "otters" } }),
        )
    };
    let whole = async |what: &str| {
        let stats = collection_stats(&app).await;
        assert_eq!(stats["documents"], 1, "{what}: {stats}");
        assert_eq!(
            stats["chunks"], stats["vectors"],
            "{what}: stray points: {stats}"
        );
        assert_eq!(stats["chunks"], first["chunksCreated"], "{what}: {stats}");
        assert_eq!(found(&app, "otters").await, vec![id.clone()], "{what}");
        assert!(
            found(&app, "walruses").await.is_empty(),
            "{what}: half an update"
        );
        let document = app
            .data(
                "query($e: String!) { document(externalId: $e) { revision } }",
                json!({ "e": "otters" }),
            )
            .await;
        assert_eq!(document["document"]["revision"], 1, "{what}");
    };

    // The model fails: nothing is touched.
    embedder.fail.store(true, Ordering::SeqCst);
    let body = update().await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body:#}");
    whole("after a model failure").await;
    embedder.fail.store(false, Ordering::SeqCst);

    // The index fails after writing the new points: they are removed again.
    flaky.fail_upserts.store(true, Ordering::SeqCst);
    let body = update().await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body:#}");
    whole("after an index failure").await;
    flaky.fail_upserts.store(false, Ordering::SeqCst);

    // And then it goes through.
    let body = update().await;
    assert_eq!(
        body["data"]["ingestDocument"]["status"], "UPDATED",
        "{body:#}"
    );
    assert_eq!(found(&app, "walruses").await, vec![id.clone()]);
    assert!(found(&app, "otters").await.is_empty());
}

on_every_backend!(
    an_external_id_names_one_document_that_updates_in_place,
    a_failed_update_leaves_the_previous_version_whole,
);
