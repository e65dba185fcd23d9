//! Fault injection around the real parts: each wrapper delegates to a real backend and fails
//! only when a test switches the fault on, so the failure paths run against real storage.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use selfrag::embed::{EmbedError, Embedder, ModelInfo, Vector};
use selfrag::keywords::SparseVector;
use selfrag::vector::{
    IndexError, IndexStatus, Released, ScoredPoint, VectorIndex, VectorPoint, VectorQuery,
};
use uuid::Uuid;

pub struct FlakyIndex {
    pub inner: Arc<dyn VectorIndex>,
    /// When set, upserts write their points and then fail, as a crash mid-write would.
    pub fail_upserts: AtomicBool,
    /// Upserts of more points than this write them and then fail (a group of documents).
    pub fail_upserts_above: AtomicUsize,
    /// The upsert at this position in `upserted` writes its points and then fails.
    pub fail_upsert_at: AtomicUsize,
    /// How many points each upsert carried, in order.
    pub upserted: Mutex<Vec<usize>>,
}

#[async_trait]
impl VectorIndex for FlakyIndex {
    async fn upsert(&self, points: Vec<VectorPoint>) -> Result<(), IndexError> {
        let count = points.len();
        let position = {
            let mut upserted = self.upserted.lock().expect("upserted");
            upserted.push(count);
            upserted.len() - 1
        };
        self.inner.upsert(points).await?;
        if self.fail_upserts.load(Ordering::SeqCst)
            || count > self.fail_upserts_above.load(Ordering::SeqCst)
            || position == self.fail_upsert_at.load(Ordering::SeqCst)
        {
            return Err(IndexError::Backend("injected upsert failure".into()));
        }
        Ok(())
    }
    async fn search(&self, query: VectorQuery) -> Result<Vec<ScoredPoint>, IndexError> {
        self.inner.search(query).await
    }
    async fn delete_document(&self, document_id: Uuid) -> Result<(), IndexError> {
        self.inner.delete_document(document_id).await
    }
    async fn status(&self) -> Result<IndexStatus, IndexError> {
        self.inner.status().await
    }
    async fn without_keywords(&self, limit: usize) -> Result<Vec<Uuid>, IndexError> {
        self.inner.without_keywords(limit).await
    }
    async fn count_without_keywords(&self) -> Result<u64, IndexError> {
        self.inner.count_without_keywords().await
    }
    async fn set_keywords(&self, points: Vec<(Uuid, SparseVector)>) -> Result<(), IndexError> {
        self.inner.set_keywords(points).await
    }
    async fn clear_keywords(&self) -> Result<(), IndexError> {
        self.inner.clear_keywords().await
    }
    async fn keyword_settings(&self) -> Result<Option<String>, IndexError> {
        self.inner.keyword_settings().await
    }
    async fn record_keyword_settings(&self, fingerprint: &str) -> Result<(), IndexError> {
        self.inner.record_keyword_settings(fingerprint).await
    }
    async fn delete_points(&self, ids: Vec<Uuid>) -> Result<(), IndexError> {
        self.inner.delete_points(ids).await
    }
    async fn document_points(&self, document_id: Uuid) -> Result<Vec<Uuid>, IndexError> {
        self.inner.document_points(document_id).await
    }
    async fn vectors(
        &self,
        ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, Vec<f32>>, IndexError> {
        self.inner.vectors(ids).await
    }
    fn released(&self) -> Released {
        self.inner.released()
    }
}

/// The real model, with switches: fail every call, fail from the n-th call on, take longer,
/// claim more sessions; and a log of how many texts each call carried and how many ran at once.
pub struct FlakyEmbedder {
    pub inner: Arc<dyn Embedder>,
    pub fail: AtomicBool,
    /// Calls from this one on (counting from 0) fail.
    pub fail_from_call: AtomicUsize,
    /// Added to every call, in milliseconds.
    pub delay_ms: AtomicU64,
    /// The sessions it claims to run (`parallel_calls`); 0: the real model's.
    pub sessions: AtomicUsize,
    /// Texts per call, in order.
    pub calls: Mutex<Vec<usize>>,
    /// Calls running now, and the most that ever ran at once.
    running: AtomicUsize,
    pub most_running: AtomicUsize,
}

impl FlakyEmbedder {
    pub fn around(inner: Arc<dyn Embedder>) -> Self {
        FlakyEmbedder {
            inner,
            fail: AtomicBool::new(false),
            fail_from_call: AtomicUsize::new(usize::MAX),
            delay_ms: AtomicU64::new(0),
            sessions: AtomicUsize::new(0),
            calls: Mutex::default(),
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> Vec<usize> {
        self.calls.lock().expect("calls").clone()
    }

    /// The call after its delay: failed if a switch says so, else the real model's answer.
    async fn delayed_embed(
        &self,
        call: usize,
        texts: Vec<String>,
    ) -> Result<Vec<Vector>, EmbedError> {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        if self.fail.load(Ordering::SeqCst) || call >= self.fail_from_call.load(Ordering::SeqCst) {
            return Err(EmbedError::Stopped);
        }
        self.inner.embed(texts).await
    }
}

#[async_trait]
impl Embedder for FlakyEmbedder {
    fn model(&self) -> &ModelInfo {
        self.inner.model()
    }
    fn parallel_calls(&self) -> usize {
        match self.sessions.load(Ordering::SeqCst) {
            0 => self.inner.parallel_calls(),
            sessions => sessions,
        }
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vector>, EmbedError> {
        let call = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(texts.len());
            calls.len() - 1
        };
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(running, Ordering::SeqCst);
        let result = self.delayed_embed(call, texts).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// An app on `backend` whose index (the backend's real one, embedded or Qdrant) and model are
/// wrapped in fault switches, both off: a test turns one on where it wants the failure.
pub async fn spawn_with_faults(
    backend: crate::helpers::Backend,
) -> (crate::helpers::TestApp, Arc<FlakyIndex>, Arc<FlakyEmbedder>) {
    spawn_with_faults_and(backend, |_| {}).await
}

/// [`spawn_with_faults`] with the configuration tweaked.
pub async fn spawn_with_faults_and(
    backend: crate::helpers::Backend,
    tweak: impl FnOnce(&mut selfrag::config::Config),
) -> (crate::helpers::TestApp, Arc<FlakyIndex>, Arc<FlakyEmbedder>) {
    use crate::helpers::{TestApp, shared_embedder};
    use selfrag::app::Overrides;
    use selfrag::vector::IndexIdentity;

    let index_slot: Arc<std::sync::Mutex<Option<Arc<FlakyIndex>>>> = Arc::default();
    let slot = Arc::clone(&index_slot);
    let embedder = Arc::new(FlakyEmbedder::around(shared_embedder()));
    let injected = Arc::clone(&embedder);
    let app = TestApp::spawn_custom(backend, tweak, move |config| {
        let identity = IndexIdentity::from(shared_embedder().model());
        let (real, _background) = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(selfrag::app::open_index(config, identity))
        })
        .expect("real index");
        let flaky = Arc::new(FlakyIndex {
            inner: real,
            fail_upserts: AtomicBool::new(false),
            fail_upserts_above: AtomicUsize::new(usize::MAX),
            fail_upsert_at: AtomicUsize::new(usize::MAX),
            upserted: Mutex::default(),
        });
        *slot.lock().expect("slot") = Some(Arc::clone(&flaky));
        Overrides {
            index: Some(flaky as Arc<dyn VectorIndex>),
            embedder: Some(injected),
            ..Overrides::default()
        }
    })
    .await;
    let index = index_slot.lock().expect("slot").clone().expect("index");
    (app, index, embedder)
}
