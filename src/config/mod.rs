//! One typed configuration: compiled-in defaults < optional `selfrag.toml` < `SELFRAG_*` environment.
//!
//! Nested keys are reached from the environment with a double underscore
//! (`SELFRAG_LIMITS__MAX_CONTENT_BYTES=1000000`). [`Config::validate`] runs at start-up, so a bad
//! value stops the process with a message naming the key instead of failing on first use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod auth;
mod cache;
mod database;
mod graphql;
mod http;
mod index;
mod keywords;
mod limits;
mod model;
mod qdrant;
mod rate_limit;
mod search;
mod storage;
mod telemetry;

pub use auth::AuthConfig;
pub use cache::{CacheConfig, NamespaceConfig, ResponseCacheConfig};
pub use database::DatabaseConfig;
pub use graphql::{GraphqlConfig, MAX_NESTING_CEILING};
pub use http::HttpConfig;
pub use index::{IndexConfig, IndexStorage, Quantization, VectorType};
pub use keywords::KeywordConfig;
pub use limits::Limits;
pub use model::{ChunkConfig, EmbedConfig, ModelConfig, Precision, Sessions};
pub use qdrant::{QdrantSettings, ReadConsistency, WriteOrderingSetting};
pub use rate_limit::{Budget, RateLimitConfig};
pub use search::{SearchConfig, SearchMode};
pub use storage::StorageConfig;
pub use telemetry::{OtlpProtocol, TelemetryConfig};

/// The configuration file read when present (or the one named by `--config` / `SELFRAG_CONFIG`).
pub const DEFAULT_CONFIG_FILE: &str = "selfrag.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address `serve` listens on.
    pub bind: SocketAddr,
    /// Where the embedded backends keep their files (SQLite database, vector index).
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Redis (`redis://`, or `redis+cluster://h1,h2` for a cluster): the cache's L2, the
    /// corpus generation shared by replicas, and shared rate limits.
    pub redis_url: Option<String>,
    /// A Qdrant server or cluster (`http://host:6334`, gRPC); when set, it replaces the
    /// embedded vector index. Its API key and collection are in `qdrant`.
    pub qdrant_url: Option<String>,
    pub qdrant: QdrantSettings,
    /// The names `qdrant.api_key` and `qdrant.collection` had before the `qdrant` section:
    /// still read, with a warning, so existing deployments keep working. [`Config::load`]
    /// moves them into `qdrant` and leaves these `None`.
    #[serde(skip_serializing)]
    pub qdrant_api_key: Option<String>,
    #[serde(skip_serializing)]
    pub qdrant_collection: Option<String>,
    /// Serve the frontend examples under `/examples/` (`SELFRAG_EXAMPLES=true`).
    pub examples: bool,
    /// Where the built example pages are (`npm run build` in `frontend-examples` writes them to
    /// its `dist/`); relative paths are taken from the working directory.
    pub examples_dir: PathBuf,
    pub model: ModelConfig,
    pub embed: EmbedConfig,
    pub chunk: ChunkConfig,
    pub index: IndexConfig,
    pub keywords: KeywordConfig,
    pub search: SearchConfig,
    pub limits: Limits,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub telemetry: TelemetryConfig,
    pub storage: StorageConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            qdrant_url: None,
            qdrant: QdrantSettings::default(),
            qdrant_api_key: None,
            qdrant_collection: None,
            examples: false,
            examples_dir: PathBuf::from("frontend-examples/dist"),
            model: ModelConfig::default(),
            embed: EmbedConfig::default(),
            chunk: ChunkConfig::default(),
            index: IndexConfig::default(),
            keywords: KeywordConfig::default(),
            search: SearchConfig::default(),
            limits: Limits::default(),
            database: DatabaseConfig::default(),
            cache: CacheConfig::default(),
            http: HttpConfig::default(),
            graphql: GraphqlConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            telemetry: TelemetryConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

/// A refusal naming `key`.
pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The first of `values` that is 0, refused.
pub(crate) fn all_positive(values: &[(&'static str, u64)]) -> Result<(), ConfigError> {
    match values.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(invalid(key, "must be greater than 0")),
        None => Ok(()),
    }
}

/// A configuration that cannot be used, with the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Config {
    /// Defaults, then `file` (or `selfrag.toml` when it exists), then `SELFRAG_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SELFRAG_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        if file.exists() {
            figment = figment.merge(Toml::file(&file));
        }
        let mut config: Config = figment
            .merge(Env::prefixed("SELFRAG_").split("__").ignore(&["config"]))
            .extract()
            .map_err(Box::new)?;
        config.adopt_renamed_keys()?;
        config.validate()?;
        Ok(config)
    }

    /// Moves values given under a key's old name to the new one, warning once for each; both
    /// names at once, with different values, is refused rather than guessed.
    fn adopt_renamed_keys(&mut self) -> Result<(), ConfigError> {
        if let Some(key) = self.qdrant_api_key.take() {
            tracing::warn!("`qdrant_api_key` is now `qdrant.api_key` (SELFRAG_QDRANT__API_KEY)");
            match &self.qdrant.api_key {
                Some(new) if *new != key => {
                    return Err(invalid(
                        "qdrant.api_key",
                        "also given under its old name `qdrant_api_key` with another value",
                    ));
                }
                _ => self.qdrant.api_key = Some(key),
            }
        }
        if let Some(collection) = self.qdrant_collection.take() {
            tracing::warn!(
                "`qdrant_collection` is now `qdrant.collection` (SELFRAG_QDRANT__COLLECTION)"
            );
            let default = QdrantSettings::default().collection;
            if self.qdrant.collection != default && self.qdrant.collection != collection {
                return Err(invalid(
                    "qdrant.collection",
                    "also given under its old name `qdrant_collection` with another value",
                ));
            }
            self.qdrant.collection = collection;
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("selfrag.db").display()
            ),
        }
    }

    pub fn vector_index_dir(&self) -> PathBuf {
        self.data_dir.join("vectors")
    }

    /// Every section's own checks, then those that span sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_addresses()?;
        self.model.validate()?;
        self.embed.validate()?;
        self.chunk.validate(&self.model)?;
        self.database.validate()?;
        self.qdrant.validate()?;
        self.index.validate()?;
        self.keywords.validate()?;
        self.search.validate()?;
        self.cache.validate()?;
        self.limits.validate()?;
        self.graphql.validate()?;
        self.rate_limit.validate()?;
        self.http.validate()?;
        self.telemetry.validate()?;
        self.storage.validate()?;
        Ok(())
    }

    /// The top-level URLs and names.
    fn validate_addresses(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if let Some(url) = &self.qdrant_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "qdrant_url",
                "must start with http:// or https:// (Qdrant's gRPC port, usually 6334)",
            ));
        }
        if let Some(url) = &self.redis_url
            && ![
                "redis://",
                "rediss://",
                "redis+cluster://",
                "rediss+cluster://",
            ]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(invalid(
                "redis_url",
                "must start with redis://, rediss:// or (Redis Cluster) redis+cluster:// or rediss+cluster://",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
// `figment::Jail` closures return figment's own (large) error type; not ours to box.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_keep_chunks_inside_the_model_window() {
        let config = Config::default();
        config.validate().expect("defaults validate");
        assert!(config.chunk.max_tokens + 2 <= config.model.max_tokens);
    }

    #[test]
    fn environment_overrides_file_and_nested_keys_work() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "selfrag.toml",
                "data_dir = \"from-file\"\n[limits]\nmax_search_limit = 7\n",
            )?;
            jail.set_env("SELFRAG_DATA_DIR", "from-env");
            jail.set_env("SELFRAG_CHUNK__OVERLAP_TOKENS", "10");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("from-env"));
            assert_eq!(config.limits.max_search_limit, 7);
            assert_eq!(config.chunk.overlap_tokens, 10);
            Ok(())
        });
    }

    #[test]
    fn old_qdrant_key_names_still_work_and_conflicts_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SELFRAG_QDRANT_COLLECTION", "old_name");
            jail.set_env("SELFRAG_QDRANT_API_KEY", "secret");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.qdrant.collection, "old_name");
            assert_eq!(config.qdrant.api_key.as_deref(), Some("secret"));
            jail.set_env("SELFRAG_QDRANT__COLLECTION", "new_name");
            let err = Config::load(None).expect_err("two names, two values");
            assert!(err.to_string().contains("qdrant.collection"), "{err}");
            jail.set_env("SELFRAG_QDRANT__COLLECTION", "old_name");
            assert!(Config::load(None).is_ok(), "two names, one value");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SELFRAG_CHUNK__MAX_TOKENS", "1000");
            let err = Config::load(None).expect_err("over the model window");
            assert!(err.to_string().contains("chunk.max_tokens"), "{err}");
            jail.set_env("SELFRAG_CHUNK__MAX_TOKENS", "100");
            jail.set_env("SELFRAG_DATABASE_URL", "mysql://x");
            let err = Config::load(None).expect_err("unsupported database");
            assert!(err.to_string().contains("database_url"), "{err}");
            Ok(())
        });
    }
}
