//! The GraphQL schema, independent of HTTP: `http::graphql` only wires it to routes, and
//! `selfrag schema` prints it.

mod access;
mod errors;
pub mod extensions;
mod loaders;
mod mutation;
mod query;
mod reports;
pub mod responses;
mod subscription;
mod types;
mod uploads;

pub use access::RateLimitSlot;
pub use errors::{ApiError, cause_chain, code_of, codes, refusal};
pub use loaders::{Loaders, loaders};

use async_graphql::Schema;

use crate::services::Services;
use responses::ResponseCache;

pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// The schema with the shared services attached and the limits of `graphql.*` applied.
/// Per-request data (the DataLoaders) is added by [`with_request_data`] for every request.
/// `responses` is the response cache the HTTP handler answers from, which `clearCache` empties.
pub fn build_schema(services: Services, responses: ResponseCache) -> AppSchema {
    let settings = services.config.graphql.clone();
    let mut builder = Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        .extension(extensions::Pipeline::new(&settings));
    if !settings.introspection {
        builder = builder.disable_introspection();
    }
    builder.data(services).data(responses).finish()
}

/// Adds what each request needs of its own to a GraphQL request.
pub fn with_request_data(
    request: async_graphql::Request,
    services: &Services,
) -> async_graphql::Request {
    request.data(loaders(services.store.clone()))
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .finish()
        .sdl()
}
