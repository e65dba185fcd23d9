//! The embedded vector index: qdrant-edge 0.7.2, the Qdrant engine in process.
//!
//! qdrant-edge's API is synchronous, so every call goes through `spawn_blocking`. Its `flush`
//! panics when it cannot take the WAL or segment lock at once, so writes, flushes and
//! optimisation pass through one `write_gate`; searches never take it. The HNSW graph is built by
//! `optimize()`, which a background task runs after ingests have been quiet for a while; until
//! then segments are searched exactly. After an optimisation the shard is compacted
//! ([`shard`]): closed and opened again, its write-ahead log pruned.

mod shard;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use qdrant_edge::external::serde_json::{Value, json};
use qdrant_edge::{
    AnyVariants, Condition, CountRequest, CreateIndex, CreateVectorName, DEFAULT_VECTOR_NAME,
    Distance, EdgeConfig, EdgeConfigBuilder, EdgeOptimizersConfig, EdgeShard,
    EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations,
    Filter, HasVectorCondition, HnswIndexConfig, Match, Modifier, NamedQuery, PayloadFieldSchema,
    PayloadSchemaType, PayloadSelector, PayloadSelectorInclude, PointId, PointInsertOperations,
    PointOperations, PointStruct, PointVectorsPersisted, QuantizationSearchParams, QueryEnum,
    QueryRequest, ScalarQuantizationConfig, ScalarType, ScoringQuery, ScrollRequest, SearchParams,
    SparseVectorConfig, UpdateOperation, UpdateVectorsOp, ValueVariants, Vector, VectorInternal,
    VectorNameConfig, VectorNameOperations, VectorOperations, VectorStorageDatatype,
    VectorStructInternal, Vectors, WalOptions, WithPayloadInterface, WithVector,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::{IndexConfig, IndexStorage, Quantization, VectorType};

use super::{
    IndexError, IndexIdentity, IndexStatus, KEY_DOCUMENT, KEY_SOURCE, KEY_TAGS, KEY_TYPE,
    KEYWORD_VECTOR, Released, ScoredPoint, Target, VectorFilter, VectorIndex, VectorPoint,
    VectorQuery,
};
use crate::keywords::SparseVector;
use shard::Shard;

const IDENTITY_FILE: &str = "selfrag-index.json";
/// The keyword settings the keyword vectors were computed with (`Keywords::fingerprint`).
const KEYWORD_SETTINGS_FILE: &str = "selfrag-keywords.json";
const SHARD_DIR: &str = "shard";
/// Points per page when listing a document's points.
const SCROLL_PAGE: usize = 1000;
/// Candidates of a quantized graph walk rescored with the full vectors, per hit asked for.
const QUANTIZED_OVERSAMPLING: f64 = 2.0;
/// Locked while a process has the index open ([`lock_directory`]).
const LOCK_FILE: &str = "selfrag.lock";

struct Inner {
    /// Dropped first (fields drop in order).
    shard: Shard,
    /// Serialises writes, flushes and optimisation (see the module comment). A std mutex: it is
    /// only taken on blocking threads.
    write_gate: Mutex<()>,
    /// The directory lock ([`lock_directory`]); released when the file closes, after `shard`.
    _lock: std::fs::File,
    /// Dropped last: tells [`Released`] waiters that the files, the WAL lock and the directory
    /// lock are all free.
    _released: tokio::sync::watch::Sender<()>,
}

pub struct EdgeIndex {
    inner: Arc<Inner>,
    path: PathBuf,
    /// Wakes the background optimiser after a write.
    written: Arc<Notify>,
}

impl EdgeIndex {
    /// Opens the index in `dir`, creating it on first use, and refuses one built for another model.
    /// Blocking.
    pub fn open(
        dir: &Path,
        identity: &IndexIdentity,
        settings: &IndexConfig,
    ) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_directory(dir)?;
        check_identity(dir, identity)?;
        let shard_dir = dir.join(SHARD_DIR);
        let optimizers = EdgeOptimizersConfig {
            indexing_threshold: Some(settings.indexing_threshold_kb),
            ..EdgeOptimizersConfig::default()
        };
        let fresh = !shard_dir.exists();
        // An index from before keyword search has no sparse vector: it must be opened with the
        // configuration it was saved with, then given one (its points are filled in by the
        // upgrade, `ingest::keywords`).
        let saved = if fresh {
            None
        } else {
            EdgeConfig::load(&shard_dir).transpose().map_err(backend)?
        };
        let saved_with_keywords = fresh
            || saved
                .as_ref()
                .is_some_and(|saved| saved.sparse_vectors.contains_key(KEYWORD_VECTOR));
        let datatype = vector_datatype(settings.vector_type, saved.as_ref(), dir);
        let on_disk = settings.storage == IndexStorage::Disk;
        let config = |keywords: bool| {
            let mut builder = EdgeConfigBuilder::new()
                .vector(
                    DEFAULT_VECTOR_NAME,
                    EdgeVectorParamsBuilder::new(identity.dimensions, Distance::Cosine)
                        .on_disk(on_disk)
                        .datatype(datatype)
                        .build(),
                )
                .on_disk_payload(true)
                .wal_options(WalOptions {
                    segment_capacity: settings.wal_segment_kb * 1024,
                    ..WalOptions::default()
                })
                .optimizers(optimizers.clone())
                .hnsw_config(HnswIndexConfig {
                    full_scan_threshold: settings.full_scan_threshold_kb,
                    ..HnswIndexConfig::default()
                });
            if settings.quantization == Quantization::Int8 {
                builder = builder.quantization_config(
                    ScalarQuantizationConfig {
                        r#type: ScalarType::Int8,
                        // Outliers beyond the 99th percentile are clipped rather than allowed
                        // to stretch the scale for every other value (qdrant's recommendation).
                        quantile: Some(0.99),
                        always_ram: Some(true),
                    }
                    .into(),
                );
            }
            if keywords {
                builder = builder.sparse_vector(
                    KEYWORD_VECTOR,
                    EdgeSparseVectorParamsBuilder::new()
                        .modifier(Modifier::Idf)
                        .on_disk(on_disk)
                        .build(),
                );
            }
            builder.build()
        };
        std::fs::create_dir_all(&shard_dir)?;
        let (shard, had_keywords) = if fresh {
            (
                EdgeShard::new(&shard_dir, config(true)).map_err(backend)?,
                true,
            )
        } else {
            let pruned = shard::prune_wal(&shard_dir)?;
            if pruned.removed_files > 0 {
                tracing::info!(
                    files = pruned.removed_files,
                    bytes = pruned.removed_bytes,
                    "vector index write-ahead log pruned"
                );
            }
            match EdgeShard::load(&shard_dir, Some(config(saved_with_keywords))) {
                Ok(shard) => (shard, saved_with_keywords),
                // Adding a vector name saves the segments before `edge_config.json`: a crash
                // between the two leaves the segments with the keyword vector and the saved
                // configuration without it. The segments are the truth.
                Err(first) => match EdgeShard::load(&shard_dir, Some(config(!saved_with_keywords)))
                {
                    Ok(shard) => (shard, !saved_with_keywords),
                    Err(_) => return Err(backend(first)),
                },
            }
        };
        if !had_keywords {
            shard
                .update(UpdateOperation::VectorNameOperation(
                    VectorNameOperations::CreateVectorName(CreateVectorName {
                        vector_name: KEYWORD_VECTOR.into(),
                        config: VectorNameConfig::sparse(SparseVectorConfig {
                            modifier: Some(Modifier::Idf),
                            datatype: None,
                        }),
                    }),
                ))
                .map_err(backend)?;
            shard.flush();
            tracing::info!(path = %dir.display(), "vector index given a keyword vector; its points are filled in at start");
        }
        if fresh {
            for key in [KEY_DOCUMENT, KEY_TAGS, KEY_TYPE, KEY_SOURCE] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: key
                                .try_into()
                                .map_err(|_| IndexError::Backend(format!("bad key {key}")))?,
                            field_schema: Some(PayloadFieldSchema::FieldType(
                                PayloadSchemaType::Keyword,
                            )),
                        }),
                    ))
                    .map_err(backend)?;
            }
            shard.flush();
            write_json(&dir.join(IDENTITY_FILE), identity)?;
        }
        Ok(EdgeIndex {
            inner: Arc::new(Inner {
                shard: Shard::new(&shard_dir, shard),
                write_gate: Mutex::new(()),
                _lock: lock,
                _released: tokio::sync::watch::Sender::new(()),
            }),
            path: dir.to_path_buf(),
            written: Arc::new(Notify::new()),
        })
    }

    /// Builds HNSW graphs in the background once writes have paused for `delay`, one run at a
    /// time; skipped while `disk` is below its reserve (the optimiser writes whole new
    /// segments). It also runs once `delay` after start: an index last closed before its graph
    /// was built, or opened with other storage settings, is brought up to date without waiting
    /// for a write. Returns the task, which ends when the index is dropped.
    pub fn spawn_optimizer(
        &self,
        delay: Duration,
        disk: crate::disk::DiskGuard,
    ) -> tokio::task::JoinHandle<()> {
        let inner = Arc::downgrade(&self.inner);
        let written = Arc::clone(&self.written);
        // A stored permit: the first wait below returns at once.
        written.notify_one();
        tokio::spawn(async move {
            loop {
                written.notified().await;
                // Debounce: wait until no write has arrived for `delay`.
                while tokio::time::timeout(delay, written.notified())
                    .await
                    .is_ok()
                {}
                if let Err(err) = disk.check() {
                    tracing::warn!(error = %err, "vector index optimisation skipped");
                    continue;
                }
                let Some(inner) = inner.upgrade() else { return };
                let started = std::time::Instant::now();
                let result = tokio::task::spawn_blocking(move || inner.optimize()).await;
                match result {
                    Ok(Ok(changed)) => tracing::info!(
                        changed,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "vector index optimised"
                    ),
                    Ok(Err(err)) => {
                        tracing::error!(error = %err, "vector index optimisation failed")
                    }
                    Err(err) => tracing::error!(error = %err, "vector index optimisation panicked"),
                }
            }
        })
    }

    /// Runs the optimiser now and waits for it (tests and the recall report use this).
    pub async fn optimize_now(&self) -> Result<bool, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.optimize()).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, operation: UpdateOperation) -> Result<(), IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let _gate = inner
                .write_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            inner.shard.with(|shard| {
                shard.update(operation)?;
                // Durable before we report success: the metadata store commits right after this.
                shard.flush();
                Ok(())
            })
        })
        .await?;
        self.written.notify_one();
        Ok(())
    }
}

impl Inner {
    fn optimize(&self) -> Result<bool, IndexError> {
        let _gate = self
            .write_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let changed = self.shard.with(|shard| {
            let changed = shard.optimize()?;
            shard.flush();
            Ok(changed)
        })?;
        let started = std::time::Instant::now();
        if let Some(compaction) = self.shard.compact(changed)? {
            tracing::info!(
                removed_wal_files = compaction.removed_files,
                removed_wal_bytes = compaction.removed_bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "vector index compacted"
            );
        }
        if changed {
            // The graph build's temporaries and the segments the compaction reopened are freed
            // by now; glibc would keep them resident.
            crate::memory::release_freed();
        }
        Ok(changed)
    }
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    async fn upsert(&self, points: Vec<VectorPoint>) -> Result<(), IndexError> {
        if points.is_empty() {
            return Ok(());
        }
        let points = points
            .into_iter()
            .map(|point| {
                let payload = json!({
                    KEY_DOCUMENT: point.document_id.to_string(),
                    KEY_TAGS: point.tags,
                    KEY_TYPE: point.doc_type,
                    KEY_SOURCE: point.source,
                });
                let vectors = Vectors::new_named([
                    (DEFAULT_VECTOR_NAME, Vector::new_dense(point.vector)),
                    (KEYWORD_VECTOR, sparse(point.keywords)),
                ]);
                PointStruct::new(PointId::Uuid(point.id), vectors, payload).into()
            })
            .collect();
        self.write(UpdateOperation::PointOperation(
            PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
        ))
        .await
    }

    async fn search(&self, query: VectorQuery) -> Result<Vec<ScoredPoint>, IndexError> {
        let inner = Arc::clone(&self.inner);
        let nearest = match query.target {
            Target::Dense(vector) => NamedQuery {
                query: VectorInternal::Dense(vector),
                using: None,
            },
            Target::Keywords(terms) => {
                NamedQuery::new(sparse(terms).into(), KEYWORD_VECTOR.to_owned())
            }
        };
        let request = QueryRequest {
            prefetches: vec![],
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(nearest))),
            filter: to_filter(&query.filter),
            score_threshold: query.threshold.map(Into::into),
            limit: query.limit,
            offset: 0,
            params: Some(SearchParams {
                exact: query.exact,
                quantization: Some(if query.exact {
                    // The ground truth: full vectors only, never the quantized copy.
                    QuantizationSearchParams {
                        ignore: true,
                        rescore: None,
                        oversampling: None,
                    }
                } else {
                    // qdrant does not rescore scalar quantization by default: a hit's score
                    // would be the int8 estimate. Twice the limit is rescored, so that a
                    // candidate the estimate ranked just below the cut can still make it.
                    QuantizationSearchParams {
                        ignore: false,
                        rescore: Some(true),
                        oversampling: Some(QUANTIZED_OVERSAMPLING),
                    }
                }),
                ..SearchParams::default()
            }),
            with_vector: if query.with_vectors {
                WithVector::Selector(vec![DEFAULT_VECTOR_NAME.into()])
            } else {
                WithVector::Bool(false)
            },
            // Only what a hit needs: reading whole payloads of every candidate costs.
            with_payload: WithPayloadInterface::Selector(PayloadSelector::Include(
                PayloadSelectorInclude::new(vec![json_path(KEY_DOCUMENT)]),
            )),
        };
        let found = blocking(move || inner.shard.with(|shard| shard.query(request))).await?;
        found
            .into_iter()
            .map(|point| {
                let id = point_uuid(point.id)?;
                let document_id = point
                    .payload
                    .as_ref()
                    .and_then(|payload| payload.0.get(KEY_DOCUMENT))
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| IndexError::Backend(format!("point {id} has no document id")))?;
                Ok(ScoredPoint {
                    id,
                    document_id,
                    score: point.score,
                    vector: point.vector.and_then(dense_of),
                })
            })
            .collect()
    }

    async fn delete_document(&self, document_id: Uuid) -> Result<(), IndexError> {
        let filter = one_document(document_id);
        self.write(UpdateOperation::PointOperation(
            PointOperations::DeletePointsByFilter(filter),
        ))
        .await
    }

    async fn delete_points(&self, ids: Vec<Uuid>) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(UpdateOperation::PointOperation(
            PointOperations::DeletePoints {
                ids: ids.into_iter().map(PointId::Uuid).collect(),
            },
        ))
        .await
    }

    async fn document_points(&self, document_id: Uuid) -> Result<Vec<Uuid>, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut ids = Vec::new();
            let mut offset = None;
            loop {
                let request = ScrollRequest {
                    offset,
                    limit: Some(SCROLL_PAGE),
                    filter: Some(one_document(document_id)),
                    with_payload: Some(WithPayloadInterface::Bool(false)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                };
                let (records, next) = inner.shard.with(|shard| shard.scroll(request))?;
                for record in records {
                    ids.push(point_uuid(record.id)?);
                }
                match next {
                    Some(next) => offset = Some(next),
                    None => return Ok(ids),
                }
            }
        })
        .await
    }

    async fn vectors(&self, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Vec<f32>>, IndexError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let inner = Arc::clone(&self.inner);
        let ids: Vec<PointId> = ids.into_iter().map(PointId::Uuid).collect();
        let records = blocking(move || {
            inner.shard.with(|shard| {
                shard.retrieve(
                    &ids,
                    Some(WithPayloadInterface::Bool(false)),
                    Some(WithVector::Selector(vec![DEFAULT_VECTOR_NAME.into()])),
                )
            })
        })
        .await?;
        let mut found = HashMap::with_capacity(records.len());
        for record in records {
            let id = point_uuid(record.id)?;
            if let Some(vector) = record.vector.and_then(dense_of) {
                found.insert(id, vector);
            }
        }
        Ok(found)
    }

    async fn without_keywords(&self, limit: usize) -> Result<Vec<Uuid>, IndexError> {
        let inner = Arc::clone(&self.inner);
        let request = ScrollRequest {
            offset: None,
            limit: Some(limit.max(1)),
            filter: Some(lacking_keywords()),
            with_payload: Some(WithPayloadInterface::Bool(false)),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        let (records, _) =
            blocking(move || inner.shard.with(|shard| shard.scroll(request))).await?;
        records
            .into_iter()
            .map(|record| point_uuid(record.id))
            .collect()
    }

    async fn count_without_keywords(&self) -> Result<u64, IndexError> {
        let inner = Arc::clone(&self.inner);
        let request = CountRequest {
            filter: Some(lacking_keywords()),
            exact: true,
        };
        let count = blocking(move || inner.shard.with(|shard| shard.count(request))).await?;
        Ok(count as u64)
    }

    async fn set_keywords(&self, points: Vec<(Uuid, SparseVector)>) -> Result<(), IndexError> {
        if points.is_empty() {
            return Ok(());
        }
        let points = points
            .into_iter()
            .map(|(id, terms)| PointVectorsPersisted {
                id: PointId::Uuid(id),
                vector: VectorStructInternal::Named(
                    [(KEYWORD_VECTOR.to_owned(), sparse(terms).into())].into(),
                )
                .into(),
            })
            .collect();
        self.write(UpdateOperation::VectorOperation(
            VectorOperations::UpdateVectors(UpdateVectorsOp {
                points,
                update_filter: None,
            }),
        ))
        .await
    }

    async fn clear_keywords(&self) -> Result<(), IndexError> {
        // A filter without conditions matches every point.
        self.write(UpdateOperation::VectorOperation(
            VectorOperations::DeleteVectorsByFilter(Filter::default(), vec![KEYWORD_VECTOR.into()]),
        ))
        .await
    }

    async fn keyword_settings(&self) -> Result<Option<String>, IndexError> {
        Ok(
            read_json::<KeywordSettings>(&self.path.join(KEYWORD_SETTINGS_FILE))?
                .map(|saved| saved.settings),
        )
    }

    async fn record_keyword_settings(&self, fingerprint: &str) -> Result<(), IndexError> {
        write_json(
            &self.path.join(KEYWORD_SETTINGS_FILE),
            &KeywordSettings {
                settings: fingerprint.to_owned(),
            },
        )
    }

    async fn status(&self) -> Result<IndexStatus, IndexError> {
        let inner = Arc::clone(&self.inner);
        let info = blocking(move || inner.shard.with(|shard| Ok(shard.info()))).await?;
        Ok(IndexStatus {
            backend: "embedded",
            vectors: info.points_count as u64,
            indexed_vectors: info.indexed_vectors_count as u64,
            segments: info.segments_count,
        })
    }

    fn released(&self) -> Released {
        Released::when_dropped(&self.inner._released)
    }
}

/// Takes the index directory for this process: an advisory lock on a file in it, so that a
/// second process (the CLI beside a server) is told plainly that the index is taken, rather
/// than meeting qdrant-edge's WAL lock mid-open. The OS releases it when the process dies.
fn lock_directory(dir: &Path) -> Result<std::fs::File, IndexError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(IndexError::InUse {
            path: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(IndexError::Io(err)),
    }
}

/// A payload key of ours as qdrant-edge's path type.
fn json_path(key: &str) -> qdrant_edge::JsonPath {
    key.try_into()
        .expect("static payload keys are valid JSON paths")
}

/// Our points all have UUIDs (chunk ids); a numeric one was not written by us.
fn point_uuid(id: PointId) -> Result<Uuid, IndexError> {
    match id {
        PointId::Uuid(id) => Ok(id),
        PointId::NumId(n) => Err(IndexError::Backend(format!(
            "unexpected numeric point id {n}"
        ))),
    }
}

/// Our sparse vector as qdrant-edge's (the same two arrays).
fn sparse(terms: SparseVector) -> Vector {
    Vector::from(qdrant_edge::SparseVector {
        indices: terms.indices,
        values: terms.values,
    })
}

/// The default (dense) vector of a returned point.
fn dense_of(vectors: VectorStructInternal) -> Option<Vec<f32>> {
    match vectors {
        VectorStructInternal::Single(vector) => Some(vector),
        VectorStructInternal::Named(mut named) => match named.remove(DEFAULT_VECTOR_NAME)? {
            VectorInternal::Dense(vector) => Some(vector),
            _ => None,
        },
        VectorStructInternal::MultiDense(_) => None,
    }
}

/// Points without a keyword vector: those written before the index had one.
fn lacking_keywords() -> Filter {
    Filter {
        must_not: Some(vec![Condition::HasVector(HasVectorCondition {
            has_vector: KEYWORD_VECTOR.into(),
        })]),
        ..Filter::default()
    }
}

/// Maps our filter onto Qdrant conditions: every given field must match; tags match any-of.
fn to_filter(filter: &VectorFilter) -> Option<Filter> {
    if filter.is_empty() {
        return None;
    }
    let mut must = Vec::new();
    if !filter.tags.is_empty() {
        must.push(any_of(KEY_TAGS, filter.tags.clone()));
    }
    if let Some(doc_type) = &filter.doc_type {
        must.push(keyword(KEY_TYPE, doc_type));
    }
    if let Some(source) = &filter.source {
        must.push(keyword(KEY_SOURCE, source));
    }
    if !filter.document_ids.is_empty() {
        must.push(any_of(
            KEY_DOCUMENT,
            filter.document_ids.iter().map(Uuid::to_string).collect(),
        ));
    }
    Some(Filter {
        must: Some(must),
        ..Filter::default()
    })
}

/// The points of one document. Not an `Option`, unlike [`to_filter`]: a delete given an empty
/// filter would match every point.
fn one_document(document_id: Uuid) -> Filter {
    Filter {
        must: Some(vec![keyword(KEY_DOCUMENT, &document_id.to_string())]),
        ..Filter::default()
    }
}

fn keyword(key: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        json_path(key),
        Match::new_value(ValueVariants::String(value.to_owned())),
    ))
}

fn any_of(key: &str, values: Vec<String>) -> Condition {
    Condition::Field(FieldCondition::new_match(
        json_path(key),
        Match::new_any(AnyVariants::Strings(values.into_iter().collect())),
    ))
}

/// The element type of the dense vectors: the configured one for a new index, the saved one for
/// an existing index (qdrant cannot load segments of one type under a configuration of the
/// other, and converting would mean re-embedding every chunk).
fn vector_datatype(
    configured: VectorType,
    saved: Option<&EdgeConfig>,
    dir: &Path,
) -> VectorStorageDatatype {
    let configured = match configured {
        VectorType::Float16 => VectorStorageDatatype::Float16,
        VectorType::Float32 => VectorStorageDatatype::Float32,
    };
    let Some(saved) = saved else {
        return configured;
    };
    // An index saved before the setting existed has no datatype: float32, qdrant's default.
    let kept = saved
        .vectors
        .get(DEFAULT_VECTOR_NAME)
        .and_then(|params| params.datatype)
        .unwrap_or_default();
    if kept != configured {
        tracing::info!(
            path = %dir.display(),
            kept = ?kept,
            configured = ?configured,
            "vector index keeps the vector type it was created with; index.vector_type applies to new indexes"
        );
    }
    kept
}

fn check_identity(dir: &Path, configured: &IndexIdentity) -> Result<(), IndexError> {
    let Some(found) = read_json::<IndexIdentity>(&dir.join(IDENTITY_FILE))? else {
        return Ok(());
    };
    if &found != configured {
        return Err(IndexError::ModelMismatch {
            path: dir.display().to_string(),
            found: found.to_string(),
            configured: configured.to_string(),
        });
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeywordSettings {
    settings: String,
}

/// One of the small JSON records kept beside the index; `None` when it was never written.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, IndexError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| IndexError::Backend(format!("{} is corrupt: {err}", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Writes a record whole or not at all: a temporary file, synced, renamed over it.
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), IndexError> {
    use std::io::Write;
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|err| IndexError::Backend(err.to_string()))?;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

fn backend(err: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(err.to_string())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IndexError> + Send + 'static,
) -> Result<T, IndexError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| IndexError::Backend(format!("index task failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_is_no_filter() {
        assert!(to_filter(&VectorFilter::default()).is_none());
    }

    #[test]
    fn every_given_field_becomes_one_must_condition() {
        let filter = to_filter(&VectorFilter {
            tags: vec!["a".into(), "b".into()],
            doc_type: Some("note".into()),
            source: Some("wiki".into()),
            document_ids: vec![Uuid::nil()],
        })
        .expect("a filter");
        assert_eq!(filter.must.map(|m| m.len()), Some(4));
    }
}
