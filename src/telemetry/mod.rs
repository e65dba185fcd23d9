//! Logging, system sampling and in-process request statistics.
//!
//! Logging: `RUST_LOG` filters; `SELFRAG_LOG_FORMAT=json` switches to one JSON object per line
//! for log shippers.

mod requests;
mod system;

pub use requests::{OperationStats, RequestRecord, RequestStats, SlowRequest, StatsWindow};
pub use system::{SystemSampler, SystemSnapshot};

/// A connection pool's occupancy (database, Redis). `waiting` is unknown for the database
/// (sqlx does not expose it).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    pub max: u64,
    pub size: u64,
    pub in_use: u64,
    pub idle: u64,
    pub waiting: Option<u64>,
}

use tracing_subscriber::EnvFilter;

/// `verbose`: `info` by default (the server); otherwise `warn` (CLI commands, whose output is
/// the result). qdrant-edge's own start-up chatter is kept at `error` either way.
pub fn init_logging(verbose: bool) {
    let default = if verbose {
        "info,ort=warn,sqlx=warn,qdrant_edge=error"
    } else {
        "warn,qdrant_edge=error"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("SELFRAG_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init`: a second call (tests, embedding) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
