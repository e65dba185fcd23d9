//! The response cache through HTTP: a repeated search is answered before GraphQL runs, with
//! its own per-request facts; a change to the corpus, another role, a timing request or a
//! volatile field means execution; budgets are still spent; clearing the cache empties it.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, wait_for};

const SEARCH: &str = "query Bees { search(query: \"how do bees keep warm\", limit: 5) \
    { query totalHits tookMs cacheHit cacheLevel hits { chunk { id } document { id } } } }";

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("answered")
}

async fn search(app: &TestApp) -> Value {
    let response = post(app, &json!({ "query": SEARCH }), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["search"].clone()
}

/// L1 hits of the result cache: an answer from the response cache never asks it.
async fn results_l1_hits(app: &TestApp, key: Option<&str>) -> u64 {
    let query =
        json!({ "query": "{ cacheAnalytics { namespaces { namespace counters { l1Hits } } } }" });
    let body: Value = post(app, &query, key).await.json().await.expect("JSON");
    body["data"]["cacheAnalytics"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|ns| ns["namespace"] == "RESULTS")
        .and_then(|ns| ns["counters"]["l1Hits"].as_u64())
        .expect("results counters")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_searches_are_answered_before_execution_with_their_own_facts() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "content": "Honeybees cluster in winter and shiver to keep warm." }))
        .await;

    let first = search(&app).await;
    assert_eq!(
        (&first["cacheHit"], &first["cacheLevel"]),
        (&json!(false), &Value::Null)
    );
    let before = results_l1_hits(&app, None).await;

    let second = search(&app).await;
    assert_eq!(
        (&second["cacheHit"], &second["cacheLevel"]),
        (&json!(true), &json!("L1"))
    );
    assert_eq!(second["hits"], first["hits"]);
    assert_eq!(second["query"], first["query"]);
    assert!(second["tookMs"].as_f64().is_some());
    assert_ne!(
        second["tookMs"], first["tookMs"],
        "the time is the request's own"
    );
    assert_eq!(
        results_l1_hits(&app, None).await,
        before,
        "answered before execution: the result cache was not asked"
    );

    // Asking for timing means executing: the timing describes this request.
    let timed = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("x-selfrag-timing", "1")
        .json(&json!({ "query": SEARCH }))
        .send()
        .await
        .expect("answered");
    let timed: Value = timed.json().await.expect("JSON");
    assert!(timed["extensions"]["timing"].is_object(), "{timed}");
    assert_eq!(
        timed["data"]["search"]["cacheLevel"], "L1",
        "the result cache's L1"
    );
    assert_eq!(results_l1_hits(&app, None).await, before + 1, "executed");

    // A change to the corpus: the next answer is computed again, and finds it.
    app.ingest(json!({ "content": "Bees keep warm by shivering their flight muscles." }))
        .await;
    let after = search(&app).await;
    assert_eq!(after["cacheHit"], false);
    assert_eq!(after["totalHits"], 2);
    assert_eq!(search(&app).await["cacheHit"], true);

    // Volatile fields are never kept, even beside a search: the second answer counts the
    // first one's search.
    let volatile = json!({ "query": "{ cacheAnalytics { overall { l1Hits misses } } \
        search(query: \"bees\") { totalHits } }" });
    let mut answers = Vec::new();
    for _ in 0..2 {
        let body: Value = post(&app, &volatile, None)
            .await
            .json()
            .await
            .expect("JSON");
        assert!(body.get("errors").is_none(), "{body}");
        answers.push(body["data"]["cacheAnalytics"].clone());
    }
    assert_ne!(answers[0], answers[1], "executed both times");

    // Clearing the results clears the kept responses with them.
    app.data(
        "mutation { clearCache(namespace: RESULTS) { namespace } }",
        Value::Null,
    )
    .await;
    assert_eq!(search(&app).await["cacheHit"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_budgets_apply_to_answers_from_the_response_cache() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.auth.public_queries = false;
        config.auth.key_cache_ttl_ms = 200;
        config.rate_limit.search = selfrag::config::Budget {
            per_minute: 6,
            burst: 3,
        };
    })
    .await;
    let body = json!({ "query": SEARCH });
    // Before any key exists, queries are open: anonymous searches are kept and answered.
    assert_eq!(post(&app, &body, None).await.status(), 200);
    let hit: Value = post(&app, &body, None).await.json().await.expect("JSON");
    assert_eq!(hit["data"]["search"]["cacheHit"], true);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_selfrag"))
        .args(["keys", "create", "--name", "reader", "--role", "reader"])
        .env("SELFRAG_DATA_DIR", app.data_dir.path())
        .env_remove("SELFRAG_DATABASE_URL")
        .output()
        .expect("selfrag runs");
    assert!(output.status.success(), "{output:?}");
    let reader = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned();
    // Once a key exists, the kept anonymous answer is no longer served.
    wait_for("keys to be enforced", async || {
        post(&app, &body, None).await.status() == 401
    })
    .await;

    let response = post(&app, &body, Some(&reader)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["ratelimit-remaining"], "2");
    let before = results_l1_hits(&app, Some(&reader)).await;
    let response = post(&app, &body, Some(&reader)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["ratelimit-remaining"],
        "1",
        "a hit spends too"
    );
    let hit: Value = response.json().await.expect("JSON");
    assert_eq!(hit["data"]["search"]["cacheHit"], true);
    assert_eq!(
        results_l1_hits(&app, Some(&reader)).await,
        before,
        "a response-cache hit"
    );

    // The same body without a key is not the reader's response.
    let response = post(&app, &body, None).await;
    assert_eq!(response.status(), 401);
    let refused: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");

    // The budget is spent by answers from the cache too: the fourth search is refused.
    assert_eq!(post(&app, &body, Some(&reader)).await.status(), 200);
    let response = post(&app, &body, Some(&reader)).await;
    assert_eq!(response.status(), 429);
    let refused: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&refused), "RATE_LIMITED");
}
