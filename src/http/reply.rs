//! Responses the HTTP layer writes itself: refusals in the GraphQL error shape (so that a
//! client parses one shape whatever refused it), and the `RateLimit-*` headers.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::ratelimit::Decision;

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `{"errors":[{"message":…,"extensions":{"code":…}}]}` with `status`.
pub fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message.into(), "extensions": { "code": code } }]
    });
    (status, Json(body)).into_response()
}

/// A request body over `http.max_body_bytes`: 413, `PAYLOAD_TOO_LARGE`.
pub fn body_too_large(limit: usize) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        crate::graphql::codes::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {limit} bytes (http.max_body_bytes)"),
    )
}

/// A domain error on a plain route: its status, code and message (and `Retry-After`).
pub fn error_response(err: &Error) -> Response {
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if matches!(err, Error::Internal(_) | Error::Unavailable { .. }) {
        tracing::error!(error = %crate::graphql::cause_chain(err), "request failed");
    }
    let mut response = refusal(status, err.code().as_str(), err.to_string());
    if let Error::RateLimited { retry_after, .. } = err {
        set_retry_after(response.headers_mut(), retry_after.as_secs_f64());
    }
    response
}

/// `RateLimit-Limit`, `-Remaining`, `-Reset` (IETF draft), and `Retry-After` when refused.
pub fn set_rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(
        RATELIMIT_RESET,
        HeaderValue::from(decision.reset.as_secs_f64().ceil() as u64),
    );
    if !decision.allowed {
        set_retry_after(headers, decision.retry_after.as_secs_f64());
    }
}

fn set_retry_after(headers: &mut HeaderMap, seconds: f64) {
    headers.insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(seconds.ceil().max(1.0) as u64),
    );
}
