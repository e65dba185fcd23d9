//! Cache analytics and clearing for operators and dashboards that do not speak GraphQL.
//! Clearing needs the admin role once keys exist, and spends from the `ingest` budget.

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::HttpState;
use super::reply::{error_response, set_rate_limit_headers};
use crate::auth::{Caller, Role};
use crate::cache::CacheNamespace;
use crate::ratelimit::BudgetKind;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/health/cache/analytics", get(analytics))
        .route("/health/cache/clear", post(clear))
}

async fn analytics(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.services.cache.analytics().await)
}

#[derive(Deserialize)]
struct ClearParams {
    /// `embeddings`, `results` or `persisted_queries`; all namespaces when absent.
    namespace: Option<CacheNamespace>,
}

async fn clear(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<ClearParams>,
) -> Response {
    let services = &state.services;
    if let Err(err) = services.keys.authorize(&caller, Role::Admin).await {
        return error_response(&err);
    }
    let decision = services.limiter.spend(&caller, BudgetKind::Ingest, 1).await;
    let mut response = match decision.map(|d| d.into_result()) {
        Some(Err(err)) => error_response(&err),
        _ => {
            let cleared = services.cache.clear(params.namespace).await;
            state.responses.clear_with(params.namespace);
            Json(serde_json::json!({ "cleared": cleared })).into_response()
        }
    };
    if let Some(decision) = decision {
        set_rate_limit_headers(response.headers_mut(), &decision);
    }
    response
}
