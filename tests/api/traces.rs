//! OpenTelemetry traces from the real `selfrag serve`, to a real OTLP receiver this test starts
//! (gRPC on the OTLP protobuf definitions, and HTTP/protobuf at `/v1/traces`): one search's
//! span tree joins the caller's `traceparent`, its trace id is the `X-Request-Id` and in the
//! logs; a caller that did not sample is followed; export to nobody never fails a request.

use std::collections::HashMap;
use std::path::Path;

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

use crate::helpers::{
    free_port, redis_url, serve_command, unique_prefix, wait_for, wait_until_serving,
};

/// Spans as the receiver got them, from either transport, and the `service.name` of each
/// batch's resource.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>, Arc<Mutex<Vec<String>>>);

impl Received {
    fn add(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().expect("not poisoned");
        let mut services = self.1.lock().expect("not poisoned");
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| format!("{v:?}"));
            services.push(service.unwrap_or_default());
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }

    fn of_trace(&self, trace_id: &str) -> Vec<Span> {
        let id = hex::decode(trace_id).expect("hex");
        let spans = self.0.lock().expect("not poisoned");
        spans.iter().filter(|s| s.trace_id == id).cloned().collect()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.add(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A gRPC OTLP receiver on a free port; its endpoint and what it receives.
async fn grpc_receiver() -> (String, Received) {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(async move {
        let incoming = futures_util::stream::unfold(listener, |listener| async move {
            let accepted = listener.accept().await.map(|(stream, _)| stream);
            Some((accepted, listener))
        });
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
            .expect("the receiver serves");
    });
    (endpoint, received)
}

/// An HTTP/protobuf OTLP receiver (`POST /v1/traces`) on a free port.
async fn http_receiver() -> (String, Received) {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                match ExportTraceServiceRequest::decode(body) {
                    Ok(request) => {
                        state.add(request);
                        (
                            axum::http::StatusCode::OK,
                            [("content-type", "application/x-protobuf")],
                            ExportTraceServiceResponse {
                                partial_success: None,
                            }
                            .encode_to_vec(),
                        )
                    }
                    Err(_) => (
                        axum::http::StatusCode::BAD_REQUEST,
                        [("content-type", "text/plain")],
                        b"not an ExportTraceServiceRequest".to_vec(),
                    ),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (endpoint, received)
}

/// `selfrag serve` exporting traces to `endpoint`, with Redis when the suite has one (so its
/// calls are traced too); logs are JSON lines in `log`.
struct Server {
    process: std::process::Child,
    base_url: String,
}

impl Server {
    async fn start(data_dir: &Path, log: &Path, telemetry: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut command = serve_command(data_dir, port);
        command
            .env("SELFRAG_TELEMETRY__TRACE_BATCH_DELAY_MS", "100")
            .env("SELFRAG_LOG_FORMAT", "json")
            // tower-http's line per response, as an operator following requests would log.
            .env("RUST_LOG", "info,tower_http=debug")
            .stderr(std::fs::File::create(log).expect("log file"));
        if let Some(redis) = redis_url() {
            command
                .env("SELFRAG_REDIS_URL", redis)
                .env("SELFRAG_CACHE__KEY_PREFIX", unique_prefix());
        }
        for (key, value) in telemetry {
            command.env(key, value);
        }
        let mut server = Server {
            process: command.spawn().expect("selfrag starts"),
            base_url: format!("http://127.0.0.1:{port}"),
        };
        wait_until_serving(&mut server.process, &server.base_url, Some(log)).await;
        server
    }

    /// Posts a GraphQL operation with `traceparent` (if any); the body and the X-Request-Id.
    async fn graphql(&self, query: &str, traceparent: Option<&str>) -> (Value, String) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query }));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.expect("answered");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let body: Value = response.json().await.expect("JSON");
        assert!(body.get("errors").is_none(), "{body}");
        (body, request_id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attribute(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        AnyValue::StringValue(text) => Some(text.clone()),
        AnyValue::IntValue(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// The trace's spans once `expected` of them have arrived (a span is exported when it ends).
async fn spans_of(
    received: &Received,
    trace_id: &str,
    expected: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let started = std::time::Instant::now();
    loop {
        let spans = received.of_trace(trace_id);
        if expected(&spans) {
            return spans;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let all = received.0.lock().expect("not poisoned");
            let seen: Vec<(String, String)> = all
                .iter()
                .map(|s| (hex::encode(&s.trace_id), s.name.clone()))
                .collect();
            panic!(
                "the trace {trace_id} has {:?}; received in all: {seen:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether `span` descends from `ancestor` within `spans`.
fn descends_from(span: &Span, ancestor: &Span, spans: &[Span]) -> bool {
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let mut parent = span.parent_span_id.as_slice();
    while let Some(next) = by_id.get(parent) {
        if next.span_id == ancestor.span_id {
            return true;
        }
        parent = next.parent_span_id.as_slice();
    }
    false
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn one_search_is_one_span_tree(protocol: &str, (endpoint, received): (String, Received)) {
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("server.log");
    let server = Server::start(
        &data.path().join("data"),
        &log,
        &[
            ("SELFRAG_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            ("SELFRAG_TELEMETRY__OTLP_PROTOCOL", protocol),
        ],
    )
    .await;
    let (ingested, ingest_trace) = server
        .graphql(
            r#"mutation IngestHives { ingestDocument(input: { title: "Hives", content: "Honeybees keep the hive warm in winter by shivering their flight muscles." }) { document { id } } }"#,
            None,
        )
        .await;
    let document_id = ingested["data"]["ingestDocument"]["document"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // A request without a traceparent starts a trace, named by its X-Request-Id; an ingest's
    // embedding, vector write and row writes (on a task of its own) are in it.
    let db_operation = |span: &Span| string_attribute(span, "db.operation.name");
    let ingest = spans_of(&received, &ingest_trace, |spans| {
        ["mutation IngestHives", "embed", "vector.upsert"]
            .iter()
            .all(|name| spans.iter().any(|s| s.name == *name))
            && ["record_pending_write", "begin_insert", "commit"]
                .iter()
                .all(|op| {
                    spans
                        .iter()
                        .any(|s| db_operation(s).as_deref() == Some(*op))
                })
    })
    .await;
    let mutation = ingest
        .iter()
        .find(|s| s.name == "mutation IngestHives")
        .expect("the operation");
    // The response cache's look-up (the corpus generation) comes before the operation.
    let lookup = ingest.iter().find(|s| s.name == "graphql.response_cache");
    for span in ingest.iter().filter(|s| {
        s.span_id != mutation.span_id
            && s.name != "POST /graphql"
            && lookup.is_none_or(|l| s.span_id != l.span_id && !descends_from(s, l, &ingest))
    }) {
        assert!(
            descends_from(span, mutation, &ingest),
            "{} is under the mutation",
            span.name
        );
    }

    let trace_id = TRACE_ID.to_owned();
    let traceparent = format!("00-{trace_id}-{CALLER_SPAN}-01");
    let (body, request_id) = server
        .graphql(
            r#"query HiveSearch { search(query: "how do bees stay warm", limit: 3) { totalHits } }"#,
            Some(&traceparent),
        )
        .await;
    assert!(
        body["data"]["search"]["totalHits"].as_u64() >= Some(1),
        "{body}"
    );
    assert_eq!(request_id, trace_id, "the request id is the trace id");

    let named = |spans: &[Span], name: &str| spans.iter().any(|s| s.name == name);
    let spans = spans_of(&received, &trace_id, |spans| {
        [
            "POST /graphql",
            "query HiveSearch",
            "embed",
            "vector.search",
            "db.query",
        ]
        .iter()
        .all(|name| named(spans, name))
    })
    .await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span in {names:?}"))
    };
    let http = find("POST /graphql");
    assert_eq!(
        hex::encode(&http.parent_span_id),
        CALLER_SPAN,
        "the HTTP span joins the caller's"
    );
    assert_eq!(
        string_attribute(http, "http.response.status_code").as_deref(),
        Some("200")
    );
    let operation = find("query HiveSearch");
    assert_eq!(operation.parent_span_id, http.span_id, "{names:?}");
    assert_eq!(
        string_attribute(operation, "graphql.operation.name").as_deref(),
        Some("HiveSearch")
    );
    assert_eq!(
        string_attribute(operation, "graphql.operation.type").as_deref(),
        Some("query")
    );
    let lookups: Vec<&Span> = spans.iter().filter(|s| s.name == "cache.lookup").collect();
    let level_of = |namespace: &str| {
        lookups
            .iter()
            .find(|s| string_attribute(s, "cache.namespace").as_deref() == Some(namespace))
            .and_then(|s| string_attribute(s, "cache.level"))
    };
    assert_eq!(
        level_of("results").as_deref(),
        Some("computed"),
        "{names:?}"
    );
    assert_eq!(
        level_of("embeddings").as_deref(),
        Some("computed"),
        "{names:?}"
    );
    let embed = find("embed");
    assert_eq!(
        string_attribute(embed, "embed.batch_size").as_deref(),
        Some("1")
    );
    for child in ["cache.lookup", "embed", "vector.search", "db.query"] {
        assert!(
            descends_from(find(child), operation, &spans),
            "{child} is under the operation: {names:?}"
        );
    }
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "db.query")
            .all(|s| string_attribute(s, "db.system").as_deref() == Some("sqlite")),
        "database spans name their system"
    );
    if redis_url().is_some() {
        // The operation's own (the response cache's look-up before it reads Redis too).
        let redis = spans
            .iter()
            .find(|s| s.name == "redis" && descends_from(s, operation, &spans))
            .unwrap_or_else(|| panic!("no redis span under the operation in {names:?}"));
        assert_eq!(
            string_attribute(redis, "db.system").as_deref(),
            Some("redis")
        );
    }

    // Every batch names the service.
    let services = received.1.lock().expect("not poisoned").clone();
    assert!(
        !services.is_empty() && services.iter().all(|s| s.contains("selfrag")),
        "service.name of the batches: {services:?}"
    );

    // Rows fetched through the request's DataLoader (a task of its own) stay in its trace.
    let loader_trace = "8".repeat(32);
    server
        .graphql(
            &format!(r#"query DocumentChunks {{ document(id: "{document_id}") {{ chunks {{ content }} }} }}"#),
            Some(&format!("00-{loader_trace}-{CALLER_SPAN}-01")),
        )
        .await;
    let spans = spans_of(&received, &loader_trace, |spans| {
        named(spans, "query DocumentChunks")
            && spans.iter().any(|s| {
                string_attribute(s, "db.operation.name").as_deref() == Some("chunks_of_documents")
            })
    })
    .await;
    let operation = spans
        .iter()
        .find(|s| s.name == "query DocumentChunks")
        .expect("operation");
    let loaded = spans
        .iter()
        .find(|s| {
            string_attribute(s, "db.operation.name").as_deref() == Some("chunks_of_documents")
        })
        .expect("the loader's query");
    assert!(
        descends_from(loaded, operation, &spans),
        "the loader's query is under the operation"
    );

    // The logs carry the trace id on the request's lines (here tower-http's response line).
    let logs = std::fs::read_to_string(&log).expect("log");
    assert!(
        logs.lines()
            .any(|line| line.contains(&format!("\"trace_id\":\"{trace_id}\""))),
        "no log line has the trace id:\n{logs}"
    );

    // A caller that did not sample is followed: nothing is exported for its request.
    let unsampled = format!("00-{}-{CALLER_SPAN}-00", "5".repeat(32));
    server
        .graphql("{ cacheAnalytics { corpusGeneration } }", Some(&unsampled))
        .await;
    // A sampled request after it is exported; by then the unsampled one would have been too.
    let later = format!("00-{}-{CALLER_SPAN}-01", "6".repeat(32));
    server
        .graphql("{ cacheAnalytics { corpusGeneration } }", Some(&later))
        .await;
    spans_of(&received, &"6".repeat(32), |spans| !spans.is_empty()).await;
    assert!(
        received.of_trace(&"5".repeat(32)).is_empty(),
        "an unsampled request was exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_exports_one_span_tree_over_grpc() {
    one_search_is_one_span_tree("grpc", grpc_receiver().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_exports_one_span_tree_over_http() {
    one_search_is_one_span_tree("http", http_receiver().await).await;
}

/// `trace_sample_ratio = 0` keeps no new trace, but a caller that sampled is still followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_ratio_keeps_only_what_callers_sampled() {
    let (endpoint, received) = grpc_receiver().await;
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        &data.path().join("data"),
        &data.path().join("server.log"),
        &[
            ("SELFRAG_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            ("SELFRAG_TELEMETRY__TRACE_SAMPLE_RATIO", "0.0"),
        ],
    )
    .await;
    let (_, unsampled_id) = server
        .graphql("{ cacheAnalytics { corpusGeneration } }", None)
        .await;
    let sampled = "7".repeat(32);
    server
        .graphql(
            "{ cacheAnalytics { corpusGeneration } }",
            Some(&format!("00-{sampled}-{CALLER_SPAN}-01")),
        )
        .await;
    spans_of(&received, &sampled, |spans| !spans.is_empty()).await;
    let all = received.0.lock().expect("not poisoned").len();
    let of_sampled = received.of_trace(&sampled).len();
    assert_eq!(
        all, of_sampled,
        "only the caller's sampled trace is exported"
    );
    // Not sampled, the request's id is still its trace id (the same form whatever the sampler
    // decided; only sampled ids find a trace in the collector).
    assert!(
        unsampled_id.len() == 32 && unsampled_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{unsampled_id}"
    );
}

/// A collector that is not there costs nothing but the spans: requests answer, and the lost
/// spans are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_nobody_never_fails_a_request() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        &data.path().join("data"),
        &data.path().join("server.log"),
        &[
            (
                "SELFRAG_TELEMETRY__OTLP_ENDPOINT",
                &format!("http://{nobody}"),
            ),
            ("SELFRAG_TELEMETRY__OTLP_TIMEOUT_MS", "200"),
            ("SELFRAG_TELEMETRY__TRACE_QUEUE_SIZE", "4"),
            ("SELFRAG_TELEMETRY__TRACE_BATCH_SIZE", "2"),
        ],
    )
    .await;
    for _ in 0..20 {
        let (body, _) = server
            .graphql("{ cacheAnalytics { corpusGeneration } }", None)
            .await;
        assert!(body["data"]["cacheAnalytics"].is_object(), "{body}");
    }
    let metrics_url = format!("{}/metrics", server.base_url);
    wait_for("lost spans to be counted", async || {
        let text = reqwest::get(&metrics_url)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let count = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        count("otel_spans_dropped_total") + count("otel_spans_failed_total") >= 20.0
    })
    .await;
}
