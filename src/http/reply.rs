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

/// The HTTP status of an error code: the one mapping, used by the plain routes for every
/// error and by GraphQL for a request refused as a whole.
pub fn status_of(code: &str) -> StatusCode {
    use crate::error::ErrorCode as E;
    use crate::graphql::codes;
    const BAD_INPUT: &str = E::BadInput.as_str();
    const NOT_FOUND: &str = E::NotFound.as_str();
    const CONFLICT: &str = E::Conflict.as_str();
    const UNAUTHENTICATED: &str = E::Unauthenticated.as_str();
    const FORBIDDEN: &str = E::Forbidden.as_str();
    const RATE_LIMITED: &str = E::RateLimited.as_str();
    const UNAVAILABLE: &str = E::Unavailable.as_str();
    match code {
        BAD_INPUT | codes::BAD_REQUEST | codes::BATCH_TOO_LARGE | codes::CSRF => {
            StatusCode::BAD_REQUEST
        }
        NOT_FOUND => StatusCode::NOT_FOUND,
        CONFLICT => StatusCode::CONFLICT,
        UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        FORBIDDEN => StatusCode::FORBIDDEN,
        RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        codes::METHOD_NOT_ALLOWED => StatusCode::METHOD_NOT_ALLOWED,
        codes::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        codes::REQUEST_TIMEOUT => StatusCode::REQUEST_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

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
    let status = status_of(err.code().as_str());
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
