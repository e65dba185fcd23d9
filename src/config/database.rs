//! `database`: the metadata store's connection pool.

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive, invalid};

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

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[("database.max_connections", u64::from(self.max_connections))])?;
        if self.min_connections > self.max_connections {
            return Err(invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        Ok(())
    }
}
