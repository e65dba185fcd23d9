//! Keyword, dense and hybrid search through the API: what each mode finds and misses, filters
//! in every mode, diversity, grouping, paging, highlights, argument checks, and the upgrade of
//! an index from before keyword search.

use serde_json::{Value, json};

use crate::corpus::ingest_corpus;
use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

const MODES: [&str; 3] = ["DENSE", "KEYWORD", "HYBRID"];

/// Short tables of other codes: closer to a bare code than the release note is, for the
/// model; sharing no term with the code asked for, for BM25.
const CODE_TABLES: [&str; 2] = [
    "Error table: ZR-1184 timeout, KP-2291 refused, WM-5530 unknown part.",
    "Known codes: TB-4417 quota, HN-9062 checksum, DL-3348 expired token.",
];

/// A release note naming an error code that occurs nowhere else.
const RARE_CODE_NOTE: &str = "Release notes for the uploader. When the storage gateway refuses a \
     part, the client now retries with exponential back-off and reports XQ-7731 once every retry \
     has failed. Large files resume from the last acknowledged part.";

/// A paraphrase target: no word of it shares a stem with the query below.
const FELINE_NOTE: &str = "The feline dozed on the woven rug all afternoon, purring quietly.";
const FELINE_QUERY: &str = "a cat sleeping on a carpet";

async fn search(app: &TestApp, query: &str, arguments: Value) -> Value {
    app.data(
        "query($q: String!, $limit: Int, $offset: Int, $mode: SearchMode, $filter: SearchFilter,
                $fusion: FusionInput, $diversity: Float, $group: Boolean, $threshold: Float) {
            search(query: $q, limit: $limit, offset: $offset, mode: $mode, filter: $filter,
                   fusion: $fusion, diversity: $diversity, groupByDocument: $group,
                   threshold: $threshold) {
                mode totalHits
                hits { score denseScore keywordScore matchedChunks
                       highlights { startChar endChar }
                       chunk { id content } document { id title tags } }
            } }",
        json!({
            "q": query,
            "limit": arguments.get("limit").cloned().unwrap_or(json!(10)),
            "offset": arguments.get("offset").cloned().unwrap_or(json!(0)),
            "mode": arguments.get("mode"),
            "filter": arguments.get("filter"),
            "fusion": arguments.get("fusion"),
            "diversity": arguments.get("diversity").cloned().unwrap_or(json!(0.0)),
            "group": arguments.get("group").cloned().unwrap_or(json!(false)),
            "threshold": arguments.get("threshold"),
        }),
    )
    .await["search"]
        .clone()
}

fn hits(result: &Value) -> &Vec<Value> {
    result["hits"].as_array().expect("hits")
}

fn titles(result: &Value) -> Vec<String> {
    hits(result)
        .iter()
        .map(|hit| hit["document"]["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn chunk_ids(result: &Value) -> Vec<String> {
    hits(result)
        .iter()
        .map(|hit| hit["chunk"]["id"].as_str().expect("chunk id").to_owned())
        .collect()
}

/// The characters of `text` a highlight covers.
fn sliced(text: &str, span: &Value) -> String {
    let start = span["startChar"].as_u64().expect("start") as usize;
    let end = span["endChar"].as_u64().expect("end") as usize;
    text.chars().skip(start).take(end - start).collect()
}

async fn with_notes(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    ingest_corpus(&app).await;
    for (title, content, tags) in [
        (
            "Uploader release notes",
            RARE_CODE_NOTE,
            json!(["releases"]),
        ),
        ("An afternoon nap", FELINE_NOTE, json!(["pets"])),
    ] {
        app.ingest(json!({ "title": title, "content": content, "tags": tags }))
            .await;
    }
    for (i, table) in CODE_TABLES.iter().enumerate() {
        app.ingest(json!({ "title": format!("code table {i}"), "content": table }))
            .await;
    }
    app
}

async fn keyword_search_finds_the_rare_token_dense_search_misses(backend: Backend) {
    let app = with_notes(backend).await;
    let position = |result: &Value| {
        titles(result)
            .iter()
            .position(|title| title == "Uploader release notes")
    };
    for mode in ["KEYWORD", "HYBRID"] {
        let result = search(&app, "XQ-7731", json!({ "mode": mode })).await;
        assert_eq!(
            position(&result),
            Some(0),
            "{mode} ranks it first: {result:#}"
        );
        assert!(hits(&result)[0]["keywordScore"].as_f64().is_some());
    }
    let dense = search(&app, "XQ-7731", json!({ "mode": "DENSE" })).await;
    assert_ne!(
        position(&dense),
        Some(0),
        "the model alone does not read the code: {:?}",
        titles(&dense)
    );
    let keyword = search(&app, "XQ-7731", json!({ "mode": "KEYWORD" })).await;
    for hit in hits(&keyword) {
        assert!(
            !hit["highlights"].as_array().expect("highlights").is_empty(),
            "a keyword hit shares a term with the query: {hit:#}"
        );
    }
}

async fn dense_search_finds_the_paraphrase_keyword_search_misses(backend: Backend) {
    let app = with_notes(backend).await;
    let dense = search(&app, FELINE_QUERY, json!({ "mode": "DENSE" })).await;
    assert_eq!(titles(&dense)[0], "An afternoon nap", "{dense:#}");
    let keyword = search(&app, FELINE_QUERY, json!({ "mode": "KEYWORD" })).await;
    assert!(
        !titles(&keyword).contains(&"An afternoon nap".to_owned()),
        "no word of it matches: {keyword:#}"
    );
    let hybrid = search(&app, FELINE_QUERY, json!({ "mode": "HYBRID" })).await;
    assert_eq!(titles(&hybrid)[0], "An afternoon nap", "{hybrid:#}");
    assert_eq!(hybrid["mode"], "HYBRID");
    let top = &hits(&hybrid)[0];
    assert!(top["denseScore"].as_f64().is_some(), "{top:#}");
    assert!(top["keywordScore"].is_null(), "{top:#}");
}

async fn filters_and_thresholds_mean_the_same_in_every_mode(backend: Backend) {
    let app = with_notes(backend).await;
    for mode in MODES {
        let result = search(
            &app,
            "bees honey hive",
            json!({ "mode": mode, "limit": 50, "filter": { "tags": ["food"] } }),
        )
        .await;
        assert!(!hits(&result).is_empty(), "{mode}: no hits");
        for hit in hits(&result) {
            let tags = hit["document"]["tags"].as_array().expect("tags");
            assert!(tags.contains(&json!("food")), "{mode}: {hit:#}");
        }
        let result = search(
            &app,
            "bees honey hive",
            json!({ "mode": mode, "limit": 50, "threshold": 0.3 }),
        )
        .await;
        assert!(!hits(&result).is_empty(), "{mode}: no hits above 0.3");
        for hit in hits(&result) {
            let cosine = hit["denseScore"]
                .as_f64()
                .expect("a threshold implies denseScore");
            assert!(cosine >= 0.3 - 1e-6, "{mode}: {hit:#}");
        }
    }
}

async fn diversity_keeps_near_duplicates_off_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let copies = [
        "Feed the sourdough starter twice a day with equal weights of flour and water.",
        "Feed your sourdough starter twice daily with equal weights of flour and water.",
        "Twice a day, feed the sourdough starter equal weights of water and flour.",
    ];
    for (i, copy) in copies.iter().enumerate() {
        app.ingest(json!({ "title": format!("copy {i}"), "content": copy }))
            .await;
    }
    app.ingest(json!({ "title": "different",
        "content": "A sourdough starter that smells of acetone is hungry: feed it more. Keep the \
            jar somewhere warm and loosely covered, so that the yeast can breathe." }))
        .await;
    let copies_in = |result: &Value| {
        titles(result)
            .iter()
            .filter(|title| title.starts_with("copy"))
            .count()
    };
    for mode in MODES {
        let plain = search(
            &app,
            "how often to feed a sourdough starter",
            json!({ "mode": mode, "limit": 2 }),
        )
        .await;
        assert_eq!(
            copies_in(&plain),
            2,
            "{mode}: the copies rank first without diversity: {:?}",
            titles(&plain)
        );
        let diverse = search(
            &app,
            "how often to feed a sourdough starter",
            json!({ "mode": mode, "limit": 2, "diversity": 0.7 }),
        )
        .await;
        assert_eq!(
            copies_in(&diverse),
            1,
            "{mode}: diversity keeps one copy and brings in the different chunk: {:?}",
            titles(&diverse)
        );
    }
}

async fn grouping_and_paging_are_stable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    ingest_corpus(&app).await;
    for mode in MODES {
        for group in [false, true] {
            let page = |offset: usize, limit: usize| {
                search(
                    &app,
                    "water and light",
                    json!({ "mode": mode, "group": group, "offset": offset, "limit": limit }),
                )
            };
            let whole = chunk_ids(&page(0, 6).await);
            let mut paged = chunk_ids(&page(0, 3).await);
            paged.extend(chunk_ids(&page(3, 3).await));
            assert_eq!(paged, whole, "{mode}, grouped {group}");
            assert_eq!(whole, chunk_ids(&page(0, 6).await), "the same order again");
        }
        let grouped = search(
            &app,
            "water and light",
            json!({ "mode": mode, "group": true, "limit": 12 }),
        )
        .await;
        let documents: Vec<&Value> = hits(&grouped)
            .iter()
            .map(|hit| &hit["document"]["id"])
            .collect();
        let unique: std::collections::HashSet<_> = documents.iter().collect();
        assert_eq!(
            unique.len(),
            documents.len(),
            "{mode}: one hit per document"
        );
        for hit in hits(&grouped) {
            assert!(
                hit["matchedChunks"].as_u64().is_some_and(|n| n >= 1),
                "{hit:#}"
            );
        }
        assert!(
            hits(&grouped)
                .iter()
                .any(|hit| hit["matchedChunks"].as_u64() > Some(1)),
            "{mode}: some document matched with several chunks"
        );
    }
}

async fn highlights_slice_back_to_the_query_terms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.ingest(
        json!({ "content": "Reactor log: the flux capacitor overheated twice. \
        Overheating capacitors must be replaced before the reactor restarts." }),
    )
    .await;
    for mode in MODES {
        let result = search(
            &app,
            "overheating capacitor in the reactor",
            json!({ "mode": mode }),
        )
        .await;
        let hit = &hits(&result)[0];
        let content = hit["chunk"]["content"].as_str().expect("content");
        let words: Vec<String> = hit["highlights"]
            .as_array()
            .expect("highlights")
            .iter()
            .map(|span| sliced(content, span).to_lowercase())
            .collect();
        assert_eq!(
            words,
            [
                "reactor",
                "capacitor",
                "overheated",
                "overheating",
                "capacitors",
                "reactor"
            ],
            "{mode}: every form of every term, in order; `the`/`in` are stopwords"
        );
    }
}

async fn bad_search_arguments_are_typed_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (arguments, needle) in [
        (json!({ "diversity": 1.5 }), "diversity"),
        (json!({ "offset": -1 }), "offset"),
        (json!({ "offset": 5000 }), "limits.max_search_offset"),
        (
            json!({ "fusion": { "denseWeight": 0.0, "keywordWeight": 0.0 } }),
            "weights",
        ),
        (json!({ "fusion": { "k": 0 } }), "k must be at least 1"),
    ] {
        let body = app
            .graphql(
                "query($q: String!, $offset: Int, $fusion: FusionInput, $diversity: Float) {
                    search(query: $q, offset: $offset, fusion: $fusion, diversity: $diversity) {
                        totalHits } }",
                json!({
                    "q": "anything",
                    "offset": arguments.get("offset").cloned().unwrap_or(json!(0)),
                    "fusion": arguments.get("fusion"),
                    "diversity": arguments.get("diversity").cloned().unwrap_or(json!(0.0)),
                }),
            )
            .await;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_INPUT",
            "{arguments}: {body:#}"
        );
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{arguments}: {body:#}"
        );
    }
}

on_every_backend!(
    keyword_search_finds_the_rare_token_dense_search_misses,
    dense_search_finds_the_paraphrase_keyword_search_misses,
    filters_and_thresholds_mean_the_same_in_every_mode,
    diversity_keeps_near_duplicates_off_the_page,
    grouping_and_paging_are_stable,
    highlights_slice_back_to_the_query_terms,
    bad_search_arguments_are_typed_errors,
);

/// After an upgrade: every point has its keyword vector, and keyword search finds the document
/// ingested before it.
async fn assert_upgraded(app: &TestApp) {
    let result = search(app, "XQ-7731", json!({ "mode": "KEYWORD" })).await;
    assert_eq!(titles(&result), ["old"], "{result:#}");
    assert_eq!(
        app.services()
            .index
            .count_without_keywords()
            .await
            .expect("count"),
        0
    );
}

/// An embedded index from before keyword search (no keyword vector) is upgraded at start:
/// keyword search then finds what was ingested before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_from_before_keyword_search_is_upgraded_at_start() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "title": "old", "content": RARE_CODE_NOTE }))
        .await;
    let shard_dir = app.services().config.vector_index_dir().join("shard");
    let app = {
        let mut app = app;
        app.stop().await;
        // Take the index back to its old shape: no keyword vector at all.
        // A stopped app has released its index (`Backends::close`): it opens at once.
        let shard = qdrant_edge::EdgeShard::load(&shard_dir, None).expect("the index is free");
        shard
            .update(qdrant_edge::UpdateOperation::VectorNameOperation(
                qdrant_edge::VectorNameOperations::DeleteVectorName(
                    qdrant_edge::DeleteVectorName {
                        vector_name: "bm25".into(),
                    },
                ),
            ))
            .expect("keyword vector removed");
        shard.flush();
        drop(shard);
        let saved = qdrant_edge::EdgeConfig::load(&shard_dir)
            .expect("a saved config")
            .expect("readable");
        assert!(
            saved.sparse_vectors.is_empty(),
            "the index is old-style now"
        );
        app.restart().await
    };
    assert_upgraded(&app).await;
}

/// A crash while the keyword vector was being added can leave the segments with it and the
/// saved configuration without it (qdrant-edge saves them in that order): the index still
/// opens, and keyword search works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_whose_saved_config_lags_its_segments_still_opens() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "title": "old", "content": RARE_CODE_NOTE }))
        .await;
    let config_file = app
        .services()
        .config
        .vector_index_dir()
        .join("shard/edge_config.json");
    app.stop().await;
    let mut saved: Value =
        serde_json::from_slice(&std::fs::read(&config_file).expect("saved config")).expect("JSON");
    assert!(saved["sparse_vectors"]["bm25"].is_object(), "{saved:#}");
    saved["sparse_vectors"] = json!({});
    std::fs::write(&config_file, serde_json::to_vec(&saved).expect("JSON")).expect("written");
    let app = app.restart().await;
    assert_upgraded(&app).await;
}

/// Keyword weights computed with other BM25 settings are not mixed with new ones: the server
/// refuses to start, naming `selfrag reindex`; the CLI's reindex computes them all again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_keyword_settings_are_refused_until_reindexed() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "title": "old", "content": RARE_CODE_NOTE }))
        .await;
    app.stop().await;
    let mut config = crate::helpers::test_config(app.data_dir.path());
    config.keywords.k1 = 2.0;
    let plain = || selfrag::app::Overrides {
        embedder: Some(crate::helpers::shared_embedder()),
        ..selfrag::app::Overrides::default()
    };
    let err = selfrag::app::App::build(config.clone(), plain())
        .await
        .err()
        .expect("refuses to start");
    let message = err.to_string();
    assert!(
        message.contains("selfrag reindex") && message.contains("k1=2"),
        "{message}"
    );

    // The operator's fix, through the real CLI: `selfrag reindex` with the new settings.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_selfrag"))
        .arg("reindex")
        .env("SELFRAG_DATA_DIR", app.data_dir.path())
        .env("SELFRAG_KEYWORDS__K1", "2.0")
        .env_remove("SELFRAG_DATABASE_URL")
        .env_remove("SELFRAG_QDRANT_URL")
        .output()
        .expect("selfrag runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "selfrag reindex: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("weighted 1 chunks; 0 left without"),
        "{stdout}"
    );

    let reindexed = selfrag::app::App::build(config.clone(), plain())
        .await
        .expect("starts once the keyword vectors match the settings");
    let services = reindexed.services().clone();
    assert_eq!(
        services.index.keyword_settings().await.expect("settings"),
        Some(services.keywords.fingerprint().to_owned())
    );
    let outcome = selfrag::search::search(
        &services.search_context(),
        selfrag::search::SearchRequest {
            mode: Some(selfrag::search::SearchMode::Keyword),
            ..selfrag::search::SearchRequest::new("XQ-7731", 5)
        },
    )
    .await
    .expect("search");
    assert_eq!(outcome.result.hits.len(), 1);
    assert_eq!(
        outcome.result.hits[0].document.title.as_deref(),
        Some("old")
    );
}

/// The same corpus and queries on the embedded index and on a Qdrant server give the same hits
/// with the same scores, in every mode (`SELFRAG_TEST_QDRANT_URL`; skipped without).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_and_qdrant_indexes_rank_alike_in_every_mode() {
    if crate::helpers::qdrant_url().is_none() {
        return;
    }
    let embedded = with_notes(Backend::Sqlite).await;
    let qdrant = with_notes(Backend::Qdrant).await;
    // What a hit is, whichever backend found it: chunk ids differ (they derive from document
    // ids, which are random), contents and scores must not.
    let described = |result: &Value| -> Vec<(String, String, [Option<f64>; 3])> {
        hits(result)
            .iter()
            .map(|hit| {
                (
                    hit["document"]["title"].as_str().unwrap_or("").to_owned(),
                    hit["chunk"]["content"]
                        .as_str()
                        .expect("content")
                        .to_owned(),
                    [
                        hit["score"].as_f64(),
                        hit["denseScore"].as_f64(),
                        hit["keywordScore"].as_f64(),
                    ],
                )
            })
            .collect()
    };
    for query in [
        "XQ-7731",
        FELINE_QUERY,
        "how do bees keep warm in winter",
        "lava and magma",
    ] {
        for mode in MODES {
            for arguments in [
                json!({ "mode": mode, "limit": 10 }),
                json!({ "mode": mode, "limit": 5, "diversity": 0.5, "group": true }),
                json!({ "mode": mode, "limit": 5, "filter": { "tags": ["science"] } }),
            ] {
                let here = described(&search(&embedded, query, arguments.clone()).await);
                let there = described(&search(&qdrant, query, arguments.clone()).await);
                assert_eq!(
                    here.len(),
                    there.len(),
                    "{query} {arguments}: {here:?} / {there:?}"
                );
                for (a, b) in here.iter().zip(&there) {
                    assert_eq!((&a.0, &a.1), (&b.0, &b.1), "{query} {arguments}");
                    for (x, y) in a.2.iter().zip(&b.2) {
                        match (x, y) {
                            (Some(x), Some(y)) => assert!(
                                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                                "{query} {arguments}: {x} vs {y}"
                            ),
                            (None, None) => {}
                            _ => panic!("{query} {arguments}: {:?} vs {:?}", a.2, b.2),
                        }
                    }
                }
            }
        }
    }
}

/// A Qdrant collection from before keyword search (no `bm25` vector) is given one at start and
/// its points their keyword vectors (`SELFRAG_TEST_QDRANT_URL`; Qdrant 1.18 or later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qdrant_collection_from_before_keyword_search_is_upgraded_at_start() {
    let Some(url) = crate::helpers::qdrant_url() else {
        return;
    };
    let app = TestApp::spawn(Backend::Qdrant).await;
    app.ingest(json!({ "title": "old", "content": RARE_CODE_NOTE }))
        .await;
    let collection = app.services().config.qdrant.collection.clone();
    let mut client = qdrant_client::Qdrant::from_url(&url).skip_compatibility_check();
    if let Some(key) = &app.services().config.qdrant.api_key {
        client = client.api_key(key.clone());
    }
    let client = client.build().expect("client");
    // Take the collection back to its old shape: no keyword vector at all.
    client
        .delete_vector_name(
            qdrant_client::qdrant::DeleteVectorNameRequestBuilder::new(&collection, "bm25")
                .wait(true),
        )
        .await
        .expect("keyword vector removed");
    let app = app.restart().await;
    assert_upgraded(&app).await;
}
