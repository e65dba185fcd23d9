//! The tower layers every route shares, outermost first: a tracing span per request (joining
//! the caller's trace from `traceparent`), request id (set, the trace id when traces are
//! exported, and echoed on the response), `X-Response-Time` with per-route metrics and the request
//! statistics (`response_time`), CORS, compression, timeout (408, typed: `REQUEST_TIMEOUT`; a
//! deadline that progress pushes back: `deadline`), body limit (413, typed:
//! `PAYLOAD_TOO_LARGE`), and who is calling (`auth`: 401 for a key that is not valid).
//!
//! They are one stack, applied to the router once: each `Router::layer` call boxes every
//! route again, and a boxed route is cloned, all the way down, on every call through it —
//! with ten separate layers that cloning, and the boxed futures of `from_fn`, cost more than a
//! response-cache hit's own work (callgrind). So every layer here is a plain tower service
//! whose future is not boxed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use opentelemetry::trace::TraceContextExt as _;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::auth::AsyncRequireAuthorizationLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, OnResponse as _, TraceLayer};
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::HttpState;
use super::auth::Identify;
use super::deadline::AnswerBeforeDeadlineLayer;
use super::response_time::{RESPONSE_TIME, ResponseTimeLayer};
use crate::telemetry::traces::parent_from_headers;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Put in a response's extensions by the GraphQL handler, for the request statistics.
#[derive(Debug, Clone)]
pub struct GraphqlOutcome {
    pub operation: Option<String>,
    pub failed: bool,
}

/// `router` with the shared layers.
pub fn apply(router: Router, state: HttpState) -> Router {
    let config = &state.services.config.http;
    let requests = Arc::clone(&state.services.requests);
    let compress_when = SizeAbove::new(config.compress_above_bytes)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_response(record_status);
    // The body limit in force is ours: axum's extractors otherwise stop at their own 2 MiB
    // default, and tower-http's limit answers in plain text.
    let max_body = config.max_body_bytes;
    let timeout = Duration::from_millis(config.request_timeout_ms);
    router.layer(
        ServiceBuilder::new()
            .layer(trace)
            .layer(SetRequestIdLayer::new(REQUEST_ID, TraceIdOrUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(ResponseTimeLayer::new(requests))
            .layer(cors(&config.cors_origins))
            .layer(CompressionLayer::new().compress_when(compress_when))
            .layer(AnswerBeforeDeadlineLayer::new(timeout))
            .layer(ValidateRequestHeaderLayer::custom(RefuseLargeBodies {
                limit: max_body,
            }))
            .layer(DefaultBodyLimit::max(max_body))
            .layer(AsyncRequireAuthorizationLayer::new(Identify::new(
                state.clone(),
            ))),
    )
}

/// The response's status on the request's span (an error status for a 5xx), then the usual
/// response event.
fn record_status<B>(response: &Response<B>, latency: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    DefaultOnResponse::new()
        .latency_unit(LatencyUnit::Micros)
        .on_response(response, latency, span);
}

/// The request's span. Exporting traces, it is named by the matched route (`POST /graphql`:
/// span names are grouped on, paths are as many as clients make up), carries the
/// OpenTelemetry conventions' attributes, joins the caller's trace from a W3C `traceparent`,
/// and puts its trace id in the logs as `trace_id`. Otherwise it is only log context.
fn request_span(request: &Request) -> tracing::Span {
    let method = request.method();
    let path = request.uri().path();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    if !crate::telemetry::traces::exporting() {
        let span = tracing::info_span!(
            "http",
            method = %method,
            uri = %path,
            request_id = tracing::field::Empty,
        );
        if let Some(id) = request_id {
            span.record("request_id", id);
        }
        return span;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "http",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.route = route,
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if request.headers().contains_key("traceparent") {
        // Fails only when no exporter is installed: there is no trace to join then.
        let _ = span.set_parent(parent_from_headers(request.headers()));
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    if let Some(id) = request_id {
        span.record("request_id", id);
    }
    span
}

/// A request without an `X-Request-Id` gets its trace id as one when traces are exported (so
/// the id a client reports finds the trace), else a UUID. Runs inside the request's span.
#[derive(Clone, Copy)]
struct TraceIdOrUuid;

impl MakeRequestId for TraceIdOrUuid {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let span = tracing::Span::current();
        let trace_id = if crate::telemetry::traces::exporting() {
            span.context().span().span_context().trace_id()
        } else {
            opentelemetry::trace::TraceId::INVALID
        };
        let id = if trace_id == opentelemetry::trace::TraceId::INVALID {
            uuid::Uuid::new_v4().to_string()
        } else {
            trace_id.to_string()
        };
        span.record("request_id", id.as_str());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it. A body
/// sent without a length (chunked) is cut at the limit by the extractor, which the GraphQL
/// handler reports the same way.
#[derive(Debug, Clone, Copy)]
struct RefuseLargeBodies {
    limit: usize,
}

impl ValidateRequest<Body> for RefuseLargeBodies {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request) -> Result<(), Response> {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limit as u64) {
            return Err(super::reply::body_too_large(self.limit));
        }
        Ok(())
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([REQUEST_ID, RESPONSE_TIME])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        // Validated at start-up (`Config::validate`), so none is dropped here silently.
        let origins: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(origins))
    }
}
