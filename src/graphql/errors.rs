//! The one place domain errors become GraphQL errors.
//!
//! Resolvers return `Result<T, ApiError>`, so `?` on any `crate::Error` (or a module error that
//! converts into one) lands here. `ApiError` deliberately does not implement `Display`: that keeps
//! async-graphql's blanket `From<impl Display>` from silently dropping the code.

use async_graphql::ErrorExtensions;

use crate::error::{Error, ErrorCode};

/// A domain error already rendered for the client (async-graphql wants resolver errors `Clone`,
/// which a cause chain is not).
#[derive(Clone)]
pub struct ApiError(async_graphql::Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        let err = err.into();
        let code = err.code();
        if matches!(code, ErrorCode::Internal | ErrorCode::Unavailable) {
            // The cause chain goes to the log; the client gets the message and the code.
            tracing::error!(error = %cause_chain(&err), %code, "request failed");
        }
        let retry_after = match &err {
            Error::RateLimited { retry_after, .. } => Some(retry_after.as_secs_f64().ceil() as u64),
            _ => None,
        };
        ApiError(
            async_graphql::Error::new(err.to_string()).extend_with(|_, ext| {
                ext.set("code", code.as_str());
                if let Some(seconds) = retry_after {
                    ext.set("retryAfter", seconds);
                }
            }),
        )
    }
}

impl ApiError {
    /// For refusals raised outside a resolver (extensions, guards), which have no position.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        self.0.into_server_error(async_graphql::Pos::default())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(ApiError(err): ApiError) -> Self {
        err
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `error: cause: cause…`, for logs.
pub fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Codes of refusals that happen before any resolver runs (parsing, validation, limits,
/// persisted queries, transport rules). Named after Apollo's where Apollo has one, so that
/// clients written for Apollo recognise them.
pub mod codes {
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const DEPTH_LIMIT: &str = "DEPTH_LIMIT_EXCEEDED";
    /// Brackets, braces or parentheses nested past `graphql.max_nesting` (text or JSON).
    pub const NESTING_LIMIT: &str = "NESTING_LIMIT_EXCEEDED";
    pub const COMPLEXITY_LIMIT: &str = "COMPLEXITY_LIMIT_EXCEEDED";
    pub const ALIAS_LIMIT: &str = "ALIAS_LIMIT_EXCEEDED";
    pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
    pub const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";
    /// A request body over `http.max_body_bytes` (HTTP 413).
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// No answer (and, for a bulk ingest, no progress) within `http.request_timeout_ms`: 408.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    pub const CSRF: &str = "CSRF_ERROR";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// A malformed request (body, operation name, variables) that is not one of the above.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// A resolver argument async-graphql could not coerce.
    pub const BAD_INPUT: &str = "BAD_INPUT";
}

/// A refusal with its code, as async-graphql carries errors.
pub fn refusal(code: &'static str, message: impl Into<String>) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    with_code(&mut error, code);
    error
}

/// The error's `extensions.code`, if it has one.
pub fn code_of(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

/// Sets `extensions.code` unless the error already has one.
pub fn with_code(error: &mut async_graphql::ServerError, code: &'static str) {
    if code_of(error).is_none() {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
