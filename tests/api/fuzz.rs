//! Hostile input, generated: random and mutated GraphQL documents, random variables and raw
//! bodies. Whatever comes in, the server answers with well-formed JSON — data, or errors that
//! each carry a message and an `extensions.code` — and keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// Valid documents to mutate, covering every root field.
const SEEDS: &[&str] = &[
    "{ search(query: \"bees\", limit: 3) { totalHits hits { score chunk { content } document { title } } } }",
    "query Q($q: String!, $l: Int) { search(query: $q, limit: $l, filter: {tags: [\"a\"]}) { cacheLevel } }",
    "{ documents(first: 2) { edges { cursor node { id title } } pageInfo { hasNextPage } } }",
    "{ embed(texts: [\"a\", \"b\"]) { dimensions cached } }",
    "{ health { status } performanceMetrics { uptimeSeconds } cacheAnalytics { overall { hitRate } } }",
    "{ collectionStats { documents chunks } document(id: \"x\") { id } }",
    "mutation M($c: String!) { ingestDocument(input: {content: $c, tags: [\"t\"]}) { deduplicated } }",
    "mutation { deleteDocument(id: \"00000000-0000-4000-8000-000000000000\") clearCache(namespace: RESULTS) { namespace } }",
    "query { __schema { types { name fields { name type { ofType { name } } } } } }",
    "fragment F on Query { __typename } query { ...F ...F }",
];

/// Characters that matter to GraphQL's grammar, to splice into documents.
const PUNCTUATION: &[char] = &[
    '{', '}', '(', ')', '[', ']', ':', '$', '!', '@', '"', '\\', ',', '.', '\n', '#', '=', '|',
    '&', '\u{0}', '\u{feff}', 'é', '𝄞',
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Duplicate(usize, usize),
}

fn mutated_document() -> impl Strategy<Value = String> {
    let edit = prop_oneof![
        (any::<usize>(), prop::sample::select(PUNCTUATION)).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ];
    (
        prop::sample::select(SEEDS),
        prop::collection::vec(edit, 0..8),
    )
        .prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for edit in edits {
                let len = chars.len().max(1);
                match edit {
                    Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
                    Edit::Delete(i) if !chars.is_empty() => {
                        chars.remove(i % len);
                    }
                    Edit::Duplicate(i, n) if !chars.is_empty() => {
                        let start = i % len;
                        let end = (start + n).min(chars.len());
                        let copy: Vec<char> = chars[start..end].to_vec();
                        chars.splice(end..end, copy);
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$]{1,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Attack {
    Operation {
        query: String,
        variables: Value,
        operation_name: Option<String>,
    },
    RawBody(Vec<u8>),
    Batch(Vec<String>),
}

fn attack() -> impl Strategy<Value = Attack> {
    prop_oneof![
        6 => (
            prop_oneof![mutated_document(), ".{0,200}"],
            json_value(),
            prop::option::of("[A-Za-z]{0,6}"),
        )
            .prop_map(|(query, variables, operation_name)| Attack::Operation {
                query,
                variables,
                operation_name,
            }),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Attack::RawBody),
        1 => prop::collection::vec(mutated_document(), 0..4).prop_map(Attack::Batch),
    ]
}

async fn send(app: &TestApp, attack: &Attack) -> (u16, Vec<u8>) {
    let request = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("content-type", "application/json");
    let request = match attack {
        Attack::Operation {
            query,
            variables,
            operation_name,
        } => request.body(
            json!({ "query": query, "variables": variables, "operationName": operation_name })
                .to_string(),
        ),
        Attack::RawBody(bytes) => request.body(bytes.clone()),
        Attack::Batch(queries) => request.body(
            Value::Array(queries.iter().map(|q| json!({ "query": q })).collect()).to_string(),
        ),
    };
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

/// A GraphQL response (or an element of a batch) is data and/or coded errors, nothing else.
fn well_formed(body: &Value) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err("not an object".into());
    };
    if !object.contains_key("data") && !object.contains_key("errors") {
        return Err("neither data nor errors".into());
    }
    if let Some(errors) = object.get("errors") {
        let errors = errors.as_array().ok_or("errors is not a list")?;
        if errors.is_empty() {
            return Err("empty errors".into());
        }
        for error in errors {
            if !error["message"].is_string() || !error["extensions"]["code"].is_string() {
                return Err(format!("error without message or code: {error}"));
            }
            let text = error.to_string();
            if text.contains("panicked") || text.contains("src/") {
                return Err(format!("internals leaked: {text}"));
            }
        }
    }
    Ok(())
}

#[test]
fn random_and_malformed_requests_always_get_well_formed_answers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(TestApp::spawn_with(Backend::Sqlite, |config| {
        config.rate_limit.enabled = false;
    }));
    let cases = std::env::var("SELFRAG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&attack(), |attack| {
        let (status, bytes) = runtime.block_on(send(&app, &attack));
        prop_assert!(
            matches!(status, 200 | 400 | 405 | 413),
            "status {status} for {attack:?}"
        );
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|err| TestCaseError::fail(format!("not JSON ({err}) for {attack:?}")))?;
        match &body {
            Value::Array(items) => {
                for item in items {
                    well_formed(item)
                        .map_err(|e| TestCaseError::fail(format!("{e}: {attack:?}")))?;
                }
            }
            single => {
                well_formed(single).map_err(|e| TestCaseError::fail(format!("{e}: {attack:?}")))?
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Still serving, and still right.
    runtime.block_on(async {
        assert_eq!(app.get("/health/live").await.status(), 200);
        let data = app
            .data("{ collectionStats { documents } }", Value::Null)
            .await;
        assert!(data["collectionStats"]["documents"].is_u64());
    });
    drop(app);
}
