//! Liveness and readiness through HTTP.

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

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
}

#[tokio::test]
async fn readiness_fails_with_detail_when_the_database_is_gone() {
    if !crate::helpers::postgres_configured() {
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
    assert_eq!(app.get("/health/live").await.status(), 200);
}
