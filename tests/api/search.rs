//! Search filters and thresholds over the fixture corpus.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::corpus::{articles, ingest_corpus};
use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

fn hit_documents(result: &Value) -> Vec<String> {
    result["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["document"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn filters_narrow_the_hits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = ingest_corpus(&app).await;
    let slug_of: HashMap<&str, &str> = ids
        .iter()
        .map(|(slug, id)| (id.as_str(), slug.as_str()))
        .collect();
    let articles = articles();
    let with_tag = |tag: &str| -> Vec<&str> {
        articles
            .iter()
            .filter(|a| a.tags.iter().any(|t| t == tag))
            .map(|a| a.slug.as_str())
            .collect()
    };

    // Tags: any-of.
    let tag = articles[0].tags[0].clone();
    let allowed = with_tag(&tag);
    let result = app
        .search("how does it work", 50, json!({ "tags": [tag] }))
        .await;
    let found = hit_documents(&result);
    assert!(!found.is_empty());
    for id in &found {
        assert!(
            allowed.contains(&slug_of[id.as_str()]),
            "{} lacks the tag",
            slug_of[id.as_str()]
        );
    }

    // Type.
    let doc_type = articles[1].doc_type.clone();
    let result = app
        .search("history and science", 50, json!({ "type": doc_type }))
        .await;
    let typed = hit_documents(&result);
    assert!(!typed.is_empty(), "no hits of type {doc_type:?}: {result}");
    for id in typed {
        let article = articles
            .iter()
            .find(|a| a.slug == slug_of[id.as_str()])
            .expect("article");
        assert_eq!(article.doc_type, doc_type);
    }

    // Source and document ids pin one document.
    let slug = &articles[2].slug;
    let by_source = app
        .search(
            "anything",
            50,
            json!({ "source": format!("fixtures/{slug}.md") }),
        )
        .await;
    let by_id = app
        .search("anything", 50, json!({ "documentIds": [ids[slug]] }))
        .await;
    for result in [by_source, by_id] {
        let found = hit_documents(&result);
        assert!(!found.is_empty());
        assert!(found.iter().all(|id| id == &ids[slug]));
    }

    // Filters combine: a tag no document of that source has finds nothing.
    let result = app
        .search(
            "anything",
            50,
            json!({ "source": format!("fixtures/{slug}.md"), "tags": ["no-such-tag"] }),
        )
        .await;
    assert_eq!(result["totalHits"], 0);
}

async fn threshold_and_limit_bound_the_hits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    ingest_corpus(&app).await;
    let all = app.search("the history of bread", 100, Value::Null).await;
    let scores: Vec<f64> = all["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "scores descend: {scores:?}"
    );
    assert_eq!(all["totalHits"].as_u64(), Some(scores.len() as u64));

    let limited = app.search("the history of bread", 3, Value::Null).await;
    assert_eq!(limited["totalHits"], 3);

    let cut = scores[scores.len() / 2];
    let result = app
        .data(
            "query($t: Float) { search(query: \"the history of bread\", limit: 100, threshold: $t) { hits { score } } }",
            json!({ "t": cut }),
        )
        .await;
    let kept = result["search"]["hits"].as_array().expect("hits");
    assert!(!kept.is_empty() && kept.len() < scores.len());
    assert!(
        kept.iter()
            .all(|h| h["score"].as_f64().expect("score") >= cut - 1e-6)
    );
}

on_every_backend!(filters_narrow_the_hits, threshold_and_limit_bound_the_hits);
