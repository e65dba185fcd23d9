//! Rate limits per key or client address: GraphQL gets RATE_LIMITED with retryAfter, a request
//! refused as a whole and the plain routes get 429 with Retry-After and RateLimit-* headers;
//! replicas share budgets through Redis.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, redis_url, unique_prefix};

const SEARCH: &str = "{ search(query: \"budget\") { totalHits } }";

fn small_budgets(config: &mut selfrag::config::Config) {
    config.rate_limit.search = selfrag::config::Budget {
        per_minute: 6,
        burst: 3,
    };
    config.rate_limit.ingest = selfrag::config::Budget {
        per_minute: 6,
        burst: 2,
    };
}

async fn search(app: &TestApp) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": SEARCH }))
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn search_and_ingest_budgets_are_separate_and_refusals_say_when_to_retry() {
    let app = TestApp::spawn_with(Backend::Sqlite, small_budgets).await;
    for expected_remaining in ["2", "1", "0"] {
        let response = search(&app).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(
            response.headers()["ratelimit-remaining"],
            expected_remaining
        );
        let body: Value = response.json().await.expect("JSON");
        assert!(body.get("errors").is_none(), "{body}");
    }
    let response = search(&app).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1),
        "{body}"
    );

    // The ingest budget is untouched by searches, and has its own limit.
    for _ in 0..2 {
        app.ingest(json!({ "content": format!("budget {}", uuid::Uuid::new_v4()) }))
            .await;
    }
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": "mutation { ingestDocument(input: {content: \"one too many\"}) { deduplicated } }" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    let stats = app
        .data("{ collectionStats { documents } }", Value::Null)
        .await;
    assert_eq!(
        stats["collectionStats"]["documents"], 2,
        "the refused ingest stored nothing"
    );

    // Plain route: 429 with the headers.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = app
            .client
            .post(format!("{}/health/cache/clear", app.base_url))
            .send()
            .await
            .expect("answered");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(response.headers()["ratelimit-remaining"], "0");
        }
    }
    assert_eq!(
        statuses,
        [429, 429, 429],
        "the ingest budget was already spent"
    );
}

#[tokio::test]
async fn each_key_has_its_own_budget() {
    let app = TestApp::spawn_with(Backend::Sqlite, small_budgets).await;
    let key = app
        .services()
        .keys
        .create("own-budget", selfrag::auth::Role::Reader)
        .await
        .expect("key created")
        .secret;
    // The anonymous budget (this client's address) runs out...
    for _ in 0..3 {
        assert_eq!(search(&app).await.status(), 200);
    }
    assert_eq!(search(&app).await.status(), 429);
    // ...while the key, from the same address, still has its whole burst.
    for expected in ["2", "1", "0"] {
        let response = app
            .client
            .post(format!("{}/graphql", app.base_url))
            .bearer_auth(&key)
            .json(&json!({ "query": SEARCH }))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-remaining"], expected);
    }
}

#[tokio::test]
async fn budgets_can_be_turned_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        small_budgets(config);
        config.rate_limit.enabled = false;
    })
    .await;
    for _ in 0..6 {
        assert_eq!(search(&app).await.status(), 200);
    }
}

#[tokio::test]
async fn replicas_share_budgets_through_redis() {
    let Some(redis) = redis_url() else { return };
    let prefix = unique_prefix();
    let spawn = || {
        let (redis, prefix) = (redis.clone(), prefix.clone());
        TestApp::spawn_with(Backend::Sqlite, move |config| {
            small_budgets(config);
            config.redis_url = Some(redis);
            config.cache.key_prefix = prefix;
        })
    };
    let (first, second) = (spawn().await, spawn().await);
    for app in [&first, &second, &first] {
        assert_eq!(search(app).await.status(), 200);
    }
    assert_eq!(search(&second).await.status(), 429);
}
