//! all-MiniLM-L6-v2 through fastembed on ONNX Runtime, loaded from provisioned files.
//!
//! Inference is CPU-bound and synchronous, so it never runs on the async runtime: a fixed number
//! of worker threads (`embed.workers`, [`EmbedConfig::sessions`]), each owning one model
//! session, take jobs from a bounded queue. A worker that wakes up drains whatever else is
//! already queued (up to `embed.max_batch` texts) into the same model call, so concurrent
//! requests share batches instead of queueing one after another.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    EmbedError, Embedder, ModelFiles, ModelFilesError, ModelInfo, Vector, runtime_telemetry,
};
use crate::config::{EmbedConfig, ModelConfig, Precision};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Files(#[from] ModelFilesError),
    #[error(
        "cannot load ONNX Runtime from {path}: {reason}; run `scripts/setup.sh` to provision \
         libonnxruntime 1.31.1 (1.24 or newer is required)"
    )]
    Runtime { path: String, reason: String },
    #[error(
        "cannot load the model from {path}: {reason}; run `scripts/setup.sh --force` to provision it again"
    )]
    Model { path: String, reason: String },
    #[error("cannot start an embedding worker thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The process's one ONNX Runtime environment (ONNX Runtime allows one), made on the first
/// load and shared by every later one.
///
/// Telemetry events are off, and a process that has not opted out of the runtime's uploader
/// (see [`runtime_telemetry`]) is told so in the log. Loading the library explicitly also turns
/// a missing or too-old runtime into [`LoadError::Runtime`] instead of a panic on the first
/// session.
fn runtime_environment(library: &Path) -> Result<ort::environment::Environment, LoadError> {
    static ENVIRONMENT: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);
    let mut environment = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(environment) = environment.as_ref() {
        return Ok(environment.clone());
    }
    let runtime_error = |reason: String| LoadError::Runtime {
        path: library.display().to_string(),
        reason,
    };
    if !runtime_telemetry::opted_out() {
        tracing::warn!(
            "ONNX Runtime starts its telemetry uploader in this process: set {}=1 before it \
             starts (the selfrag binary does unless the variable is set otherwise)",
            runtime_telemetry::OPT_OUT
        );
    }
    let built = ort::init_from(library)
        .map_err(|err| runtime_error(err.to_string()))?
        .with_name("selfrag")
        .with_telemetry(false)
        .build()
        .map_err(|err| runtime_error(err.to_string()))?;
    *environment = Some(built.clone());
    Ok(built)
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vector>, EmbedError>>,
}

pub struct FastEmbedder {
    info: ModelInfo,
    queue: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    workers: usize,
}

impl FastEmbedder {
    /// Loads ONNX Runtime and one model session per worker, then starts the workers. Blocking:
    /// call it at start-up (or from `spawn_blocking`).
    pub fn load(model: &ModelConfig, embed: &EmbedConfig) -> Result<Self, LoadError> {
        let files = ModelFiles::locate(model)?;
        let environment = runtime_environment(&files.onnxruntime_lib)?;

        let onnx = ModelFiles::read(&files.onnx)?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: ModelFiles::read(&files.tokenizer)?,
            config_file: ModelFiles::read(&files.config)?,
            special_tokens_map_file: ModelFiles::read(&files.special_tokens_map)?,
            tokenizer_config_file: ModelFiles::read(&files.tokenizer_config)?,
        };

        let (queue, receiver) = mpsc::channel(embed.queue_capacity);
        // A std mutex, not tokio's: only the blocking worker threads take it, and the holder
        // blocks in `blocking_recv` on purpose so that exactly one idle worker gathers the next batch.
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let sessions = embed.sessions(model.precision, cores);
        tracing::info!(
            workers = sessions.workers,
            intra_threads = ?sessions.intra_threads,
            cores,
            precision = model.precision.as_str(),
            "starting the model sessions"
        );
        for index in 0..sessions.workers {
            let mut options = InitOptionsUserDefined::new()
                .with_environment(environment.clone())
                .with_max_length(model.max_tokens)
                .with_execution_providers(vec![
                    ort::ep::CPU::default()
                        .with_arena_allocator(embed.memory_arena)
                        .build(),
                ]);
            if let Some(threads) = sessions.intra_threads {
                options = options.with_intra_threads(threads);
            }
            let user_model =
                UserDefinedEmbeddingModel::new(onnx.clone(), clone_files(&tokenizer_files))
                    .with_pooling(Pooling::Mean);
            let session =
                TextEmbedding::try_new_from_user_defined(user_model, options).map_err(|err| {
                    LoadError::Model {
                        path: files.onnx.display().to_string(),
                        reason: err.to_string(),
                    }
                })?;
            let receiver = Arc::clone(&receiver);
            let queued = Arc::clone(&queued);
            let max_batch = embed.max_batch;
            // Dynamic int8 quantisation scales activations over the whole input tensor, so a
            // text's vector would depend on its batch neighbours (cosine 0.992 between a text
            // alone and in a batch of 32, measured): the int8 model reads one text at a time.
            let texts_per_run = match model.precision {
                Precision::Fp32 => max_batch,
                Precision::Int8 => 1,
            };
            std::thread::Builder::new()
                .name(format!("embed-{index}"))
                .spawn(move || run_worker(session, &receiver, &queued, max_batch, texts_per_run))?;
        }

        Ok(FastEmbedder {
            info: ModelInfo {
                name: model.qualified_name(),
                dimensions: model.dimensions,
            },
            queue,
            queued,
            workers: sessions.workers,
        })
    }

    /// Texts waiting for a worker right now.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

fn clone_files(files: &TokenizerFiles) -> TokenizerFiles {
    TokenizerFiles {
        tokenizer_file: files.tokenizer_file.clone(),
        config_file: files.config_file.clone(),
        special_tokens_map_file: files.special_tokens_map_file.clone(),
        tokenizer_config_file: files.tokenizer_config_file.clone(),
    }
}

#[async_trait]
impl Embedder for FastEmbedder {
    fn model(&self) -> &ModelInfo {
        &self.info
    }

    fn parallel_calls(&self) -> usize {
        self.workers
    }

    #[tracing::instrument(name = "embed", skip_all, fields(embed.batch_size = texts.len()))]
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vector>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let count = texts.len();
        let (reply, response) = oneshot::channel();
        self.queue
            .try_send(Job { texts, reply })
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => EmbedError::Overloaded(self.queue_depth()),
                mpsc::error::TrySendError::Closed(_) => EmbedError::Stopped,
            })?;
        self.queued.fetch_add(count, Ordering::Relaxed);
        let vectors = response.await.map_err(|_| EmbedError::Stopped)??;
        if vectors.len() != count {
            return Err(EmbedError::Inference(format!(
                "model returned {} vectors for {count} texts",
                vectors.len()
            )));
        }
        Ok(vectors)
    }
}

/// Takes the queued jobs (adding jobs while it has fewer than `max_batch` texts, so it may take
/// more) and runs their texts through the model `max_batch` at most per call, `texts_per_run`
/// at a time.
fn run_worker(
    mut session: TextEmbedding,
    receiver: &Mutex<mpsc::Receiver<Job>>,
    queued: &AtomicUsize,
    max_batch: usize,
    texts_per_run: usize,
) {
    loop {
        let jobs = {
            let mut receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(first) = receiver.blocking_recv() else {
                return; // every sender is gone: the server is shutting down
            };
            let mut texts = first.texts.len();
            let mut jobs = vec![first];
            while texts < max_batch {
                match receiver.try_recv() {
                    Ok(job) => {
                        texts += job.texts.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let texts: Vec<&str> = jobs
            .iter()
            .flat_map(|job| job.texts.iter().map(String::as_str))
            .collect();
        let depth = queued
            .fetch_sub(texts.len(), Ordering::Relaxed)
            .saturating_sub(texts.len());
        metrics::gauge!("selfrag_embed_queue_depth").set(depth as f64);
        metrics::histogram!("selfrag_embed_batch_size").record(texts.len() as f64);
        let started = std::time::Instant::now();
        // A panic inside the runtime must cost this batch, not the worker.
        // A slice at a time: fastembed keeps every hidden state of a call until it pools them
        // (a 1,000-text job would hold 1,000 × 256 × 384 floats), so a call never exceeds
        // `max_batch` texts, whatever one job holds.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut vectors = Vec::with_capacity(texts.len());
            for slice in texts.chunks(max_batch) {
                vectors.extend(session.embed(slice, Some(texts_per_run))?);
            }
            Ok::<_, fastembed::Error>(vectors)
        }));
        metrics::histogram!("selfrag_embed_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let result = match result {
            Ok(Ok(vectors)) => Ok(vectors),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("the inference runtime panicked".to_string()),
        };
        match result {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for job in jobs {
                    let own: Vec<Vector> = vectors.by_ref().take(job.texts.len()).collect();
                    let _ = job.reply.send(Ok(own)); // the caller may have gone away
                }
            }
            Err(reason) => {
                tracing::error!(%reason, "embedding batch failed");
                for job in jobs {
                    let _ = job.reply.send(Err(EmbedError::Inference(reason.clone())));
                }
            }
        }
    }
}
