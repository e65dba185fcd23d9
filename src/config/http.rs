//! `http`: the HTTP layer's limits and connection handling.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// The HTTP layer's limits and behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// A request still running after this gets 408 and is dropped.
    pub request_timeout_ms: u64,
    /// Larger request bodies get 413 before they are read. Bounds `ingestDocuments` batches too.
    pub max_body_bytes: usize,
    /// Responses at least this large are compressed (gzip, br or zstd, by Accept-Encoding).
    pub compress_above_bytes: u16,
    /// Origins allowed by CORS (`*` for any); empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// A client must send a request's headers within this, or the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// Open client connections at most; 0 means as many as the descriptor limit allows less
    /// a headroom of 256 (the lower of the two is used, and logged at start).
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_ms: 30_000,
            max_body_bytes: 16 * 1024 * 1024,
            compress_above_bytes: 1024,
            cors_origins: Vec::new(),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 0,
        }
    }
}

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.request_timeout_ms == 0
            || self.max_body_bytes == 0
            || self.header_read_timeout_ms == 0
            || self.idle_timeout_ms == 0
        {
            return Err(invalid(
                "http",
                "request_timeout_ms, max_body_bytes, header_read_timeout_ms and idle_timeout_ms \
                 must be greater than 0",
            ));
        }
        if let Some(origin) = self
            .cors_origins
            .iter()
            .find(|o| o.as_str() != "*" && ::http::HeaderValue::from_str(o).is_err())
        {
            return Err(invalid(
                "http.cors_origins",
                format!("`{origin}` is not a valid origin"),
            ));
        }
        Ok(())
    }
}
