//! `POST /graphql` executes; `GET /graphql` serves GraphiQL.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use super::HttpState;
use crate::graphql::extensions::TimingRequested;
use crate::graphql::with_request_data;

pub fn router() -> Router<HttpState> {
    Router::new().route("/graphql", get(graphiql).post(execute))
}

async fn execute(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = with_request_data(request.into_inner(), &state.services);
    if headers.get("x-selfrag-timing").is_some_and(|v| v == "1") {
        request = request.data(TimingRequested);
    }
    state.schema.execute(request).await.into()
}

async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("selfrag")
            .finish(),
    )
}
