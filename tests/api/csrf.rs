//! CSRF prevention (Apollo's rule) and GET's query-only rule, through HTTP.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code};

#[tokio::test]
async fn simple_requests_a_browser_would_send_cross_site_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql", app.base_url);
    let mutation = json!({ "query": "mutation { ingestDocument(input: {content: \"csrf\"}) { deduplicated } }" }).to_string();

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(mutation.clone())
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 400, "{content_type}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(error_code(&body), "CSRF_ERROR", "{content_type}");
    }
    // No content type at all, and a GET operation without a header, are refused too.
    let response = app
        .client
        .post(&url)
        .body(mutation.clone())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .get(&url)
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "CSRF_ERROR");

    // Nothing was stored.
    let stats = app
        .data("{ collectionStats { documents } }", Value::Null)
        .await;
    assert_eq!(stats["collectionStats"]["documents"], 0);

    // The preflight header lets a simple request through; GraphiQL's page is not an operation.
    let response = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .header("apollo-require-preflight", "true")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("graphiql"));
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/graphql", app.base_url);
    let get = |query: &'static str, variables: Option<&'static str>| {
        let mut params = vec![("query", query)];
        if let Some(variables) = variables {
            params.push(("variables", variables));
        }
        app.client
            .get(&url)
            .query(&params)
            .header("apollo-require-preflight", "true")
            .send()
    };
    let response = get(
        "query($n: Int) { documents(first: $n) { edges { cursor } } }",
        Some("{\"n\": 5}"),
    )
    .await
    .expect("answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");

    let response = get(
        "mutation { ingestDocument(input: {content: \"via get\"}) { deduplicated } }",
        None,
    )
    .await
    .expect("answered");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
    assert!(body["data"].is_null());
    let stats = app
        .data("{ collectionStats { documents } }", Value::Null)
        .await;
    assert_eq!(stats["collectionStats"]["documents"], 0);

    let response = get("{ __typename }", Some("not json"))
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(error_code(&body), "BAD_REQUEST");
}
