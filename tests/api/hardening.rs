//! Input that must never take the server down: nesting deep enough to overflow a recursive
//! parser, bodies over the limits, U+0000 in stored text, and connections that trickle or
//! idle. Each test ends by checking that the server still answers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, error_code};
use crate::on_every_backend;

async fn still_serves(app: &TestApp) {
    let data = app.data("{ __typename }", Value::Null).await;
    assert_eq!(data["__typename"], "Query");
}

/// A query whose brackets, braces and parentheses nest `depth` deep in all.
fn nested_query(depth: usize) -> String {
    let depth = depth - 2; // the selection set's `{` and the arguments' `(`
    format!(
        "{{ __typename(x: {}1{}) }}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn nested_json(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!([value]);
    }
    value
}

/// The server's `host:port`, for raw TCP.
fn address(app: &TestApp) -> &str {
    app.base_url.trim_start_matches("http://")
}

/// Sends `request` as raw bytes (what HTTP clients will not build) and returns the start of
/// the reply, or "" when none comes within 10 s. The server may close the connection before
/// reading it all, so a failed write is not an error here.
async fn first_reply(app: &TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(app)).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .map_or(0, |read| read.unwrap_or(0));
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_refused_before_parsing_over_post_and_get() {
    // Room for the deepest text, so the nesting check (not the length check) answers.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.graphql.max_query_bytes = 1 << 20).await;
    let limit = app.services().config.graphql.max_nesting;

    // At the limit the document is parsed and runs (`__typename` ignores its arguments).
    let (_, body) = app
        .post_json(&json!({ "query": nested_query(limit) }))
        .await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    for depth in [limit + 1, 1_000, 1_500, 10_000, 100_000] {
        let (status, body) = app
            .post_json(&json!({ "query": nested_query(depth) }))
            .await;
        assert_eq!(status, 200, "depth {depth}");
        assert_eq!(
            error_code(&body),
            "NESTING_LIMIT_EXCEEDED",
            "POST depth {depth}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("graphql.max_nesting")),
            "{body}"
        );
        still_serves(&app).await;
    }
    // Tokens the parser does not read as strings or comments hide nothing from the check.
    for open in ["#\r", "\"\"\"\"", "\"\r"] {
        let query = format!(
            "{{ __typename(x: {open}{}1{}) }}",
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        let (_, body) = app.post_json(&json!({ "query": query })).await;
        assert_eq!(
            error_code(&body),
            "NESTING_LIMIT_EXCEEDED",
            "after {open:?}"
        );
        still_serves(&app).await;
    }
    for depth in [limit + 1, 1_500, 10_000] {
        let response = app
            .client
            .get(format!("{}/graphql", app.base_url))
            .header("apollo-require-preflight", "true")
            .query(&[("query", nested_query(depth))])
            .send()
            .await
            .expect("request sent");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            error_code(&body),
            "NESTING_LIMIT_EXCEEDED",
            "GET depth {depth}"
        );
        still_serves(&app).await;
    }
    // 100,000 levels make a URL of 600 KB, more than HTTP clients will build: sent raw, it is
    // refused one way or another (never a 5xx, never a crash).
    let target = format!(
        "/graphql?query={}",
        nested_query(100_000)
            .replace('[', "%5B")
            .replace(']', "%5D")
            .replace(' ', "+")
    );
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nApollo-Require-Preflight: true\r\n\r\n");
    let answer = first_reply(&app, request.as_bytes()).await;
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
    still_serves(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_variables_and_extensions_are_refused_with_a_code() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // invalid on purpose: refused for its nesting before validation would see `$v` unused
    let query = "query($v: JSON) { __typename }";
    let (_, body) = app
        .post_json(&json!({ "query": query, "variables": { "v": nested_json(100) } }))
        .await;
    assert_eq!(error_code(&body), "NESTING_LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("variables"))
    );
    let (_, body) = app
        .post_json(&json!({ "query": "{ __typename }", "extensions": { "x": nested_json(100) } }))
        .await;
    assert_eq!(error_code(&body), "NESTING_LIMIT_EXCEEDED", "{body}");
    // Past JSON's own bound (128) the body is not read at all: still typed.
    let deep = format!(
        "{{\"query\":\"{{ __typename }}\",\"variables\":{{\"v\":{}1{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    // The same through GET's `variables`.
    let response = app
        .client
        .get(format!("{}/graphql", app.base_url))
        .header("apollo-require-preflight", "true")
        .query(&[
            ("query", "{ __typename }"),
            ("variables", &format!("{{\"v\":{}}}", nested_json(100))),
        ])
        .send()
        .await
        .expect("request sent");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "NESTING_LIMIT_EXCEEDED", "{body}");
    still_serves(&app).await;
}

/// The highest setting accepted must itself be safe in the build with the largest frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nesting_ceiling_does_not_overflow_the_parser() {
    let ceiling = selfrag::config::MAX_NESTING_CEILING;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.graphql.max_nesting = ceiling).await;
    let (_, body) = app
        .post_json(&json!({ "query": nested_query(ceiling) }))
        .await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let selections = format!(
        "{{{}{}}}",
        "__typename {".repeat(ceiling - 2),
        "}".repeat(ceiling - 2)
    );
    let (_, body) = app.post_json(&json!({ "query": selections })).await;
    assert!(body["errors"].is_array(), "{body}");
    still_serves(&app).await;
}

/// Words longer than the tokenizer's 100 characters are one word piece each, so megabytes of
/// text make few chunks: the test measures the limits, not the model's speed.
fn document_of(bytes: usize) -> String {
    let word = "x".repeat(1_023);
    let mut content = String::with_capacity(bytes + 1_024);
    while content.len() + 1_024 <= bytes {
        content.push_str(&word);
        content.push(' ');
    }
    content
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_body_and_content_limits_are_the_ones_in_force() {
    // Chunking 4 MiB takes ~20 s in a debug build: more than the request timeout on a busy
    // machine, and timeouts are not what this test is about.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.request_timeout_ms = 120_000).await;
    let ingest =
        "mutation($input: IngestInput!) { ingestDocument(input: $input) { chunksCreated } }";

    // 4 MiB: over axum's own 2 MiB default, under both of ours.
    let content = document_of(4 << 20);
    let (status, body) = app
        .post_json(&json!({ "query": ingest, "variables": { "input": { "content": content } } }))
        .await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    assert!(
        body["data"]["ingestDocument"]["chunksCreated"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );

    // 6 MiB: a body we read, content over limits.max_content_bytes (5 MiB).
    let content = document_of(6 << 20);
    let (status, body) = app
        .post_json(&json!({ "query": ingest, "variables": { "input": { "content": content } } }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "BAD_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limits.max_content_bytes"))
    );

    // 17 MiB: over http.max_body_bytes (16 MiB), declared up front: refused before the
    // body is sent.
    let huge = format!(
        "{{\"query\":\"{{ __typename }}\",\"pad\":\"{}\"}}",
        "y".repeat(17 << 20)
    );
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        huge.len()
    );
    let answer = first_reply(&app, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");

    // … or streamed without a length (chunked), cut off when the limit is reached.
    let mut stream = TcpStream::connect(address(&app)).await.expect("connect");
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .expect("headers");
    for chunk in huge.as_bytes().chunks(1 << 20) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server answered and closed before the end
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    still_serves(&app).await;
}

async fn nul_is_refused_alike_on_every_backend(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ingest =
        "mutation($input: IngestInput!) { ingestDocument(input: $input) { chunksCreated } }";
    for (field, input) in [
        ("content", json!({ "content": "before\u{0}after" })),
        ("title", json!({ "content": "text one", "title": "a\u{0}" })),
        ("tag", json!({ "content": "text two", "tags": ["x\u{0}"] })),
        (
            "metadata",
            json!({ "content": "text three", "metadata": { "k": "v\u{0}" } }),
        ),
    ] {
        let body = app.graphql(ingest, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "BAD_INPUT", "{field}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(field) && message.contains("U+0000"),
            "{message}"
        );
    }
    // A filter that reaches the database directly: refused, not `UNAVAILABLE` (retryable).
    let body = app
        .graphql(
            "query($f: DocumentFilter) { documents(first: 5, filter: $f) { edges { node { id } } } }",
            json!({ "f": { "type": "a\u{0}b" } }),
        )
        .await;
    if let Some(errors) = body.get("errors") {
        assert_eq!(error_code(&body), "BAD_INPUT", "{errors}");
    }
    let stats = app
        .data("{ collectionStats { documents } }", Value::Null)
        .await;
    assert_eq!(stats["collectionStats"]["documents"], 0);
}

on_every_backend!(nul_is_refused_alike_on_every_backend);

/// Reads until the server closes the connection; how long that took.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            deadline.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    // The idle timeout is out of the way: only the header-read timeout can close it.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http.header_read_timeout_ms = 800;
        c.http.idle_timeout_ms = 120_000;
    })
    .await;
    let addr = address(&app);
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    for i in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    let closed = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a trickling client was not cut off");
    assert!(started.elapsed() < Duration::from_secs(10));
    still_serves(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_capped_below_the_descriptor_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http.header_read_timeout_ms = 120_000;
        c.http.idle_timeout_ms = 1_500;
        c.http.max_connections = 16;
    })
    .await;
    let addr = address(&app);

    // A keep-alive connection left idle after one request.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.expect("response");
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap_or_default()
            .starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let closed = closed_within(&mut idle, Duration::from_secs(6)).await;
    let closed = closed.expect("an idle keep-alive connection stayed open");
    assert!(
        closed >= Duration::from_millis(1_000),
        "closed too early: {closed:?}"
    );

    // More silent connections than the cap: a fresh client still gets its search answered,
    // once the idle ones are closed.
    let mut hogs = Vec::new();
    for _ in 0..40 {
        hogs.push(TcpStream::connect(&addr).await.expect("connect (backlog)"));
    }
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = fresh
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": "{ search(query: \"anything\", limit: 1) { totalHits } }" }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered despite the held connections");
    assert_eq!(response.status(), 200);
    drop(hogs);
    still_serves(&app).await;
}
