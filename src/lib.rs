//! selfrag: self-hosted semantic search over GraphQL.
//!
//! # Layout
//!
//! - [`config`]: one typed configuration (defaults < `selfrag.toml` < `SELFRAG_*`), validated at start.
//! - [`deadline`]: a request's deadline, pushed back by work that is still making progress (a
//!   bulk ingest), so a long batch is never cut while it moves.
//! - [`disk`]: free space in the data directory, checked before every write (a full disk would
//!   otherwise crash the embedded index with SIGBUS).
//! - [`memory`]: gives the heap memory a burst freed (the optimiser's graph build) back to
//!   the kernel.
//! - [`fault`]: fault points where crash tests stop a debug build; nothing in release builds.
//! - [`app`]: builds the backends from configuration, binds the listener, runs until shutdown
//!   (and then waits until the index has let go of the data directory).
//! - [`cli`]: the command line; `ingest`, `search` and `delete` go through a running server's
//!   GraphQL API when one answers, and open the data directory themselves otherwise.
//! - [`health`]: readiness, per-dependency detail and the performance report, for HTTP and GraphQL.
//! - [`http`]: the axum router (GraphQL at `/graphql`, probes under `/health/`) and the
//!   connection loop that bounds connections and their timeouts.
//! - [`graphql`]: the schema (queries, mutations, subscriptions, per-request DataLoaders) and its
//!   own object types, independent of HTTP; `responses`, the response cache of whole `search`
//!   responses (serialised, with the per-request facts cut out) that `http` answers from
//!   before execution.
//! - [`ingest`]: validation, chunking (text-splitter sized in model tokens, along Markdown
//!   structure where there is one), the all-or-nothing pipeline, replacement of a document by
//!   its external id (unchanged chunks keep their vectors), and recovery of writes a crash cut
//!   short.
//! - [`formats`]: plain text, Markdown, HTML and PDF to text with its structure (heading paths,
//!   pages).
//! - [`search`]: query validation, embedding, vector search.
//! - [`cache`]: the two-level cache (L1 moka, L2 Redis) for query embeddings and search results,
//!   keyed by the corpus generation so results never outlive their data.
//! - [`embed`]: the `Embedder` trait and the fastembed/ONNX Runtime implementation, which batches
//!   concurrent requests on dedicated inference threads; ONNX Runtime's telemetry kept off.
//! - [`keywords`]: BM25 term weights (sparse vectors) for keyword search, and highlights.
//! - [`store`]: documents and chunks in SQLite or PostgreSQL through SeaORM.
//! - [`vector`]: the `VectorIndex` trait, the embedded qdrant-edge index (one process at a
//!   time: a lock file says so plainly; compacted in place after optimisations) and the Qdrant
//!   server.
//! - [`auth`]: API keys (hashed at rest) and the reader < writer < admin roles.
//! - [`ratelimit`]: GCRA budgets per key or client address, in Redis or in process.
//! - [`redis`]: the one Redis client (pool, circuit breaker, timeouts) the cache, the corpus
//!   generation and the rate limiter share.
//! - [`error`]: the domain error and its stable codes, mapped to GraphQL/HTTP at the edges.
//!
//! - [`services`]: the composition root every transport shares; it hands `search` and `ingest`
//!   the narrow contexts they work with.
//!
//! A request flows `http` → `graphql` → `search`/`ingest` → (`embed`, `store`, `vector`). A
//! module refers only to modules below it (the order is in `tests/api/layering.rs`, which checks
//! it). The inner modules know nothing of HTTP or GraphQL: they expose plain Rust types, and
//! `graphql` wraps or mirrors them (`graphql/types.rs` for documents and search,
//! `graphql/reports.rs` for health, performance and cache analytics).

#![recursion_limit = "256"] // the GraphQL request future, wrapped in its span, is deep; clippy computes its layout

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod disk;
pub mod embed;
pub mod error;
pub mod fault;
pub mod formats;
pub mod graphql;
pub mod health;
pub mod http;
pub mod ingest;
pub mod keywords;
pub mod memory;
pub mod ratelimit;
pub mod redis;
pub mod search;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod vector;

pub use error::{Error, ErrorCode, Result};
