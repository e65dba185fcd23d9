//! OpenTelemetry traces: with `telemetry.otlp_endpoint` set, tracing's spans (the HTTP request,
//! the GraphQL operation, cache lookups, embedding, vector search, database and Redis calls)
//! are exported over OTLP, gRPC or HTTP/protobuf.
//!
//! Export never holds up a request: a finished span is put on a bounded queue with `try_send`
//! and a background task sends batches. A full queue drops the span and counts it in
//! `otel_spans_dropped_total`; a failed export counts its spans in `otel_spans_failed_total`.
//! The SDK's own batch processor drops silently, hence [`BoundedExport`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor,
};
use tokio::sync::mpsc;

use crate::config::{OtlpProtocol, TelemetryConfig};

/// Set once an exporter is installed (`telemetry::init_logging`): what only traces need is
/// skipped on the request path while it is false.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an OTLP endpoint is configured and installed).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

pub(super) fn mark_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

pub const SPANS_DROPPED: &str = "otel_spans_dropped_total";
pub const SPANS_EXPORTED: &str = "otel_spans_exported_total";
pub const SPANS_FAILED: &str = "otel_spans_failed_total";

/// Why traces could not be set up (a bad endpoint); the server does not start without them
/// rather than run untraced when tracing was asked for.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {endpoint}: {reason}")]
pub struct TraceSetupError {
    endpoint: String,
    reason: String,
}

/// The running export. [`TraceExport::shutdown`] sends what is queued; dropping it without
/// doing so loses the spans still queued.
pub struct TraceExport {
    provider: SdkTracerProvider,
    /// How long [`TraceExport::shutdown`] waits for the queue to be sent (at most a minute).
    flush_limit: Duration,
}

impl TraceExport {
    /// Sets up the exporter and its queue; needs a Tokio runtime (the export task runs on it).
    pub fn start(
        config: &TelemetryConfig,
    ) -> Result<Option<(TraceExport, SdkTracer)>, TraceSetupError> {
        let Some(endpoint) = config.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        let timeout = Duration::from_millis(config.otlp_timeout_ms);
        let built = match config.otlp_protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .build(),
            OtlpProtocol::Http => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                .with_timeout(timeout)
                .build(),
        };
        let mut exporter = built.map_err(|err| TraceSetupError {
            endpoint: endpoint.to_owned(),
            reason: err.to_string(),
        })?;
        // The exporter sends the resource (service.name) with every batch; the provider would
        // hand it to a processor, but ours moves the exporter into its task first.
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        exporter.set_resource(&resource);
        let processor = BoundedExport::spawn(
            exporter,
            config.trace_queue_size,
            config.trace_batch_size,
            Duration::from_millis(config.trace_batch_delay_ms),
        );
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.trace_sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("selfrag");
        // Flushing sends every queued batch, each bounded by the export timeout.
        let batches = config.trace_queue_size.div_ceil(config.trace_batch_size) as u32 + 1;
        let flush_limit = (timeout * batches).min(Duration::from_secs(60));
        Ok(Some((
            TraceExport {
                provider,
                flush_limit,
            },
            tracer,
        )))
    }

    /// Sends what is queued and stops. Blocks (each queued batch bounded by the export timeout,
    /// all of them by a minute), so async callers run it with `spawn_blocking`.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown_with_timeout(self.flush_limit) {
            tracing::warn!(error = %err, "trace export did not finish cleanly");
        }
    }
}

/// The W3C `traceparent` (and `tracestate`) of incoming headers, as the parent context.
pub fn parent_from_headers(headers: &http::HeaderMap) -> Context {
    struct Headers<'a>(&'a http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(http::HeaderName::as_str).collect()
        }
    }
    TraceContextPropagator::new().extract(&Headers(headers))
}

enum Command {
    /// Export everything queued, then say so (a std channel: the waiter is not async).
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// A span processor that never blocks the span's thread: a bounded queue in front of a task
/// that exports in batches of `batch_size`, at least every `delay`.
#[derive(Debug)]
struct BoundedExport {
    spans: mpsc::Sender<SpanData>,
    commands: mpsc::UnboundedSender<Command>,
}

impl BoundedExport {
    fn spawn(
        exporter: impl SpanExporter + 'static,
        queue_size: usize,
        batch_size: usize,
        delay: Duration,
    ) -> BoundedExport {
        let (spans, queue) = mpsc::channel(queue_size);
        let (commands, control) = mpsc::unbounded_channel();
        tokio::spawn(export_loop(exporter, queue, control, batch_size, delay));
        BoundedExport { spans, commands }
    }

    /// Asks the task to send everything queued and waits for it, up to `timeout`.
    fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        self.commands
            .send(Command::Flush(done))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        finished.recv_timeout(timeout).map_err(|err| match err {
            std::sync::mpsc::RecvTimeoutError::Timeout => OTelSdkError::Timeout(timeout),
            std::sync::mpsc::RecvTimeoutError::Disconnected => OTelSdkError::AlreadyShutdown,
        })
    }
}

impl SpanProcessor for BoundedExport {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.spans.try_send(span).is_err() {
            metrics::counter!(SPANS_DROPPED).increment(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.flush(timeout)
    }
}

async fn export_loop(
    exporter: impl SpanExporter,
    mut queue: mpsc::Receiver<SpanData>,
    mut control: mpsc::UnboundedReceiver<Command>,
    batch_size: usize,
    delay: Duration,
) {
    let mut batch = Vec::with_capacity(batch_size);
    let mut tick = tokio::time::interval(delay);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Never more than `batch_size` in one export (a collector limits message sizes); a
        // full batch is sent as soon as it is full, so there is always room here.
        let room = batch_size - batch.len();
        tokio::select! {
            received = queue.recv_many(&mut batch, room) => {
                if received == 0 {
                    break; // every sender is gone: the provider was dropped
                }
                if batch.len() >= batch_size {
                    send(&exporter, &mut batch).await;
                }
            }
            _ = tick.tick() => send(&exporter, &mut batch).await,
            command = control.recv() => match command {
                Some(Command::Flush(done)) => {
                    while let Ok(span) = queue.try_recv() {
                        batch.push(span);
                        if batch.len() >= batch_size {
                            send(&exporter, &mut batch).await;
                        }
                    }
                    send(&exporter, &mut batch).await;
                    let _ = done.send(());
                }
                None => break,
            },
        }
    }
    send(&exporter, &mut batch).await;
}

async fn send(exporter: &impl SpanExporter, batch: &mut Vec<SpanData>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let count = spans.len() as u64;
    match exporter.export(spans).await {
        Ok(()) => metrics::counter!(SPANS_EXPORTED).increment(count),
        Err(err) => {
            metrics::counter!(SPANS_FAILED).increment(count);
            tracing::warn!(target: "selfrag::traces", error = %err, spans = count, "trace export failed; these spans are lost");
        }
    }
}
