//! HTTP transport: GraphQL and the health probes on one axum router. Every request is
//! identified first (`auth`: API key and client address), then routed.

mod auth;
mod cache;
mod csrf;
mod deadline;
mod examples;
mod files;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod middleware;
mod pieces;
mod reply;
mod response_time;
mod server;

use std::sync::Arc;

use axum::Router;

pub use metrics::spawn_upkeep as spawn_metrics_upkeep;
pub use server::{ConnectionLimits, serve};

use crate::graphql::AppSchema;
use crate::graphql::responses::ResponseCache;
use crate::services::Services;

/// What every handler gets: one context instead of many extractors. axum clones the state
/// for every request (and every `from_fn_with_state` layer): one reference count here, where
/// cloning the parts themselves was 16 % of a cached search's CPU (`perf`).
#[derive(Clone)]
pub struct HttpState(Arc<HttpParts>);

pub struct HttpParts {
    pub services: Services,
    pub schema: AppSchema,
    /// The response cache the schema's `clearCache` also empties.
    pub responses: ResponseCache,
}

impl HttpState {
    pub fn new(services: Services, schema: AppSchema, responses: ResponseCache) -> Self {
        HttpState(Arc::new(HttpParts {
            services,
            schema,
            responses,
        }))
    }
}

impl std::ops::Deref for HttpState {
    type Target = HttpParts;

    fn deref(&self) -> &HttpParts {
        &self.0
    }
}

pub fn router(state: HttpState) -> Router {
    // Install the metrics recorder before the first request records anything.
    metrics::prometheus();
    let routes = Router::new()
        .merge(graphql::router())
        .merge(graphiql::router(&state.services.config.graphql))
        .merge(health::router())
        .merge(cache::router())
        .merge(metrics::router())
        .merge(examples::router(&state.services.config))
        .with_state(state.clone());
    middleware::apply(routes, state)
}
