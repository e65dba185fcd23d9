//! `POST /graphql` executes; `GET /graphql` serves GraphiQL.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::HttpState;
use super::middleware::GraphqlOutcome;
use crate::graphql::extensions::{OperationSlot, TimingRequested};
use crate::graphql::with_request_data;

pub fn router() -> Router<HttpState> {
    Router::new().route("/graphql", get(graphiql).post(execute))
}

async fn execute(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let mut request = with_request_data(request.into_inner(), &state.services);
    if headers.get("x-selfrag-timing").is_some_and(|v| v == "1") {
        request = request.data(TimingRequested);
    }
    let given = request.operation_name.clone();
    let slot = OperationSlot::default();
    let request = request.data(slot.clone());
    let response = state.schema.execute(request).await;
    // For the request statistics (the middleware reads it from the response).
    let outcome = GraphqlOutcome {
        operation: Some(
            slot.take()
                .or(given)
                .unwrap_or_else(|| "anonymous".to_owned()),
        ),
        failed: response.is_err(),
    };
    let mut response = GraphQLResponse::from(response).into_response();
    response.extensions_mut().insert(outcome);
    response
}

async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("selfrag")
            .finish(),
    )
}
