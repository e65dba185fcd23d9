//! GraphiQL over HTTP: the page and every file it names come from the server (nothing from a
//! CDN), with caching fit for versioned files; a server without the files says how to get them;
//! off means off. The page working in a browser is `browser::graphiql_works_offline_…`.

use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_no_traversal, content_type};

/// The `src="…"` and `href="…"` values of a page.
fn linked_paths(html: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("a closed attribute");
            paths.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    paths
}

#[tokio::test]
async fn graphiql_and_its_files_come_from_the_server() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(content_type(&page).starts_with("text/html"));
    let html = page.text().await.expect("text");
    let linked = linked_paths(&html);
    let outside = linked
        .iter()
        .find(|p| (!p.starts_with('/') || p.starts_with("//")) && *p != "data:,");
    assert!(
        outside.is_none(),
        "the page links {outside:?} off the server"
    );
    let files: Vec<&String> = linked
        .iter()
        .filter(|p| p.starts_with("/graphiql/"))
        .collect();
    assert!(
        files.iter().any(|p| p.ends_with("graphiql.min.js"))
            && files.iter().any(|p| p.ends_with("react.production.min.js"))
            && files.iter().any(|p| p.ends_with(".css")),
        "the page links {files:?}"
    );
    for file in files {
        let response = app.get(file).await;
        assert_eq!(response.status(), 200, "{file}");
        let content_type = content_type(&response);
        let expected = if file.ends_with(".css") {
            "text/css"
        } else {
            "javascript"
        };
        assert!(content_type.contains(expected), "{file}: {content_type}");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .expect("ASCII")
                .contains("immutable"),
            "{file} is versioned and may be kept"
        );
        assert!(
            response.bytes().await.expect("body").len() > 1_000,
            "{file} has content"
        );
    }
    // `.complete-v1` is one level up from GraphiQL's files, in the provisioning directory.
    assert_no_traversal(&app.base_url, "/graphiql", ".complete-v1").await;
    let missing = app.get("/graphiql/nothing.js").await;
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers().get("cache-control").is_none(),
        "a 404 must not be kept"
    );
}

#[tokio::test]
async fn graphiql_without_its_files_names_the_fix_and_the_api_still_serves() {
    let empty = tempfile::tempdir().expect("temp dir");
    let dir = empty.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::Sqlite, move |config| {
        config.graphql.graphiql_dir = dir;
    })
    .await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 503);
    let text = page.text().await.expect("text");
    assert!(
        text.contains("scripts/setup.sh") && text.contains("graphql.graphiql_dir"),
        "{text}"
    );
    let answer = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
}

#[tokio::test]
async fn graphiql_off_is_a_typed_refusal_and_serves_no_files() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| config.graphql.graphiql = false).await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 400);
    let body: serde_json::Value = page.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert_eq!(app.get("/graphiql/manifest.json").await.status(), 404);
}
