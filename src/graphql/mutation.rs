//! Root fields that change the corpus.

use async_graphql::{Context, ID, Object};

use super::access::{RoleGuard, spend};
use super::errors::ApiResult;
use super::reports::{CacheNamespace, ClearedNamespace};
use super::types::{IngestInput, IngestResult, parse_id};
use crate::auth::Role;
use crate::error::Error;
use crate::ingest;
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
        let context = services.ingest_context();
        let mut outcomes = ingest::detached(async move {
            ingest::ingest_in_order(&context, vec![request], None, |_| {}).await
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
        let requests = ingest::validate_batch(
            inputs.into_iter().map(Into::into).collect(),
            &services.config.limits,
        )?;
        spend(ctx, BudgetKind::Ingest, requests.len()).await?;
        let context = services.ingest_context();
        let outcomes = ingest::detached(async move {
            ingest::ingest_in_order(&context, requests, batch_id, |_| {}).await
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
            .clear(namespace.map(Into::into))
            .await
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Deletes a document with its chunks and vectors. NOT_FOUND when there is none.
    async fn delete_document(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let context = ctx.data_unchecked::<Services>().ingest_context();
        let id = parse_id(&id, "id")?;
        spend(ctx, BudgetKind::Ingest, 1).await?;
        if ingest::detached(async move { ingest::delete_document(&context, id).await }).await? {
            Ok(true)
        } else {
            Err(Error::not_found(format!("no document with id {id}")).into())
        }
    }
}
