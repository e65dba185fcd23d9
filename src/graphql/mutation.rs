//! Root fields that change the corpus.

use async_graphql::{Context, ID, Object};

use super::errors::ApiResult;
use super::types::{IngestInput, IngestResult, parse_id};
use crate::cache::{CacheNamespace, ClearedNamespace};
use crate::error::Error;
use crate::ingest::{self, IngestRequest};
use crate::services::Services;

pub struct Mutation;

#[Object]
impl Mutation {
    /// Chunks, embeds and stores a document, all or nothing. Identical content is stored once:
    /// the existing document comes back with `deduplicated: true`.
    async fn ingest_document(
        &self,
        ctx: &Context<'_>,
        input: IngestInput,
    ) -> ApiResult<IngestResult> {
        let services = ctx.data_unchecked::<Services>();
        let request = ingest::validate(input.into(), &services.config.limits)?;
        Ok(detached(services, move |services| async move {
            ingest::ingest(&services, request).await
        })
        .await?
        .into())
    }

    /// Ingests several documents in order, each all or nothing. Every input is validated before
    /// any is stored; if one then fails, those before it stay ingested and the error names it.
    async fn ingest_documents(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<IngestInput>,
    ) -> ApiResult<Vec<IngestResult>> {
        let services = ctx.data_unchecked::<Services>();
        let limits = &services.config.limits;
        if inputs.is_empty() || inputs.len() > limits.max_ingest_batch {
            return Err(Error::bad_input(format!(
                "inputs must hold 1 to {} documents (limits.max_ingest_batch)",
                limits.max_ingest_batch
            ))
            .into());
        }
        let requests: Vec<IngestRequest> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                ingest::validate(input.into(), limits).map_err(|err| match err {
                    Error::BadInput(message) => Error::bad_input(format!("inputs[{i}]: {message}")),
                    other => other,
                })
            })
            .collect::<Result<_, _>>()?;
        let outcomes = detached(services, move |services| async move {
            let mut outcomes = Vec::with_capacity(requests.len());
            for request in requests {
                outcomes.push(ingest::ingest(&services, request).await?);
            }
            Ok(outcomes)
        })
        .await?;
        Ok(outcomes.into_iter().map(Into::into).collect())
    }

    /// Empties one cache namespace, or all of them, in both levels (Redis with SCAN + UNLINK).
    async fn clear_cache(
        &self,
        ctx: &Context<'_>,
        namespace: Option<CacheNamespace>,
    ) -> Vec<ClearedNamespace> {
        ctx.data_unchecked::<Services>()
            .cache
            .clear(namespace)
            .await
    }

    /// Deletes a document with its chunks and vectors. NOT_FOUND when there is none.
    async fn delete_document(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let services = ctx.data_unchecked::<Services>();
        let id = parse_id(&id, "id")?;
        if detached(services, move |services| async move {
            ingest::delete_document(&services, id).await
        })
        .await?
        {
            Ok(true)
        } else {
            Err(Error::not_found(format!("no document with id {id}")).into())
        }
    }
}

/// Runs a write on its own task and waits for it. If the client goes away or the request times
/// out, only the waiting stops: the write still finishes (or rolls back) as a whole, instead of
/// being dropped between the vector upsert and the metadata commit.
async fn detached<T, F, Fut>(services: &Services, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(Services) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    tokio::spawn(work(services.clone()))
        .await
        .map_err(|err| Error::internal(anyhow::anyhow!("write task failed: {err}")))?
}
