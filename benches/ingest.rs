//! Bulk ingest against the bare model, on the same chunks, in the same run.
//!
//! `cargo bench --bench ingest` (after `scripts/setup.sh`). The documents are the first
//! `SELFRAG_BENCH_DOCS` (default 600) of `SELFRAG_BENCH_CORPUS`, a BEIR `corpus.jsonl` or
//! `corpus.jsonl.gz` (title and text, e.g. `../shared/eval/scifact/corpus.jsonl.gz`, read in
//! place); without one, generated paragraphs. Under `cargo test` it runs on 8 documents as a
//! smoke test.
//!
//! Two measurements, alternated `SELFRAG_BENCH_ROUNDS` times (default 5; 1 as a smoke test) so
//! that the machine's drift shows and is averaged out: on a shared 2-core virtual machine the
//! bare model's figure moved between 55 and 90 chunks/s from one round to the next, so one
//! round's share means little; the median of the rounds' shares is the figure to compare.
//! - the bare model: the chunks selfrag's chunker makes of the documents, through the embedder
//!   in calls of `embed.max_batch` texts, one in flight per model session (each next call
//!   sent the moment one returns; bulk ingest also keeps one queued, to cover its writes),
//!   and nothing else;
//! - bulk ingest: the same documents through `ingest::ingest_until_failure` in batches of
//!   `limits.max_ingest_batch` (what `ingestDocuments` does), into a fresh embedded data
//!   directory (SQLite and the embedded index): validation, chunking, keyword weights, the
//!   model, the pending-write record, the rows and the vectors, each document all or nothing.
//!
//! The configuration is the server's (defaults, `selfrag.toml`, `SELFRAG_*` variables), with
//! the provisioned model. It prints chunks/s of each and bulk ingest's share of the bare
//! model's per round, then the median share, for each
//! `model.precision` (`SELFRAG_BENCH_PRECISION=fp32` or `int8` for one only).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt as _;
use selfrag::app::{Backends, Overrides};
use selfrag::config::{Config, Precision};
use selfrag::ingest::{self, IngestRequest};

#[path = "common/provisioned.rs"]
mod provisioned;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let count: usize = std::env::var("SELFRAG_BENCH_DOCS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 600 } else { 8 });
    let rounds: usize = std::env::var("SELFRAG_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if full { 5 } else { 1 });
    let documents = match std::env::var_os("SELFRAG_BENCH_CORPUS") {
        Some(path) => read_corpus(&PathBuf::from(path), count),
        None => generated(count),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let precisions = match std::env::var("SELFRAG_BENCH_PRECISION").as_deref() {
        Ok("fp32") => vec![Precision::Fp32],
        Ok("int8") => vec![Precision::Int8],
        _ => vec![Precision::Fp32, Precision::Int8],
    };
    for precision in precisions {
        runtime.block_on(compare(&documents, precision, rounds));
    }
}

/// The first `count` documents of a BEIR corpus: title, a blank line, text.
fn read_corpus(path: &std::path::Path, count: usize) -> Vec<String> {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|err| panic!("SELFRAG_BENCH_CORPUS {}: {err}", path.display()));
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    BufReader::new(reader)
        .lines()
        .take(count)
        .map(|line| {
            let doc: serde_json::Value =
                serde_json::from_str(&line.expect("corpus line")).expect("corpus JSON");
            format!(
                "{}\n\n{}",
                doc["title"].as_str().unwrap_or_default(),
                doc["text"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Paragraphs of varied length (one to about four chunks), distinct so nothing deduplicates.
fn generated(count: usize) -> Vec<String> {
    const SENTENCE: &str = "Honeybees survive the winter by clustering around the queen and \
        shivering their flight muscles to make heat, loosening as the air warms. ";
    (0..count)
        .map(|i| format!("Document {i}. {}", SENTENCE.repeat(2 + (i * 7) % 30)))
        .collect()
}

fn config(data_dir: &std::path::Path, precision: Precision) -> Config {
    // The server's own loading, so `SELFRAG_*` variables apply (`SELFRAG_EMBED__MAX_BATCH=32`).
    let mut config = Config::load(None).expect("configuration");
    config.data_dir = data_dir.to_path_buf();
    provisioned::locate(&mut config.model);
    config.model.precision = precision;
    config
}

async fn compare(documents: &[String], precision: Precision, rounds: usize) {
    let probe = tempfile::tempdir().expect("temp dir");
    let backends = Backends::open(config(probe.path(), precision), Overrides::default())
        .await
        .expect("backends (run scripts/setup.sh)");
    let services = &backends.services;
    let model_batch = services.config.embed.max_batch;
    let calls = services.embedder.parallel_calls();
    let chunks: Vec<String> = documents
        .iter()
        .flat_map(|d| services.chunker.chunk(d, false))
        .map(|c| c.content)
        .collect();
    println!(
        "{}: {} documents, {} chunks; model calls of {model_batch} texts, {calls} at a time",
        precision.as_str(),
        documents.len(),
        chunks.len()
    );
    services
        .embedder
        .embed(chunks[..1].to_vec())
        .await
        .expect("warm-up");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        // A call in flight per model session, the next sent as soon as one returns.
        let embedded: Vec<_> = futures_util::stream::iter(chunks.chunks(model_batch))
            .map(|batch| services.embedder.embed(batch.to_vec()))
            .buffered(calls)
            .collect()
            .await;
        for vectors in embedded {
            vectors.expect("embed");
        }
        let bare = chunks.len() as f64 / started.elapsed().as_secs_f64();
        let ingested = bulk_ingest(documents, precision).await;
        let ratio = ingested / bare;
        ratios.push(ratio);
        println!(
            "round {round}: bare model {bare:.1} chunks/s; bulk ingest {ingested:.1} chunks/s \
             ({:.1} % of the bare model)",
            ratio * 100.0
        );
    }
    ratios.sort_by(f64::total_cmp);
    let median = if ratios.len() % 2 == 1 {
        ratios[ratios.len() / 2]
    } else {
        (ratios[ratios.len() / 2 - 1] + ratios[ratios.len() / 2]) / 2.0
    };
    println!(
        "{}: bulk ingest / bare model, median of {} rounds: {:.1} % (rounds from {:.1} to {:.1} %)",
        precision.as_str(),
        ratios.len(),
        median * 100.0,
        ratios[0] * 100.0,
        ratios[ratios.len() - 1] * 100.0
    );
    backends.close().await;
}

/// Ingests `documents` into a fresh data directory as `ingestDocuments` would, in batches of
/// `limits.max_ingest_batch`; chunks per second.
async fn bulk_ingest(documents: &[String], precision: Precision) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let backends = Backends::open(config(dir.path(), precision), Overrides::default())
        .await
        .expect("backends");
    let services = &backends.services;
    let limits = &services.config.limits;
    let context = services.ingest_context();
    let started = Instant::now();
    let mut chunks = 0;
    for batch in documents.chunks(limits.max_ingest_batch) {
        let requests = batch
            .iter()
            .map(|text| IngestRequest {
                content: text.clone(),
                ..IngestRequest::default()
            })
            .collect();
        let requests = ingest::validate_batch(requests, limits).expect("valid batch");
        let outcome = ingest::ingest_until_failure(&context, requests, None, None, |_| {}).await;
        if let Some((index, err)) = outcome.failure {
            panic!("document {index} failed: {err}");
        }
        chunks += outcome
            .stored
            .iter()
            .map(|o| o.chunks_created)
            .sum::<usize>();
    }
    let per_second = chunks as f64 / started.elapsed().as_secs_f64();
    drop(context);
    backends.close().await;
    per_second
}
