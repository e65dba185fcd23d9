//! The corpus generation: a counter bumped by every ingest and delete, part of every
//! search-result key, so a cached result can never outlive the data it was computed from.
//!
//! The metadata store holds the truth (bumped in the same transaction as the change). Readers
//! take the fastest source that is guaranteed to have seen every committed change they could
//! see themselves:
//! - Redis configured: the mirror in Redis (set-if-greater after each commit), never lower
//!   than what this replica itself has committed;
//! - PostgreSQL without Redis (replicas may share the database): the database;
//! - SQLite (one process owns the file): this process's counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::redis::RedisClient;
use crate::store::{MetadataStore, StoreError};

pub struct CorpusGeneration {
    local: AtomicU64,
    store: MetadataStore,
    l2: Option<Arc<RedisClient>>,
    key: String,
}

impl CorpusGeneration {
    pub async fn load(
        store: MetadataStore,
        l2: Option<Arc<RedisClient>>,
        key_prefix: &str,
    ) -> Result<Self, StoreError> {
        let current = store.generation().await?;
        let generation = CorpusGeneration {
            local: AtomicU64::new(current),
            store,
            l2,
            key: format!("{key_prefix}:generation"),
        };
        generation.mirror(current).await;
        Ok(generation)
    }

    /// The newest generation this replica can know of.
    ///
    /// With SQLite and no Redis this is the local counter, answered without a future that
    /// holds the Redis and database reads: every response-cache hit asks, and moving a future
    /// sized for those reads cost more than the hit's own work (callgrind).
    pub async fn current(&self) -> u64 {
        let local = self.local.load(Ordering::Acquire);
        if self.l2.is_none() && self.store.backend_name() != "postgres" {
            return local;
        }
        Box::pin(self.current_shared(local)).await
    }

    /// [`current`](Self::current) when other replicas may have changed the corpus.
    async fn current_shared(&self, local: u64) -> u64 {
        if let Some(l2) = &self.l2 {
            match l2.get::<u64>(&self.key).await {
                Ok(Some(mirrored)) => {
                    if mirrored < local {
                        // An earlier mirror write of ours failed: repair it.
                        self.mirror(local).await;
                    }
                    return self.observe(mirrored.max(local));
                }
                // Redis lost the key (restart, eviction): put it back from the database.
                Ok(None) => {}
                Err(_) => {}
            }
        }
        match self.store.generation().await {
            Ok(stored) => {
                let current = self.observe(stored);
                if self.l2.is_some() {
                    self.mirror(current).await;
                }
                current
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the corpus generation; using the local one");
                local
            }
        }
    }

    /// Records a generation this replica has just committed and mirrors it to Redis.
    pub async fn advanced(&self, generation: u64) {
        self.observe(generation);
        self.mirror(generation).await;
    }

    fn observe(&self, generation: u64) -> u64 {
        self.local
            .fetch_max(generation, Ordering::AcqRel)
            .max(generation)
    }

    async fn mirror(&self, generation: u64) {
        if let Some(l2) = &self.l2
            && let Err(err) = l2.set_max(&self.key, generation).await
        {
            tracing::debug!(error = %err, "corpus generation not mirrored to Redis");
        }
    }

    /// The last generation seen, without asking anyone (for analytics).
    pub fn last_seen(&self) -> u64 {
        self.local.load(Ordering::Acquire)
    }
}
