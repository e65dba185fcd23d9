//! API keys and roles: who is calling, and whether they may.
//!
//! Authentication is on as soon as one active key exists (`selfrag keys create`); a fresh
//! install with no keys stays open, as a developer expects. Keys carry one role; roles are
//! ordered, so a writer may do what a reader may.

mod key;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::error::Error;
use crate::store::{ApiKeyRecord, MetadataStore, NewApiKey};

/// What a key may do. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Queries: search, documents, analytics, subscriptions.
    Reader,
    /// Also ingest and delete documents.
    Writer,
    /// Also clear the cache.
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            other => Err(Error::bad_input(format!(
                "unknown role `{other}`: expected reader, writer or admin"
            ))),
        }
    }
}

/// The key a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key_id: Uuid,
    pub name: String,
    pub role: Role,
}

/// Who is calling: the key, if one was presented and valid, and the client address.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub identity: Option<Arc<Identity>>,
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// Whose budget a call spends: the key's, or the address's when anonymous.
    pub fn rate_key(&self) -> String {
        match (&self.identity, self.ip) {
            (Some(identity), _) => format!("key:{}", identity.key_id),
            (None, Some(ip)) => format!("ip:{ip}"),
            (None, None) => "anonymous".to_owned(),
        }
    }
}

/// A key just created: the record and the secret, which is never shown again.
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

/// Checks presented keys against the store, with a short in-process memory so that a request
/// costs no database round trip.
pub struct ApiKeys {
    store: MetadataStore,
    public_queries: bool,
    /// Key hash → identity (None: unknown or revoked).
    lookups: Cache<String, Option<Arc<Identity>>>,
    /// Whether any active key exists.
    enforced: Cache<(), bool>,
}

impl ApiKeys {
    pub fn new(store: MetadataStore, config: &AuthConfig) -> Self {
        let ttl = Duration::from_millis(config.key_cache_ttl_ms.max(1));
        ApiKeys {
            store,
            public_queries: config.public_queries,
            lookups: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            enforced: Cache::builder().max_capacity(1).time_to_live(ttl).build(),
        }
    }

    /// Whether keys are required at all (at least one active key exists).
    pub async fn enforced(&self) -> Result<bool, Error> {
        let store = &self.store;
        self.enforced
            .try_get_with((), async {
                store.count_active_api_keys().await.map(|n| n > 0)
            })
            .await
            .map_err(|err| Error::unavailable("cannot check API keys", SharedStoreError(err)))
    }

    /// The identity of a presented key; an unknown or revoked key is an error, never anonymous.
    pub async fn authenticate(&self, presented: &str) -> Result<Arc<Identity>, Error> {
        let digest = key::hash(presented);
        let store = &self.store;
        let found = self
            .lookups
            .try_get_with(digest.clone(), async {
                let record = store.active_api_key(&digest).await?;
                Ok::<_, crate::store::StoreError>(record.and_then(|record| {
                    // An unreadable role makes the key useless rather than powerful.
                    let role = record.role.parse().ok()?;
                    Some(Arc::new(Identity {
                        key_id: record.id,
                        name: record.name,
                        role,
                    }))
                }))
            })
            .await
            .map_err(|err| Error::unavailable("cannot check API keys", SharedStoreError(err)))?;
        found.ok_or_else(|| Error::Unauthenticated("the API key is not valid".into()))
    }

    /// Whether `caller` may do something that needs `needed`.
    pub async fn authorize(&self, caller: &Caller, needed: Role) -> Result<(), Error> {
        if needed == Role::Reader && self.public_queries {
            return Ok(());
        }
        // Boxed: the look-up's future (the cache's and the database's) is large, and a public
        // query, which every response-cache hit checks, would otherwise carry and move it.
        if !Box::pin(self.enforced()).await? {
            return Ok(());
        }
        match &caller.identity {
            None => Err(Error::Unauthenticated(format!(
                "this call needs an API key with the {needed} role \
                 (Authorization: Bearer <key> or X-API-Key: <key>)"
            ))),
            Some(identity) if identity.role < needed => Err(Error::Forbidden(format!(
                "this call needs the {needed} role; key `{}` has {}",
                identity.name, identity.role
            ))),
            Some(_) => Ok(()),
        }
    }

    pub async fn create(&self, name: &str, role: Role) -> Result<CreatedKey, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::bad_input("a key name must have 1 to 100 characters"));
        }
        let secret = key::generate().map_err(|err| Error::internal(anyhow::anyhow!("{err}")))?;
        let record = self
            .store
            .insert_api_key(NewApiKey {
                name,
                role: role.as_str(),
                prefix: key::shown_prefix(&secret),
                key_hash: &key::hash(&secret),
            })
            .await?;
        self.forget();
        Ok(CreatedKey { record, secret })
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, Error> {
        Ok(self.store.list_api_keys().await?)
    }

    /// Revokes by id or shown prefix; returns how many keys were revoked. Other replicas stop
    /// accepting the key within `auth.key_cache_ttl_ms`.
    pub async fn revoke(&self, id_or_prefix: &str) -> Result<u64, Error> {
        let revoked = self.store.revoke_api_keys(id_or_prefix).await?;
        self.forget();
        Ok(revoked)
    }

    fn forget(&self) {
        self.lookups.invalidate_all();
        self.enforced.invalidate_all();
    }
}

/// moka shares one error between the waiters of a lookup; this carries it as a source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SharedStoreError(Arc<crate::store::StoreError>);
