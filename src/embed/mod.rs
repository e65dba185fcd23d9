//! Text → vector. The [`Embedder`] trait is what the rest of the server sees; [`FastEmbedder`]
//! runs all-MiniLM-L6-v2 through fastembed/ONNX Runtime on dedicated threads, batching texts that
//! arrive together.

mod fastembed;
mod model_files;
pub mod runtime_telemetry;
mod word_pieces;

pub use self::fastembed::{FastEmbedder, LoadError};
pub use self::model_files::{ModelFiles, ModelFilesError};
pub use self::word_pieces::{Reading, WordPieces};

use async_trait::async_trait;

/// One embedding vector; normalised to unit length, so a dot product is the cosine similarity.
pub type Vector = Vec<f32>;

/// Which model produced a vector. Stored with the index so that two models are never mixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub dimensions: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedder is overloaded ({0} requests queued); retry shortly")]
    Overloaded(usize),
    #[error("the embedder has stopped")]
    Stopped,
    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<EmbedError> for crate::Error {
    fn from(err: EmbedError) -> Self {
        match err {
            EmbedError::Overloaded(_) | EmbedError::Stopped => {
                crate::Error::unavailable(err.to_string(), err)
            }
            EmbedError::Inference(_) => crate::Error::internal(err),
        }
    }
}

#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    fn model(&self) -> &ModelInfo;

    /// Calls it runs at the same time (its workers): a bulk ingest keeps this many in flight.
    fn parallel_calls(&self) -> usize {
        1
    }

    /// Embeds `texts` in order. Texts longer than the model window are truncated by the model.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vector>, EmbedError>;
}

/// Cosine similarity of two vectors of equal length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}
