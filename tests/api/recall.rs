//! Recall@10 of the HNSW graph against exact search, on real embeddings of the fixture corpus,
//! for each way the embedded index can store its vectors.

use selfrag::config::{IndexConfig, IndexStorage, Quantization};
use selfrag::ingest::Chunker;
use selfrag::vector::{
    EdgeIndex, IndexIdentity, Target, VectorFilter, VectorIndex, VectorPoint, VectorQuery,
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::corpus::{articles, queries};
use crate::helpers::{model_config, shared_embedder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hnsw_recall_at_10_against_exact_search() {
    let embedder = shared_embedder();
    // Sentence-sized pieces give a few hundred points: enough for the graph to matter.
    let files = selfrag::embed::ModelFiles::locate(&model_config()).expect("model");
    let chunker = Chunker::new(files.load_tokenizer().expect("tokenizer"), 24, 0).expect("chunker");
    let mut texts = Vec::new();
    for article in articles() {
        texts.extend(
            chunker
                .chunk(&article.content, false)
                .into_iter()
                .map(|c| c.content),
        );
    }
    let vectors = embedder.embed(texts.clone()).await.expect("embeds");
    let query_texts: Vec<String> = queries()
        .into_iter()
        .map(|(q, _)| q)
        .chain(texts.iter().step_by(7).cloned())
        .collect();
    let query_vectors = embedder.embed(query_texts).await.expect("embeds");

    for (storage, quantization) in [
        // The default: float16 vectors in files, walked directly.
        (IndexStorage::Disk, Quantization::None),
        (IndexStorage::Disk, Quantization::Int8),
        (IndexStorage::Memory, Quantization::None),
    ] {
        // Tiny thresholds so the graph is built and used even for this small corpus.
        let settings = IndexConfig {
            indexing_threshold_kb: 1,
            full_scan_threshold_kb: 1,
            storage,
            quantization,
            ..IndexConfig::default()
        };
        let label = format!("{storage:?}, {quantization:?}");
        recall_of(
            &settings,
            &label,
            &IndexIdentity::from(embedder.model()),
            &texts,
            &vectors,
            &query_vectors,
        )
        .await;
    }
}

async fn recall_of(
    settings: &IndexConfig,
    label: &str,
    identity: &IndexIdentity,
    texts: &[String],
    vectors: &[Vec<f32>],
    query_vectors: &[Vec<f32>],
) {
    let dir = tempfile::tempdir().expect("dir");
    let index = EdgeIndex::open(dir.path(), identity, settings).expect("index");
    let document_id = Uuid::new_v4();
    let points = vectors
        .iter()
        .enumerate()
        .map(|(i, vector)| VectorPoint {
            id: Uuid::new_v5(&document_id, i.to_string().as_bytes()),
            document_id,
            vector: vector.clone(),
            keywords: Default::default(),
            tags: vec![],
            doc_type: None,
            source: None,
        })
        .collect();
    index.upsert(points).await.expect("upsert");
    index.optimize_now().await.expect("optimise");
    let status = index.status().await.expect("status");
    assert!(
        status.indexed_vectors > 0,
        "the HNSW graph was not built: {status:?}"
    );

    let (mut found, mut wanted) = (0usize, 0usize);
    for vector in query_vectors {
        let search = |exact| VectorQuery {
            target: Target::Dense(vector.clone()),
            limit: 10,
            threshold: None,
            filter: VectorFilter::default(),
            exact,
            with_vectors: false,
        };
        let truth: HashMap<Uuid, f32> = index
            .search(search(true))
            .await
            .expect("exact")
            .into_iter()
            .map(|p| (p.id, p.score))
            .collect();
        let approx = index.search(search(false)).await.expect("hnsw");
        wanted += truth.len();
        for point in approx {
            if let Some(exact) = truth.get(&point.id) {
                found += 1;
                // A quantized walk's candidates are rescored with the full vectors: the score a
                // client sees is the exact cosine either way.
                assert!(
                    (point.score - exact).abs() < 1e-4,
                    "{label}: score {} where exact search gives {exact}",
                    point.score
                );
            }
        }
    }
    let recall = found as f64 / wanted as f64;
    println!(
        "recall@10 HNSW vs exact ({label}): {recall:.4} over {} points ({} indexed), {} queries",
        texts.len(),
        status.indexed_vectors,
        wanted / 10
    );
    assert!(
        recall >= 0.95,
        "{label}: recall@10 {recall:.4} is below 0.95"
    );
}
