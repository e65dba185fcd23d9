//! `telemetry`: background sampling, the slow-request list, and trace export (OTLP).

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// How often the background task samples CPU, memory and disk.
    pub sample_interval_ms: u64,
    /// Requests at least this slow are listed in `/health/metrics`.
    pub slow_request_ms: u64,
    /// An OTLP collector (`http://host:4317` for gRPC, `http://host:4318` for HTTP): when set
    /// (and not empty), every request's trace is exported there. Plain `http://` only; put TLS in a collector
    /// beside selfrag.
    pub otlp_endpoint: Option<String>,
    /// `grpc`, or `http` for HTTP/protobuf to `<otlp_endpoint>/v1/traces`.
    pub otlp_protocol: OtlpProtocol,
    /// Share of new traces kept, 0.0–1.0. A request that carries a `traceparent` follows its
    /// caller's decision instead (parent-based sampling).
    pub trace_sample_ratio: f64,
    /// Finished spans waiting for export; when full, new ones are dropped and counted in
    /// `otel_spans_dropped_total` (a request never waits for its trace).
    pub trace_queue_size: usize,
    /// Most spans sent in one export.
    pub trace_batch_size: usize,
    /// Longest a finished span waits before it is sent.
    pub trace_batch_delay_ms: u64,
    /// Longest one export may take.
    pub otlp_timeout_ms: u64,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

/// How traces are sent to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    Grpc,
    Http,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            sample_interval_ms: 5_000,
            slow_request_ms: 1_000,
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            trace_sample_ratio: 1.0,
            trace_queue_size: 4_096,
            trace_batch_size: 512,
            trace_batch_delay_ms: 1_000,
            otlp_timeout_ms: 5_000,
            service_name: "selfrag".into(),
        }
    }
}

impl TelemetryConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.sample_interval_ms < 100 {
            return Err(invalid(
                "telemetry.sample_interval_ms",
                "must be at least 100",
            ));
        }
        if let Some(endpoint) = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty())
            && !endpoint.starts_with("http://")
        {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must start with http:// (e.g. http://127.0.0.1:4317 for gRPC); TLS to a collector is not built in",
            ));
        }
        if !(0.0..=1.0).contains(&self.trace_sample_ratio) {
            return Err(invalid(
                "telemetry.trace_sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        all_positive(&[
            ("telemetry.trace_queue_size", self.trace_queue_size as u64),
            ("telemetry.trace_batch_size", self.trace_batch_size as u64),
            ("telemetry.trace_batch_delay_ms", self.trace_batch_delay_ms),
            ("telemetry.otlp_timeout_ms", self.otlp_timeout_ms),
        ])?;
        if self.trace_batch_size > self.trace_queue_size || self.trace_batch_size > 10_000 {
            return Err(invalid(
                "telemetry.trace_batch_size",
                "must be at most telemetry.trace_queue_size and at most 10000",
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(invalid("telemetry.service_name", "must not be empty"));
        }
        Ok(())
    }
}
