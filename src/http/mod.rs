//! HTTP transport: GraphQL and the health probes on one axum router.

mod cache;
mod graphql;
mod health;
mod metrics;

use axum::Router;

use crate::graphql::AppSchema;
use crate::services::Services;

/// What every handler gets: one clonable context instead of many extractors.
#[derive(Clone)]
pub struct HttpState {
    pub services: Services,
    pub schema: AppSchema,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .merge(graphql::router())
        .merge(health::router())
        .merge(cache::router())
        .merge(metrics::router())
        .with_state(state)
}
