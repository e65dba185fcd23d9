//! Cache analytics and clearing for operators and dashboards that do not speak GraphQL.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use serde::Deserialize;

use super::HttpState;
use crate::cache::CacheNamespace;

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
    /// `embeddings` or `results`; all namespaces when absent.
    namespace: Option<CacheNamespace>,
}

async fn clear(
    State(state): State<HttpState>,
    Query(params): Query<ClearParams>,
) -> impl IntoResponse {
    Json(serde_json::json!({ "cleared": state.services.cache.clear(params.namespace).await }))
}
