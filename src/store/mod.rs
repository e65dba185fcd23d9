//! The metadata store: documents and chunks in SQLite (embedded default) or PostgreSQL, through
//! SeaORM.
//!
//! One concrete type serves both databases: SeaORM is already the abstraction over them, and the
//! integration suite runs against each. Callers see the domain types below, never an entity.

mod api_keys;
mod entities;
mod pending;
mod writes;

pub use api_keys::{ApiKeyRecord, NewApiKey};
pub use pending::{ClaimedWrite, PendingWrite};
pub use writes::{PendingInsert, ReplaceError};

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use self::entities::{chunk, document, document_tag};
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
    /// SHA-256 of the content, hex.
    pub content_hash: String,
    pub chunk_count: usize,
    pub created_at: DateTime<Utc>,
    /// The client's name for it (a path, a URL): ingesting again under it replaces it.
    pub external_id: Option<String>,
    /// 1 when first stored, +1 per replacement.
    pub revision: u32,
    /// When it was last replaced (`None`: never).
    pub updated_at: Option<DateTime<Utc>>,
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
    /// The Markdown headings the chunk sits under, outermost first.
    pub headings: Vec<String>,
    /// The PDF page the chunk starts on, from 1.
    pub page: Option<u32>,
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
    /// Documents whose external id starts with this.
    pub external_id_prefix: Option<String>,
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
    external_id: Option<String>,
    content_sha256: Option<String>,
    revision: i32,
    updated_at: Option<DateTime<Utc>>,
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
            content_hash: row.content_sha256.unwrap_or(row.content_hash),
            chunk_count: usize::try_from(row.chunk_count).unwrap_or_default(),
            created_at: row.created_at,
            external_id: row.external_id,
            revision: u32::try_from(row.revision).unwrap_or(1),
            updated_at: row.updated_at,
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
            headings: model
                .headings
                .and_then(|headings| serde_json::from_value(headings).ok())
                .unwrap_or_default(),
            page: model.page.and_then(|page| u32::try_from(page).ok()),
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
        document::Column::DedupeKey,
        document::Column::ChunkCount,
        document::Column::CreatedAt,
        document::Column::ExternalId,
        document::Column::ContentSha256,
        document::Column::Revision,
        document::Column::UpdatedAt,
    ])
}

/// A database backend as logs, health and traces name it.
pub(crate) fn backend_name(backend: sea_orm::DatabaseBackend) -> &'static str {
    match backend {
        sea_orm::DatabaseBackend::Postgres => "postgres",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        sea_orm::DatabaseBackend::MySql => "mysql",
    }
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
        // SQLite writes ahead to a log: a commit is one append and one sync of `selfrag.db-wal`
        // instead of the rollback journal's create, sync, write, sync and delete, and readers
        // no longer wait for a writer. `synchronous = FULL` keeps every commit durable when it
        // returns, as before. PostgreSQL ignores this.
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
        });
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
        backend_name(self.db.get_database_backend())
    }

    /// The document without an external id that has this content (those with one are not
    /// deduplicated by content).
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "find_by_hash"))]
    pub async fn find_by_hash(&self, content_hash: &str) -> Result<Option<Document>, StoreError> {
        select_documents()
            .filter(document::Column::DedupeKey.eq(content_hash))
            .filter(document::Column::ExternalId.is_null())
            .into_model::<DocumentRow>()
            .one(&self.db)
            .await?
            .map(Document::try_from)
            .transpose()
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "find_by_external_id"))]
    pub async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<Document>, StoreError> {
        select_documents()
            .filter(document::Column::ExternalId.eq(external_id))
            .into_model::<DocumentRow>()
            .one(&self.db)
            .await?
            .map(Document::try_from)
            .transpose()
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "documents_by_ids"))]
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

    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "chunks_by_ids"))]
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
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "chunks_of_documents"))]
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
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "list_documents"))]
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
        if let Some(prefix) = &filter.external_id_prefix {
            // `substr(…) = prefix` rather than LIKE: case-sensitive on both databases (SQLite's
            // LIKE is not), and no wildcards to escape in paths.
            let head = Func::cust(Alias::new("substr"))
                .arg(Expr::col(document::Column::ExternalId))
                .arg(1)
                .arg(prefix.chars().count() as i64);
            query = query.filter(Expr::expr(head).eq(prefix.as_str()));
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

    /// The committed corpus generation.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "generation"))]
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

    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "count_documents"))]
    pub async fn count_documents(&self) -> Result<u64, StoreError> {
        Ok(document::Entity::find().count(&self.db).await?)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "count_chunks"))]
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

/// Increments the generation inside `transaction` and returns the new value. The row lock this
/// takes also orders concurrent writers, so generations are unique per change.
pub(super) async fn bump_generation(transaction: &DatabaseTransaction) -> Result<u64, DbErr> {
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
