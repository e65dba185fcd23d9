//! The provisioned files the embedder needs, checked before anything is loaded so that a missing
//! file is an error naming the fix (`scripts/setup.sh`) rather than a panic deep in a runtime.

use std::path::{Path, PathBuf};

use crate::config::ModelConfig;

#[derive(Debug, thiserror::Error)]
pub enum ModelFilesError {
    #[error(
        "{what} not found at {path}; run `scripts/setup.sh` to provision ONNX Runtime and the model \
         (or set SELFRAG_MODEL__DIR / SELFRAG_MODEL__ONNXRUNTIME_LIB)"
    )]
    Missing { what: &'static str, path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Absolute paths of everything `scripts/setup.sh` provisions.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub onnxruntime_lib: PathBuf,
    pub onnx: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
    pub special_tokens_map: PathBuf,
    pub tokenizer_config: PathBuf,
}

impl ModelFiles {
    pub fn locate(config: &ModelConfig) -> Result<Self, ModelFilesError> {
        let dir = &config.dir;
        let files = ModelFiles {
            onnxruntime_lib: existing("ONNX Runtime library", &config.onnxruntime_lib)?,
            onnx: existing(
                config.precision.file_name(),
                &dir.join(config.precision.file_name()),
            )?,
            tokenizer: existing("tokenizer.json", &dir.join("tokenizer.json"))?,
            config: existing("config.json", &dir.join("config.json"))?,
            special_tokens_map: existing(
                "special_tokens_map.json",
                &dir.join("special_tokens_map.json"),
            )?,
            tokenizer_config: existing(
                "tokenizer_config.json",
                &dir.join("tokenizer_config.json"),
            )?,
        };
        Ok(files)
    }

    pub fn read(path: &Path) -> Result<Vec<u8>, ModelFilesError> {
        std::fs::read(path).map_err(|source| ModelFilesError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The model's own tokenizer, used by the chunker to size chunks in word pieces.
    pub fn load_tokenizer(&self) -> Result<tokenizers::Tokenizer, ModelFilesError> {
        tokenizers::Tokenizer::from_file(&self.tokenizer).map_err(|err| ModelFilesError::Read {
            path: self.tokenizer.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, err.to_string()),
        })
    }
}

fn existing(what: &'static str, path: &Path) -> Result<PathBuf, ModelFilesError> {
    // Absolute, so ONNX Runtime's loader does not resolve it against the executable's directory.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if absolute.is_file() {
        Ok(absolute)
    } else {
        Err(ModelFilesError::Missing {
            what,
            path: absolute,
        })
    }
}
