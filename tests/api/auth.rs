//! API keys through the real CLI and HTTP: no keys → open; with keys → mutations need a writer,
//! cache clearing an admin, queries stay public unless configured otherwise; bad keys get 401.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

/// Runs `selfrag keys …` against the app's own database, as an operator would.
fn keys(app: &TestApp, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selfrag"));
    command
        .arg("keys")
        .args(args)
        .env("SELFRAG_DATA_DIR", app.data_dir.path())
        .env_remove("SELFRAG_DATABASE_URL");
    if let Some(url) = app.database_url() {
        command.env("SELFRAG_DATABASE_URL", url);
    }
    let output = command.output().expect("selfrag runs");
    assert!(
        output.status.success(),
        "selfrag keys {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

async fn call(app: &TestApp, key: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": query }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

const INGEST: &str =
    "mutation { ingestDocument(input: {content: \"keys and roles\"}) { document { id } } }";
const CLEAR: &str = "mutation { clearCache { namespace } }";
const SEARCH: &str = "{ search(query: \"roles\") { totalHits } }";

async fn keys_and_roles(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.auth.key_cache_ttl_ms = 200).await;

    // No key exists yet: everything is open, as on a developer's machine.
    let (status, body) = call(&app, None, CLEAR).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");

    let reader = keys(&app, &["create", "--name", "reader", "--role", "reader"]);
    let writer = keys(&app, &["create", "--name", "writer", "--role", "writer"]);
    let admin = keys(&app, &["create", "--name", "ops", "--role", "admin"]);
    assert!(writer.starts_with("srk_") && writer != admin);
    let listing = keys(&app, &["list"]);
    assert!(
        listing.contains("writer") && listing.contains("admin"),
        "{listing}"
    );
    assert!(!listing.contains(&writer), "keys list must not print keys");
    // Wait out the key cache so the server sees the new keys.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (status, body) = call(&app, None, INGEST).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
    let (status, body) = call(&app, Some(&reader), INGEST).await;
    assert_eq!((status, error_code(&body)), (403, "FORBIDDEN"), "{body}");
    let (status, body) = call(&app, Some(&writer), INGEST).await;
    assert_eq!(status, 200);
    assert!(
        body["data"]["ingestDocument"]["document"]["id"].is_string(),
        "{body}"
    );
    // X-API-Key works as well as Authorization: Bearer.
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("x-api-key", &writer)
        .json(&json!({ "query": "mutation { ingestDocument(input: {content: \"second\"}) { deduplicated } }" }))
        .send()
        .await
        .expect("answered");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["data"]["ingestDocument"]["deduplicated"], false,
        "{body}"
    );

    // Clearing the cache needs an admin, in GraphQL and on the plain route.
    let (_, body) = call(&app, Some(&writer), CLEAR).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = call(&app, Some(&admin), CLEAR).await;
    assert!(body.get("errors").is_none(), "{body}");
    let clear = |key: Option<&str>| {
        let mut request = app
            .client
            .post(format!("{}/health/cache/clear", app.base_url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    assert_eq!(clear(None).await.expect("answered").status(), 401);
    let response = clear(Some(&writer)).await.expect("answered");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(clear(Some(&admin)).await.expect("answered").status(), 200);

    // Queries stay public by default; a wrong key is refused even where no key is needed.
    let (status, body) = call(&app, None, SEARCH).await;
    assert_eq!(status, 200);
    assert!(
        body["data"]["search"]["totalHits"].as_u64() >= Some(1),
        "{body}"
    );
    let (status, body) = call(&app, Some("srk_not-a-real-key"), SEARCH).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // A revoked key stops working once the server's key cache expires.
    let prefix = &writer[..12];
    keys(&app, &["revoke", prefix]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = call(&app, Some(&writer), INGEST).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
}

crate::on_every_backend!(keys_and_roles);

#[tokio::test]
async fn private_queries_need_a_reader_key() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.auth.public_queries = false;
        config.auth.key_cache_ttl_ms = 100;
    })
    .await;
    let reader = keys(&app, &["create", "--name", "dashboard"]);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = call(&app, None, SEARCH).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    let (status, body) = call(&app, None, "{ __schema { queryType { name } } }").await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    let (status, body) = call(&app, Some(&reader), SEARCH).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    // Probes never need a key.
    assert_eq!(app.get("/health/live").await.status(), 200);
}
