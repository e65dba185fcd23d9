//! Records of writes in flight, one per document, committed before the vector index is
//! touched: a record left behind marks a write a crash interrupted, which
//! `ingest::recover_interrupted_writes` settles.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{document, pending_write};
use super::{MetadataStore, StoreError, bump_generation, now};

/// A write that was recorded and has not finished (yet, or ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWrite {
    pub document_id: Uuid,
    /// A replacement of a stored document (recovery keeps its committed version), rather than
    /// an insert or delete (recovery makes the document absent).
    pub replacing: bool,
}

/// An interrupted write's record, held by recovery; see [`MetadataStore::claim_pending_write`].
pub struct ClaimedWrite {
    transaction: DatabaseTransaction,
    pub write: PendingWrite,
}

impl ClaimedWrite {
    /// Once the vectors that must go are gone: for an insert or delete, removes the document's
    /// rows (if a delete had not finished); for a replacement, leaves them (they are the
    /// committed version). Removes the record in the same transaction, and returns the new
    /// corpus generation when rows were removed.
    pub async fn settle(self) -> Result<Option<u64>, StoreError> {
        let transaction = self.transaction;
        let id = self.write.document_id;
        let removed = if self.write.replacing {
            0
        } else {
            document::Entity::delete_by_id(id)
                .exec(&transaction)
                .await?
                .rows_affected
        };
        forget_pending_write(&transaction, id).await?;
        let generation = if removed > 0 {
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

impl MetadataStore {
    /// Records, committed, that `document_id`'s vectors are about to be written or deleted.
    /// The transaction that commits or deletes its rows removes the record (a replacement
    /// removes it once the old vectors are gone); one left behind marks a write a crash
    /// interrupted.
    #[tracing::instrument(name = "db.query", skip_all, fields(otel.kind = "client", db.system = self.backend_name(), db.operation.name = "record_pending_write"))]
    pub async fn record_pending_write(
        &self,
        document_id: Uuid,
        replacing: bool,
    ) -> Result<(), StoreError> {
        self.record_pending_writes(&[document_id], replacing).await
    }

    /// [`record_pending_write`](Self::record_pending_write) for several documents in one
    /// statement: the records of a group of inserts, committed together.
    pub async fn record_pending_writes(
        &self,
        document_ids: &[Uuid],
        replacing: bool,
    ) -> Result<(), StoreError> {
        if document_ids.is_empty() {
            return Ok(());
        }
        let started_at = now();
        let rows = document_ids.iter().map(|&id| pending_write::ActiveModel {
            document_id: Set(id),
            started_at: Set(started_at),
            replacing: Set(replacing),
        });
        pending_write::Entity::insert_many(rows)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(pending_write::Column::DocumentId)
                    .update_columns([
                        pending_write::Column::StartedAt,
                        pending_write::Column::Replacing,
                    ])
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
    ) -> Result<Vec<PendingWrite>, StoreError> {
        Ok(pending_write::Entity::find()
            .filter(pending_write::Column::StartedAt.lte(started_before))
            .order_by_asc(pending_write::Column::StartedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| PendingWrite {
                document_id: row.document_id,
                replacing: row.replacing,
            })
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
            Ok(Some(row)) => Ok(Some(ClaimedWrite {
                transaction,
                write: PendingWrite {
                    document_id,
                    replacing: row.replacing,
                },
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

    /// Removes the record of a write whose outcome is settled.
    pub async fn forget_pending_write(&self, document_id: Uuid) -> Result<(), StoreError> {
        pending_write::Entity::delete_by_id(document_id)
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

pub(super) async fn forget_pending_write(
    transaction: &DatabaseTransaction,
    document_id: Uuid,
) -> Result<(), DbErr> {
    pending_write::Entity::delete_by_id(document_id)
        .exec(transaction)
        .await?;
    Ok(())
}

/// Refreshes a replacement's record inside its transaction: on PostgreSQL the row stays locked
/// until the transaction ends, so recovery elsewhere skips it (`claim_pending_write`).
pub(super) async fn hold_pending_write(
    transaction: &DatabaseTransaction,
    document_id: Uuid,
) -> Result<(), DbErr> {
    pending_write::Entity::update_many()
        .col_expr(
            pending_write::Column::StartedAt,
            sea_orm::sea_query::Expr::value(now()),
        )
        .filter(pending_write::Column::DocumentId.eq(document_id))
        .exec(transaction)
        .await?;
    Ok(())
}
