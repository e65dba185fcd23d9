//! Logging, trace export, system sampling and in-process request statistics.
//!
//! Logging: `RUST_LOG` filters; `SELFRAG_LOG_FORMAT=json` switches to one JSON object per line
//! for log shippers. Traces: `traces` (OTLP, when `telemetry.otlp_endpoint` is set).

mod requests;
mod system;
pub mod traces;

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
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log filter: `RUST_LOG`, else `info` (the server) or `warn` (CLI commands, whose output
/// is the result). qdrant-edge's own start-up chatter is kept at `error` either way.
fn log_filter(verbose: bool) -> EnvFilter {
    let default = if verbose {
        "info,ort=warn,sqlx=warn,qdrant_edge=error"
    } else {
        "warn,qdrant_edge=error"
    };
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

fn json_logs() -> bool {
    std::env::var("SELFRAG_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
}

/// Logging for the process: to stderr, as text or JSON, and (the server, when
/// `telemetry.otlp_endpoint` is set) spans to the trace exporter's `tracer` too. The filter
/// applies to both, so a span that is not logged is not exported either.
pub fn init_logging(verbose: bool, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) {
    let spans = tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_threads(false)
    });
    let (text, json) = if json_logs() {
        (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            ),
        )
    } else {
        (
            Some(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)),
            None,
        )
    };
    // `try_init`: a second call (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(spans)
        .with(log_filter(verbose))
        .with(text)
        .with(json)
        .try_init();
}

/// Runs `f` (reading the configuration, before logging can be set up from it) with its
/// warnings logged to stderr.
pub fn with_startup_logging<T>(f: impl FnOnce() -> T) -> T {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(log_filter(true))
        .with_writer(std::io::stderr)
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}
