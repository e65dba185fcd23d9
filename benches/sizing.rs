//! Sizing rules for the deployment guide: memory and disk per 100k chunks, and embedder
//! throughput per core.
//!
//! `cargo bench --bench sizing` (after `scripts/setup.sh`) measures with 100,000 chunks
//! (`SELFRAG_SIZING_CHUNKS` to change) and 128 embedded texts (`SELFRAG_SIZING_TEXTS`), and
//! prints what it found. Under `cargo test` it runs the same steps on 2,000 chunks as a smoke
//! test.
//!
//! - Vector index (embedded qdrant-edge): resident memory and disk after upserting random unit
//!   vectors of the model's dimension, keyword vectors of 100 terms from a skewed vocabulary
//!   (`SELFRAG_SIZING_TERMS`; 0 for none) and the payload selfrag writes, then after the HNSW
//!   graph is built: the default (`disk`, float16 vectors walked directly), the default before
//!   (`disk`, float32 with an int8 copy in RAM) and `memory`. The vectors' values do not change
//!   the sizes, so no model is needed here.
//! - Metadata (SQLite through the real store): bytes per chunk of ~1,000 characters of text,
//!   the size of a full 254-token English chunk, plus its document row.
//! - Embedder: chunks per second for full-length chunks, with one and with two ONNX Runtime
//!   threads (`embed.intra_threads`), in each precision (`model.precision`).
//! - Memory of the real binary, each in a process of its own (peak resident set, `VmHWM`):
//!   `selfrag ingest` of Markdown files making 4,000 chunks (`SELFRAG_SIZING_INGEST_CHUNKS`),
//!   and `selfrag serve` over 100,000 chunks (the `SELFRAG_SIZING_CHUNKS`) answering 300
//!   distinct searches. The served corpus is written through the real ingest pipeline (chunker,
//!   keyword weights, SQLite, embedded index) with unit vectors standing in for the model,
//!   which would take over an hour for 100k chunks: the values of the vectors change no size.
//!   Both processes take their settings from `SELFRAG_*` as the server does (e.g.
//!   `SELFRAG_INDEX__STORAGE=memory`). `SELFRAG_SIZING_SERVED_CORPUS=DIR` keeps the written
//!   corpus in `DIR` and copies it from there in later runs of the same size (it holds the
//!   index settings it was written with: remove it when you change them).
//!   `SELFRAG_SIZING_CGROUP=DIR` serves from a cold page cache inside a memory cgroup you made
//!   with the limit to test, and reports its peak and OOM kills.
//!
//! `SELFRAG_SIZING_STEPS` picks steps (comma-separated: `index`, `metadata`, `embedder`,
//! `ingest`, `serving`; all by default), e.g. `serving` alone for the served memory.

use std::path::Path;
use std::time::Instant;

use selfrag::config::{
    Config, EmbedConfig, IndexConfig, IndexStorage, Precision, Quantization, VectorType,
};
use selfrag::embed::{Embedder, FastEmbedder};
use selfrag::keywords::SparseVector;
use selfrag::store::{Chunk, Document, MetadataStore, NewDocument};
use selfrag::vector::{EdgeIndex, IndexIdentity, VectorIndex, VectorPoint};
use uuid::Uuid;

#[path = "sizing/memory.rs"]
mod memory;
#[path = "common/provisioned.rs"]
mod provisioned;

const DIMENSIONS: usize = 384;
const CHUNKS_PER_DOCUMENT: usize = 100;
const CHUNK_TEXT: &str = "Honeybees survive the winter by clustering around the queen and shivering their flight muscles to make heat; the cluster loosens as the air warms and tightens as it cools. ";

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let chunks: usize = std::env::var("SELFRAG_SIZING_CHUNKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 100_000 } else { 2_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scale = 100_000.0 / chunks as f64;
    let steps = std::env::var("SELFRAG_SIZING_STEPS").unwrap_or_default();
    let step = |name: &str| steps.is_empty() || steps.split(',').any(|s| s.trim() == name);
    println!("sizing with {chunks} chunks (figures scaled to 100k chunks)");
    if step("index") {
        for (storage, vector_type, quantization) in [
            // The default, then the default before float16 vectors, then all in RAM.
            (IndexStorage::Disk, VectorType::Float16, Quantization::None),
            (IndexStorage::Disk, VectorType::Float32, Quantization::Int8),
            (
                IndexStorage::Memory,
                VectorType::Float16,
                Quantization::None,
            ),
        ] {
            let settings = IndexConfig {
                storage,
                vector_type,
                quantization,
                ..IndexConfig::default()
            };
            runtime.block_on(vector_index(chunks, scale, &settings));
        }
    }
    if step("metadata") {
        runtime.block_on(metadata(chunks, scale));
    }
    let texts: usize = std::env::var("SELFRAG_SIZING_TEXTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 128 } else { 4 });
    if step("embedder") {
        for precision in [Precision::Fp32, Precision::Int8] {
            runtime.block_on(embedder(texts, 1, precision));
            runtime.block_on(embedder(texts, 2, precision));
        }
    }
    let ingest_chunks: usize = std::env::var("SELFRAG_SIZING_INGEST_CHUNKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 4_000 } else { 40 });
    if step("ingest") {
        runtime.block_on(memory::ingest(ingest_chunks));
    }
    if step("serving") {
        runtime.block_on(memory::serving(chunks));
    }
}

/// The provisioned model of the default precision, from `SELFRAG_PROVISION_DIR` or `.selfrag/`.
fn model_config() -> selfrag::config::ModelConfig {
    let mut model = Config::default().model;
    provisioned::locate(&mut model);
    model
}

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                disk_bytes(&path)
            } else {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}

/// A deterministic unit vector (xorshift), so runs are comparable.
fn unit_vector(seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut vector: Vec<f32> = (0..DIMENSIONS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

/// Keyword terms a full chunk has (its distinct content words; `SELFRAG_SIZING_TERMS`, 0 to
/// measure without keyword vectors) …
fn terms_per_chunk() -> usize {
    std::env::var("SELFRAG_SIZING_TERMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}
/// … drawn from a vocabulary of this many, skewed towards common ones as words are.
const VOCABULARY: u64 = 50_000;

/// Deterministic BM25-like term weights: `terms_per_chunk()` distinct ids, squared-uniform so low
/// ids (common words) recur across chunks and high ones are rare.
fn keyword_vector(seed: u64) -> SparseVector {
    let mut state = seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1;
    let terms = terms_per_chunk();
    let mut ids: Vec<u32> = (0..terms * 2)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            (unit * unit * VOCABULARY as f64) as u32
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(terms);
    let values = ids.iter().map(|id| 1.0 + (id % 3) as f32 * 0.3).collect();
    SparseVector {
        indices: ids,
        values,
    }
}

async fn vector_index(chunks: usize, scale: f64, settings: &IndexConfig) {
    let dir = tempfile::tempdir().expect("temp dir");
    let identity = IndexIdentity {
        model: "sizing".into(),
        dimensions: DIMENSIONS,
    };
    let before = rss_bytes();
    let index = EdgeIndex::open(dir.path(), &identity, settings).expect("open index");
    let started = Instant::now();
    for batch in 0..chunks.div_ceil(1_000) {
        let points = (batch * 1_000..((batch + 1) * 1_000).min(chunks))
            .map(|i| VectorPoint {
                id: Uuid::from_u128(i as u128 + 1),
                document_id: Uuid::from_u128((i / CHUNKS_PER_DOCUMENT) as u128 + 1),
                vector: unit_vector(i as u64),
                keywords: keyword_vector(i as u64),
                tags: vec!["geology".into(), "notes".into()],
                doc_type: Some("article".into()),
                source: Some("wiki".into()),
            })
            .collect();
        index.upsert(points).await.expect("upsert");
    }
    let upsert_secs = started.elapsed().as_secs_f64();
    let after_upsert = rss_bytes();
    let started = Instant::now();
    index.optimize_now().await.expect("optimize");
    let hnsw_secs = started.elapsed().as_secs_f64();
    let after_hnsw = rss_bytes();
    let status = index.status().await.expect("status");
    assert_eq!(status.vectors, chunks as u64, "every point is stored");
    println!(
        "vector index ({:?} storage, {:?} vectors, {:?} quantization): upsert {:.0} points/s; \
         HNSW build {hnsw_secs:.1} s; per 100k chunks: RSS +{} after upsert, +{} with the graph; \
         disk {}",
        settings.storage,
        settings.vector_type,
        settings.quantization,
        chunks as f64 / upsert_secs,
        mib((after_upsert.saturating_sub(before)) as f64 * scale),
        mib((after_hnsw.saturating_sub(before)) as f64 * scale),
        mib(disk_bytes(dir.path()) as f64 * scale),
    );
}

async fn metadata(chunks: usize, scale: f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sizing.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = MetadataStore::connect(&url, &Config::default().database)
        .await
        .expect("store");
    let text = CHUNK_TEXT.repeat(1_000 / CHUNK_TEXT.len() + 1);
    let text = &text[..1_000];
    for doc in 0..chunks.div_ceil(CHUNKS_PER_DOCUMENT) {
        let id = Uuid::new_v4();
        let count = CHUNKS_PER_DOCUMENT.min(chunks - doc * CHUNKS_PER_DOCUMENT);
        let chunk_rows: Vec<Chunk> = (0..count)
            .map(|index| Chunk {
                id: Uuid::new_v4(),
                document_id: id,
                index,
                content: text.to_owned(),
                start_char: index * 800,
                end_char: index * 800 + 1_000,
                token_count: 254,
                headings: Vec::new(),
                page: None,
            })
            .collect();
        let content = format!("{doc} {}", text.repeat(count * 4 / 5));
        let document = Document {
            id,
            title: Some(format!("Document {doc}")),
            source: Some("wiki".into()),
            doc_type: Some("article".into()),
            author: None,
            tags: vec!["geology".into(), "notes".into()],
            metadata: None,
            content_hash: format!("{:064x}", doc),
            chunk_count: count,
            created_at: selfrag::store::now(),
            external_id: None,
            revision: 1,
            updated_at: None,
        };
        store
            .begin_insert(NewDocument { document, content }, chunk_rows)
            .await
            .map_err(|err| format!("{err:?}"))
            .expect("insert")
            .commit()
            .await
            .expect("commit");
    }
    drop(store);
    let bytes = disk_bytes(dir.path());
    println!(
        "metadata (SQLite, ~1,000-character chunks, documents kept whole): {} per 100k chunks \
         ({:.1} KB per chunk)",
        mib(bytes as f64 * scale),
        bytes as f64 / chunks as f64 / 1_000.0
    );
}

async fn embedder(texts: usize, threads: usize, precision: Precision) {
    let model = selfrag::config::ModelConfig {
        precision,
        ..model_config()
    };
    let settings = EmbedConfig {
        workers: 1,
        intra_threads: threads,
        ..EmbedConfig::default()
    };
    let embedder = FastEmbedder::load(&model, &settings).expect("model (run scripts/setup.sh)");
    // Different texts of full length (about 254 word pieces each), so nothing is cached.
    let batch: Vec<String> = (0..texts)
        .map(|i| format!("{i} {}", CHUNK_TEXT.repeat(6)))
        .collect();
    embedder.embed(batch[..1].to_vec()).await.expect("warm-up");
    let started = Instant::now();
    let vectors = embedder.embed(batch).await.expect("embed");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), texts);
    println!(
        "embedder, {}, {threads} ONNX Runtime thread(s): {:.1} full-length chunks/s ({:.1} per thread)",
        precision.as_str(),
        texts as f64 / secs,
        texts as f64 / secs / threads as f64
    );
}
