//! Schema migrations for selfrag's metadata store (SQLite or PostgreSQL, through SeaORM).
//!
//! Run by the server at start-up and by `selfrag migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_documents;
mod m20261124_000002_corpus_generation;
mod m20261124_000003_api_keys;
mod m20261130_000004_pending_writes;
mod m20261202_000005_document_versions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_documents::Migration),
            Box::new(m20261124_000002_corpus_generation::Migration),
            Box::new(m20261124_000003_api_keys::Migration),
            Box::new(m20261130_000004_pending_writes::Migration),
            Box::new(m20261202_000005_document_versions::Migration),
        ]
    }
}
