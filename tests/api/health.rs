//! Health through HTTP and GraphQL: liveness, readiness (with per-dependency detail, Redis
//! optional), dependency detail, and the performance report.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, postgres_configured};

#[tokio::test]
async fn live_and_ready_answer_when_everything_is_up() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    for dependency in ["database", "vectorIndex", "embedder"] {
        assert_eq!(body["checks"][dependency]["status"], "up", "{body}");
        assert!(body["checks"][dependency]["latencyMs"].is_number());
    }
    assert_eq!(body["checks"]["redis"]["status"], "disabled");
    let graphql = app
        .data(
            "{ health { status checks { database { status } redis { status } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(graphql["health"]["status"], "READY");
    assert_eq!(graphql["health"]["checks"]["redis"]["status"], "DISABLED");
}

#[tokio::test]
async fn readiness_follows_the_database_down_and_back_up() {
    if !postgres_configured() {
        return;
    }
    let mut app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    // Dropping the test database terminates the pool's connections.
    app.drop_database();
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["checks"]["database"]["error"].is_string());
    assert_eq!(body["checks"]["embedder"]["status"], "up");
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "alive while not ready"
    );

    app.restore_database().await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200, "ready again once the database answers");
}

#[tokio::test]
async fn a_lost_redis_degrades_readiness_without_failing_it() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.redis_url = Some("redis://127.0.0.1:1".into());
    })
    .await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "degraded");
}

#[tokio::test]
async fn services_detail_every_dependency() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body: Value = app
        .get("/health/services")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["database"]["backend"], "sqlite");
    assert!(body["database"]["pool"]["max"].as_u64() > Some(0), "{body}");
    assert_eq!(body["vectorIndex"]["backend"], "embedded");
    assert_eq!(
        body["embedder"]["model"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    assert_eq!(body["embedder"]["dimensions"], 384);
    assert!(body["redis"]["pool"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_performance_report_counts_requests_operations_and_slow_ones() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.telemetry.slow_request_ms = 0; // every request is "slow": the list must fill
        config.telemetry.sample_interval_ms = 100;
    })
    .await;
    app.ingest(json!({ "content": "Glaciers carve valleys." }))
        .await;
    for _ in 0..3 {
        app.graphql(
            "query Find { search(query: \"ice\") { totalHits } }",
            Value::Null,
        )
        .await;
    }
    app.graphql(
        "query Broken { search(query: \"\") { totalHits } }",
        Value::Null,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let report: Value = app.get("/health/metrics").await.json().await.expect("json");
    let requests = &report["requests"];
    assert!(requests["requests"].as_u64() >= Some(5), "{report}");
    assert!(requests["requestsPerSecond"].as_f64() > Some(0.0));
    assert!(
        requests["errorRate"].as_f64() > Some(0.0),
        "the failed query counts"
    );
    assert!(requests["p99Ms"].as_f64() >= requests["p50Ms"].as_f64());
    let operations = requests["operations"].as_array().expect("operations");
    let find = operations
        .iter()
        .find(|o| o["name"] == "Find")
        .expect("Find");
    assert_eq!(
        (find["requests"].as_u64(), find["errors"].as_u64()),
        (Some(3), Some(0))
    );
    let broken = operations
        .iter()
        .find(|o| o["name"] == "Broken")
        .expect("Broken");
    assert_eq!(broken["errors"], 1);
    assert!(
        !requests["slowRequests"]
            .as_array()
            .expect("slow")
            .is_empty()
    );
    assert!(report["uptimeSeconds"].as_f64() > Some(0.0));
    assert!(
        report["system"]["memoryTotalBytes"].as_u64() > Some(0),
        "sampled in the background: {report}"
    );
    assert!(report["system"]["processRssBytes"].as_u64() > Some(0));
    assert!(report["system"]["diskTotalBytes"].as_u64() > Some(0));
    assert!(report["pools"]["database"]["size"].as_u64() >= Some(1));
    assert_eq!(report["cache"]["l2"]["state"], "disabled");

    let graphql = app
        .data("{ performanceMetrics { uptimeSeconds requests { requests operations { name } } system { cpuPercent } } }", Value::Null)
        .await;
    assert!(graphql["performanceMetrics"]["requests"]["requests"].as_u64() >= Some(5));
}
