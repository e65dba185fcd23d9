//! The domain error every layer speaks, and its stable client-facing codes.
//!
//! Modules raise these (or their own typed errors converted into them); the transport edges map
//! them once: to a GraphQL error with `extensions.code` in `graphql::errors`, and to an HTTP status
//! in `http`. The cause chain is logged, never sent: a client sees the message and the code only.

use std::fmt;

/// What went wrong, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong; retrying it unchanged will fail again.
    #[error("{0}")]
    BadInput(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Another write changed the same thing meanwhile; retrying reads the new state.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (database, vector index, model) cannot serve right now; retrying may work.
    #[error("{message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<anyhow::Error>,
    },
    /// No credentials where they are required, or credentials that are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the role the call needs.
    #[error("{0}")]
    Forbidden(String),
    /// The caller's budget is spent; it may retry after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A bug or an unexpected state on our side. The client gets an opaque message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The stable machine-readable code of an [`Error`], as sent in `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadInput,
    NotFound,
    Conflict,
    Unavailable,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadInput => "BAD_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }

    pub fn unavailable(message: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Error::Internal(source.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadInput(_) => ErrorCode::BadInput,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Unavailable { .. } => ErrorCode::Unavailable,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
