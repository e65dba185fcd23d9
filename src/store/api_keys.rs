//! API key records. The store keeps hashes only; making and checking keys is `auth`'s job.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::entities::api_key;
use super::{MetadataStore, StoreError, now};

/// A stored key, as `keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    /// As stored; `auth` parses it (an unknown role makes the key unusable, never more powerful).
    pub role: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKeyRecord {
    fn from(model: api_key::Model) -> Self {
        ApiKeyRecord {
            id: model.id,
            name: model.name,
            role: model.role,
            prefix: model.prefix,
            created_at: model.created_at,
            revoked_at: model.revoked_at,
        }
    }
}

/// What a new key is stored as.
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
}

impl MetadataStore {
    pub async fn insert_api_key(&self, key: NewApiKey<'_>) -> Result<ApiKeyRecord, StoreError> {
        let model = api_key::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(key.name.to_owned()),
            role: Set(key.role.to_owned()),
            prefix: Set(key.prefix.to_owned()),
            key_hash: Set(key.key_hash.to_owned()),
            created_at: Set(now()),
            revoked_at: Set(None),
        };
        let model = api_key::Entity::insert(model)
            .exec_with_returning(self.connection())
            .await?;
        Ok(model.into())
    }

    /// The active (not revoked) key with this hash.
    pub async fn active_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(self.connection())
            .await?
            .map(Into::into))
    }

    pub async fn count_active_api_keys(&self) -> Result<u64, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::RevokedAt.is_null())
            .count(self.connection())
            .await?)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(api_key::Entity::find()
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.connection())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes the active keys whose id or prefix is `id_or_prefix`; returns how many.
    pub async fn revoke_api_keys(&self, id_or_prefix: &str) -> Result<u64, StoreError> {
        let matches = match Uuid::parse_str(id_or_prefix) {
            Ok(id) => api_key::Column::Id.eq(id),
            Err(_) => api_key::Column::Prefix.eq(id_or_prefix),
        };
        let result = api_key::Entity::update_many()
            .col_expr(
                api_key::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(matches)
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected)
    }
}
