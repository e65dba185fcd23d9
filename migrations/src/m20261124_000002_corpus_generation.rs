//! The corpus generation: one row whose counter every ingest and delete bumps in its own
//! transaction. Cached search results carry the generation in their key, so no cache level can
//! serve a result computed before a change that any replica can see.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CorpusState {
    Table,
    /// Always 1: a single-row table.
    Id,
    Generation,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CorpusState::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CorpusState::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CorpusState::Generation)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CorpusState::Table)
                    .columns([CorpusState::Id, CorpusState::Generation])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CorpusState::Table).to_owned())
            .await
    }
}
