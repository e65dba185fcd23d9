//! The GraphQL schema, independent of HTTP: `http::graphql` only wires it to routes, and
//! `selfrag schema` prints it.

mod errors;
pub mod extensions;
mod loaders;
mod mutation;
mod query;
mod types;

pub use errors::{ApiError, cause_chain};
pub use loaders::{Loaders, loaders};

use async_graphql::{EmptySubscription, Schema};

use crate::services::Services;

pub type AppSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// The schema with the shared services attached. Per-request data (the DataLoaders) is added
/// by [`request_data`] for every request.
pub fn build_schema(services: Services) -> AppSchema {
    let settings = services.config.graphql.clone();
    let mut builder = Schema::build(query::Query, mutation::Mutation, EmptySubscription);
    if settings.field_timing {
        builder = builder.extension(extensions::Timing::new(settings.timing_in_response));
    }
    builder.data(services).finish()
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
    Schema::build(query::Query, mutation::Mutation, EmptySubscription)
        .finish()
        .sdl()
}
