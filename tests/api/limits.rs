//! Query limits: depth, complexity, aliases, query length, batch size and the introspection
//! switch, each a typed refusal through HTTP; GraphiQL's own introspection passes the defaults.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

fn introspection_query() -> String {
    std::fs::read_to_string(
        crate::helpers::repo_root().join("tests/fixtures/graphiql_introspection.graphql"),
    )
    .expect("fixture")
}

/// `{ search { hits { document { … } } } }`-shaped nesting is bounded by the schema, so depth is
/// built from introspection's self-nesting `ofType`, as an attacker would.
fn nested(levels: usize) -> String {
    let mut query = String::from("kind");
    for _ in 0..levels.saturating_sub(4) {
        query = format!("ofType {{ {query} }}");
    }
    format!("{{ __type(name: \"Query\") {{ fields {{ type {{ {query} }} }} }} }}")
}

#[tokio::test]
async fn graphiql_introspection_passes_the_default_limits() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let data = app.data(&introspection_query(), Value::Null).await;
    let types = data["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "SearchResult"));
    assert_eq!(data["__schema"]["subscriptionType"]["name"], "Subscription");
}

#[tokio::test]
async fn deep_complex_and_alias_heavy_queries_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    // Depth: 16 passes (the default limit), 17 and a 29-level query do not.
    assert!(
        app.graphql(&nested(16), Value::Null)
            .await
            .get("errors")
            .is_none()
    );
    for levels in [17, 29] {
        let body = app.graphql(&nested(levels), Value::Null).await;
        assert_eq!(
            error_code(&body),
            "DEPTH_LIMIT_EXCEEDED",
            "{levels}: {body}"
        );
        assert!(body["data"].is_null());
    }

    // Complexity: one search of 100 hits fits; ten of them in one document do not, and
    // nothing runs (no embedding, no cache entry).
    let hits = "hits { score chunk { content } document { title tags } }";
    let one = format!("{{ search(query: \"bees\", limit: 100) {{ {hits} }} }}");
    assert!(app.graphql(&one, Value::Null).await.get("errors").is_none());
    let many: String = (0..10)
        .map(|i| format!("s{i}: search(query: \"bees {i}\", limit: 100) {{ {hits} }} "))
        .collect();
    let body = app.graphql(&format!("{{ {many} }}"), Value::Null).await;
    assert_eq!(error_code(&body), "COMPLEXITY_LIMIT_EXCEEDED", "{body}");
    // The cost follows the variable, not only literals.
    let body = app
        .graphql(
            &format!(
                "query($n: Int) {{ {} }}",
                (0..10)
                    .map(|i| format!("s{i}: search(query: \"q\", limit: $n) {{ {hits} }} "))
                    .collect::<String>()
            ),
            json!({ "n": 100 }),
        )
        .await;
    assert_eq!(error_code(&body), "COMPLEXITY_LIMIT_EXCEEDED", "{body}");

    // Aliases: 31 cheap aliased fields exceed the default 30.
    let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    let body = app.graphql(&format!("{{ {aliases} }}"), Value::Null).await;
    assert_eq!(error_code(&body), "ALIAS_LIMIT_EXCEEDED", "{body}");
    let aliases: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
    assert!(
        app.graphql(&format!("{{ {aliases} }}"), Value::Null)
            .await
            .get("errors")
            .is_none()
    );
}

#[tokio::test]
async fn long_queries_big_batches_and_bad_documents_get_codes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.graphql.max_query_bytes = 200;
        config.graphql.max_batch = 3;
    })
    .await;
    let body = app
        .graphql(
            &format!("{{ __typename {} }}", " ".repeat(300)),
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_LARGE");

    // invalid on purpose
    let body = app.graphql("{ search(", Value::Null).await;
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
    // invalid on purpose
    let body = app.graphql("{ noSuchField }", Value::Null).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let body = app
        .graphql("query A { __typename } query B { __typename }", Value::Null)
        .await;
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");

    let batch = |n: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|_| json!({ "query": "{ __typename }" }))
                .collect(),
        )
    };
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&batch(3))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(body[2]["data"]["__typename"], "Query");
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&batch(4))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "BATCH_TOO_LARGE");
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.graphql.introspection = false;
    })
    .await;
    let body = app.graphql(&introspection_query(), Value::Null).await;
    assert_eq!(error_code(&body), "INTROSPECTION_DISABLED", "{body}");
    let body = app
        .graphql("{ __type(name: \"Query\") { name } }", Value::Null)
        .await;
    assert_eq!(error_code(&body), "INTROSPECTION_DISABLED");
    // `__typename` is not introspection: clients need it.
    let data = app.data("{ __typename }", Value::Null).await;
    assert_eq!(data["__typename"], "Query");
}
