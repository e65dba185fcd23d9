//! `graphql`: limits on what one operation may ask, timing, persisted queries.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

/// The highest `graphql.max_nesting` accepted: a test runs the parser at this depth on a
/// worker thread of the debug build, which has the largest stack frames.
pub const MAX_NESTING_CEILING: usize = 256;

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
    /// Serve GraphiQL at `GET /graphql` (a request without an operation).
    pub graphiql: bool,
    /// GraphiQL's browser files as `scripts/setup.sh` provisions them from the npm registry
    /// (`manifest.json` lists them); served under `/graphiql/`, never from a CDN.
    pub graphiql_dir: PathBuf,
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
            graphiql: true,
            graphiql_dir: PathBuf::from(".selfrag/graphiql"),
        }
    }
}

impl GraphqlConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("graphql.max_depth", self.max_depth as u64),
            ("graphql.max_complexity", self.max_complexity as u64),
            ("graphql.max_query_bytes", self.max_query_bytes as u64),
            ("graphql.max_batch", self.max_batch as u64),
        ])?;
        if !(1..=MAX_NESTING_CEILING).contains(&self.max_nesting) {
            return Err(invalid(
                "graphql.max_nesting",
                format!(
                    "must be 1..={MAX_NESTING_CEILING} (deeper input could overflow the parser's stack)"
                ),
            ));
        }
        Ok(())
    }
}
