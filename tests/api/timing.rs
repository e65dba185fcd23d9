//! Resolver timing: Prometheus histograms per field and operation, `extensions.timing` on request.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const QUERY: &str = "query Stats { collectionStats { documents vectors } search(query: \"bees\", limit: 3) { totalHits hits { document { title } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_timings_reach_prometheus_and_the_response_only_when_asked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "content": "Bees make honey.", "title": "Bees" }))
        .await;

    let plain = app.graphql(QUERY, Value::Null).await;
    assert!(
        plain
            .get("extensions")
            .is_none_or(|ext| ext.get("timing").is_none()),
        "{plain}"
    );

    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("x-selfrag-timing", "1")
        .json(&json!({ "query": QUERY, "operationName": "Stats" }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    let timing = &body["extensions"]["timing"];
    assert!(timing["totalMs"].as_f64().expect("total") > 0.0, "{body}");
    let slowest = timing["slowest"].as_array().expect("slowest");
    let paths: Vec<&str> = slowest.iter().filter_map(|f| f["path"].as_str()).collect();
    assert!(
        paths.contains(&"search") && paths.contains(&"collectionStats"),
        "{paths:?}"
    );
    // Leaf fields (scalars) are not timed.
    assert!(!paths.iter().any(|p| p.ends_with("totalHits")), "{paths:?}");
    let ms: Vec<f64> = slowest.iter().filter_map(|f| f["ms"].as_f64()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "slowest first: {ms:?}");

    let metrics = app.get("/metrics").await.text().await.expect("text");
    for needle in [
        "graphql_field_duration_seconds_count{type=\"Query\",field=\"search\"}",
        "graphql_field_duration_seconds_count{type=\"SearchHit\",field=\"document\"}",
        "graphql_operation_duration_seconds_count{operation_name=\"Stats\",operation_type=\"query\"}",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in:\n{metrics}");
    }
    assert!(!metrics.contains("field=\"totalHits\""));
    assert!(
        !metrics.contains("type=\"[SearchHit!]\""),
        "list elements are not timed one by one"
    );
    for series in [
        "selfrag_embed_batch_size_count",
        "selfrag_vector_search_duration_seconds_count",
        "selfrag_pool_connections_in_use{pool=\"database\"}",
        "process_resident_memory_bytes",
        "http_request_duration_seconds_count{method=\"POST\",route=\"/graphql\",status=\"200\"}",
    ] {
        assert!(metrics.contains(series), "missing {series} in:\n{metrics}");
    }
}

#[tokio::test]
async fn errors_are_counted_by_code() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.graphql("{ search(query: \"\") { totalHits } }", Value::Null)
        .await;
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("graphql_errors_total{code=\"BAD_INPUT\"}"),
        "{metrics}"
    );
}

/// The value of one series in Prometheus text, if it is there.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn operations_are_labelled_by_their_name_and_bounded() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.graphql.max_operation_series = 2).await;
    // Names no other test uses: the Prometheus registry is shared by the whole test process.
    let names = ["BoundedFirst", "BoundedSecond", "BoundedThird"];
    for name in names {
        // No `operationName` in the request: the document's only operation names it.
        let body = app
            .graphql(
                &format!("query {name} {{ collectionStats {{ documents }} }}"),
                Value::Null,
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let count = |metrics: &str, name: &str| {
        sample(
            metrics,
            &format!(
                "graphql_operations_total{{operation_name=\"{name}\",operation_type=\"query\"}}"
            ),
        )
    };
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert_eq!(count(&metrics, "BoundedFirst"), Some(1.0), "{metrics}");
    assert_eq!(count(&metrics, "BoundedSecond"), Some(1.0), "{metrics}");
    assert_eq!(count(&metrics, "BoundedThird"), None, "past the bound");
    let other = count(&metrics, "(other)").expect("the overflow series");
    assert!(other >= 1.0, "{metrics}");

    // A known name keeps its own series after the bound is reached.
    app.graphql(
        "query BoundedFirst { collectionStats { documents } }",
        Value::Null,
    )
    .await;
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert_eq!(count(&metrics, "BoundedFirst"), Some(2.0), "{metrics}");
}

#[tokio::test]
async fn a_repeated_mutation_keeps_its_type_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The second request is served from the parsed-document cache: the label must not depend
    // on the document being parsed again.
    for _ in 0..2 {
        let body = app
            .graphql(
                "mutation TimingForgetTexts { clearCache(namespace: PERSISTED_QUERIES) { l1Entries } }",
                Value::Null,
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let metrics = app.get("/metrics").await.text().await.expect("text");
    let series = "graphql_operations_total{operation_name=\"TimingForgetTexts\",operation_type=\"mutation\"}";
    assert_eq!(sample(&metrics, series), Some(2.0), "{metrics}");
}
