//! The operators' views — readiness, performance, cache analytics — as GraphQL types.
//!
//! `health`, `cache` and `telemetry` report in plain Rust types (HTTP serves the same values
//! as JSON); these mirror them field for field, so the schema's names and descriptions live at
//! the edge. Enums are derived from their domain enum (`remote`), structs through [`mirror!`].

use async_graphql::{Enum, SimpleObject};

use crate::{cache, health, ingest, telemetry};

/// Declares a GraphQL object with the same fields as a domain struct, and the conversion from
/// it. A field marked `each` is a list of mirrored values; `maybe`, an optional one; any other
/// field converts with `Into`.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident from $source:path {
        $($(#[$field_meta:meta])* $field:ident: $ty:ty $(=> $how:ident)?,)*
    }) => {
        $(#[$meta])*
        #[derive(SimpleObject, Debug, Clone)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl From<$source> for $name {
            fn from(value: $source) -> Self {
                Self { $($field: mirror!(@convert value.$field $(, $how)?),)* }
            }
        }
    };
    (@convert $value:expr) => { ::std::convert::Into::into($value) };
    (@convert $value:expr, each) => { $value.into_iter().map(Into::into).collect() };
    (@convert $value:expr, maybe) => { $value.map(Into::into) };
}

/// The cache's namespaces, as clients name them.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cache::CacheNamespace")]
pub enum CacheNamespace {
    /// Query embeddings (`emb`).
    Embeddings,
    /// Search results (`q`).
    Results,
    /// Automatic persisted queries (`apq`): query texts by their SHA-256, shared by replicas.
    PersistedQueries,
}

/// `DISABLED` (no Redis configured), `UP`, or `DOWN` (circuit breaker open: serving from L1).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "cache::L2State")]
pub enum L2StateValue {
    Disabled,
    Up,
    Down,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "health::CheckStatus")]
pub enum CheckStatus {
    Up,
    /// An optional dependency is down; the server still serves (Redis: from L1).
    Degraded,
    Down,
    /// Not configured.
    Disabled,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "health::Readiness")]
pub enum Readiness {
    /// Every required dependency answers.
    Ready,
    /// Ready, but an optional dependency is down, or writes are refused for want of disk.
    Degraded,
    /// A required dependency does not answer: take this replica out of rotation.
    Unavailable,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "ingest::IngestStatus")]
pub enum IngestStatus {
    /// Chunked, embedded and stored.
    Ingested,
    /// Identical content was already stored; that document is the answer.
    Deduplicated,
    /// The document with this `externalId` was replaced (same id, next revision).
    Updated,
    /// The document with this `externalId` already has this content and these fields: nothing
    /// was written.
    Unchanged,
    /// This document failed; the batch stops here (those before it stay ingested).
    Failed,
}

mirror! {
    /// A consistent-enough copy of the counters with the hit rates they imply.
    CounterSnapshot from cache::CounterSnapshot {
        l1_hits: u64,
        l2_hits: u64,
        misses: u64,
        l1_sets: u64,
        l2_sets: u64,
        evictions: u64,
        errors: u64,
        /// L1 hits / lookups.
        l1_hit_rate: f64,
        /// L2 hits / lookups that reached L2 (L1 misses).
        l2_hit_rate: f64,
        /// (L1 + L2 hits) / lookups.
        hit_rate: f64,
    }
}

mirror! {
    /// The cache's own sizes and settings, for analytics.
    NamespaceSnapshot from cache::NamespaceSnapshot {
        namespace: CacheNamespace,
        counters: CounterSnapshot,
        l1_entries: u64,
        l1_bytes: u64,
        l1_capacity_bytes: u64,
        l1_ttl_secs: u64,
        l2_ttl_secs: u64,
    }
}

mirror! {
    /// L2 as the analytics show it.
    L2Status from cache::L2Status {
        state: L2StateValue,
        /// Redis `used_memory`.
        used_memory_bytes: Option<u64>,
        /// Keys in the Redis database (DBSIZE).
        keys: Option<u64>,
        /// Failed or timed-out Redis calls since start.
        errors: u64,
    }
}

mirror! {
    /// Everything a dashboard shows about the cache.
    CacheAnalytics from cache::CacheAnalytics {
        namespaces: Vec<NamespaceSnapshot> => each,
        /// All namespaces together.
        overall: CounterSnapshot,
        l2: L2Status,
        /// Bumped by every ingest and delete; part of every search-result key.
        corpus_generation: u64,
    }
}

mirror! {
    /// What a clear removed from one namespace.
    ClearedNamespace from cache::ClearedNamespace {
        namespace: CacheNamespace,
        l1_entries: u64,
        /// Null when L2 is disabled or could not be reached.
        l2_keys: Option<u64>,
    }
}

mirror! {
    Check from health::Check {
        status: CheckStatus,
        latency_ms: f64,
        error: Option<String>,
    }
}

mirror! {
    Checks from health::Checks {
        database: Check,
        vector_index: Check,
        embedder: Check,
        /// Optional: its loss degrades the cache to L1 but does not fail readiness.
        redis: Check,
        /// Free space in the data directory: below `storage.min_free_bytes` writes are refused
        /// and readiness is degraded (searches still work).
        disk: Check,
    }
}

mirror! {
    HealthReport from health::HealthReport {
        status: Readiness,
        checks: Checks,
    }
}

mirror! {
    /// A connection pool's occupancy (database, Redis). `waiting` is unknown for the database
    /// (sqlx does not expose it).
    PoolStats from telemetry::PoolStats {
        max: u64,
        size: u64,
        in_use: u64,
        idle: u64,
        waiting: Option<u64>,
    }
}

mirror! {
    Pools from health::Pools {
        database: PoolStats,
        redis: Option<PoolStats> => maybe,
    }
}

mirror! {
    SlowRequest from telemetry::SlowRequest {
        route: String,
        operation: Option<String>,
        duration_ms: f64,
        request_id: Option<String>,
        /// Seconds before this snapshot.
        seconds_ago: f64,
    }
}

mirror! {
    OperationStats from telemetry::OperationStats {
        name: String,
        requests: u64,
        errors: u64,
        p50_ms: f64,
        p95_ms: f64,
        p99_ms: f64,
    }
}

mirror! {
    /// The last minute, summarised.
    StatsWindow from telemetry::StatsWindow {
        window_seconds: f64,
        requests: u64,
        requests_per_second: f64,
        error_rate: f64,
        p50_ms: f64,
        p95_ms: f64,
        p99_ms: f64,
        /// GraphQL operations by name.
        operations: Vec<OperationStats> => each,
        /// The most recent requests slower than the configured threshold.
        slow_requests: Vec<SlowRequest> => each,
        slow_threshold_ms: f64,
    }
}

mirror! {
    // Host and process figures; the sample's age is not part of the API.
    SystemSnapshot from telemetry::SystemSnapshot {
        /// All cores, 0–100.
        cpu_percent: f64,
        memory_total_bytes: u64,
        memory_used_bytes: u64,
        /// The disk holding the data directory.
        disk_total_bytes: u64,
        disk_available_bytes: u64,
        /// This process: CPU (100 = one core), resident memory, open file descriptors.
        process_cpu_percent: f64,
        process_rss_bytes: u64,
        process_open_files: u64,
    }
}

mirror! {
    /// How the server is doing: the last minute of requests, the host, the pools, the cache.
    PerformanceReport from health::PerformanceReport {
        uptime_seconds: f64,
        requests: StatsWindow,
        system: SystemSnapshot,
        pools: Pools,
        cache: CacheAnalytics,
    }
}
