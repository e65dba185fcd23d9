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

    // The threshold is a cosine similarity in every mode (the default mode's `score` is a
    // fused rank score): it bounds `denseScore`.
    let cosine_of = |result: &Value| -> Vec<f64> {
        result["search"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["denseScore"].as_f64().expect("denseScore"))
            .collect()
    };
    let query =
        "query($t: Float) { search(query: \"the history of bread\", limit: 100, threshold: $t) {
        hits { score denseScore } } }";
    let mut cosines = cosine_of(&app.data(query, json!({ "t": null })).await);
    cosines.sort_by(|a, b| b.total_cmp(a));
    let cut = cosines[cosines.len() / 2];
    let kept = cosine_of(&app.data(query, json!({ "t": cut })).await);
    assert!(!kept.is_empty() && kept.len() < cosines.len());
    assert!(kept.iter().all(|&cosine| cosine >= cut - 1e-6));
}

on_every_backend!(filters_narrow_the_hits, threshold_and_limit_bound_the_hits);

/// A passage as a query ("find what is like this paragraph"): accepted, embedded up to the
/// model's window, and the caller is told. The result is the one its first 254 word pieces get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_query_is_read_up_to_the_model_window_and_says_so() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for content in [
        "Honeybees survive the winter by clustering around the queen and shivering to make heat.",
        "Wasps do not keep a winter cluster; only the young queens hibernate in sheltered places.",
        "Tomato plants need warm soil, full sun and steady watering to set fruit in summer.",
    ] {
        app.ingest(json!({ "content": content })).await;
    }
    let sentence = "Colonies of social insects regulate the temperature of their nests in many ways, \
                    from shivering flight muscles to fanning wings and carrying water. ";
    let long: String = sentence.repeat(40).trim_end().to_owned();
    assert!(long.chars().count() > 5_000);

    // Where the model's window ends in this text, by the model's own tokenizer.
    let mut tokenizer =
        tokenizers::Tokenizer::from_file(crate::helpers::model_config().dir.join("tokenizer.json"))
            .expect("tokenizer");
    tokenizer.with_truncation(None).expect("no truncation");
    tokenizer.with_padding(None);
    let encoding = tokenizer.encode(long.as_str(), false).expect("encodes");
    assert!(encoding.len() > 254);
    let prefix = &long[..encoding.get_offsets()[253].1];

    let query = "query($q: String!) { search(query: $q, limit: 3) {
        queryTruncated queryWordPieces hits { score document { id } } } }";
    let whole = app.data(query, json!({ "q": long })).await["search"].clone();
    assert_eq!(whole["queryTruncated"], true, "{whole}");
    assert_eq!(whole["queryWordPieces"], 254);
    let start = app.data(query, json!({ "q": prefix })).await["search"].clone();
    assert_eq!(start["queryTruncated"], false, "{start}");
    assert_eq!(start["queryWordPieces"], 254);
    let ids = |r: &Value| -> Vec<Value> {
        r["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["document"]["id"].clone())
            .collect()
    };
    assert_eq!(ids(&whole), ids(&start));
    assert!(!ids(&whole).is_empty());
    for (a, b) in whole["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(start["hits"].as_array().into_iter().flatten())
    {
        let (a, b) = (
            a["score"].as_f64().unwrap_or(9.0),
            b["score"].as_f64().unwrap_or(-9.0),
        );
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }

    // The same for `embed`.
    let embedded = app
        .data(
            "query($t: [String!]!) { embed(texts: $t) { truncated wordPieces vector } }",
            json!({ "t": [long, prefix] }),
        )
        .await["embed"]
        .clone();
    assert_eq!(embedded[0]["truncated"], true);
    assert_eq!(embedded[0]["wordPieces"], 254);
    assert_eq!(embedded[1]["truncated"], false);
    let vector = |i: usize| -> Vec<f64> {
        embedded[i]["vector"]
            .as_array()
            .expect("vector")
            .iter()
            .filter_map(Value::as_f64)
            .collect()
    };
    let difference: f64 = vector(0)
        .iter()
        .zip(vector(1))
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(
        difference < 1e-3,
        "the whole text and its first 254 pieces embed alike: {difference}"
    );

    // Still bounded: over limits.max_query_chars is refused.
    let limit = app.services().config.limits.max_query_chars;
    let body = app
        .graphql(
            "query($q: String!) { search(query: $q) { totalHits } }",
            json!({ "q": "word ".repeat(limit / 5 + 1) }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "BAD_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limits.max_query_chars"))
    );
}
