//! Documents that change: an external id to address them by (a path, a URL), a revision that
//! each replacement advances, where each chunk sits in its document (heading path, PDF page),
//! and pending writes that replace a document rather than add or remove one.
//!
//! `documents.content_hash` keeps its unique constraint (SQLite cannot drop one without
//! rebuilding the table its chunks and tags refer to), and becomes the deduplication key:
//! the content's SHA-256 for a document without an external id (identical content is stored
//! once, as before), and a key of the document's own for one with an external id, whose
//! content may repeat under another id. The content's SHA-256 itself moves to
//! `content_sha256`, copied here for the documents that exist.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Documents {
    Table,
    ContentHash,
    /// The client's name for the document (unique when given).
    ExternalId,
    /// SHA-256 of the content, hex.
    ContentSha256,
    /// 1 when first stored, +1 per replacement: a replacement applies only to the revision it
    /// read, so two concurrent updates of one document cannot interleave their chunks.
    Revision,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Chunks {
    Table,
    /// The Markdown heading path the chunk sits under, outermost first (JSON array).
    Headings,
    /// The PDF page the chunk starts on, from 1.
    Page,
}

#[derive(DeriveIden, Clone, Copy)]
enum PendingWrites {
    Table,
    /// The write replaces a stored document: recovery keeps whichever version is committed and
    /// removes only the vectors that are not its chunks'.
    Replacing,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Each step is skipped when already done: on SQLite a migration is not one transaction,
        // so one cut short must be able to run again.
        add_columns(
            manager,
            Documents::Table,
            [
                ColumnDef::new(Documents::ExternalId).string().to_owned(),
                ColumnDef::new(Documents::ContentSha256)
                    .string_len(64)
                    .to_owned(),
                ColumnDef::new(Documents::Revision)
                    .integer()
                    .not_null()
                    .default(1)
                    .to_owned(),
                ColumnDef::new(Documents::UpdatedAt)
                    .timestamp_with_time_zone()
                    .to_owned(),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_documents_external_id")
                    .table(Documents::Table)
                    .col(Documents::ExternalId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Documents::Table)
                    .value(Documents::ContentSha256, Expr::col(Documents::ContentHash))
                    .and_where(Expr::col(Documents::ContentSha256).is_null())
                    .to_owned(),
            )
            .await?;
        add_columns(
            manager,
            Chunks::Table,
            [
                ColumnDef::new(Chunks::Headings).json().to_owned(),
                ColumnDef::new(Chunks::Page).integer().to_owned(),
            ],
        )
        .await?;
        add_columns(
            manager,
            PendingWrites::Table,
            [ColumnDef::new(PendingWrites::Replacing)
                .boolean()
                .not_null()
                .default(false)
                .to_owned()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_documents_external_id")
                    .table(Documents::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Documents::ExternalId,
            Documents::ContentSha256,
            Documents::Revision,
            Documents::UpdatedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Documents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Chunks::Headings, Chunks::Page] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Chunks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(PendingWrites::Table)
                    .drop_column(PendingWrites::Replacing)
                    .to_owned(),
            )
            .await
    }
}

/// Adds the columns `table` lacks, one statement each (SQLite's ALTER TABLE adds one at a time).
async fn add_columns<T: Iden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table_name = table.to_string();
    for mut column in columns {
        let name = column.get_column_name();
        if manager.has_column(&table_name, &name).await? {
            continue;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
