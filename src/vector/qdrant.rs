//! The scale-out vector index: a Qdrant server or cluster through qdrant-client (gRPC).
//!
//! One [`Qdrant`] client serves the whole process: tonic multiplexes every request over one
//! HTTP/2 channel (or a small pool when `qdrant.pool_size` > 1), so replicas hold a handful of
//! connections, not one per request.
//!
//! Every write waits (`wait: true`) until the server has applied it: the [`VectorIndex`]
//! contract is that a point is searchable when `upsert` returns, and the corpus generation that
//! tells other replicas to drop cached results is bumped right after. Without `wait`, another
//! replica could recompute a result from an index that does not have the points yet, and cache
//! that stale answer under the new generation.
//!
//! The mapping between our types and Qdrant's (filters, payloads, point ids, collection
//! parameters) is pure and unit-tested below without a server; the integration suite runs the
//! whole backend when `SELFRAG_TEST_QDRANT_URL` is set.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollection, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, CreateVectorNameRequestBuilder, Datatype,
    DeletePointVectorsBuilder, DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder,
    Modifier, NamedVectors, PayloadIncludeSelector, PointId, PointStruct, PointVectors,
    QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder, ReadConsistencyType,
    ScoredPoint as QdrantPoint, ScrollPointsBuilder, SearchParamsBuilder,
    SparseVectorCreationConfigBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpdateCollectionBuilder, UpdatePointVectorsBuilder, UpsertPointsBuilder, Value, Vector,
    VectorInput, VectorParamsBuilder, VectorsSelector, WriteOrdering, WriteOrderingType,
    point_id::PointIdOptions, read_consistency, value::Kind, vector_output, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use crate::config::{QdrantSettings, ReadConsistency, VectorType, WriteOrderingSetting};

use super::{
    IndexError, IndexIdentity, IndexStatus, KEY_DOCUMENT, KEY_SOURCE, KEY_TAGS, KEY_TYPE,
    KEYWORD_VECTOR, ScoredPoint, Target, VectorFilter, VectorIndex, VectorPoint, VectorQuery,
};
use crate::keywords::SparseVector;

/// The unnamed dense vector's name in requests that name vectors.
const DENSE_VECTOR: &str = "";
/// Points per page when listing a document's points.
const SCROLL_PAGE: u32 = 1000;

/// Recorded in the collection's metadata so that a collection filled by another model is refused.
const META_MODEL: &str = "selfrag_model";
/// The keyword settings the keyword vectors were computed with (`Keywords::fingerprint`).
const META_KEYWORDS: &str = "selfrag_keywords";

/// Where to connect and how to shape the collection.
#[derive(Debug, Clone)]
pub struct QdrantOptions {
    pub url: String,
    pub api_key: Option<String>,
    pub collection: String,
    pub settings: QdrantSettings,
}

pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    settings: QdrantSettings,
}

impl QdrantIndex {
    /// Connects, then creates the collection (and its payload indexes) unless it exists; an
    /// existing one must have the model's dimension and cosine distance.
    pub async fn connect(
        options: QdrantOptions,
        identity: &IndexIdentity,
    ) -> Result<Self, IndexError> {
        let settings = options.settings;
        let mut config = Qdrant::from_url(&options.url)
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .keep_alive_while_idle()
            // Our own readiness check below says more than the client's version warning.
            .skip_compatibility_check();
        if let Some(key) = options.api_key.filter(|key| !key.is_empty()) {
            config = config.api_key(key);
        }
        config.set_pool_size(settings.pool_size);
        let client = config.build().map_err(qdrant_error)?;
        let index = QdrantIndex {
            client,
            collection: options.collection,
            settings,
        };
        index.ensure_collection(identity).await?;
        Ok(index)
    }

    async fn ensure_collection(&self, identity: &IndexIdentity) -> Result<(), IndexError> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(qdrant_error)?;
        if exists {
            return self.check_collection(identity).await;
        }
        let created = self
            .client
            .create_collection(collection_spec(&self.collection, identity, &self.settings))
            .await;
        if let Err(err) = created {
            // Another replica may have created it between our check and our create.
            let raced = self
                .client
                .collection_exists(&self.collection)
                .await
                .unwrap_or(false);
            if !raced {
                return Err(qdrant_error(err));
            }
            return self.check_collection(identity).await;
        }
        for key in [KEY_DOCUMENT, KEY_TAGS, KEY_TYPE, KEY_SOURCE] {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        &self.collection,
                        key,
                        FieldType::Keyword,
                    )
                    .wait(true),
                )
                .await
                .map_err(qdrant_error)?;
        }
        tracing::info!(collection = %self.collection, %identity, "created the Qdrant collection");
        Ok(())
    }

    async fn check_collection(&self, identity: &IndexIdentity) -> Result<(), IndexError> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(qdrant_error)?;
        let config = info.result.and_then(|info| info.config);
        let found_model = config
            .as_ref()
            .and_then(|config| config.metadata.get(META_MODEL))
            .and_then(string_value)
            .map(str::to_owned);
        let params = config.and_then(|config| config.params);
        let has_keywords = params
            .as_ref()
            .and_then(|params| params.sparse_vectors_config.as_ref())
            .is_some_and(|sparse| sparse.map.contains_key(KEYWORD_VECTOR));
        let params = params
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config);
        let (size, distance) = match params {
            Some(vectors_config::Config::Params(params)) => (params.size, params.distance),
            _ => {
                return Err(IndexError::Backend(format!(
                    "the Qdrant collection `{}` does not have one unnamed dense vector",
                    self.collection
                )));
            }
        };
        let model_differs = found_model
            .as_ref()
            .is_some_and(|model| *model != identity.model);
        if size != identity.dimensions as u64
            || distance != Distance::Cosine as i32
            || model_differs
        {
            return Err(IndexError::ModelMismatch {
                path: format!("Qdrant collection `{}`", self.collection),
                found: format!(
                    "{} ({size}-d, {})",
                    found_model.as_deref().unwrap_or("an unknown model"),
                    Distance::try_from(distance)
                        .map(|d| d.as_str_name())
                        .unwrap_or("unknown distance")
                ),
                configured: format!("{identity}, cosine"),
            });
        }
        if !has_keywords {
            self.add_keyword_vector().await?;
        }
        Ok(())
    }

    /// Gives a collection from before keyword search its sparse vector (its points are filled
    /// in by the upgrade, `ingest::keywords`). Needs Qdrant 1.18 or later; an older server is
    /// named in the error. Idempotent: replicas starting together may all ask.
    async fn add_keyword_vector(&self) -> Result<(), IndexError> {
        self.client
            .create_vector_name(
                CreateVectorNameRequestBuilder::new(
                    &self.collection,
                    KEYWORD_VECTOR,
                    SparseVectorCreationConfigBuilder::new().modifier(Modifier::Idf),
                )
                .wait(true),
            )
            .await
            .map_err(|err| {
                IndexError::Backend(format!(
                    "the Qdrant collection `{}` has no keyword vector and adding one failed \
                     (it needs Qdrant 1.18 or later): {err}",
                    self.collection
                ))
            })?;
        tracing::info!(collection = %self.collection, "Qdrant collection given a keyword vector; its points are filled in at start");
        Ok(())
    }

    /// One search as a Query API request: the dense vector is the unnamed one, the keyword
    /// vector is named.
    fn query_points(&self, query: VectorQuery) -> QueryPoints {
        let mut request = match query.target {
            Target::Dense(vector) => QueryPointsBuilder::new(&self.collection).query(vector),
            Target::Keywords(terms) => QueryPointsBuilder::new(&self.collection)
                .query(VectorInput::new_sparse(terms.indices, terms.values))
                .using(KEYWORD_VECTOR),
        }
        .limit(query.limit as u64)
        // Only what a hit needs: whole payloads of every candidate cost transfer and parsing.
        .with_payload(PayloadIncludeSelector {
            fields: vec![KEY_DOCUMENT.to_owned()],
        })
        .params(SearchParamsBuilder::default().exact(query.exact));
        if query.with_vectors {
            request = request.with_vectors(VectorsSelector {
                names: vec![DENSE_VECTOR.to_owned()],
            });
        }
        if let Some(filter) = to_filter(&query.filter) {
            request = request.filter(filter);
        }
        if let Some(threshold) = query.threshold {
            request = request.score_threshold(threshold);
        }
        if let Some(consistency) = read_consistency(self.settings.read_consistency) {
            request = request.read_consistency(consistency);
        }
        request.build()
    }

    /// Writes in requests of at most `qdrant.upsert_batch` points: a 100-document ingest can be
    /// thousands of points. Each request waits, so the whole write returns only when
    /// everything is applied.
    fn batches<T>(&self, items: impl IntoIterator<Item = T>) -> impl Iterator<Item = Vec<T>> {
        let size = self.settings.upsert_batch.max(1);
        let mut items = items.into_iter().peekable();
        std::iter::from_fn(move || {
            items
                .peek()
                .is_some()
                .then(|| items.by_ref().take(size).collect())
        })
    }

    fn write_ordering(&self) -> WriteOrdering {
        WriteOrdering {
            r#type: match self.settings.write_ordering {
                WriteOrderingSetting::Weak => WriteOrderingType::Weak,
                WriteOrderingSetting::Medium => WriteOrderingType::Medium,
                WriteOrderingSetting::Strong => WriteOrderingType::Strong,
            } as i32,
        }
    }
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    async fn upsert(&self, points: Vec<VectorPoint>) -> Result<(), IndexError> {
        // Batches bound each request's size (a 100-document ingest can be thousands of
        // points); each waits, so the whole call returns only when everything is searchable.
        for chunk in self.batches(points.into_iter().map(to_point)) {
            self.client
                .upsert_points(
                    UpsertPointsBuilder::new(&self.collection, chunk)
                        .wait(true)
                        .ordering(self.write_ordering()),
                )
                .await
                .map_err(qdrant_error)?;
        }
        Ok(())
    }

    async fn search(&self, query: VectorQuery) -> Result<Vec<ScoredPoint>, IndexError> {
        let request = self.query_points(query);
        let response = self.client.query(request).await.map_err(qdrant_error)?;
        response.result.into_iter().map(from_point).collect()
    }

    async fn search_many(
        &self,
        queries: Vec<VectorQuery>,
    ) -> Result<Vec<Vec<ScoredPoint>>, IndexError> {
        let requests: Vec<QueryPoints> = queries
            .into_iter()
            .map(|query| self.query_points(query))
            .collect();
        let mut batch = QueryBatchPointsBuilder::new(&self.collection, requests);
        if let Some(consistency) = read_consistency(self.settings.read_consistency) {
            batch = batch.read_consistency(consistency);
        }
        let response = self.client.query_batch(batch).await.map_err(qdrant_error)?;
        response
            .result
            .into_iter()
            .map(|batch| batch.result.into_iter().map(from_point).collect())
            .collect()
    }

    async fn without_keywords(&self, limit: usize) -> Result<Vec<Uuid>, IndexError> {
        let response = self
            .client
            .scroll(
                ScrollPointsBuilder::new(&self.collection)
                    .filter(lacking_keywords())
                    .limit(limit.max(1) as u32)
                    .with_payload(false)
                    .with_vectors(false),
            )
            .await
            .map_err(qdrant_error)?;
        response
            .result
            .into_iter()
            .map(|point| point_uuid(point.id))
            .collect()
    }

    async fn count_without_keywords(&self) -> Result<u64, IndexError> {
        Ok(self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(lacking_keywords())
                    .exact(true),
            )
            .await
            .map_err(qdrant_error)?
            .result
            .map_or(0, |count| count.count))
    }

    async fn set_keywords(&self, points: Vec<(Uuid, SparseVector)>) -> Result<(), IndexError> {
        let points = points.into_iter().map(|(id, terms)| PointVectors {
            id: Some(id.to_string().into()),
            vectors: Some(
                NamedVectors::default()
                    .add_vector(KEYWORD_VECTOR, sparse(terms))
                    .into(),
            ),
        });
        for chunk in self.batches(points) {
            self.client
                .update_vectors(
                    UpdatePointVectorsBuilder::new(&self.collection, chunk)
                        .wait(true)
                        .ordering(self.write_ordering()),
                )
                .await
                .map_err(qdrant_error)?;
        }
        Ok(())
    }

    async fn delete_document(&self, document_id: Uuid) -> Result<(), IndexError> {
        let filter = one_document(document_id);
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true)
                    .ordering(self.write_ordering()),
            )
            .await
            .map_err(qdrant_error)?;
        Ok(())
    }

    async fn delete_points(&self, ids: Vec<Uuid>) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids.iter().map(|id| id.to_string().into()).collect();
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(ids)
                    .wait(true)
                    .ordering(self.write_ordering()),
            )
            .await
            .map_err(qdrant_error)?;
        Ok(())
    }

    async fn document_points(&self, document_id: Uuid) -> Result<Vec<Uuid>, IndexError> {
        let mut ids = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .filter(one_document(document_id))
                .limit(SCROLL_PAGE)
                .with_payload(false)
                .with_vectors(false);
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let response = self.client.scroll(request).await.map_err(qdrant_error)?;
            for point in response.result {
                ids.push(point_uuid(point.id)?);
            }
            match response.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(ids),
            }
        }
    }

    async fn vectors(&self, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Vec<f32>>, IndexError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<PointId> = ids.iter().map(|id| id.to_string().into()).collect();
        let mut request = GetPointsBuilder::new(&self.collection, ids)
            .with_payload(false)
            .with_vectors(VectorsSelector {
                names: vec![DENSE_VECTOR.to_owned()],
            });
        if let Some(consistency) = read_consistency(self.settings.read_consistency) {
            request = request.read_consistency(consistency);
        }
        let response = self
            .client
            .get_points(request)
            .await
            .map_err(qdrant_error)?;
        let mut found = HashMap::with_capacity(response.result.len());
        for point in response.result {
            let id = point_uuid(point.id)?;
            if let Some(vector) = dense_vector(point.vectors) {
                found.insert(id, vector);
            }
        }
        Ok(found)
    }

    async fn clear_keywords(&self) -> Result<(), IndexError> {
        self.client
            .delete_vectors(
                DeletePointVectorsBuilder::new(&self.collection)
                    .points_selector(Filter::default())
                    .vectors(VectorsSelector {
                        names: vec![KEYWORD_VECTOR.to_owned()],
                    })
                    .wait(true)
                    .ordering(self.write_ordering()),
            )
            .await
            .map_err(qdrant_error)?;
        Ok(())
    }

    async fn keyword_settings(&self) -> Result<Option<String>, IndexError> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(qdrant_error)?;
        Ok(info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.metadata.get(META_KEYWORDS).cloned())
            .as_ref()
            .and_then(string_value)
            .map(str::to_owned))
    }

    async fn record_keyword_settings(&self, fingerprint: &str) -> Result<(), IndexError> {
        self.client
            .update_collection(UpdateCollectionBuilder::new(&self.collection).metadata(
                HashMap::from([(
                    META_KEYWORDS.to_string(),
                    serde_json::Value::from(fingerprint),
                )]),
            ))
            .await
            .map_err(qdrant_error)?;
        Ok(())
    }

    async fn status(&self) -> Result<IndexStatus, IndexError> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(qdrant_error)?
            .result
            .ok_or_else(|| {
                IndexError::Backend(format!("no info for collection `{}`", self.collection))
            })?;
        let vectors = match info.points_count {
            Some(points) => points,
            // Older servers leave the estimate out: count exactly instead.
            None => self
                .client
                .count(CountPointsBuilder::new(&self.collection).exact(true))
                .await
                .map_err(qdrant_error)?
                .result
                .map(|count| count.count)
                .unwrap_or(0),
        };
        Ok(IndexStatus {
            backend: "qdrant",
            vectors,
            indexed_vectors: info.indexed_vectors_count.unwrap_or(0),
            segments: info.segments_count as usize,
        })
    }
}

/// The collection as we create it: one unnamed cosine vector of the model's dimension, with the
/// sharding, replication and storage options passed through.
fn collection_spec(
    name: &str,
    identity: &IndexIdentity,
    settings: &QdrantSettings,
) -> CreateCollection {
    let mut vectors = VectorParamsBuilder::new(identity.dimensions as u64, Distance::Cosine);
    // `on_disk`, not its successor `memory`: servers before 1.17 ignore `memory` (an unknown
    // protobuf field) and would silently keep the vectors in RAM; newer ones honour both.
    if settings.on_disk_vectors {
        vectors = vectors.on_disk(true);
    }
    vectors = vectors.datatype(match settings.vector_type {
        VectorType::Float16 => Datatype::Float16,
        VectorType::Float32 => Datatype::Float32,
    });
    let mut keywords = SparseVectorsConfigBuilder::default();
    keywords.add_named_vector_params(
        KEYWORD_VECTOR,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    let mut spec = CreateCollectionBuilder::new(name)
        .vectors_config(vectors)
        .sparse_vectors_config(keywords)
        .on_disk_payload(settings.on_disk_payload)
        .metadata(HashMap::from([(
            META_MODEL.to_string(),
            serde_json::Value::from(identity.model.clone()),
        )]));
    if let Some(shards) = settings.shard_number {
        spec = spec.shard_number(shards);
    }
    if let Some(replicas) = settings.replication_factor {
        spec = spec.replication_factor(replicas);
    }
    if let Some(factor) = settings.write_consistency_factor {
        spec = spec.write_consistency_factor(factor);
    }
    spec.build()
}

/// Our filter as Qdrant conditions: every given field must match; tags and document ids match
/// any of the values given.
pub(crate) fn to_filter(filter: &VectorFilter) -> Option<Filter> {
    if filter.is_empty() {
        return None;
    }
    let mut must = Vec::new();
    if !filter.tags.is_empty() {
        must.push(Condition::matches(KEY_TAGS, filter.tags.clone()));
    }
    if let Some(doc_type) = &filter.doc_type {
        must.push(Condition::matches(KEY_TYPE, doc_type.clone()));
    }
    if let Some(source) = &filter.source {
        must.push(Condition::matches(KEY_SOURCE, source.clone()));
    }
    if !filter.document_ids.is_empty() {
        let ids: Vec<String> = filter.document_ids.iter().map(Uuid::to_string).collect();
        must.push(Condition::matches(KEY_DOCUMENT, ids));
    }
    Some(Filter::must(must))
}

/// Points without a keyword vector: those written before the collection had one.
fn lacking_keywords() -> Filter {
    Filter::must_not([Condition::has_vector(KEYWORD_VECTOR)])
}

fn sparse(terms: SparseVector) -> Vector {
    Vector::new_sparse(terms.indices, terms.values)
}

/// The points of one document. Not an `Option`, unlike [`to_filter`]: a delete given an empty
/// filter would match every point.
pub(crate) fn one_document(document_id: Uuid) -> Filter {
    Filter::must([Condition::matches(KEY_DOCUMENT, document_id.to_string())])
}

/// A chunk as a Qdrant point: the chunk id is the point id (a UUID), the payload carries what
/// searches filter on. Absent type and source are left out rather than stored as null.
pub(crate) fn to_point(point: VectorPoint) -> PointStruct {
    let mut payload = Payload::new();
    payload.insert(KEY_DOCUMENT, point.document_id.to_string());
    payload.insert(
        KEY_TAGS,
        Value::from(
            point
                .tags
                .into_iter()
                .map(Value::from)
                .collect::<Vec<Value>>(),
        ),
    );
    if let Some(doc_type) = point.doc_type {
        payload.insert(KEY_TYPE, doc_type);
    }
    if let Some(source) = point.source {
        payload.insert(KEY_SOURCE, source);
    }
    let vectors = NamedVectors::default()
        .add_vector(DENSE_VECTOR, Vector::new_dense(point.vector))
        .add_vector(KEYWORD_VECTOR, sparse(point.keywords));
    PointStruct::new(point.id.to_string(), vectors, payload)
}

fn point_uuid(id: Option<qdrant_client::qdrant::PointId>) -> Result<Uuid, IndexError> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(id)) => Uuid::parse_str(&id)
            .map_err(|err| IndexError::Backend(format!("bad point id {id}: {err}"))),
        Some(PointIdOptions::Num(n)) => Err(IndexError::Backend(format!(
            "unexpected numeric point id {n}: is the collection shared with another program?"
        ))),
        None => Err(IndexError::Backend("a hit without a point id".into())),
    }
}

/// A hit back in our terms. Points we did not write (numeric ids, no document id) are an error,
/// not silently skipped: the collection is shared with something else.
pub(crate) fn from_point(point: QdrantPoint) -> Result<ScoredPoint, IndexError> {
    let id = point_uuid(point.id)?;
    let document_id = point
        .payload
        .get(KEY_DOCUMENT)
        .and_then(string_value)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| IndexError::Backend(format!("point {id} has no document id")))?;
    let vector = dense_vector(point.vectors);
    Ok(ScoredPoint {
        id,
        document_id,
        score: point.score,
        vector,
    })
}

/// The dense (unnamed) vector of a point, when it came back with one.
fn dense_vector(vectors: Option<qdrant_client::qdrant::VectorsOutput>) -> Option<Vec<f32>> {
    match vectors?.get_vector()? {
        vector_output::Vector::Dense(dense) => Some(dense.data),
        _ => None,
    }
}

fn string_value(value: &Value) -> Option<&str> {
    match &value.kind {
        Some(Kind::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn read_consistency(setting: ReadConsistency) -> Option<read_consistency::Value> {
    let kind = match setting {
        ReadConsistency::One => return None,
        ReadConsistency::Majority => ReadConsistencyType::Majority,
        ReadConsistency::Quorum => ReadConsistencyType::Quorum,
        ReadConsistency::All => ReadConsistencyType::All,
    };
    Some(read_consistency::Value::Type(kind as i32))
}

fn qdrant_error(err: QdrantError) -> IndexError {
    IndexError::Backend(format!("qdrant: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qdrant_client::qdrant::{
        DenseVector, PointId, VectorOutput, VectorsOutput, condition::ConditionOneOf,
        r#match::MatchValue, vectors, vectors_output,
    };

    fn field_matches(filter: &Filter) -> Vec<(String, MatchValue)> {
        filter
            .must
            .iter()
            .map(|condition| match &condition.condition_one_of {
                Some(ConditionOneOf::Field(field)) => (
                    field.key.clone(),
                    field
                        .r#match
                        .clone()
                        .and_then(|m| m.match_value)
                        .expect("a match"),
                ),
                other => panic!("unexpected condition {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_empty_filter_is_no_filter() {
        assert!(to_filter(&VectorFilter::default()).is_none());
    }

    #[test]
    fn each_given_field_becomes_one_must_condition() {
        let doc = Uuid::from_u128(7);
        let filter = to_filter(&VectorFilter {
            tags: vec!["a".into(), "b".into()],
            doc_type: Some("note".into()),
            source: Some("wiki".into()),
            document_ids: vec![doc],
        })
        .expect("a filter");
        assert!(filter.should.is_empty() && filter.must_not.is_empty());
        let strings = |values: &[&str]| {
            MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings {
                strings: values.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert_eq!(
            field_matches(&filter),
            vec![
                (KEY_TAGS.to_string(), strings(&["a", "b"])),
                (KEY_TYPE.to_string(), MatchValue::Keyword("note".into())),
                (KEY_SOURCE.to_string(), MatchValue::Keyword("wiki".into())),
                (KEY_DOCUMENT.to_string(), strings(&[&doc.to_string()])),
            ]
        );
    }

    #[test]
    fn a_single_field_filter_has_only_that_condition() {
        let filter = to_filter(&VectorFilter {
            doc_type: Some("pdf".into()),
            ..VectorFilter::default()
        })
        .expect("a filter");
        assert_eq!(
            field_matches(&filter),
            vec![(KEY_TYPE.to_string(), MatchValue::Keyword("pdf".into()))]
        );
    }

    #[test]
    fn points_carry_a_uuid_id_and_the_filtered_payload() {
        let id = Uuid::from_u128(1);
        let document_id = Uuid::from_u128(2);
        let point = to_point(VectorPoint {
            id,
            document_id,
            vector: vec![0.5, -0.5],
            keywords: SparseVector {
                indices: vec![7, 9],
                values: vec![1.5, 0.5],
            },
            tags: vec!["x".into()],
            doc_type: None,
            source: Some("s".into()),
        });
        let vectors = match point.vectors.and_then(|v| v.vectors_options) {
            Some(vectors::VectorsOptions::Vectors(named)) => named.vectors,
            other => panic!("expected named vectors, got {other:?}"),
        };
        assert_eq!(
            vectors.get(DENSE_VECTOR),
            Some(&Vector::new_dense(vec![0.5, -0.5])),
            "the dense vector is the unnamed one"
        );
        assert_eq!(
            vectors.get(KEYWORD_VECTOR),
            Some(&Vector::new_sparse(vec![7, 9], vec![1.5, 0.5])),
            "the keyword vector is named"
        );
        assert_eq!(
            point.id.and_then(|id| id.point_id_options),
            Some(PointIdOptions::Uuid(id.to_string()))
        );
        let payload = serde_json::Value::Object(
            point
                .payload
                .into_iter()
                .map(|(k, v)| (k, v.into_json()))
                .collect(),
        );
        assert_eq!(
            payload,
            serde_json::json!({
                "document_id": document_id.to_string(),
                "tags": ["x"],
                "source": "s",
            })
        );
    }

    #[test]
    fn hits_map_back_to_chunk_and_document_ids() {
        let id = Uuid::from_u128(3);
        let document_id = Uuid::from_u128(4);
        let hit = QdrantPoint {
            id: Some(PointId::from(id.to_string())),
            payload: HashMap::from([(
                KEY_DOCUMENT.to_string(),
                Value::from(document_id.to_string()),
            )]),
            score: 0.75,
            ..QdrantPoint::default()
        };
        assert_eq!(
            from_point(hit.clone()).expect("maps"),
            ScoredPoint {
                id,
                document_id,
                score: 0.75,
                vector: None,
            }
        );
        let with_vector = QdrantPoint {
            vectors: Some(VectorsOutput {
                vectors_options: Some(vectors_output::VectorsOptions::Vector(VectorOutput {
                    vector: Some(vector_output::Vector::Dense(DenseVector {
                        data: vec![0.6, 0.8],
                    })),
                    ..VectorOutput::default()
                })),
            }),
            ..hit
        };
        assert_eq!(
            from_point(with_vector).expect("maps").vector,
            Some(vec![0.6, 0.8]),
            "the dense vector comes back when asked for"
        );
    }

    #[test]
    fn foreign_points_are_errors_not_skipped() {
        let numeric = QdrantPoint {
            id: Some(PointId::from(5u64)),
            ..QdrantPoint::default()
        };
        assert!(from_point(numeric).is_err());
        let no_document = QdrantPoint {
            id: Some(PointId::from(Uuid::from_u128(6).to_string())),
            ..QdrantPoint::default()
        };
        assert!(from_point(no_document).is_err());
    }

    #[test]
    fn the_collection_is_created_as_configured() {
        let identity = IndexIdentity {
            model: "m".into(),
            dimensions: 384,
        };
        let settings = QdrantSettings {
            shard_number: Some(6),
            replication_factor: Some(2),
            write_consistency_factor: Some(2),
            on_disk_vectors: true,
            vector_type: VectorType::Float32,
            ..QdrantSettings::default()
        };
        let spec = collection_spec("c", &identity, &settings);
        assert_eq!(spec.collection_name, "c");
        assert_eq!(
            (
                spec.shard_number,
                spec.replication_factor,
                spec.write_consistency_factor
            ),
            (Some(6), Some(2), Some(2))
        );
        match spec.vectors_config.and_then(|v| v.config) {
            #[allow(deprecated)] // see `collection_spec`
            Some(vectors_config::Config::Params(params)) => {
                assert_eq!(params.size, 384);
                assert_eq!(params.distance, Distance::Cosine as i32);
                assert_eq!(params.on_disk, Some(true));
                assert_eq!(params.datatype, Some(Datatype::Float32 as i32));
            }
            other => panic!("unexpected vectors config {other:?}"),
        }
        assert_eq!(
            spec.metadata.get(META_MODEL).and_then(string_value),
            Some("m")
        );
        let keywords = spec
            .sparse_vectors_config
            .and_then(|sparse| sparse.map.get(KEYWORD_VECTOR).cloned())
            .expect("a keyword vector");
        assert_eq!(
            keywords.modifier,
            Some(Modifier::Idf as i32),
            "the index applies IDF"
        );
        let defaults = collection_spec("c", &identity, &QdrantSettings::default());
        assert_eq!(
            (defaults.shard_number, defaults.replication_factor),
            (None, None),
            "unset options are left to the server's defaults"
        );
        match defaults.vectors_config.and_then(|v| v.config) {
            Some(vectors_config::Config::Params(params)) => assert_eq!(
                params.datatype,
                Some(Datatype::Float16 as i32),
                "half precision by default, as the embedded index stores"
            ),
            other => panic!("unexpected vectors config {other:?}"),
        }
    }

    #[test]
    fn read_consistency_one_sends_nothing() {
        assert_eq!(read_consistency(ReadConsistency::One), None);
        assert_eq!(
            read_consistency(ReadConsistency::Majority),
            Some(read_consistency::Value::Type(
                ReadConsistencyType::Majority as i32
            ))
        );
    }
}
