//! GraphQL over HTTP: `POST /graphql` (single or batched operations), `GET /graphql` (queries
//! and persisted-query hashes in the URL; GraphiQL when there is no operation), and
//! `GET /graphql/ws` (subscriptions over graphql-ws).
//!
//! Transport rules live here: CSRF prevention, the batch limit, typed refusals for bodies that
//! are not GraphQL requests, HTTP statuses for requests refused as a whole, and the
//! `RateLimit-*` headers.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::MultipartOptions;
use async_graphql::{BatchRequest, Data, ParseRequestError, Variables};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tracing::Instrument as _;

use super::HttpState;
use super::auth::presented_key;
use super::csrf::PreventCsrf;
use super::middleware::GraphqlOutcome;
use super::pieces::Pieces;
use super::reply::{refusal, set_rate_limit_headers, status_of};
use super::server::ConnectionPermit;
use crate::auth::{Caller, Role};
use crate::cache::CacheKey;
use crate::deadline::Deadline;
use crate::error::ErrorCode;
use crate::graphql::extensions::{OperationSlot, TimingRequested, ViaGet};
use crate::graphql::responses::{ResponseCache, ResponseCapture};
use crate::graphql::{ApiError, RateLimitSlot, code_of, codes, with_request_data};

/// Request bodies larger than this are never looked up in the response cache (a search's is
/// a few hundred bytes; hashing a 16 MiB ingest batch would only cost time).
const MAX_KEYED_BODY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/graphql", get(get_graphql).post(post_graphql))
        .route_layer(ValidateRequestHeaderLayer::custom(PreventCsrf))
        .route("/graphql/ws", get(subscriptions))
}

async fn post_graphql(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    deadline: Option<Extension<Deadline>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return unreadable_body(&rejection, &state),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // A search is a small JSON object; uploads, batches (arrays) and large ingests are not
    // hashed.
    let keyable = body.len() <= MAX_KEYED_BODY_BYTES
        && !content_type.is_some_and(|t| t.starts_with("multipart/"))
        && body.trim_ascii_start().first() != Some(&b'[')
        && !registers_a_persisted_query(&body);
    let request: [&[u8]; 3] = [b"POST", content_type.unwrap_or_default().as_bytes(), &body];
    let key = match cached_response(
        &state,
        &caller,
        &headers,
        started,
        keyable.then_some(&request),
    )
    .await
    {
        Ok(response) => return response,
        Err(key) => key,
    };
    // Boxed: reading and executing the operation are a large future, which a response-cache
    // hit would otherwise carry and move (a memcpy of its whole size per request).
    let deadline = deadline.map(|Extension(deadline)| deadline);
    Box::pin(receive_and_execute(
        &state,
        caller,
        deadline,
        &headers,
        content_type,
        body,
        key,
    ))
    .await
}

async fn receive_and_execute(
    state: &HttpState,
    caller: Caller,
    deadline: Option<Deadline>,
    headers: &HeaderMap,
    content_type: Option<&str>,
    body: Bytes,
    key: Option<CacheKey>,
) -> Response {
    let options =
        MultipartOptions::default().max_file_size(state.services.config.http.max_body_bytes);
    match async_graphql::http::receive_batch_body(content_type, &body[..], options).await {
        Ok(batch) => execute(state, caller, deadline, headers, batch, false, key).await,
        Err(err) => unreadable(err),
    }
}

/// A kept response for `request` (its method and what identifies it), when there is one and
/// the caller's budgets allow it; otherwise the key to keep its response under (`None` when it
/// is not to be kept: the cache is off, the request is not keyed, or it asks for timing,
/// which must describe an execution).
async fn cached_response(
    state: &HttpState,
    caller: &Caller,
    headers: &HeaderMap,
    started: Instant,
    request: Option<&[&[u8]]>,
) -> Result<Response, Option<CacheKey>> {
    let Some(request) = request.filter(|_| state.responses.enabled() && !timing_requested(headers))
    else {
        return Err(None);
    };
    // The generation this replica can see: a response computed before a change it can see
    // is under an older one. (With Redis, a read there: its span says what it was for.)
    let generation = state
        .services
        .cache
        .generation
        .current()
        .instrument(tracing::info_span!("graphql.response_cache"))
        .await;
    let key = ResponseCache::key(request, caller, generation);
    let Some(entry) = state.responses.get(&key) else {
        return Err(Some(key));
    };
    // The caller may no longer run queries (keys exist now, and queries are not public):
    // execution refuses it with the usual error.
    if state
        .services
        .keys
        .authorize(caller, Role::Reader)
        .await
        .is_err()
    {
        return Err(None);
    }
    let decision = match entry.spend_again(&state.services.limiter, caller).await {
        Ok(decision) => decision,
        Err(refused) => {
            // The refusal execution would have made: RATE_LIMITED with `retryAfter`, 429.
            let errors = refused
                .into_result()
                .err()
                .map(|err| ApiError::from(err).into_server_error())
                .into_iter()
                .collect();
            let refusal = async_graphql::Response::from_errors(errors);
            let mut response = GraphQLResponse::from(refusal).into_response();
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            set_rate_limit_headers(response.headers_mut(), &refused);
            response.extensions_mut().insert(GraphqlOutcome {
                operation: Some(entry.operation.clone()),
                failed: true,
            });
            return Ok(response);
        }
    };
    let body = Pieces::new(entry.render_hit(started.elapsed().as_secs_f64() * 1000.0));
    let mut response = graphql_body(Body::new(body), entry.cache_control.as_deref());
    if let Some(decision) = decision {
        set_rate_limit_headers(response.headers_mut(), &decision);
    }
    response.extensions_mut().insert(GraphqlOutcome {
        operation: Some(entry.operation.clone()),
        failed: false,
    });
    Ok(response)
}

/// A serialised GraphQL response, with the headers `async-graphql-axum` gives one.
fn graphql_body(body: Body, cache_control: Option<&str>) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/graphql-response+json"),
    );
    if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// Whether a request may carry a persisted query's text (Apollo's protocol): such requests
/// are executed, so that the text is registered.
fn registers_a_persisted_query(request: &[u8]) -> bool {
    memchr::memmem::find(request, b"persistedQuery").is_some()
}

fn timing_requested(headers: &HeaderMap) -> bool {
    headers.get("x-selfrag-timing").is_some_and(|v| v == "1")
}

/// What a GET carries in its query string (camelCase, as GraphQL clients send it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    #[serde(default)]
    query: String,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

async fn get_graphql(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    deadline: Option<Extension<Deadline>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return super::graphiql::page(&state.services.config.graphql).await;
    };
    let request: [&[u8]; 2] = [b"GET", query.as_bytes()];
    let keyable = !registers_a_persisted_query(query.as_bytes());
    let key = match cached_response(
        &state,
        &caller,
        &headers,
        started,
        keyable.then_some(&request),
    )
    .await
    {
        Ok(response) => return response,
        Err(key) => key,
    };
    match parse_get(&query) {
        Ok(request) => {
            let batch = BatchRequest::Single(request);
            let deadline = deadline.map(|Extension(deadline)| deadline);
            // Boxed, as for POST.
            Box::pin(execute(
                &state, caller, deadline, &headers, batch, true, key,
            ))
            .await
        }
        Err(message) => refusal(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message),
    }
}

fn parse_get(query: &str) -> Result<async_graphql::Request, String> {
    let params: GetParams = serde_urlencoded::from_str(query)
        .map_err(|err| format!("cannot read the query string: {err}"))?;
    let mut request = async_graphql::Request::new(params.query);
    request.operation_name = params.operation_name;
    if let Some(variables) = params.variables {
        let json: serde_json::Value = serde_json::from_str(&variables)
            .map_err(|err| format!("`variables` is not JSON: {err}"))?;
        request.variables = Variables::from_json(json);
    }
    if let Some(extensions) = params.extensions {
        request.extensions = serde_json::from_str(&extensions)
            .map_err(|err| format!("`extensions` is not a JSON object: {err}"))?;
    }
    Ok(request)
}

/// A body that could not be read: too large (a chunked body that passed the Content-Length
/// check in `middleware`), or cut off by the client.
fn unreadable_body(rejection: &BytesRejection, state: &HttpState) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return super::reply::body_too_large(state.services.config.http.max_body_bytes);
    }
    refusal(
        StatusCode::BAD_REQUEST,
        codes::BAD_REQUEST,
        format!("cannot read the request body: {}", rejection.body_text()),
    )
}

/// A body that is not a GraphQL request, in the GraphQL error shape.
fn unreadable(err: ParseRequestError) -> Response {
    match err {
        ParseRequestError::PayloadTooLarge => refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            "an uploaded file is larger than http.max_body_bytes",
        ),
        other => refusal(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("the body is not a GraphQL request: {other}"),
        ),
    }
}

async fn execute(
    state: &HttpState,
    caller: Caller,
    deadline: Option<Deadline>,
    headers: &HeaderMap,
    batch: BatchRequest,
    via_get: bool,
    keep_under: Option<CacheKey>,
) -> Response {
    let services = &state.services;
    let max_batch = services.config.graphql.max_batch;
    if let BatchRequest::Batch(requests) = &batch
        && (requests.is_empty() || requests.len() > max_batch)
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            codes::BATCH_TOO_LARGE,
            format!(
                "a batch must hold 1 to {max_batch} operations; this one has {} (graphql.max_batch)",
                requests.len()
            ),
        );
    }
    let timing = timing_requested(headers);
    let rate = RateLimitSlot::default();
    let slot = OperationSlot::default();
    let caller = Arc::new(caller);
    let prepare = |request: async_graphql::Request| {
        let mut request = with_request_data(request, services)
            .data(Caller::clone(&caller))
            .data(rate.clone())
            .data(slot.clone());
        if timing {
            request = request.data(TimingRequested);
        }
        if via_get {
            request = request.data(ViaGet);
        }
        if let Some(deadline) = &deadline {
            request = request.data(deadline.clone());
        }
        request
    };
    let (mut response, status, outcome) = match batch {
        BatchRequest::Single(request) => {
            let given = request.operation_name.clone();
            let capture = keep_under.as_ref().map(|_| ResponseCapture::default());
            let mut request = prepare(request);
            if let Some(capture) = &capture {
                request = request.data(capture.clone());
            }
            let response = state.schema.execute(request).await;
            let status = refused_status(&response);
            let outcome = GraphqlOutcome {
                operation: Some(slot.take().or(given).unwrap_or_else(|| "anonymous".into())),
                failed: response.is_err(),
            };
            let response = match (capture, keep_under) {
                (Some(capture), Some(key)) => {
                    let label = outcome.operation.as_deref().unwrap_or("anonymous");
                    captured(state, capture, key, response, label)
                }
                _ => GraphQLResponse::from(response).into_response(),
            };
            (response, status, outcome)
        }
        BatchRequest::Batch(requests) => {
            let responses = futures_util::future::join_all(
                requests
                    .into_iter()
                    .map(|request| state.schema.execute(prepare(request))),
            )
            .await;
            let outcome = GraphqlOutcome {
                operation: Some("batch".into()),
                failed: responses.iter().any(async_graphql::Response::is_err),
            };
            (
                GraphQLResponse::from(async_graphql::BatchResponse::Batch(responses))
                    .into_response(),
                StatusCode::OK,
                outcome,
            )
        }
    };
    *response.status_mut() = status;
    if let Some(decision) = rate.get() {
        set_rate_limit_headers(response.headers_mut(), &decision);
    }
    response.extensions_mut().insert(outcome);
    response
}

/// The response of a request executed for the response cache: its own facts put back, and
/// kept under `key` when it may be.
fn captured(
    state: &HttpState,
    capture: ResponseCapture,
    key: CacheKey,
    response: async_graphql::Response,
    operation: &str,
) -> Response {
    match capture.finish(&response, operation) {
        Ok((body, entry)) => {
            if let Some(entry) = entry {
                state.responses.insert(key, entry);
            }
            let cache_control = response
                .is_ok()
                .then(|| response.cache_control.value())
                .flatten();
            let mut reply = graphql_body(Body::from(body), cache_control.as_deref());
            reply.headers_mut().extend(response.http_headers);
            reply
        }
        Err(err) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal.as_str(),
            format!("cannot serialise the response: {err}"),
        ),
    }
}

/// A request refused as a whole (no data) by authentication, its rate budget or its method
/// gets that refusal's HTTP status, so proxies and dashboards see it; anything that ran, even
/// with field errors, is 200 as GraphQL over HTTP expects.
fn refused_status(response: &async_graphql::Response) -> StatusCode {
    if !matches!(response.data, async_graphql::Value::Null) {
        return StatusCode::OK;
    }
    const REFUSING_THE_REQUEST: [&str; 4] = [
        ErrorCode::Unauthenticated.as_str(),
        ErrorCode::Forbidden.as_str(),
        ErrorCode::RateLimited.as_str(),
        codes::METHOD_NOT_ALLOWED,
    ];
    match response.errors.first().and_then(code_of) {
        Some(code) if REFUSING_THE_REQUEST.contains(&code) => status_of(code),
        _ => StatusCode::OK,
    }
}

/// graphql-ws (and the older subscriptions-transport-ws). The key may come as a header on the
/// upgrade, or in `connection_init`'s payload (`{"authorization": "Bearer …"}`,
/// `{"x-api-key": "…"}`, names in any case, or `{"apiKey": "…"}`), which is what browsers
/// can send.
async fn subscriptions(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    permit: Option<Extension<ConnectionPermit>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = state.schema.clone();
    let services = state.services.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| async move {
            // The socket stays counted against `http.max_connections` while it is open.
            let _permit = permit;
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let mut caller = caller;
                    if let Some(key) = payload_key(&payload) {
                        let identity = services
                            .keys
                            .authenticate(&key)
                            .await
                            .map_err(|err| async_graphql::Error::new(err.to_string()))?;
                        caller.identity = Some(identity);
                    }
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve()
                .await
        })
}

fn payload_key(payload: &serde_json::Value) -> Option<String> {
    // Header names are case-insensitive, and clients (GraphiQL's headers editor among them)
    // send them as typed.
    let field = |name: &str| {
        payload
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    };
    if let Some(authorization) = field("authorization") {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().ok()?);
        return presented_key(&headers).map(str::to_owned);
    }
    field("apiKey")
        .or_else(|| field("x-api-key"))
        .map(str::to_owned)
}
