//! Bad input gets a typed error with `extensions.code`, never a panic or a stack trace.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

fn assert_clean(body: &Value) {
    let text = body.to_string();
    for leak in ["panicked", "src/", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !text.contains(leak),
            "response leaks internals ({leak}): {text}"
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_code() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.limits.max_content_bytes = 1_000;
        config.limits.max_ingest_batch = 2;
    })
    .await;
    let search = "query($q: String!, $l: Int, $t: Float) { search(query: $q, limit: $l, threshold: $t) { totalHits } }";
    let cases: Vec<(&str, Value, &str)> = vec![
        (search, json!({ "q": "" }), "BAD_INPUT"),
        (search, json!({ "q": "  \n\t " }), "BAD_INPUT"),
        (search, json!({ "q": "bees", "l": 0 }), "BAD_INPUT"),
        (search, json!({ "q": "bees", "l": 101 }), "BAD_INPUT"),
        (search, json!({ "q": "bees", "l": -5 }), "BAD_INPUT"),
        (search, json!({ "q": "bees", "t": 1.5 }), "BAD_INPUT"),
        (search, json!({ "q": "bees", "t": -1.01 }), "BAD_INPUT"),
        (
            search,
            json!({ "q": "x".repeat(selfrag::config::Limits::default().max_query_chars + 1) }),
            "BAD_INPUT",
        ),
        (
            "mutation { ingestDocument(input: {content: \"\"}) { deduplicated } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "mutation { ingestDocument(input: {content: \"   \"}) { deduplicated } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "mutation($c: String!) { ingestDocument(input: {content: $c}) { deduplicated } }",
            json!({ "c": "a".repeat(1_001) }),
            "BAD_INPUT",
        ),
        (
            "mutation { ingestDocument(input: {content: \"ok\", metadata: [1, 2]}) { deduplicated } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "mutation { ingestDocuments(inputs: [{content: \"a\"}, {content: \"b\"}, {content: \"c\"}]) { deduplicated } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "mutation { ingestDocuments(inputs: []) { deduplicated } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ document(id: \"not-a-uuid\") { id } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ document(id: \"6f1c2d0e-0000-4000-8000-000000000000\") { id } }",
            Value::Null,
            "NOT_FOUND",
        ),
        (
            "mutation { deleteDocument(id: \"6f1c2d0e-0000-4000-8000-000000000000\") }",
            Value::Null,
            "NOT_FOUND",
        ),
        (
            "{ documents(after: \"garbage\") { edges { cursor } } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ documents(first: 0) { edges { cursor } } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ documents(first: 1000) { edges { cursor } } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ search(query: \"x\", filter: {documentIds: [\"nope\"]}) { totalHits } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ embed(texts: []) { dimensions } }",
            Value::Null,
            "BAD_INPUT",
        ),
        (
            "{ embed(texts: [\"\"]) { dimensions } }",
            Value::Null,
            "BAD_INPUT",
        ),
    ];
    for (query, variables, code) in cases {
        let body = app.graphql(query, variables.clone()).await;
        assert_eq!(error_code(&body), code, "{query} with {variables}: {body}");
        assert_clean(&body);
    }
    // A batch whose third input is bad stores none of them.
    let body = app
        .graphql(
            "mutation { ingestDocuments(inputs: [{content: \"fine\"}, {content: \"\"}]) { deduplicated } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("inputs[1]")
    );
    let stats = app
        .data("{ collectionStats { documents } }", Value::Null)
        .await;
    assert_eq!(stats["collectionStats"]["documents"], 0);
}

#[tokio::test]
async fn malformed_requests_do_not_take_the_server_down() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for body in [
        "",
        "{",
        "{\"query\": 5}",
        "{\"query\": \"{ search(\"}",
        "[]",
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.base_url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("answered");
        assert!(
            response.status().as_u16() < 500,
            "{body:?} → {}",
            response.status()
        );
    }
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
}
