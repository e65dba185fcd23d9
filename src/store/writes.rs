//! Writing documents: each insert, replacement or delete is one transaction with its tags,
//! chunks and the corpus-generation bump. Inserts and replacements are handed back uncommitted,
//! so the caller commits only once the vectors are stored too.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, SqlErr,
    TransactionTrait,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entities::{chunk, document, document_tag};
use super::pending::{forget_pending_write, hold_pending_write};
use super::{
    Chunk, Document, InsertError, MetadataStore, NewDocument, StoreError, bump_generation,
};

/// Rows that a write has made but not yet committed; see [`MetadataStore::begin_insert`].
pub struct PendingInsert {
    transaction: DatabaseTransaction,
    generation: u64,
}

impl PendingInsert {
    /// Commits, and returns the corpus generation the write created.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = super::backend_name(sea_orm::ConnectionTrait::get_database_backend(&self.transaction)), db.operation.name = "commit"))]
    pub async fn commit(self) -> Result<u64, StoreError> {
        self.transaction.commit().await?;
        Ok(self.generation)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.transaction.rollback().await?)
    }
}

/// Why a replacement did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The document is no longer at the revision the replacement was computed from: another
    /// write replaced or deleted it meanwhile.
    #[error("the document changed while it was being replaced")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The unique key a document is deduplicated by: its content's hash, unless it has an external
/// id (then its content may repeat elsewhere, and the key is its own).
fn dedupe_key(document: &Document) -> String {
    match &document.external_id {
        None => document.content_hash.clone(),
        Some(_) => hex::encode(Sha256::digest(format!("selfrag-document:{}", document.id))),
    }
}

impl MetadataStore {
    /// Writes the document, its tags and chunks inside a transaction and hands it back
    /// uncommitted. `Duplicate` when its content (or external id) is stored already.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "begin_insert"))]
    pub async fn begin_insert(
        &self,
        new: NewDocument,
        chunks: Vec<Chunk>,
    ) -> Result<PendingInsert, InsertError> {
        self.insert_all(vec![(new, chunks)]).await
    }

    /// [`begin_insert`](Self::begin_insert) for several documents in one transaction (one
    /// commit for a group of inserts): all of them, or none. `Duplicate` when any one's
    /// content (or external id) is stored already.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "begin_insert_many"))]
    pub async fn begin_insert_many(
        &self,
        documents: Vec<(NewDocument, Vec<Chunk>)>,
    ) -> Result<PendingInsert, InsertError> {
        self.insert_all(documents).await
    }

    async fn insert_all(
        &self,
        documents: Vec<(NewDocument, Vec<Chunk>)>,
    ) -> Result<PendingInsert, InsertError> {
        let transaction = self.db.begin().await.map_err(StoreError::from)?;
        for (new, chunks) in documents {
            if let Err(err) = insert_document(&transaction, new, &chunks).await {
                let _ = transaction.rollback().await;
                return Err(err);
            }
        }
        let generation = bump_generation(&transaction).await;
        finish(transaction, generation)
            .await
            .map_err(InsertError::from)
    }
}

/// One document's rows (document, tags, chunks) inside `transaction`, its pending record
/// removed. The caller rolls back on an error.
async fn insert_document(
    transaction: &DatabaseTransaction,
    new: NewDocument,
    chunks: &[Chunk],
) -> Result<(), InsertError> {
    let doc = new.document;
    // First, so that on PostgreSQL the record stays row-locked until this transaction ends:
    // recovery skips a record a live writer holds (`claim_pending_write`).
    forget_pending_write(transaction, doc.id)
        .await
        .map_err(StoreError::from)?;
    let row = document::ActiveModel {
        id: Set(doc.id),
        title: Set(doc.title.clone()),
        source: Set(doc.source.clone()),
        doc_type: Set(doc.doc_type.clone()),
        author: Set(doc.author.clone()),
        tags: Set(Value::from(doc.tags.clone())),
        metadata: Set(doc.metadata.clone()),
        content: Set(new.content),
        dedupe_key: Set(dedupe_key(&doc)),
        chunk_count: Set(i32::try_from(doc.chunk_count).unwrap_or(i32::MAX)),
        created_at: Set(doc.created_at),
        external_id: Set(doc.external_id.clone()),
        content_sha256: Set(Some(doc.content_hash.clone())),
        revision: Set(1),
        updated_at: Set(None),
    };
    let inserted = document::Entity::insert(row).exec(transaction).await;
    if let Err(err) = inserted {
        let duplicate = matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)));
        return Err(if duplicate {
            InsertError::Duplicate
        } else {
            StoreError::from(err).into()
        });
    }
    insert_tags(transaction, doc.id, &doc.tags)
        .await
        .map_err(StoreError::from)?;
    insert_chunks(transaction, chunks)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}

impl MetadataStore {
    /// Replaces a stored document's content, fields, tags and chunks (same id, revision + 1),
    /// provided it is still at `document.revision - 1`; hands the transaction back
    /// uncommitted. The replacement's pending record stays (the caller removes it once the
    /// old vectors are gone), held locked by this transaction.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "begin_replace"))]
    pub async fn begin_replace(
        &self,
        new: NewDocument,
        chunks: Vec<Chunk>,
    ) -> Result<PendingInsert, ReplaceError> {
        let transaction = self.db.begin().await.map_err(StoreError::from)?;
        let doc = new.document;
        let result: Result<Option<u64>, DbErr> = async {
            hold_pending_write(&transaction, doc.id).await?;
            let expected = i32::try_from(doc.revision.saturating_sub(1)).unwrap_or(i32::MAX);
            let updated = document::Entity::update_many()
                .col_expr(document::Column::Title, Expr::value(doc.title.clone()))
                .col_expr(document::Column::Source, Expr::value(doc.source.clone()))
                .col_expr(document::Column::DocType, Expr::value(doc.doc_type.clone()))
                .col_expr(document::Column::Author, Expr::value(doc.author.clone()))
                .col_expr(
                    document::Column::Tags,
                    Expr::value(Value::from(doc.tags.clone())),
                )
                .col_expr(
                    document::Column::Metadata,
                    Expr::value(doc.metadata.clone()),
                )
                .col_expr(document::Column::Content, Expr::value(new.content.clone()))
                .col_expr(
                    document::Column::ContentSha256,
                    Expr::value(doc.content_hash.clone()),
                )
                .col_expr(
                    document::Column::ChunkCount,
                    Expr::value(i32::try_from(doc.chunk_count).unwrap_or(i32::MAX)),
                )
                .col_expr(document::Column::Revision, Expr::value(expected + 1))
                .col_expr(document::Column::UpdatedAt, Expr::value(doc.updated_at))
                .filter(document::Column::Id.eq(doc.id))
                .filter(document::Column::Revision.eq(expected))
                .exec(&transaction)
                .await?;
            if updated.rows_affected == 0 {
                return Ok(None);
            }
            document_tag::Entity::delete_many()
                .filter(document_tag::Column::DocumentId.eq(doc.id))
                .exec(&transaction)
                .await?;
            insert_tags(&transaction, doc.id, &doc.tags).await?;
            chunk::Entity::delete_many()
                .filter(chunk::Column::DocumentId.eq(doc.id))
                .exec(&transaction)
                .await?;
            insert_chunks(&transaction, &chunks).await?;
            bump_generation(&transaction).await.map(Some)
        }
        .await;
        match result {
            Ok(None) => {
                let _ = transaction.rollback().await;
                Err(ReplaceError::Conflict)
            }
            Ok(Some(generation)) => finish(transaction, Ok(generation))
                .await
                .map_err(Into::into),
            Err(err) => finish(transaction, Err(err)).await.map_err(Into::into),
        }
    }

    /// Removes the document (its tags and chunks go with it: foreign keys cascade) and any
    /// record of a write in flight for it, and bumps the corpus generation in the same
    /// transaction. Returns the new generation, or `None` when there was no such document.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "delete_document"))]
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
}

/// The write's transaction, uncommitted, with the generation it created; rolled back on error.
async fn finish(
    transaction: DatabaseTransaction,
    result: Result<u64, DbErr>,
) -> Result<PendingInsert, StoreError> {
    match result {
        Ok(generation) => Ok(PendingInsert {
            transaction,
            generation,
        }),
        Err(err) => {
            let _ = transaction.rollback().await;
            Err(err.into())
        }
    }
}

async fn insert_tags(
    transaction: &DatabaseTransaction,
    document_id: Uuid,
    tags: &[String],
) -> Result<(), DbErr> {
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    if !tags.is_empty() {
        document_tag::Entity::insert_many(tags.into_iter().map(|tag| document_tag::ActiveModel {
            document_id: Set(document_id),
            tag: Set(tag),
        }))
        .exec(transaction)
        .await?;
    }
    Ok(())
}

async fn insert_chunks(transaction: &DatabaseTransaction, chunks: &[Chunk]) -> Result<(), DbErr> {
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
            headings: Set((!c.headings.is_empty()).then(|| Value::from(c.headings.clone()))),
            page: Set(c.page.and_then(|page| i32::try_from(page).ok())),
        }))
        .exec(transaction)
        .await?;
    }
    Ok(())
}
