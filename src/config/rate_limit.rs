//! `rate_limit`: GCRA budgets per caller.

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

/// Request budgets per API key (or per client IP for anonymous calls). Shared across replicas
/// through Redis when `redis_url` is set, kept in process otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// `search` and `embed` calls (an `embed` of n texts costs n).
    pub search: Budget,
    /// Documents ingested or deleted, and cache clears.
    pub ingest: Budget,
    /// Header carrying the client address when behind a proxy (e.g. `x-forwarded-for`, whose
    /// first address is used). Unset: the TCP peer address. Only set this behind a proxy you run.
    pub client_ip_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            search: Budget {
                per_minute: 12_000,
                burst: 400,
            },
            ingest: Budget {
                per_minute: 600,
                burst: 100,
            },
            client_ip_header: None,
        }
    }
}

/// A sustained rate with a burst allowance (GCRA: smooth, no fixed-window edges).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateLimitConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[(
            "rate_limit.*.per_minute",
            u64::from(self.search.per_minute.min(self.ingest.per_minute)),
        )])?;
        if let Some(header) = &self.client_ip_header
            && http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(invalid(
                "rate_limit.client_ip_header",
                format!("`{header}` is not a valid header name"),
            ));
        }
        Ok(())
    }
}
