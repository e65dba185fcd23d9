//! The real model against the reference values of sentence-transformers/all-MiniLM-L6-v2.

use selfrag::embed::cosine;
use serde_json::json;

use crate::helpers::{Backend, TestApp, shared_embedder};

async fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    shared_embedder()
        .embed(texts.iter().map(|t| t.to_string()).collect())
        .await
        .expect("embeds")
}

#[tokio::test]
async fn similarities_match_the_reference_model() {
    let v = embed(&[
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "A monkey is playing drums.",
        "The weather is lovely today.",
        "It's so sunny outside!",
    ])
    .await;
    let cases = [
        (cosine(&v[0], &v[1]), 0.7553),
        (cosine(&v[0], &v[2]), 0.0476),
        (cosine(&v[3], &v[4]), 0.6660),
    ];
    for (got, want) in cases {
        assert!(
            (got - want).abs() < 1e-3,
            "cosine {got} != reference {want}"
        );
    }
    for vector in &v {
        assert_eq!(vector.len(), 384);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
    }
}

#[tokio::test]
async fn a_text_embeds_the_same_alone_and_inside_a_padded_batch() {
    let short = "Bees keep their hive warm in winter.";
    let long = "Volcanic eruptions inject sulfur dioxide into the stratosphere, where it forms aerosols \
                that reflect sunlight and can cool the climate for a year or two after a large eruption.";
    let alone = embed(&[short]).await.remove(0);
    let batch = embed(&[long, short, long]).await;
    let max_diff = alone
        .iter()
        .zip(&batch[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max_diff < 1e-5, "padding changed the vector by {max_diff}");
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_vectors() {
    let texts = [
        "alpha particles",
        "a recipe for bread",
        "the rules of chess",
        "coral bleaching",
    ];
    let expected = embed(&texts).await;
    let handles: Vec<_> = texts
        .iter()
        .map(|t| {
            let t = t.to_string();
            tokio::spawn(async move {
                shared_embedder()
                    .embed(vec![t])
                    .await
                    .expect("embeds")
                    .remove(0)
            })
        })
        .collect();
    for (handle, want) in handles.into_iter().zip(expected) {
        let got = handle.await.expect("task");
        assert!(
            cosine(&got, &want) > 0.9999,
            "a batched request got another request's vector"
        );
    }
}

#[tokio::test]
async fn the_embed_field_returns_model_vectors() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let data = app
        .data(
            "query($t: [String!]!) { embed(texts: $t) { text vector dimensions model } }",
            json!({ "t": ["A man is eating food.", "A man is eating a piece of bread."] }),
        )
        .await;
    let embeddings = data["embed"].as_array().expect("a list");
    assert_eq!(embeddings.len(), 2);
    assert_eq!(embeddings[0]["dimensions"], 384);
    assert_eq!(
        embeddings[0]["model"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    let vector = |i: usize| -> Vec<f32> {
        serde_json::from_value(embeddings[i]["vector"].clone()).expect("floats")
    };
    assert!((cosine(&vector(0), &vector(1)) - 0.7553).abs() < 1e-3);
}
