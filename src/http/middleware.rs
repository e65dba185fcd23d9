//! The tower layers every route shares, outermost first: a tracing span per request (joining
//! the caller's trace from `traceparent`), request id (set, the trace id when traces are
//! exported, and echoed on the response), `X-Response-Time` with per-route metrics and the request
//! statistics, CORS, compression,
//! timeout (408, typed: `REQUEST_TIMEOUT`; a deadline that progress pushes back), body limit
//! (413, typed: `PAYLOAD_TOO_LARGE`).

use std::time::{Duration, Instant};

use axum::Router;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use opentelemetry::trace::TraceContextExt as _;
use tower_http::LatencyUnit;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, OnResponse as _, TraceLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::HttpConfig;
use crate::deadline::Deadline;
use crate::telemetry::traces::parent_from_headers;
use crate::telemetry::{RequestRecord, RequestStats};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");

/// Put in a response's extensions by the GraphQL handler, for the request statistics.
#[derive(Debug, Clone)]
pub struct GraphqlOutcome {
    pub operation: Option<String>,
    pub failed: bool,
}

pub fn apply(router: Router, config: &HttpConfig, requests: Arc<RequestStats>) -> Router {
    let compress_when = SizeAbove::new(config.compress_above_bytes)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_response(
            |response: &Response, latency: Duration, span: &tracing::Span| {
                let status = response.status();
                span.record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
                DefaultOnResponse::new()
                    .latency_unit(LatencyUnit::Micros)
                    .on_response(response, latency, span);
            },
        );
    // Each `layer` call wraps the previous ones: the last is the outermost. Separate calls (not
    // one ServiceBuilder) because the body limit and compression change the body types that
    // the `from_fn` middleware must see as axum's own.
    // The body limit in force is ours: axum's extractors otherwise stop at their own 2 MiB
    // default, and tower-http's limit answers in plain text.
    let max_body = config.max_body_bytes;
    let timeout = Duration::from_millis(config.request_timeout_ms);
    router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_large_bodies(max_body, request, next)
        }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            answer_before_deadline(timeout, request, next)
        }))
        .layer(CompressionLayer::new().compress_when(compress_when))
        .layer(cors(&config.cors_origins))
        .layer(middleware::from_fn_with_state(
            requests,
            response_time_and_metrics,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, TraceIdOrUuid))
        .layer(trace)
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

/// Answers 408 when the handler has neither answered nor reported progress for `timeout`.
/// The request's [`Deadline`] is in its extensions: a bulk ingest pushes it back with each
/// model batch and each stored document, so it is cut only once it stalls. A write cut off
/// this way still completes or rolls back (`ingest::detached`).
async fn answer_before_deadline(timeout: Duration, mut request: Request, next: Next) -> Response {
    let deadline = Deadline::after(timeout);
    request.extensions_mut().insert(deadline.clone());
    let response = next.run(request);
    tokio::pin!(response);
    loop {
        tokio::select! {
            response = &mut response => return response,
            () = tokio::time::sleep_until(deadline.expires_at().into()) => {
                if deadline.expired() {
                    return super::reply::refusal(
                        StatusCode::REQUEST_TIMEOUT,
                        crate::graphql::codes::REQUEST_TIMEOUT,
                        format!(
                            "no answer or progress within {} ms (http.request_timeout_ms); a \
                             write that was running still completes or rolls back as a whole",
                            timeout.as_millis()
                        ),
                    );
                }
            }
        }
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it. A body
/// sent without a length (chunked) is cut at the limit by the extractor, which the GraphQL
/// handler reports the same way.
async fn refuse_large_bodies(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return super::reply::body_too_large(limit);
    }
    next.run(request).await
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

/// Adds `X-Response-Time` (time to response headers) and records request counts and latency
/// labelled by the matched route (never the raw path: bounded label cardinality).
async fn response_time_and_metrics(
    State(requests): State<Arc<RequestStats>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&format!("{:.3}ms", elapsed.as_secs_f64() * 1000.0)) {
        response.headers_mut().insert(RESPONSE_TIME, value);
    }
    let status = response.status();
    let outcome = response.extensions().get::<GraphqlOutcome>();
    requests.record(RequestRecord {
        at: started,
        route: route.clone(),
        operation: outcome.and_then(|o| o.operation.clone()),
        duration: elapsed,
        failed: status.is_server_error() || outcome.is_some_and(|o| o.failed),
        request_id,
    });
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    response
}
