//! Root fields that change the corpus.

use async_graphql::{Context, ID, Object};

use super::access::{RoleGuard, spend};
use super::errors::ApiResult;
use super::types::{IngestInput, IngestResult, parse_id};
use crate::auth::Role;
use crate::cache::{CacheNamespace, ClearedNamespace};
use crate::error::Error;
use crate::ingest::{self, IngestEvent, IngestOutcome, IngestRequest, IngestStatus};
use crate::ratelimit::BudgetKind;
use crate::services::Services;

pub struct Mutation;

#[Object]
impl Mutation {
    /// Chunks, embeds and stores a document, all or nothing. Identical content is stored once:
    /// the existing document comes back with `deduplicated: true`. Needs the writer role when
    /// keys are configured; spends 1 from the `ingest` budget.
    async fn ingest_document(
        &self,
        ctx: &Context<'_>,
        input: IngestInput,
    ) -> ApiResult<IngestResult> {
        let services = ctx.data_unchecked::<Services>();
        let request = ingest::validate(input.into(), &services.config.limits)?;
        spend(ctx, BudgetKind::Ingest, 1).await?;
        let mut outcomes = detached(services, move |services| async move {
            ingest_in_order(&services, vec![request], None).await
        })
        .await?;
        let outcome = outcomes.pop().ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "an ingest of one document returned no outcome"
            ))
        })?;
        Ok(outcome.into())
    }

    /// Ingests several documents in order, each all or nothing. Every input is validated before
    /// any is stored; if one then fails, those before it stay ingested and the error names it.
    /// Progress goes to the `ingestProgress` subscription, tagged with `batchId` when given
    /// (subscribe first, then send the batch). Spends one per document from `ingest`.
    async fn ingest_documents(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<IngestInput>,
        #[graphql(validator(max_length = 100))] batch_id: Option<String>,
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
        spend(ctx, BudgetKind::Ingest, requests.len()).await?;
        let outcomes = detached(services, move |services| async move {
            ingest_in_order(&services, requests, batch_id).await
        })
        .await?;
        Ok(outcomes.into_iter().map(Into::into).collect())
    }

    /// Empties one cache namespace, or all of them, in both levels (Redis with SCAN + UNLINK).
    /// Needs the admin role when keys are configured.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn clear_cache(
        &self,
        ctx: &Context<'_>,
        namespace: Option<CacheNamespace>,
    ) -> ApiResult<Vec<ClearedNamespace>> {
        spend(ctx, BudgetKind::Ingest, 1).await?;
        Ok(ctx
            .data_unchecked::<Services>()
            .cache
            .clear(namespace)
            .await)
    }

    /// Deletes a document with its chunks and vectors. NOT_FOUND when there is none.
    async fn delete_document(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let services = ctx.data_unchecked::<Services>();
        let id = parse_id(&id, "id")?;
        spend(ctx, BudgetKind::Ingest, 1).await?;
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

/// Ingests one request after another, publishing each outcome to `ingestProgress`; stops at
/// the first failure.
async fn ingest_in_order(
    services: &Services,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
) -> Result<Vec<IngestOutcome>, Error> {
    let total = requests.len();
    let mut outcomes = Vec::with_capacity(total);
    for (index, request) in requests.into_iter().enumerate() {
        let title = request.title.clone();
        let event = |status, document_id, chunks_created, error, elapsed_ms| IngestEvent {
            batch_id: batch_id.clone(),
            index,
            total,
            status,
            document_id,
            title: title.clone(),
            chunks_created,
            error,
            elapsed_ms,
        };
        let started = std::time::Instant::now();
        match ingest::ingest(services, request).await {
            Ok(outcome) => {
                let status = if outcome.deduplicated {
                    IngestStatus::Deduplicated
                } else {
                    IngestStatus::Ingested
                };
                services.ingest_events.publish(event(
                    status,
                    Some(outcome.document.id),
                    outcome.chunks_created,
                    None,
                    outcome.total_ms,
                ));
                outcomes.push(outcome);
            }
            Err(err) => {
                services.ingest_events.publish(event(
                    IngestStatus::Failed,
                    None,
                    0,
                    Some(err.to_string()),
                    started.elapsed().as_secs_f64() * 1000.0,
                ));
                return Err(err);
            }
        }
    }
    Ok(outcomes)
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
