//! Health for probes and operators.
//!
//! `live` answers as long as the process serves HTTP. `ready` asks every dependency and answers
//! 503 when a required one cannot serve (Redis is optional: its loss reads `degraded`, still
//! 200). `services` details each dependency; `metrics` is the JSON performance report.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;

use super::HttpState;
use crate::health::{self, Readiness};

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/health/services", get(services))
        .route("/health/metrics", get(metrics))
}

async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "live" }))
}

fn status_of(readiness: Readiness) -> StatusCode {
    match readiness {
        Readiness::Ready | Readiness::Degraded => StatusCode::OK,
        Readiness::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    let report = health::readiness(&state.services).await;
    (status_of(report.status), Json(report))
}

async fn services(State(state): State<HttpState>) -> impl IntoResponse {
    let report = health::services_report(&state.services).await;
    (status_of(report.status), Json(report))
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    Json(health::performance(&state.services).await)
}
