//! The fixture corpus (tests/fixtures/corpus): a dozen short articles on distinct topics, with
//! questions whose answer is exactly one of them.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, repo_root};
use crate::on_every_backend;

pub struct Article {
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    pub doc_type: String,
    pub content: String,
}

pub fn articles() -> Vec<Article> {
    let dir = repo_root().join("tests/fixtures/corpus");
    let meta = std::fs::read_to_string(dir.join("meta.tsv")).expect("meta.tsv");
    meta.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let slug = fields[0].to_owned();
            Article {
                content: std::fs::read_to_string(dir.join(format!("{slug}.md"))).expect("article"),
                title: fields[1].to_owned(),
                tags: fields[2].split(',').map(str::to_owned).collect(),
                doc_type: fields[3].to_owned(),
                slug,
            }
        })
        .collect()
}

pub fn queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/corpus/queries.tsv"))
        .expect("queries.tsv");
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(q, slug)| (q.to_owned(), slug.to_owned()))
        .collect()
}

/// Ingests every article in one `ingestDocuments` call; returns slug → document id.
pub async fn ingest_corpus(app: &TestApp) -> HashMap<String, String> {
    let articles = articles();
    let inputs: Vec<Value> = articles
        .iter()
        .map(|a| {
            json!({ "content": a.content, "title": a.title, "tags": a.tags, "type": a.doc_type,
                    "source": format!("fixtures/{}.md", a.slug) })
        })
        .collect();
    let data = app
        .data(
            "mutation($inputs: [IngestInput!]!) { ingestDocuments(inputs: $inputs) {
                chunksCreated deduplicated document { id title } } }",
            json!({ "inputs": inputs }),
        )
        .await;
    let results = data["ingestDocuments"].as_array().expect("results");
    assert_eq!(results.len(), articles.len());
    articles
        .iter()
        .zip(results)
        .map(|(article, result)| {
            assert_eq!(result["deduplicated"], false);
            assert!(result["chunksCreated"].as_u64().expect("count") >= 1);
            (
                article.slug.clone(),
                result["document"]["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

async fn topical_queries_rank_the_right_document_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = ingest_corpus(&app).await;
    let queries = queries();
    assert!(queries.len() >= 20);
    let mut misses = Vec::new();
    for (query, slug) in &queries {
        let result = app.search(query, 3, Value::Null).await;
        let top = result["hits"][0]["document"]["id"]
            .as_str()
            .unwrap_or_default();
        if top != ids[slug] {
            misses.push(format!(
                "{query:?} → {} (wanted {slug})",
                result["hits"][0]["document"]["title"]
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "wrong top document for:\n{}",
        misses.join("\n")
    );
}

on_every_backend!(topical_queries_rank_the_right_document_first);
