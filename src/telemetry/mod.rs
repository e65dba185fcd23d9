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

/// Spans that exist for traces only (see `traces`): without an exporter they are disabled at
/// their call sites, so a request pays nothing for them and log lines stay short. The request's
/// own `http` span stays: it puts `request_id` on the request's log lines.
pub const TRACE_ONLY_SPANS: [&str; 7] = [
    "graphql.operation",
    "cache.lookup",
    "embed",
    "vector.search",
    "vector.upsert",
    "db.query",
    "redis",
];

/// Logging for the process: to stderr, as text or JSON, and (the server, when
/// `telemetry.otlp_endpoint` is set) spans to the trace exporter's `tracer` too. The filter
/// applies to both, so a span that is not logged is not exported either.
pub fn init_logging(verbose: bool, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets, filter_fn};

    let exporting = tracer.is_some();
    let spans = tracer.map(|tracer| {
        // The exporter's own connection (h2, hyper, tonic, tower) must not be traced: exporting
        // its spans would make more of them.
        let not_the_exporter = Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_target("h2", LevelFilter::OFF)
            .with_target("hyper", LevelFilter::OFF)
            .with_target("hyper_util", LevelFilter::OFF)
            .with_target("tonic", LevelFilter::OFF)
            .with_target("tower", LevelFilter::OFF)
            .with_target("opentelemetry", LevelFilter::OFF)
            .with_target("opentelemetry_otlp", LevelFilter::OFF)
            .with_target("opentelemetry_sdk", LevelFilter::OFF);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(not_the_exporter)
    });
    // A `FilterFn` is decided once per call site (its interest is cached), not per span.
    let trace_only_off = (!exporting).then(|| {
        filter_fn(|metadata| !(metadata.is_span() && TRACE_ONLY_SPANS.contains(&metadata.name())))
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
    let installed = tracing_subscriber::registry()
        .with(spans)
        .with(log_filter(verbose))
        .with(trace_only_off)
        .with(text)
        .with(json)
        .try_init();
    if exporting && installed.is_ok() {
        traces::mark_exporting();
    }
}

/// Runs `f` (reading the configuration, before logging can be set up from it) with its
/// warnings logged to stderr.
pub fn with_startup_logging<T>(f: impl FnOnce() -> T) -> T {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(true))
        .with_writer(std::io::stderr);
    if json_logs() {
        tracing::subscriber::with_default(builder.json().finish(), f)
    } else {
        tracing::subscriber::with_default(builder.finish(), f)
    }
}
