//! The real model against the reference values of sentence-transformers/all-MiniLM-L6-v2, in
//! fp32 and in int8 (`model.precision`).

use selfrag::config::Precision;
use selfrag::embed::cosine;
use serde_json::json;

use crate::helpers::{Backend, TestApp, embedder_of, shared_embedder};

async fn embed_with(precision: Precision, texts: &[&str]) -> Vec<Vec<f32>> {
    embedder_of(precision)
        .embed(texts.iter().map(|t| t.to_string()).collect())
        .await
        .expect("embeds")
}

async fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    embed_with(Precision::Fp32, texts).await
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
    for precision in [Precision::Fp32, Precision::Int8] {
        let alone = embed_with(precision, &[short]).await.remove(0);
        let batch = embed_with(precision, &[long, short, long]).await;
        let max_diff = alone
            .iter()
            .zip(&batch[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            max_diff < 1e-5,
            "{precision:?}: the batch changed the vector by {max_diff}"
        );
    }
}

#[tokio::test]
async fn the_int8_model_stays_close_to_fp32() {
    let texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "A monkey is playing drums.",
        "The weather is lovely today.",
        "It's so sunny outside!",
        "Honeybees cluster around the queen and shiver to keep the hive warm in winter.",
    ];
    let fp32 = embed_with(Precision::Fp32, &texts).await;
    let int8 = embed_with(Precision::Int8, &texts).await;
    for ((text, a), b) in texts.iter().zip(&fp32).zip(&int8) {
        let similarity = cosine(a, b);
        assert!(similarity > 0.98, "{text}: cosine to fp32 {similarity}");
        assert!(a != b, "{text}: the int8 model gave fp32's vector");
    }
    // The reference similarities, within the tolerance scripts/quantize_int8.py states.
    for (i, j, want) in [(0, 1, 0.7553), (0, 2, 0.0476), (3, 4, 0.6660)] {
        let got = cosine(&int8[i], &int8[j]);
        assert!(
            (got - want).abs() < 0.02,
            "int8 cosine {got} != {want} ± 0.02"
        );
    }
    assert_ne!(
        embedder_of(Precision::Int8).model().name,
        embedder_of(Precision::Fp32).model().name,
        "the precision is part of the name the index records"
    );
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

/// An app on a fresh SQLite data directory whose model has `precision`.
async fn app_of(precision: Precision) -> TestApp {
    TestApp::spawn_custom(
        Backend::Sqlite,
        |config| config.model.precision = precision,
        |_| selfrag::app::Overrides {
            embedder: Some(embedder_of(precision)),
            ..selfrag::app::Overrides::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_int8_index_serves_and_refuses_fp32_vectors() {
    let mut app = app_of(Precision::Int8).await;
    for text in [
        "Glaciers retreat as summers grow warmer.",
        "Sourdough needs a lively starter and time.",
        "Chess openings fight for the centre early.",
    ] {
        app.ingest(json!({ "content": text })).await;
    }
    let found = app
        .search("how bread rises", 1, serde_json::Value::Null)
        .await;
    let top = &found["hits"][0];
    assert!(
        top["chunk"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("Sourdough")),
        "{found:#}"
    );
    let model = app
        .data("{ collectionStats { model } }", serde_json::Value::Null)
        .await["collectionStats"]["model"]
        .clone();
    assert!(
        model.as_str().is_some_and(|m| m.ends_with("(int8)")),
        "{model}"
    );
    app.stop().await;

    let config = crate::helpers::test_config(app.data_dir.path());
    let err = selfrag::app::App::build(
        config,
        selfrag::app::Overrides {
            embedder: Some(embedder_of(Precision::Fp32)),
            ..selfrag::app::Overrides::default()
        },
    )
    .await
    .err()
    .expect("an fp32 model refuses the int8 index");
    let message = err.to_string();
    assert!(
        message.contains("(int8)") && message.contains("model.precision"),
        "{message}"
    );
}
