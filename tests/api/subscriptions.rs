//! Subscriptions over graphql-ws at `/graphql/ws`: cache analytics that change as the cache
//! is used, ingest progress for a batch, and keys checked at connection_init.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, TestApp};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects with the graphql-transport-ws protocol and completes connection_init.
async fn connect(app: &TestApp, payload: Value) -> Result<Socket, String> {
    let url = format!("{}/graphql/ws", app.base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("valid URL");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    match next(&mut socket).await {
        Some(message) if message["type"] == "connection_ack" => Ok(socket),
        other => Err(format!("{other:?}")),
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

/// The next JSON message (pings skipped), or None when the server closed the connection.
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")?;
        match message.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).expect("JSON message");
                if value["type"] != "ping" {
                    return Some(value);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_analytics_stream_and_follow_the_cache() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut socket = connect(&app, json!({})).await.expect("acknowledged");
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": {
            "query": "subscription { cacheAnalytics(intervalMs: 100) { overall { misses l1Hits } } }"
        } }),
    )
    .await;
    let first = next(&mut socket).await.expect("first analytics");
    assert_eq!(first["type"], "next", "{first}");
    let misses = first["payload"]["data"]["cacheAnalytics"]["overall"]["misses"]
        .as_u64()
        .expect("misses");
    // A search misses both namespaces; the stream shows it.
    app.search("subscriptions", 3, Value::Null).await;
    let mut seen = misses;
    for _ in 0..50 {
        let message = next(&mut socket).await.expect("more analytics");
        seen = message["payload"]["data"]["cacheAnalytics"]["overall"]["misses"]
            .as_u64()
            .expect("misses");
        if seen > misses {
            break;
        }
    }
    assert!(seen > misses, "misses stayed at {misses}");

    // A bad interval is a typed error on the subscription, and the connection stays up.
    send(
        &mut socket,
        json!({ "id": "b", "type": "subscribe", "payload": {
            "query": "subscription { cacheAnalytics(intervalMs: 5) { overall { misses } } }"
        } }),
    )
    .await;
    let mut refused = None;
    for _ in 0..50 {
        let message = next(&mut socket).await.expect("message");
        if message["id"] == "b" {
            refused = Some(message);
            break;
        }
    }
    let refused = refused.expect("an answer for b");
    let errors = if refused["type"] == "error" {
        refused["payload"].clone()
    } else {
        refused["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "BAD_INPUT", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_progress_reports_each_document_of_a_batch() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut socket = connect(&app, json!({})).await.expect("acknowledged");
    send(
        &mut socket,
        json!({ "id": "p", "type": "subscribe", "payload": {
            "query": "subscription { ingestProgress(batchId: \"b-1\") { batchId index total status documentId title chunksCreated } }"
        } }),
    )
    .await;
    // Give the server a moment to register the subscription before the batch starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another batch's events are filtered out.
    app.ingest(json!({ "content": "not in the batch" })).await;
    let data = app
        .data(
            "mutation { ingestDocuments(batchId: \"b-1\", inputs: [
                {content: \"first of the batch\", title: \"one\"},
                {content: \"second of the batch\", title: \"two\"},
                {content: \"first of the batch\", title: \"again\"}]) { deduplicated } }",
            Value::Null,
        )
        .await;
    assert_eq!(data["ingestDocuments"][2]["deduplicated"], true);
    let mut events = Vec::new();
    while events.len() < 3 {
        let message = next(&mut socket).await.expect("progress");
        assert_eq!(message["type"], "next", "{message}");
        events.push(message["payload"]["data"]["ingestProgress"].clone());
    }
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["INGESTED", "INGESTED", "DEDUPLICATED"]);
    assert!(
        events
            .iter()
            .all(|e| e["batchId"] == "b-1" && e["total"] == 3)
    );
    assert_eq!(events[1]["title"], "two");
    assert!(events[0]["chunksCreated"].as_u64() >= Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_init_checks_the_key() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.auth.public_queries = false;
        config.auth.key_cache_ttl_ms = 50;
    })
    .await;
    let services = app_services_key(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let refused = connect(&app, json!({ "authorization": "Bearer srk_wrong" })).await;
    assert!(refused.is_err(), "a wrong key must not be acknowledged");

    // Without a key the connection opens, but a subscription needs a reader.
    let mut socket = connect(&app, json!({})).await.expect("acknowledged");
    send(
        &mut socket,
        json!({ "id": "x", "type": "subscribe", "payload": {
            "query": "subscription { cacheAnalytics { overall { misses } } }"
        } }),
    )
    .await;
    let message = next(&mut socket).await.expect("answer");
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );

    let mut socket = connect(&app, json!({ "apiKey": services }))
        .await
        .expect("acknowledged");
    send(
        &mut socket,
        json!({ "id": "y", "type": "subscribe", "payload": {
            "query": "subscription { cacheAnalytics { overall { misses } } }"
        } }),
    )
    .await;
    let message = next(&mut socket).await.expect("analytics");
    assert_eq!(message["type"], "next", "{message}");

    // Header names in the payload as a headers editor sends them: any case.
    for payload in [
        json!({ "X-API-Key": services }),
        json!({ "AUTHORIZATION": format!("Bearer {services}") }),
    ] {
        let mut socket = connect(&app, payload.clone())
            .await
            .unwrap_or_else(|err| panic!("{payload} not acknowledged: {err:?}"));
        send(
            &mut socket,
            json!({ "id": "z", "type": "subscribe", "payload": {
                "query": "subscription { cacheAnalytics { overall { misses } } }"
            } }),
        )
        .await;
        let message = next(&mut socket).await.expect("analytics");
        assert_eq!(message["type"], "next", "{payload}: {message}");
    }
}

/// A reader key, created through the running app's services.
async fn app_services_key(app: &TestApp) -> String {
    app.services()
        .keys
        .create("ws-test", selfrag::auth::Role::Reader)
        .await
        .expect("key created")
        .secret
}

/// An open WebSocket holds its place under `http.max_connections` after the upgrade, so idle
/// sockets cannot exhaust the descriptors the cap protects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_count_against_the_connection_cap() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.max_connections = 2).await;
    let first = connect(&app, json!({})).await.expect("first socket");
    let second = connect(&app, json!({})).await.expect("second socket");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let live = format!("{}/health/live", app.base_url);
    let waited = client
        .get(&live)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        waited.is_err(),
        "served while two sockets fill a cap of two"
    );
    drop(first);
    let served = client
        .get(&live)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once a socket closed");
    assert!(served.status().is_success());
    drop(second);
}
