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

/// The configuration file read when present (or the one named by `--config` / `SELFRAG_CONFIG`).
pub const DEFAULT_CONFIG_FILE: &str = "selfrag.toml";

/// The highest `graphql.max_nesting` accepted: a test runs the parser at this depth on a
/// worker thread of the debug build, which has the largest stack frames.
pub const MAX_NESTING_CEILING: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address `serve` listens on.
    pub bind: SocketAddr,
    /// Where the embedded backends keep their files (SQLite database, vector index).
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Enables the Redis L2 cache (the cache issue); unused until then.
    pub redis_url: Option<String>,
    /// A Qdrant server or cluster (`http://host:6334`, gRPC); when set, it replaces the
    /// embedded vector index.
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<String>,
    /// The collection holding the chunk vectors; created on first start.
    pub qdrant_collection: String,
    pub qdrant: QdrantSettings,
    /// Serve the frontend examples under `/examples/` (`SELFRAG_EXAMPLES=true`).
    pub examples: bool,
    /// Where the example pages are; relative paths are taken from the working directory.
    pub examples_dir: PathBuf,
    pub model: ModelConfig,
    pub embed: EmbedConfig,
    pub chunk: ChunkConfig,
    pub index: IndexConfig,
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

/// Keeping the data directory writable and the index consistent with the rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Writes are refused (`UNAVAILABLE`) while the data directory's filesystem has less than
    /// this left after the embedded index's reserved-but-unwritten space; start-up refuses too.
    /// The default is about twice what one write can make the embedded index allocate (a WAL
    /// segment, a vector chunk and a payload page of 32 MiB each, four 4 MiB keyword-index
    /// pages, ~8 MiB of trackers and flags: ~120 MiB), leaving room for the optimiser's
    /// temporary segment and the database's growth.
    pub min_free_bytes: u64,
    /// A write recorded as in flight for longer than this is taken to have been interrupted
    /// (a crash) and is rolled back by the periodic recovery. With the embedded index, whose
    /// only writer is this process, start-up rolls back every such write at once.
    pub interrupted_write_grace_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            min_free_bytes: 256 * 1024 * 1024,
            interrupted_write_grace_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// How often the background task samples CPU, memory and disk.
    pub sample_interval_ms: u64,
    /// Requests at least this slow are listed in `/health/metrics`.
    pub slow_request_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            sample_interval_ms: 5_000,
            slow_request_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphqlConfig {
    /// Time every non-trivial resolver into `graphql_field_duration_seconds`.
    pub field_timing: bool,
    /// Put `extensions.timing` in every response, not only when `X-Selfrag-Timing: 1` asks.
    pub timing_in_response: bool,
    /// Distinct operation names given their own Prometheus series; later names share
    /// `operation_name="(other)"`, since clients choose names and series live forever.
    pub max_operation_series: usize,
    /// Deepest field nesting a query may have. GraphiQL's introspection query is 13 to 15
    /// deep, depending on its version.
    pub max_depth: usize,
    /// Deepest nesting of `{`, `[` and `(` in the query text, and of lists and objects in the
    /// variables and extensions. Checked before parsing: the parser recurses per level, and
    /// input nested a few thousand deep would overflow the stack. At most
    /// [`MAX_NESTING_CEILING`].
    pub max_nesting: usize,
    /// Highest cost a query may have: 1 per field, list fields multiplied by their
    /// `limit`/`first`/number of texts.
    pub max_complexity: usize,
    /// Most aliased fields in one document (aliases multiply work without deepening a query).
    pub max_aliases: usize,
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Most operations in one batched (JSON array) request.
    pub max_batch: usize,
    /// Answer `__schema`/`__type`; turn off in production to hide the schema.
    pub introspection: bool,
    /// Parsed documents kept in process, keyed by the query text's hash.
    pub document_cache_entries: u64,
    /// Automatic persisted queries (Apollo's protocol), shared through the cache's `apq` namespace.
    pub persisted_queries: bool,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        GraphqlConfig {
            field_timing: true,
            timing_in_response: false,
            max_operation_series: 500,
            max_depth: 16,
            max_nesting: 64,
            max_complexity: 2_500,
            max_aliases: 30,
            max_query_bytes: 32 * 1024,
            max_batch: 10,
            introspection: true,
            document_cache_entries: 1_000,
            persisted_queries: true,
        }
    }
}

/// Who may call what. Authentication turns on when at least one API key exists
/// (`selfrag keys create`); until then every call is allowed, as on a developer's machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Let queries (search, documents, analytics) through without a key once keys exist.
    /// Mutations and cache clearing always need a key with the right role then.
    pub public_queries: bool,
    /// How long a key lookup is remembered in process; a revoked key stops working within this.
    pub key_cache_ttl_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            public_queries: true,
            key_cache_ttl_ms: 5_000,
        }
    }
}

/// Request budgets per API key (or per client IP for anonymous calls). Shared across replicas
/// through Redis when `redis_url` is set, kept in process otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// `search` and `embed` calls (an `embed` of n texts costs n).
    pub search: Budget,
    /// Documents ingested or deleted, and cache clears.
    pub ingest: Budget,
    /// Header carrying the client address when behind a proxy (e.g. `x-forwarded-for`, whose
    /// first address is used). Unset: the TCP peer address. Only set this behind a proxy you run.
    pub client_ip_header: Option<String>,
}

/// A sustained rate with a burst allowance (GCRA: smooth, no fixed-window edges).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            search: Budget {
                per_minute: 12_000,
                burst: 400,
            },
            ingest: Budget {
                per_minute: 600,
                burst: 100,
            },
            client_ip_header: None,
        }
    }
}

/// The HTTP layer's limits and behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// A request still running after this gets 408 and is dropped.
    pub request_timeout_ms: u64,
    /// Larger request bodies get 413 before they are read. Bounds `ingestDocuments` batches too.
    pub max_body_bytes: usize,
    /// Responses at least this large are compressed (gzip, br or zstd, by Accept-Encoding).
    pub compress_above_bytes: u16,
    /// Origins allowed by CORS (`*` for any); empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// A client must send a request's headers within this, or the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// Open client connections at most; 0 means as many as the descriptor limit allows less
    /// a headroom of 256 (the lower of the two is used, and logged at start).
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_ms: 30_000,
            max_body_bytes: 16 * 1024 * 1024,
            compress_above_bytes: 1024,
            cors_origins: Vec::new(),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 0,
        }
    }
}

/// Where the provisioned ONNX Runtime and model files live (written by `scripts/setup.sh`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Directory holding `model.onnx`, `tokenizer.json` and the tokenizer's config files.
    pub dir: PathBuf,
    /// Path of `libonnxruntime.so` (1.24 or newer).
    pub onnxruntime_lib: PathBuf,
    /// Name recorded with every vector; a changed name makes the index refuse to mix models.
    pub name: String,
    /// Output dimension of the model.
    pub dimensions: usize,
    /// Word pieces the model reads, special tokens included; longer input is truncated.
    pub max_tokens: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbedConfig {
    /// Inference threads, each with its own model session (memory: about 90 MB each).
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session; 0 means one per core.
    pub intra_threads: usize,
    /// Most texts run through the model in one call; requests that arrive together share batches.
    pub max_batch: usize,
    /// Texts waiting for a worker before callers are told the embedder is busy.
    pub queue_capacity: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkConfig {
    /// Largest chunk, in the model's word pieces (excluding [CLS]/[SEP]), so no chunk is truncated.
    pub max_tokens: usize,
    /// Word pieces shared by neighbouring chunks, so a sentence cut at a border is still found.
    pub overlap_tokens: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexConfig {
    /// Segments above this size (KiB of vectors) get an HNSW graph; smaller ones are searched exactly.
    pub indexing_threshold_kb: usize,
    /// Segments whose vectors are smaller than this (KiB) are searched exactly even when they
    /// have a graph: brute force is faster there, and exact.
    pub full_scan_threshold_kb: usize,
    /// Quiet time after the last ingest before the background HNSW build starts.
    pub optimize_delay_ms: u64,
}

/// Explicit bounds on what one request may ask for. Each one is a documented, typed refusal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_content_bytes: usize,
    pub max_ingest_batch: usize,
    pub max_embed_texts: usize,
    pub max_search_limit: usize,
    pub max_page_size: usize,
    pub max_query_chars: usize,
    /// Longest title, source, type, author or tag, in characters.
    pub max_field_chars: usize,
    pub max_tags: usize,
    pub max_metadata_bytes: usize,
}

/// The two-level cache: L1 in process (always on), L2 in Redis when `redis_url` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Query embeddings (`emb`), keyed by model and text.
    pub embeddings: NamespaceConfig,
    /// Search results (`q`), keyed by everything that changes the answer and the corpus generation.
    pub results: NamespaceConfig,
    /// Persisted query texts (`apq`), keyed by their SHA-256.
    pub persisted_queries: NamespaceConfig,
    /// L2 values larger than this are zstd-compressed (when that makes them smaller).
    pub compress_above_bytes: usize,
    /// Longest wait for one Redis command before the cache answers without it.
    pub redis_timeout_ms: u64,
    /// Consecutive Redis failures that open the circuit breaker (no more calls until the cooldown).
    pub breaker_failures: u32,
    /// How long an open breaker waits before letting one probe through.
    pub breaker_cooldown_ms: u64,
    /// Prefix of every Redis key, so that several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// Redis connections per replica.
    pub redis_pool_size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamespaceConfig {
    /// L1 budget in bytes (approximate sizes of keys and values).
    pub l1_capacity_bytes: u64,
    pub l1_ttl_secs: u64,
    pub l2_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            embeddings: NamespaceConfig {
                l1_capacity_bytes: 64 * 1024 * 1024,
                l1_ttl_secs: 3_600,
                l2_ttl_secs: 86_400,
            },
            results: NamespaceConfig {
                l1_capacity_bytes: 128 * 1024 * 1024,
                l1_ttl_secs: 3_600,
                l2_ttl_secs: 3_600,
            },
            persisted_queries: NamespaceConfig {
                l1_capacity_bytes: 16 * 1024 * 1024,
                l1_ttl_secs: 86_400,
                l2_ttl_secs: 7 * 86_400,
            },
            compress_above_bytes: 1024,
            redis_timeout_ms: 100,
            breaker_failures: 3,
            breaker_cooldown_ms: 5_000,
            key_prefix: "selfrag".into(),
            redis_pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// Connections kept open while idle, so a burst after a quiet spell finds them ready.
    pub min_connections: u32,
    /// How long a request waits for a free connection before it fails with `UNAVAILABLE`.
    pub acquire_timeout_ms: u64,
    /// How long opening a new connection may take.
    pub connect_timeout_ms: u64,
    /// Idle connections above `min_connections` are closed after this long.
    pub idle_timeout_ms: u64,
    /// Connections are replaced after this long (0 = never), so a failed-over or rebalanced
    /// server is picked up.
    pub max_lifetime_ms: u64,
    /// PostgreSQL only: the server cancels any statement running longer (0 = no limit).
    pub statement_timeout_ms: u64,
}

/// How the Qdrant backend shapes its collection and its requests. The collection options apply
/// when selfrag creates the collection; an existing one keeps its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QdrantSettings {
    /// Shards of a new collection (server default: one per node).
    pub shard_number: Option<u32>,
    /// Copies of each shard (server default: 1).
    pub replication_factor: Option<u32>,
    /// Replicas that must acknowledge a write before it succeeds.
    pub write_consistency_factor: Option<u32>,
    /// Keep vectors on disk (memory-mapped) instead of in RAM.
    pub on_disk_vectors: bool,
    /// Keep payloads on disk.
    pub on_disk_payload: bool,
    /// Points per upsert request; each request waits until the server has applied it.
    pub upsert_batch: usize,
    pub write_ordering: WriteOrderingSetting,
    pub read_consistency: ReadConsistency,
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// gRPC channels; 1 multiplexes everything over one HTTP/2 connection.
    pub pool_size: usize,
}

/// Qdrant's write ordering: `weak` is fastest; `medium`/`strong` route writes through a leader
/// so replicas of a shard apply them in one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteOrderingSetting {
    Weak,
    Medium,
    Strong,
}

/// How many shard replicas a search asks: `one` (the server's default), `majority`, `quorum`
/// or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    One,
    Majority,
    Quorum,
    All,
}

impl Default for QdrantSettings {
    fn default() -> Self {
        QdrantSettings {
            shard_number: None,
            replication_factor: None,
            write_consistency_factor: None,
            on_disk_vectors: false,
            on_disk_payload: true,
            upsert_batch: 256,
            write_ordering: WriteOrderingSetting::Medium,
            read_consistency: ReadConsistency::One,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            pool_size: 1,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant_collection: "selfrag_chunks".into(),
            qdrant: QdrantSettings::default(),
            examples: false,
            examples_dir: PathBuf::from("frontend-examples"),
            model: ModelConfig::default(),
            embed: EmbedConfig::default(),
            chunk: ChunkConfig::default(),
            index: IndexConfig::default(),
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

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            dir: PathBuf::from(".selfrag/models/all-MiniLM-L6-v2"),
            onnxruntime_lib: PathBuf::from(".selfrag/onnxruntime/libonnxruntime.so"),
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            dimensions: 384,
            max_tokens: 256,
        }
    }
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            workers: 1,
            intra_threads: 0,
            max_batch: 32,
            queue_capacity: 4096,
        }
    }
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

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            indexing_threshold_kb: 4_000,
            full_scan_threshold_kb: 2_000,
            optimize_delay_ms: 2_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 5 * 1024 * 1024,
            max_ingest_batch: 100,
            max_embed_texts: 256,
            max_search_limit: 100,
            max_page_size: 100,
            max_query_chars: 2_000,
            max_field_chars: 1_000,
            max_tags: 64,
            max_metadata_bytes: 64 * 1024,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            idle_timeout_ms: 600_000,
            max_lifetime_ms: 1_800_000,
            statement_timeout_ms: 30_000,
        }
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
        let config: Config = figment
            .merge(Env::prefixed("SELFRAG_").split("__").ignore(&["config"]))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
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

    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                key,
                reason: reason.into(),
            }
        }
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
        let window = self.model.max_tokens.saturating_sub(2);
        if self.chunk.max_tokens == 0 || self.chunk.max_tokens > window {
            return Err(invalid(
                "chunk.max_tokens",
                format!(
                    "must be 1..={window} (the model reads {} word pieces including [CLS] and [SEP])",
                    self.model.max_tokens
                ),
            ));
        }
        if self.chunk.overlap_tokens >= self.chunk.max_tokens {
            return Err(invalid(
                "chunk.overlap_tokens",
                "must be smaller than chunk.max_tokens",
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
        if self.qdrant_collection.is_empty() {
            return Err(invalid("qdrant_collection", "must not be empty"));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        let positive: [(&'static str, usize); 21] = [
            (
                "database.max_connections",
                self.database.max_connections as usize,
            ),
            ("qdrant.upsert_batch", self.qdrant.upsert_batch),
            ("qdrant.timeout_ms", self.qdrant.timeout_ms as usize),
            ("graphql.max_depth", self.graphql.max_depth),
            ("graphql.max_complexity", self.graphql.max_complexity),
            ("graphql.max_query_bytes", self.graphql.max_query_bytes),
            ("graphql.max_batch", self.graphql.max_batch),
            (
                "rate_limit.*.per_minute",
                self.rate_limit
                    .search
                    .per_minute
                    .min(self.rate_limit.ingest.per_minute) as usize,
            ),
            ("model.dimensions", self.model.dimensions),
            ("embed.workers", self.embed.workers),
            ("embed.max_batch", self.embed.max_batch),
            ("embed.queue_capacity", self.embed.queue_capacity),
            ("limits.max_content_bytes", self.limits.max_content_bytes),
            ("limits.max_ingest_batch", self.limits.max_ingest_batch),
            ("limits.max_embed_texts", self.limits.max_embed_texts),
            ("limits.max_search_limit", self.limits.max_search_limit),
            ("limits.max_page_size", self.limits.max_page_size),
            ("limits.max_query_chars", self.limits.max_query_chars),
            ("limits.max_field_chars", self.limits.max_field_chars),
            ("limits.max_tags", self.limits.max_tags),
            ("limits.max_metadata_bytes", self.limits.max_metadata_bytes),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(invalid(key, "must be greater than 0"));
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
        for (key, ns) in [
            ("cache.embeddings", &self.cache.embeddings),
            ("cache.results", &self.cache.results),
            ("cache.persisted_queries", &self.cache.persisted_queries),
        ] {
            if ns.l1_ttl_secs == 0 || ns.l2_ttl_secs == 0 {
                return Err(invalid(key, "TTLs must be greater than 0"));
            }
        }
        if self.cache.redis_timeout_ms == 0
            || self.cache.breaker_failures == 0
            || self.cache.redis_pool_size == 0
        {
            return Err(invalid(
                "cache",
                "redis_timeout_ms, breaker_failures and redis_pool_size must be greater than 0",
            ));
        }
        if self.cache.key_prefix.is_empty() || self.cache.key_prefix.contains(['*', '?', '[', ' '])
        {
            return Err(invalid(
                "cache.key_prefix",
                "must be non-empty without spaces or glob characters",
            ));
        }
        if !(1..=MAX_NESTING_CEILING).contains(&self.graphql.max_nesting) {
            return Err(invalid(
                "graphql.max_nesting",
                format!(
                    "must be 1..={MAX_NESTING_CEILING} (deeper input could overflow the parser's stack)"
                ),
            ));
        }
        if self.telemetry.sample_interval_ms < 100 {
            return Err(invalid(
                "telemetry.sample_interval_ms",
                "must be at least 100",
            ));
        }
        if self.http.request_timeout_ms == 0
            || self.http.max_body_bytes == 0
            || self.http.header_read_timeout_ms == 0
            || self.http.idle_timeout_ms == 0
        {
            return Err(invalid(
                "http",
                "request_timeout_ms, max_body_bytes, header_read_timeout_ms and idle_timeout_ms \
                 must be greater than 0",
            ));
        }
        if let Some(origin) = self
            .http
            .cors_origins
            .iter()
            .find(|o| o.as_str() != "*" && axum::http::HeaderValue::from_str(o).is_err())
        {
            return Err(invalid(
                "http.cors_origins",
                format!("`{origin}` is not a valid origin"),
            ));
        }
        if let Some(header) = &self.rate_limit.client_ip_header
            && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(invalid(
                "rate_limit.client_ip_header",
                format!("`{header}` is not a valid header name"),
            ));
        }
        if self.database.max_connections == 0
            || self.database.min_connections > self.database.max_connections
        {
            return Err(invalid(
                "database.max_connections",
                "must be > 0 and >= database.min_connections",
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
