//! DataLoaders that batch the row fetches of one request.
//!
//! They are created per request (see [`super::request_loaders`]), never schema-wide: a cache
//! shared across requests would hand one user's rows to another and outlive deletes. The
//! cross-request cache is the L1/L2 cache, which knows about invalidation.

use std::collections::HashMap;
use tracing::Instrument as _;

use async_graphql::dataloader::{DataLoader, Loader};
use uuid::Uuid;

use crate::store::{Chunk, Document, MetadataStore, StoreError};

pub struct StoreLoader {
    store: MetadataStore,
}

pub type Loaders = DataLoader<StoreLoader>;

pub fn loaders(store: MetadataStore) -> Loaders {
    DataLoader::new(StoreLoader { store }, |load| {
        // In the requesting span, so its database spans belong to the request's trace.
        tokio::spawn(load.in_current_span())
    })
}

/// Key: a document by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentKey(pub Uuid);

/// Key: a chunk by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkKey(pub Uuid);

/// Key: all chunks of a document, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentChunksKey(pub Uuid);

/// Shared so a loader error can be handed to every waiting field.
#[derive(Debug, Clone)]
pub struct LoadError(pub std::sync::Arc<StoreError>);

impl From<LoadError> for crate::Error {
    fn from(err: LoadError) -> Self {
        crate::Error::unavailable(
            "the metadata store is unavailable",
            anyhow::anyhow!(err.0.to_string()),
        )
    }
}

fn ids<K: Copy, F: Fn(K) -> Uuid>(keys: &[K], f: F) -> Vec<Uuid> {
    keys.iter().copied().map(f).collect()
}

impl Loader<DocumentKey> for StoreLoader {
    type Value = Document;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[DocumentKey],
    ) -> Result<HashMap<DocumentKey, Document>, LoadError> {
        let found = self
            .store
            .documents_by_ids(&ids(keys, |k| k.0))
            .await
            .map_err(|e| LoadError(e.into()))?;
        Ok(found
            .into_iter()
            .map(|(id, doc)| (DocumentKey(id), doc))
            .collect())
    }
}

impl Loader<ChunkKey> for StoreLoader {
    type Value = Chunk;
    type Error = LoadError;

    async fn load(&self, keys: &[ChunkKey]) -> Result<HashMap<ChunkKey, Chunk>, LoadError> {
        let found = self
            .store
            .chunks_by_ids(&ids(keys, |k| k.0))
            .await
            .map_err(|e| LoadError(e.into()))?;
        Ok(found
            .into_iter()
            .map(|(id, chunk)| (ChunkKey(id), chunk))
            .collect())
    }
}

impl Loader<DocumentChunksKey> for StoreLoader {
    type Value = Vec<Chunk>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[DocumentChunksKey],
    ) -> Result<HashMap<DocumentChunksKey, Vec<Chunk>>, LoadError> {
        let found = self
            .store
            .chunks_of_documents(&ids(keys, |k| k.0))
            .await
            .map_err(|e| LoadError(e.into()))?;
        Ok(found
            .into_iter()
            .map(|(id, chunks)| (DocumentChunksKey(id), chunks))
            .collect())
    }
}
