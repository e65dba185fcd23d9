//! `auth`: API keys and what anonymous callers may do.

use serde::{Deserialize, Serialize};

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
