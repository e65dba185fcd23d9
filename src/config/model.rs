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
    /// Inference threads, each with its own model session (weights: about 90 MB each in fp32,
    /// 23 MB in int8). 0 chooses by precision ([`EmbedConfig::sessions`]).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session; 0 shares the cores among the workers.
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
            workers: 0,
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

/// How many model sessions run, and with how many threads each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    pub workers: usize,
    /// `None`: ONNX Runtime's own choice (one thread per physical core).
    pub intra_threads: Option<usize>,
}

/// Most int8 sessions `embed.workers = 0` starts, whatever the cores: each holds its own
/// weights, and past a few the ingest pipeline, not the model, is what limits a replica.
const MAX_AUTO_INT8_WORKERS: usize = 4;

impl EmbedConfig {
    /// The sessions to start on a machine of `cores` cores (`std::thread::available_parallelism`,
    /// which honours CPU affinity and cgroup quotas).
    ///
    /// `embed.workers = 0`: fp32 runs one session over every core (its calls of
    /// `embed.max_batch` texts keep the threads busy). int8 runs one text at a time, and a
    /// single text split across threads makes them meet at a barrier after every operator: any
    /// other thread that takes a core then stalls all of them (bulk ingest reached 85 % of the
    /// bare model that way). So int8 starts one single-threaded session per core (at most
    /// four), which lose only the time taken from them. `embed.intra_threads = 0` leaves one
    /// session's threads to ONNX Runtime and divides the cores among several, never fewer
    /// than one each, so sessions do not oversubscribe the machine.
    pub fn sessions(&self, precision: Precision, cores: usize) -> Sessions {
        let cores = cores.max(1);
        let workers = match (self.workers, precision) {
            (0, Precision::Fp32) => 1,
            (0, Precision::Int8) => cores.min(MAX_AUTO_INT8_WORKERS),
            (workers, _) => workers,
        };
        let intra_threads = match (self.intra_threads, workers) {
            (0, 1) => None,
            (0, workers) => Some((cores / workers).max(1)),
            (threads, _) => Some(threads),
        };
        Sessions {
            workers,
            intra_threads,
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(
        workers: usize,
        intra_threads: usize,
        precision: Precision,
        cores: usize,
    ) -> Sessions {
        EmbedConfig {
            workers,
            intra_threads,
            ..EmbedConfig::default()
        }
        .sessions(precision, cores)
    }

    #[test]
    fn fp32_runs_one_session_and_leaves_its_threads_to_onnx_runtime() {
        for cores in [1, 2, 16] {
            let chosen = sessions(0, 0, Precision::Fp32, cores);
            assert_eq!(
                chosen,
                Sessions {
                    workers: 1,
                    intra_threads: None
                }
            );
        }
    }

    #[test]
    fn int8_runs_a_single_threaded_session_per_core_up_to_four() {
        let expected = |workers| Sessions {
            workers,
            intra_threads: Some(1),
        };
        // One core: one session, and ONNX Runtime's own thread count (one).
        assert_eq!(
            sessions(0, 0, Precision::Int8, 1),
            Sessions {
                workers: 1,
                intra_threads: None
            }
        );
        assert_eq!(sessions(0, 0, Precision::Int8, 2), expected(2));
        assert_eq!(sessions(0, 0, Precision::Int8, 4), expected(4));
        // Past four sessions the cores are shared among them instead.
        assert_eq!(
            sessions(0, 0, Precision::Int8, 16),
            Sessions {
                workers: 4,
                intra_threads: Some(4)
            }
        );
    }

    #[test]
    fn set_values_are_kept_and_several_workers_share_the_cores() {
        assert_eq!(
            sessions(3, 0, Precision::Fp32, 12),
            Sessions {
                workers: 3,
                intra_threads: Some(4)
            }
        );
        assert_eq!(
            sessions(3, 0, Precision::Fp32, 2),
            Sessions {
                workers: 3,
                intra_threads: Some(1)
            }
        );
        assert_eq!(
            sessions(1, 2, Precision::Int8, 2),
            Sessions {
                workers: 1,
                intra_threads: Some(2)
            }
        );
        assert_eq!(
            sessions(0, 0, Precision::Int8, 0).workers,
            1,
            "no cores reads as one"
        );
    }
}
