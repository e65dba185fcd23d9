//! Automatic persisted queries, as Apollo clients speak them: hash only → PERSISTED_QUERY_NOT_FOUND,
//! hash + query → stored, hash only again → executed; GET with the hash; replicas share texts
//! through Redis.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, TestApp, error_code, redis_url, unique_prefix};

const QUERY: &str = "query Stats { collectionStats { documents chunks } }";

fn sha256_hex(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, body: Value) -> Value {
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

async fn get_hashed(app: &TestApp, hash: &str) -> Value {
    let extensions = persisted(hash).to_string();
    let response = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .query(&[
            ("extensions", extensions.as_str()),
            ("operationName", "Stats"),
        ])
        .header("content-type", "application/json")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn the_apollo_round_trip_works_over_post_and_get() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let hash = sha256_hex(QUERY);

    let body = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");

    let body = post(
        &app,
        json!({ "query": QUERY, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(body["data"]["collectionStats"]["documents"], 0, "{body}");

    let body = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(body["data"]["collectionStats"]["chunks"], 0, "{body}");
    let body = get_hashed(&app, &hash).await;
    assert_eq!(body["data"]["collectionStats"]["documents"], 0, "{body}");

    // A text that does not match its hash is refused, and not stored under it.
    let other = sha256_hex("{ __typename }");
    let body = post(
        &app,
        json!({ "query": QUERY, "extensions": persisted(&other) }),
    )
    .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_HASH_MISMATCH");
    let body = post(&app, json!({ "extensions": persisted(&other) })).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");

    let body = post(&app, json!({ "extensions": persisted("abc") })).await;
    assert_eq!(error_code(&body), "BAD_REQUEST");
    let body = post(
        &app,
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
    )
    .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_SUPPORTED");

    // Persisted texts show in the cache analytics as their own namespace.
    let analytics = app.cache_analytics().await;
    let apq = analytics["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|ns| ns["namespace"] == "PERSISTED_QUERIES")
        .expect("apq namespace")
        .clone();
    assert_eq!(apq["l1Entries"], 1, "{apq}");
    assert!(apq["counters"]["l1Hits"].as_u64() >= Some(2), "{apq}");
}

#[tokio::test]
async fn persisted_queries_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.graphql.persisted_queries = false;
    })
    .await;
    let body = post(
        &app,
        json!({ "query": QUERY, "extensions": persisted(&sha256_hex(QUERY)) }),
    )
    .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_SUPPORTED");
}

#[tokio::test]
async fn replicas_share_persisted_queries_through_redis() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let spawn = || {
        let (redis, prefix) = (redis.clone(), prefix.clone());
        TestApp::spawn_with(Backend::Sqlite, move |config| {
            config.redis_url = Some(redis);
            config.cache.key_prefix = prefix;
        })
    };
    let (first, second) = (spawn().await, spawn().await);
    let hash = sha256_hex(QUERY);
    let body = post(
        &first,
        json!({ "query": QUERY, "extensions": persisted(&hash) }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = get_hashed(&second, &hash).await;
    assert_eq!(body["data"]["collectionStats"]["documents"], 0, "{body}");
}
