//! Documents, their tags and their chunks.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    Title,
    Source,
    /// The document's kind as the client names it (`note`, `article`…); a search filter.
    Type,
    Author,
    /// The tags as a JSON array, in the order given: what the API returns.
    Tags,
    /// Free-form client metadata, returned as given.
    Metadata,
    /// The full text, so that documents can be re-chunked and re-embedded when the model changes.
    Content,
    /// SHA-256 of the content; unique, so identical content is stored once even when two
    /// replicas ingest it at the same moment.
    ContentHash,
    ChunkCount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DocumentTags {
    Table,
    DocumentId,
    /// One row per tag: the portable, indexable form of `documents.tags` for filtering.
    Tag,
}

#[derive(DeriveIden)]
enum Chunks {
    Table,
    /// UUIDv5 of (document id, index); also the vector's point id.
    Id,
    DocumentId,
    ChunkIndex,
    Content,
    /// Offsets in Unicode scalar values (characters) into the document's content.
    StartChar,
    EndChar,
    /// Word pieces of the model's tokenizer, without [CLS]/[SEP].
    TokenCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Documents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Documents::Title).string())
                    .col(ColumnDef::new(Documents::Source).string())
                    .col(ColumnDef::new(Documents::Type).string())
                    .col(ColumnDef::new(Documents::Author).string())
                    .col(ColumnDef::new(Documents::Tags).json().not_null())
                    .col(ColumnDef::new(Documents::Metadata).json())
                    .col(ColumnDef::new(Documents::Content).text().not_null())
                    .col(
                        ColumnDef::new(Documents::ContentHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Documents::ChunkCount).integer().not_null())
                    .col(
                        ColumnDef::new(Documents::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Keyset pagination walks (created_at, id) newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_documents_created_at_id")
                    .table(Documents::Table)
                    .col(Documents::CreatedAt)
                    .col(Documents::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DocumentTags::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(DocumentTags::DocumentId).uuid().not_null())
                    .col(ColumnDef::new(DocumentTags::Tag).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(DocumentTags::DocumentId)
                            .col(DocumentTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DocumentTags::Table, DocumentTags::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_document_tags_tag")
                    .table(DocumentTags::Table)
                    .col(DocumentTags::Tag)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Chunks::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Chunks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Chunks::DocumentId).uuid().not_null())
                    .col(ColumnDef::new(Chunks::ChunkIndex).integer().not_null())
                    .col(ColumnDef::new(Chunks::Content).text().not_null())
                    .col(ColumnDef::new(Chunks::StartChar).big_integer().not_null())
                    .col(ColumnDef::new(Chunks::EndChar).big_integer().not_null())
                    .col(ColumnDef::new(Chunks::TokenCount).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Chunks::Table, Chunks::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chunks_document_index")
                    .table(Chunks::Table)
                    .col(Chunks::DocumentId)
                    .col(Chunks::ChunkIndex)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Chunks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentTags::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Documents::Table).to_owned())
            .await?;
        Ok(())
    }
}
