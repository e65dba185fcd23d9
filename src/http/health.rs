//! Liveness and readiness probes.
//!
//! `live` answers as long as the process serves HTTP. `ready` asks every required dependency,
//! concurrently and each within a deadline, and answers 503 with per-dependency detail when one
//! of them cannot serve, so a load balancer stops routing here until it can.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde::Serialize;

use super::HttpState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "live" }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Readiness {
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checks {
    database: Check,
    vector_index: Check,
    embedder: Check,
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    let services = &state.services;
    let (database, vector_index, embedder) = tokio::join!(
        check(services.store.ping()),
        check(services.index.status()),
        check(services.embedder.embed(vec!["readiness probe".to_owned()])),
    );
    let all_up = [&database, &vector_index, &embedder]
        .iter()
        .all(|c| c.status == "up");
    let body = Readiness {
        status: if all_up { "ready" } else { "unavailable" },
        checks: Checks {
            database,
            vector_index,
            embedder,
        },
    };
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn check<T, E: std::fmt::Display>(probe: impl Future<Output = Result<T, E>>) -> Check {
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, probe).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match result {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    Check {
        status: if error.is_none() { "up" } else { "down" },
        latency_ms,
        error,
    }
}
