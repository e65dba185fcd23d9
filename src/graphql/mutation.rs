//! Root fields that change the corpus.

use async_graphql::{Context, ID, Object, Upload};

use super::access::{RoleGuard, spend};
use super::errors::ApiResult;
use super::reports::{CacheNamespace, ClearedNamespace};
use super::responses::ResponseCache;
use super::types::{DocumentRef, IngestInput, IngestResult};
use super::uploads::{FileIngestResult, FileInput, file_results, read_upload};
use crate::auth::Role;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::ingest::{self, IngestRequest};
use crate::ratelimit::BudgetKind;
use crate::services::Services;

pub struct Mutation;

#[Object]
impl Mutation {
    /// Chunks, embeds and stores a document, all or nothing. Identical content is stored once:
    /// the existing document comes back with `deduplicated: true`. With an `externalId` that is
    /// already stored, replaces that document instead (`status: UPDATED`, or `UNCHANGED`).
    /// Needs the writer role when keys are configured; spends 1 from the `ingest` budget.
    async fn ingest_document(
        &self,
        ctx: &Context<'_>,
        input: IngestInput,
    ) -> ApiResult<IngestResult> {
        let services = ctx.data_unchecked::<Services>();
        let limits = &services.config.limits;
        let request = ingest::validate(input.into_request(limits).await?, limits)?;
        spend(ctx, BudgetKind::Ingest, 1).await?;
        store_one(services, request, ctx.data_opt::<Deadline>().cloned()).await
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
        let mut requests = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.into_iter().enumerate() {
            requests.push(
                input
                    .into_request(&services.config.limits)
                    .await
                    .map_err(|err| ingest::naming_input(i, err))?,
            );
        }
        let requests = ingest::validate_batch(requests, &services.config.limits)?;
        spend(ctx, BudgetKind::Ingest, requests.len()).await?;
        let deadline = ctx.data_opt::<Deadline>().cloned();
        let outcomes = store_in_order(services, requests, batch_id, deadline).await?;
        Ok(outcomes.into_iter().map(Into::into).collect())
    }

    /// Ingests one uploaded file (GraphQL multipart request spec): text, Markdown, HTML or
    /// PDF, by `input.format`, else the part's content type, else the file name's extension.
    /// An unreadable or unsupported file is `BAD_INPUT` naming it. Otherwise as
    /// `ingestDocument`.
    async fn ingest_file(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        input: Option<FileInput>,
    ) -> ApiResult<IngestResult> {
        let services = ctx.data_unchecked::<Services>();
        // Spent before reading: extracting a PDF costs as much as a small ingest.
        spend(ctx, BudgetKind::Ingest, 1).await?;
        let (_, request) = read_upload(
            ctx,
            &file,
            input.unwrap_or_default(),
            &services.config.limits,
        )
        .await;
        let request = request?;
        store_one(services, request, ctx.data_opt::<Deadline>().cloned()).await
    }

    /// Ingests uploaded files in order, each all or nothing, with `inputs[i]` for `files[i]`
    /// when given. A file that cannot be read is reported in its place (`error`) and the rest
    /// go on; if storing one fails, the batch stops there as in `ingestDocuments` (the files
    /// after it are `NOT_REACHED`). Progress goes to `ingestProgress` (tagged with `batchId`).
    /// Spends one per file from `ingest`.
    async fn ingest_files(
        &self,
        ctx: &Context<'_>,
        files: Vec<Upload>,
        inputs: Option<Vec<FileInput>>,
        #[graphql(validator(max_length = 100))] batch_id: Option<String>,
    ) -> ApiResult<Vec<FileIngestResult>> {
        let services = ctx.data_unchecked::<Services>();
        let limits = &services.config.limits;
        if files.is_empty() || files.len() > limits.max_ingest_batch {
            return Err(Error::bad_input(format!(
                "files must hold 1 to {} files (limits.max_ingest_batch)",
                limits.max_ingest_batch
            ))
            .into());
        }
        let mut inputs = inputs.unwrap_or_default();
        if !inputs.is_empty() && inputs.len() != files.len() {
            return Err(Error::bad_input(format!(
                "inputs has {} entries for {} files: give one per file, or none",
                inputs.len(),
                files.len()
            ))
            .into());
        }
        inputs.resize_with(files.len(), FileInput::default);
        // Spent before reading: extracting a PDF costs as much as a small ingest.
        spend(ctx, BudgetKind::Ingest, files.len()).await?;
        let mut read = Vec::with_capacity(files.len());
        for (file, input) in files.iter().zip(inputs) {
            read.push(read_upload(ctx, file, input, limits).await);
        }
        let mut readable = Vec::with_capacity(read.len());
        let mut entries = Vec::with_capacity(read.len());
        for (filename, request) in read {
            match request {
                Ok(request) => {
                    readable.push(request);
                    entries.push((filename, None));
                }
                Err(err) => entries.push((filename, Some(err))),
            }
        }
        let batch = if readable.is_empty() {
            ingest::BatchOutcome {
                stored: Vec::new(),
                failure: None,
            }
        } else {
            let context = services.ingest_context();
            let deadline = ctx.data_opt::<Deadline>().cloned();
            ingest::detached(async move {
                Ok(
                    ingest::ingest_until_failure(&context, readable, batch_id, deadline, |_| {})
                        .await,
                )
            })
            .await?
        };
        Ok(file_results(entries, batch))
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
        let namespace: Option<crate::cache::CacheNamespace> = namespace.map(Into::into);
        let cleared = ctx
            .data_unchecked::<Services>()
            .cache
            .clear(namespace)
            .await;
        ctx.data_unchecked::<ResponseCache>().clear_with(namespace);
        Ok(cleared.into_iter().map(Into::into).collect())
    }

    /// Deletes a document with its chunks and vectors, by `id` or by `externalId` (give
    /// one). NOT_FOUND when there is none.
    async fn delete_document(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> ApiResult<bool> {
        let services = ctx.data_unchecked::<Services>();
        let context = services.ingest_context();
        let id = match DocumentRef::of(id, external_id)? {
            DocumentRef::Id(id) => id,
            DocumentRef::External(external_id) => {
                services
                    .store
                    .find_by_external_id(&external_id)
                    .await
                    .map_err(Error::from)?
                    .ok_or_else(|| {
                        Error::not_found(format!("no document with externalId {external_id}"))
                    })?
                    .id
            }
        };
        spend(ctx, BudgetKind::Ingest, 1).await?;
        if ingest::detached(async move { ingest::delete_document(&context, id).await }).await? {
            Ok(true)
        } else {
            Err(Error::not_found(format!("no document with id {id}")).into())
        }
    }
}

/// Stores validated requests in order (`ingest::ingest_in_order`) on a task of their own, so
/// that a client going away does not cut a write short. Their progress pushes `deadline` back.
async fn store_in_order(
    services: &Services,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
    deadline: Option<Deadline>,
) -> Result<Vec<ingest::IngestOutcome>, Error> {
    let context = services.ingest_context();
    ingest::detached(async move {
        ingest::ingest_in_order(&context, requests, batch_id, deadline, |_| {}).await
    })
    .await
}

/// Stores one validated request and answers with its result.
async fn store_one(
    services: &Services,
    request: IngestRequest,
    deadline: Option<Deadline>,
) -> ApiResult<IngestResult> {
    let outcome = store_in_order(services, vec![request], None, deadline)
        .await?
        .pop()
        .ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "an ingest of one document returned no outcome"
            ))
        })?;
    Ok(outcome.into())
}
