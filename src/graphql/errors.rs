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
        ApiError(
            async_graphql::Error::new(err.to_string())
                .extend_with(|_, ext| ext.set("code", code.as_str())),
        )
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
