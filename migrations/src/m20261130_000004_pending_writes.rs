//! Writes in flight: one row per document whose vectors are being written or deleted, committed
//! before the vector index is touched and removed in the same transaction that commits (or
//! deletes) the document's rows. A row left behind marks a write that a crash interrupted:
//! recovery deletes that document's vectors and rows, so the index and the rows agree again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingWrites {
    Table,
    /// The document being written or deleted (no foreign key: an ingest's row exists before
    /// its document does, and a delete's outlives it).
    DocumentId,
    /// When the write began: recovery on a shared index waits until a write this old cannot
    /// still be running on another replica.
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PendingWrites::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PendingWrites::DocumentId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PendingWrites::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingWrites::Table).to_owned())
            .await
    }
}
