//! `model`, `embed`, `chunk`: the provisioned model, inference threads and chunk sizes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

/// Where the provisioned ONNX Runtime and model files live (written by `scripts/setup.sh`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Directory holding `model.onnx`, `tokenizer.json` and the tokenizer's config files.
    pub dir: PathBuf,
    /// Path of `libonnxruntime.so` (1.24 or newer).
    pub onnxruntime_lib: PathBuf,
    /// The model's name; with the precision (`qualified_name`) it is recorded with every vector,
    /// and a changed one makes the index refuse to mix models.
    pub name: String,
    /// Output dimension of the model.
    pub dimensions: usize,
    /// Word pieces the model reads, special tokens included; longer input is truncated.
    pub max_tokens: usize,
    /// `fp32` (`model.onnx`) or `int8` (`model_int8.onnx`, quantised from it by
    /// `scripts/setup.sh`): faster, and its vectors differ slightly, so the index records the
    /// precision with the model and refuses to mix the two.
    pub precision: Precision,
}

/// The numeric precision of the model's weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Int8,
}

impl Precision {
    /// The model file of this precision, in `model.dir`.
    pub fn file_name(self) -> &'static str {
        match self {
            Precision::Fp32 => "model.onnx",
            Precision::Int8 => "model_int8.onnx",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            dir: PathBuf::from(".selfrag/models/all-MiniLM-L6-v2"),
            onnxruntime_lib: PathBuf::from(".selfrag/onnxruntime/libonnxruntime.so"),
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            dimensions: 384,
            max_tokens: 256,
            precision: Precision::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbedConfig {
    /// Inference threads, each with its own model session (memory: about 90 MB each).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session; 0 means one per core.
    pub intra_threads: usize,
    /// Most texts run through the model in one call; requests that arrive together share
    /// batches, and a bulk ingest fills calls across its documents.
    pub max_batch: usize,
    /// Texts waiting for a worker before callers are told the embedder is busy.
    pub queue_capacity: usize,
    /// ONNX Runtime's CPU memory arena: it keeps the largest batch's buffers for reuse and
    /// never gives them back. Off, each run allocates and frees its own, so resident memory
    /// falls back between batches (measured: docs/DEPLOYMENT.md, Sizing).
    pub memory_arena: bool,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            workers: 1,
            intra_threads: 0,
            // Small on purpose: a call pads every text to its longest, and its attention
            // buffers grow with texts × length². Measured on SciFact abstracts (ONNX Runtime,
            // 2 threads): 8 texts a call ran 21.5 texts/s against 16.6 for 32, and a
            // 4,000-chunk ingest peaked at 497 MiB against 726 MiB.
            max_batch: 8,
            queue_capacity: 4096,
            memory_arena: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkConfig {
    /// Largest chunk, in the model's word pieces (excluding [CLS]/[SEP]), so no chunk is truncated.
    pub max_tokens: usize,
    /// Word pieces shared by neighbouring chunks, so a sentence cut at a border is still found.
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        // 254 + [CLS] + [SEP] = the model's 256-piece window. For English prose that is about
        // 1,000 characters; sizing by tokens keeps the guarantee for any script (a character
        // budget cannot: 1,000 CJK characters are about 1,000 word pieces).
        ChunkConfig {
            max_tokens: 254,
            overlap_tokens: 50,
        }
    }
}

impl ModelConfig {
    /// The name recorded with every vector and in cache keys: the model's, with its precision
    /// when that is not fp32 (so an fp32 index from before precisions existed still opens).
    pub fn qualified_name(&self) -> String {
        match self.precision {
            Precision::Fp32 => self.name.clone(),
            other => format!("{} ({})", self.name, other.as_str()),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[("model.dimensions", self.dimensions as u64)])
    }
}

impl EmbedConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("embed.workers", self.workers as u64),
            ("embed.max_batch", self.max_batch as u64),
            ("embed.queue_capacity", self.queue_capacity as u64),
        ])
    }
}

impl ChunkConfig {
    /// Chunks must fit the model's window, [CLS] and [SEP] included.
    pub(super) fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        let window = model.max_tokens.saturating_sub(2);
        if self.max_tokens == 0 || self.max_tokens > window {
            return Err(invalid(
                "chunk.max_tokens",
                format!(
                    "must be 1..={window} (the model reads {} word pieces including [CLS] and [SEP])",
                    model.max_tokens
                ),
            ));
        }
        if self.overlap_tokens >= self.max_tokens {
            return Err(invalid(
                "chunk.overlap_tokens",
                "must be smaller than chunk.max_tokens",
            ));
        }
        Ok(())
    }
}
