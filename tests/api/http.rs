//! The HTTP layer: compression, response time, request ids, limits, CORS.

use std::io::Read;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const SEARCH: &str = "{ search(query: \"honey bees in winter\", limit: 10) { totalHits hits { chunk { content } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_responses_decode_to_the_same_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let paragraph = "Honeybees cluster in winter and shiver to keep the queen warm. ".repeat(12);
    for i in 0..4 {
        app.ingest(json!({ "content": format!("{i} {paragraph}") }))
            .await;
    }
    let plain = app.graphql(SEARCH, Value::Null).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("accept-encoding", "gzip")
        .json(&json!({ "query": SEARCH }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert!(compressed.len() < text.len());
    let decoded: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(decoded, plain);
}

#[tokio::test]
async fn every_response_has_a_response_time_and_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/health/live", "/graphql", "/no-such-route"] {
        let response = app.get(path).await;
        let time = response.headers()["x-response-time"]
            .to_str()
            .expect("ascii");
        assert!(
            time.ends_with("ms") && time.trim_end_matches("ms").parse::<f64>().is_ok(),
            "{time}"
        );
        assert_eq!(
            response.headers()["x-request-id"].len(),
            36,
            "a generated UUID"
        );
    }
    let response = app
        .client
        .get(format!("{}/health/live", app.base_url))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "client-chosen-id");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.http.max_body_bytes = 2_000).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("content-type", "application/json")
        .body(json!({ "query": "mutation($c: String!) { ingestDocument(input: {content: $c}) { deduplicated } }",
                      "variables": { "c": "x".repeat(5_000) } }).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "the server keeps serving"
    );
}

#[tokio::test]
async fn a_request_over_the_deadline_gets_408() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.http.request_timeout_ms = 1).await;
    let texts: Vec<String> = (0..64)
        .map(|i| format!("a sentence to embed, number {i}"))
        .collect();
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": "query($t: [String!]!) { embed(texts: $t) { dimensions } }", "variables": { "t": texts } }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 408);
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.http.cors_origins = vec!["http://dashboard.example".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/graphql", app.base_url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("http://dashboard.example").await.expect("sent");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://dashboard.example"
    );
    let refused = preflight("http://elsewhere.example").await.expect("sent");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.get("/health/live").await;
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics
            .contains("http_requests_total{method=\"GET\",route=\"/health/live\",status=\"200\"}"),
        "{metrics}"
    );
}
