//! HTTP transport: GraphQL and the health probes on one axum router. Every request is
//! identified first (`auth`: API key and client address), then routed.

mod auth;
mod cache;
mod csrf;
mod examples;
mod files;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod middleware;
mod reply;
mod server;

use axum::Router;

pub use metrics::spawn_upkeep as spawn_metrics_upkeep;
pub use server::{ConnectionLimits, serve};

use crate::graphql::AppSchema;
use crate::services::Services;

/// What every handler gets: one clonable context instead of many extractors.
#[derive(Clone)]
pub struct HttpState {
    pub services: Services,
    pub schema: AppSchema,
}

pub fn router(state: HttpState) -> Router {
    // Install the metrics recorder before the first request records anything.
    metrics::prometheus();
    let config = state.services.config.http.clone();
    let requests = state.services.requests.clone();
    let routes = Router::new()
        .merge(graphql::router())
        .merge(graphiql::router(&state.services.config.graphql))
        .merge(health::router())
        .merge(cache::router())
        .merge(metrics::router())
        .merge(examples::router(&state.services.config))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .with_state(state);
    middleware::apply(routes, &config, requests)
}
