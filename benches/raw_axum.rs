//! The ceiling for `scripts/load_l1.sh`: axum answering `POST /graphql` with fixed bytes from
//! memory and nothing else (no middleware, no GraphQL), so that a cached search's throughput
//! can be set against it on the same machine, in the same run, with the same bytes.
//!
//! `cargo bench --bench raw_axum -- --bench` with `SELFRAG_RAW_BODY` (a file holding the bytes
//! to answer, e.g. a search response saved with curl) and `SELFRAG_RAW_BIND` (default
//! `127.0.0.1:8099`); it serves until killed. Under `cargo test` it answers one request on a
//! free port and checks the bytes, as a smoke test.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::post;

fn router(body: Bytes) -> Router {
    Router::new().route(
        "/graphql",
        post(move || {
            let body = body.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/graphql-response+json")],
                    body,
                )
            }
        }),
    )
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if !full {
        runtime.block_on(smoke());
        return;
    }
    let path = std::env::var("SELFRAG_RAW_BODY").expect("SELFRAG_RAW_BODY: the bytes to answer");
    let body = std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let bind = std::env::var("SELFRAG_RAW_BIND").unwrap_or_else(|_| "127.0.0.1:8099".into());
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .unwrap_or_else(|err| panic!("bind {bind}: {err}"));
        eprintln!("raw axum: {} bytes on http://{bind}/graphql", body.len());
        axum::serve(listener, router(Bytes::from(body)))
            .await
            .expect("serve");
    });
}

async fn smoke() {
    let body = Bytes::from_static(br#"{"data":{"search":{"totalHits":0}}}"#);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    tokio::spawn(axum::serve(listener, router(body.clone())).into_future());
    let answered = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(answered, body);
    println!("raw axum: answered {} bytes", answered.len());
}
