//! The metadata store: documents and chunks in SQLite (embedded default) or PostgreSQL, through
//! SeaORM.
//!
//! One concrete type serves both databases: SeaORM is already the abstraction over them, and the
//! integration suite runs against each. Callers see the domain types below, never an entity.

mod api_keys;
mod entities;

pub use api_keys::{ApiKeyRecord, NewApiKey};

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use self::entities::{chunk, document, document_tag, pending_write};
use crate::config::DatabaseConfig;
use crate::telemetry::PoolStats;

/// A stored document, without its full text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    pub id: Uuid,
    pub title: Option<String>,
    pub source: Option<String>,
    pub doc_type: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    /// Serialised as JSON text: the cache's binary codec cannot carry a self-describing value.
    #[serde(with = "json_text")]
    pub metadata: Option<Value>,
    pub content_hash: String,
    pub chunk_count: usize,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    pub id: Uuid,
    pub document_id: Uuid,
    pub index: usize,
    pub content: String,
    pub start_char: usize,
    pub end_char: usize,
    pub token_count: usize,
}

mod json_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(
        value: &Option<Value>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(Value::to_string).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Value>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| serde_json::from_str(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A document about to be stored, with its full text.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub document: Document,
    pub content: String,
}

/// Which documents a listing returns. Empty fields do not filter; tags match any-of.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub tags: Vec<String>,
    pub doc_type: Option<String>,
    pub source: Option<String>,
}

/// A position in the newest-first document listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] DbErr),
    #[error("database migration failed: {0}")]
    Migrate(#[source] DbErr),
    #[error("database query failed: {0}")]
    Query(#[from] DbErr),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl From<StoreError> for crate::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Corrupt(_) => crate::Error::internal(err),
            // Not retryable: the same text fails the same way. Inputs are checked for U+0000
            // before they get here; this keeps any other path from answering UNAVAILABLE.
            StoreError::Query(ref db) if is_unstorable_text(db) => crate::Error::bad_input(
                "the text contains a character the database cannot store (U+0000)",
            ),
            _ => crate::Error::unavailable("the metadata store is unavailable", err),
        }
    }
}

/// PostgreSQL's "invalid byte sequence" (22021, a NUL in text) and "unsupported Unicode
/// escape sequence" (22P05, `\u0000` in JSON).
fn is_unstorable_text(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let (DbErr::Query(RuntimeErr::SqlxError(SqlxError::Database(db)))
    | DbErr::Exec(RuntimeErr::SqlxError(SqlxError::Database(db)))) = err
    else {
        return false;
    };
    matches!(db.code().as_deref(), Some("22021" | "22P05"))
}

/// Why an insert did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Another document with the same content hash exists (possibly stored a moment ago by
    /// another replica): the unique constraint decided, not a race.
    #[error("a document with the same content exists")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct MetadataStore {
    db: DatabaseConnection,
}

/// An interrupted write's record, held by recovery; see [`MetadataStore::claim_pending_write`].
pub struct ClaimedWrite {
    transaction: DatabaseTransaction,
    document_id: Uuid,
}

impl ClaimedWrite {
    /// Once the document's vectors are gone: removes its rows (if the write was a delete that
    /// had not finished) and the record, in one transaction. Returns the new corpus generation
    /// when rows were removed.
    pub async fn settle(self) -> Result<Option<u64>, StoreError> {
        let transaction = self.transaction;
        let removed = document::Entity::delete_by_id(self.document_id)
            .exec(&transaction)
            .await?;
        forget_pending_write(&transaction, self.document_id).await?;
        let generation = if removed.rows_affected > 0 {
            Some(bump_generation(&transaction).await?)
        } else {
            None
        };
        transaction.commit().await?;
        Ok(generation)
    }

    /// Gives the record back untouched (recovery could not remove the vectors this time).
    pub async fn release(self) {
        let _ = self.transaction.rollback().await;
    }
}

/// Rows that an insert has written but not yet committed; see [`MetadataStore::begin_insert`].
pub struct PendingInsert {
    transaction: DatabaseTransaction,
    generation: u64,
}

impl PendingInsert {
    /// Commits, and returns the corpus generation the insert created.
    pub async fn commit(self) -> Result<u64, StoreError> {
        self.transaction.commit().await?;
        Ok(self.generation)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.transaction.rollback().await?)
    }
}

#[derive(Debug, FromQueryResult)]
struct DocumentRow {
    id: Uuid,
    title: Option<String>,
    source: Option<String>,
    /// The column is `type`; without the alias the field silently read as null.
    #[sea_orm(from_alias = "type")]
    doc_type: Option<String>,
    author: Option<String>,
    tags: Value,
    metadata: Option<Value>,
    content_hash: String,
    chunk_count: i32,
    created_at: DateTime<Utc>,
}

impl TryFrom<DocumentRow> for Document {
    type Error = StoreError;

    fn try_from(row: DocumentRow) -> Result<Self, StoreError> {
        let tags = serde_json::from_value(row.tags)
            .map_err(|err| StoreError::Corrupt(format!("tags of document {}: {err}", row.id)))?;
        Ok(Document {
            id: row.id,
            title: row.title,
            source: row.source,
            doc_type: row.doc_type,
            author: row.author,
            tags,
            metadata: row.metadata,
            content_hash: row.content_hash,
            chunk_count: usize::try_from(row.chunk_count).unwrap_or_default(),
            created_at: row.created_at,
        })
    }
}

impl From<chunk::Model> for Chunk {
    fn from(model: chunk::Model) -> Self {
        Chunk {
            id: model.id,
            document_id: model.document_id,
            index: usize::try_from(model.chunk_index).unwrap_or_default(),
            content: model.content,
            start_char: usize::try_from(model.start_char).unwrap_or_default(),
            end_char: usize::try_from(model.end_char).unwrap_or_default(),
            token_count: usize::try_from(model.token_count).unwrap_or_default(),
        }
    }
}

/// Every document column but the full text, which listings and lookups never need.
fn select_documents() -> sea_orm::Select<document::Entity> {
    document::Entity::find().select_only().columns([
        document::Column::Id,
        document::Column::Title,
        document::Column::Source,
        document::Column::DocType,
        document::Column::Author,
        document::Column::Tags,
        document::Column::Metadata,
        document::Column::ContentHash,
        document::Column::ChunkCount,
        document::Column::CreatedAt,
    ])
}

/// Timestamps are kept to the microsecond, the precision PostgreSQL stores, so that a cursor
/// made from a returned document finds it again.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl MetadataStore {
    /// Connects (creating a SQLite file if needed) and applies pending migrations.
    pub async fn connect(url: &str, config: &DatabaseConfig) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .idle_timeout(Duration::from_millis(config.idle_timeout_ms))
            .sqlx_logging(false);
        if config.max_lifetime_ms > 0 {
            options.max_lifetime(Duration::from_millis(config.max_lifetime_ms));
        }
        if config.statement_timeout_ms > 0 {
            // Sent in the startup packet, so every pooled connection has it from birth (a SET
            // after connecting would be lost on a reconnect the pool makes on its own).
            let timeout = format!("{}ms", config.statement_timeout_ms);
            options.map_sqlx_postgres_opts(move |pg| {
                pg.options([("statement_timeout", timeout.as_str())])
            });
        }
        let db = Database::connect(options)
            .await
            .map_err(StoreError::Connect)?;
        let store = MetadataStore { db };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None)
            .await
            .map_err(StoreError::Migrate)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgres",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            sea_orm::DatabaseBackend::MySql => "mysql",
        }
    }

    pub async fn find_by_hash(&self, content_hash: &str) -> Result<Option<Document>, StoreError> {
        select_documents()
            .filter(document::Column::ContentHash.eq(content_hash))
            .into_model::<DocumentRow>()
            .one(&self.db)
            .await?
            .map(Document::try_from)
            .transpose()
    }

    /// Writes the document, its tags and chunks inside a transaction and hands it back
    /// uncommitted, so the caller can commit only once the vectors are stored too.
    pub async fn begin_insert(
        &self,
        new: NewDocument,
        chunks: Vec<Chunk>,
    ) -> Result<PendingInsert, InsertError> {
        let transaction = self.db.begin().await.map_err(StoreError::from)?;
        let doc = new.document;
        // First, so that on PostgreSQL the record stays row-locked until this transaction ends:
        // recovery skips a record a live writer holds (`claim_pending_write`).
        if let Err(err) = forget_pending_write(&transaction, doc.id).await {
            let _ = transaction.rollback().await;
            return Err(StoreError::from(err).into());
        }
        let row = document::ActiveModel {
            id: Set(doc.id),
            title: Set(doc.title),
            source: Set(doc.source),
            doc_type: Set(doc.doc_type),
            author: Set(doc.author),
            tags: Set(Value::from(doc.tags.clone())),
            metadata: Set(doc.metadata),
            content: Set(new.content),
            content_hash: Set(doc.content_hash),
            chunk_count: Set(i32::try_from(doc.chunk_count).unwrap_or(i32::MAX)),
            created_at: Set(doc.created_at),
        };
        let inserted = document::Entity::insert(row).exec(&transaction).await;
        if let Err(err) = inserted {
            let duplicate = matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)));
            let _ = transaction.rollback().await;
            return Err(if duplicate {
                InsertError::Duplicate
            } else {
                StoreError::from(err).into()
            });
        }
        let result = async {
            let mut tags = doc.tags;
            tags.sort();
            tags.dedup();
            if !tags.is_empty() {
                document_tag::Entity::insert_many(tags.into_iter().map(|tag| {
                    document_tag::ActiveModel {
                        document_id: Set(doc.id),
                        tag: Set(tag),
                    }
                }))
                .exec(&transaction)
                .await?;
            }
            // Bounded statements: SQLite allows at most 32,766 bound parameters per statement.
            for batch in chunks.chunks(500) {
                chunk::Entity::insert_many(batch.iter().map(|c| chunk::ActiveModel {
                    id: Set(c.id),
                    document_id: Set(c.document_id),
                    chunk_index: Set(i32::try_from(c.index).unwrap_or(i32::MAX)),
                    content: Set(c.content.clone()),
                    start_char: Set(c.start_char as i64),
                    end_char: Set(c.end_char as i64),
                    token_count: Set(i32::try_from(c.token_count).unwrap_or(i32::MAX)),
                }))
                .exec(&transaction)
                .await?;
            }
            bump_generation(&transaction).await
        }
        .await;
        match result {
            Ok(generation) => Ok(PendingInsert {
                transaction,
                generation,
            }),
            Err(err) => {
                let _ = transaction.rollback().await;
                Err(StoreError::from(err).into())
            }
        }
    }

    pub async fn documents_by_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Document>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        select_documents()
            .filter(document::Column::Id.is_in(ids.iter().copied()))
            .into_model::<DocumentRow>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| Document::try_from(row).map(|doc| (doc.id, doc)))
            .collect()
    }

    pub async fn chunks_by_ids(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Chunk>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(chunk::Entity::find()
            .filter(chunk::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|model| (model.id, Chunk::from(model)))
            .collect())
    }

    /// Each document's chunks in order.
    pub async fn chunks_of_documents(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<Chunk>>, StoreError> {
        let mut by_document: HashMap<Uuid, Vec<Chunk>> = HashMap::new();
        if ids.is_empty() {
            return Ok(by_document);
        }
        let rows = chunk::Entity::find()
            .filter(chunk::Column::DocumentId.is_in(ids.iter().copied()))
            .order_by_asc(chunk::Column::DocumentId)
            .order_by_asc(chunk::Column::ChunkIndex)
            .all(&self.db)
            .await?;
        for row in rows {
            by_document
                .entry(row.document_id)
                .or_default()
                .push(Chunk::from(row));
        }
        Ok(by_document)
    }

    /// Newest first, at most `limit`, strictly after `after`.
    pub async fn list_documents(
        &self,
        filter: &DocumentFilter,
        after: Option<DocumentCursor>,
        limit: u64,
    ) -> Result<Vec<Document>, StoreError> {
        let mut query = select_documents();
        if let Some(doc_type) = &filter.doc_type {
            query = query.filter(document::Column::DocType.eq(doc_type.as_str()));
        }
        if let Some(source) = &filter.source {
            query = query.filter(document::Column::Source.eq(source.as_str()));
        }
        if !filter.tags.is_empty() {
            let tagged = Query::select()
                .column(document_tag::Column::DocumentId)
                .from(document_tag::Entity)
                .and_where(Expr::col(document_tag::Column::Tag).is_in(filter.tags.iter().cloned()))
                .to_owned();
            query = query.filter(document::Column::Id.in_subquery(tagged));
        }
        if let Some(cursor) = after {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(document::Column::CreatedAt.lt(cursor.created_at))
                    .add(
                        sea_orm::Condition::all()
                            .add(document::Column::CreatedAt.eq(cursor.created_at))
                            .add(document::Column::Id.lt(cursor.id)),
                    ),
            );
        }
        query
            .order_by_desc(document::Column::CreatedAt)
            .order_by_desc(document::Column::Id)
            .limit(limit)
            .into_model::<DocumentRow>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(Document::try_from)
            .collect()
    }

    /// Removes the document (its tags and chunks go with it: foreign keys cascade) and any
    /// record of a write in flight for it, and bumps the corpus generation in the same
    /// transaction. Returns the new generation, or `None` when there was no such document.
    pub async fn delete_document(&self, id: Uuid) -> Result<Option<u64>, StoreError> {
        let transaction = self.db.begin().await?;
        let result = document::Entity::delete_by_id(id)
            .exec(&transaction)
            .await?;
        forget_pending_write(&transaction, id).await?;
        if result.rows_affected == 0 {
            transaction.commit().await?;
            return Ok(None);
        }
        let generation = bump_generation(&transaction).await?;
        transaction.commit().await?;
        Ok(Some(generation))
    }

    /// Records, committed, that `document_id`'s vectors are about to be written or deleted.
    /// The transaction that commits or deletes its rows removes the record; one left behind
    /// marks a write a crash interrupted (see `ingest::recover_interrupted_writes`).
    pub async fn record_pending_write(&self, document_id: Uuid) -> Result<(), StoreError> {
        let row = pending_write::ActiveModel {
            document_id: Set(document_id),
            started_at: Set(now()),
        };
        pending_write::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(pending_write::Column::DocumentId)
                    .update_column(pending_write::Column::StartedAt)
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Writes recorded before `started_before` and never finished, oldest first.
    pub async fn pending_writes(
        &self,
        started_before: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        Ok(pending_write::Entity::find()
            .filter(pending_write::Column::StartedAt.lte(started_before))
            .order_by_asc(pending_write::Column::StartedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.document_id)
            .collect())
    }

    /// Takes the record of an interrupted write for recovery: `None` when it is gone, younger
    /// than `started_before`, or (PostgreSQL) locked by the transaction of a writer that is
    /// still running. The claim holds the record until it is settled or released.
    pub async fn claim_pending_write(
        &self,
        document_id: Uuid,
        started_before: DateTime<Utc>,
    ) -> Result<Option<ClaimedWrite>, StoreError> {
        use sea_orm::sea_query::{LockBehavior, LockType};
        let transaction = self.db.begin().await?;
        let found = pending_write::Entity::find_by_id(document_id)
            .filter(pending_write::Column::StartedAt.lte(started_before))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&transaction)
            .await;
        match found {
            Ok(Some(_)) => Ok(Some(ClaimedWrite {
                transaction,
                document_id,
            })),
            Ok(None) => {
                transaction.rollback().await?;
                Ok(None)
            }
            Err(err) => {
                let _ = transaction.rollback().await;
                Err(err.into())
            }
        }
    }

    /// Removes the record of a write whose outcome is settled (its vectors are gone again).
    pub async fn forget_pending_write(&self, document_id: Uuid) -> Result<(), StoreError> {
        pending_write::Entity::delete_by_id(document_id)
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The committed corpus generation.
    pub async fn generation(&self) -> Result<u64, StoreError> {
        let row = self
            .db
            .query_one(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT generation FROM corpus_state WHERE id = 1",
            ))
            .await?
            .ok_or_else(|| StoreError::Corrupt("corpus_state has no row".into()))?;
        let generation: i64 = row.try_get("", "generation")?;
        Ok(generation.max(0) as u64)
    }

    pub async fn count_documents(&self) -> Result<u64, StoreError> {
        Ok(document::Entity::find().count(&self.db).await?)
    }

    pub async fn count_chunks(&self) -> Result<u64, StoreError> {
        Ok(chunk::Entity::find().count(&self.db).await?)
    }

    /// Connections of the pool right now.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            sea_orm::DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            sea_orm::DatabaseBackend::MySql => (0, 0, 0),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        PoolStats {
            max: max as u64,
            size: u64::from(size),
            in_use: u64::from(size.saturating_sub(idle)),
            idle: u64::from(idle),
            waiting: None,
        }
    }

    /// The connection, for tests and migrations tooling.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

async fn forget_pending_write(
    transaction: &DatabaseTransaction,
    document_id: Uuid,
) -> Result<(), DbErr> {
    pending_write::Entity::delete_by_id(document_id)
        .exec(transaction)
        .await?;
    Ok(())
}

/// Increments the generation inside `transaction` and returns the new value. The row lock this
/// takes also orders concurrent writers, so generations are unique per change.
async fn bump_generation(transaction: &DatabaseTransaction) -> Result<u64, DbErr> {
    let row = transaction
        .query_one(Statement::from_string(
            transaction.get_database_backend(),
            "UPDATE corpus_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("corpus_state".into()))?;
    let generation: i64 = row.try_get("", "generation")?;
    Ok(generation.max(0) as u64)
}

impl DocumentCursor {
    pub fn of(document: &Document) -> Self {
        DocumentCursor {
            created_at: document.created_at,
            id: document.id,
        }
    }
}
