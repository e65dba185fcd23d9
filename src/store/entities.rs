//! SeaORM entities; private to the store, which hands out its own domain types instead.

pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub title: Option<String>,
        pub source: Option<String>,
        #[sea_orm(column_name = "type")]
        pub doc_type: Option<String>,
        pub author: Option<String>,
        pub tags: Json,
        pub metadata: Option<Json>,
        #[sea_orm(column_type = "Text")]
        pub content: String,
        /// The deduplication key (migration 5): the content's SHA-256 without an external id,
        /// a key of the document's own with one.
        #[sea_orm(unique, column_name = "content_hash")]
        pub dedupe_key: String,
        pub chunk_count: i32,
        pub created_at: ChronoDateTimeUtc,
        #[sea_orm(unique)]
        pub external_id: Option<String>,
        /// `None` only in rows a failed migration left; read as the dedupe key.
        pub content_sha256: Option<String>,
        pub revision: i32,
        pub updated_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::chunk::Entity")]
        Chunk,
    }

    impl Related<super::chunk::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Chunk.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod document_tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "document_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub document_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "chunks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub document_id: Uuid,
        pub chunk_index: i32,
        #[sea_orm(column_type = "Text")]
        pub content: String,
        pub start_char: i64,
        pub end_char: i64,
        pub token_count: i32,
        pub headings: Option<Json>,
        pub page: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::document::Entity",
            from = "Column::DocumentId",
            to = "super::document::Column::Id",
            on_delete = "Cascade"
        )]
        Document,
    }

    impl Related<super::document::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Document.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub role: String,
        pub prefix: String,
        #[sea_orm(unique)]
        pub key_hash: String,
        pub created_at: ChronoDateTimeUtc,
        pub revoked_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pending_write {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_writes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub document_id: Uuid,
        pub started_at: ChronoDateTimeUtc,
        pub replacing: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
