//! The one ingest orchestration, for every way documents arrive (the GraphQL mutations, the
//! CLI): documents in order, each all or nothing, progress published per document to
//! `ingestProgress` and handed to the caller, stopping at the first failure.

use std::future::Future;
use std::time::Instant;
use tracing::Instrument as _;

use super::IngestContext;
use super::events::{IngestEvent, IngestStatus};
use super::pipeline::{IngestOutcome, IngestRequest, ingest};
use super::validate::validate;
use crate::config::Limits;
use crate::error::{Error, Result};

/// Validates a batch from a client before anything is stored: its size
/// (`limits.max_ingest_batch`) and every input, an error naming the input (`inputs[i]: …`).
pub fn validate_batch(requests: Vec<IngestRequest>, limits: &Limits) -> Result<Vec<IngestRequest>> {
    if requests.is_empty() || requests.len() > limits.max_ingest_batch {
        return Err(Error::bad_input(format!(
            "inputs must hold 1 to {} documents (limits.max_ingest_batch)",
            limits.max_ingest_batch
        )));
    }
    requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| validate(request, limits).map_err(|err| naming_input(i, err)))
        .collect()
}

/// A batch input's `BAD_INPUT` with its position (`inputs[i]: …`), so the client knows which.
pub fn naming_input(i: usize, err: Error) -> Error {
    match err {
        Error::BadInput(message) => Error::bad_input(format!("inputs[{i}]: {message}")),
        other => other,
    }
}

/// Ingests validated requests one after another. Each outcome is published to the
/// `ingestProgress` subscription (tagged with `batch_id`) and passed to `on_event`; the first
/// failure stops the batch, and the documents before it stay ingested.
pub async fn ingest_in_order(
    ctx: &IngestContext,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
    on_event: impl FnMut(&IngestEvent) + Send,
) -> Result<Vec<IngestOutcome>> {
    let batch = ingest_until_failure(ctx, requests, batch_id, on_event).await;
    match batch.failure {
        Some((_, err)) => Err(err),
        None => Ok(batch.stored),
    }
}

/// What a batch stored before it stopped, and why it stopped.
pub struct BatchOutcome {
    /// The outcomes of the requests before the failure (all of them without one), in order.
    pub stored: Vec<IngestOutcome>,
    /// The position of the request that failed, and its error.
    pub failure: Option<(usize, Error)>,
}

/// [`ingest_in_order`], keeping what was stored when a request fails (for callers that report
/// per document).
pub async fn ingest_until_failure(
    ctx: &IngestContext,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
    mut on_event: impl FnMut(&IngestEvent) + Send,
) -> BatchOutcome {
    let total = requests.len();
    let mut outcomes = Vec::with_capacity(total);
    for (index, request) in requests.into_iter().enumerate() {
        let title = request.title.clone();
        let started = Instant::now();
        let result = ingest(ctx, request).await;
        let outcome = result.as_ref().ok();
        let event = IngestEvent {
            batch_id: batch_id.clone(),
            index,
            total,
            status: outcome.map_or(IngestStatus::Failed, |o| o.status),
            document_id: outcome.map(|o| o.document.id),
            title,
            chunks_created: outcome.map_or(0, |o| o.chunks_created),
            chunks_embedded: outcome.map_or(0, |o| o.chunks_embedded),
            chunks_reused: outcome.map_or(0, |o| o.chunks_reused),
            error: result.as_ref().err().map(ToString::to_string),
            elapsed_ms: outcome
                .map_or_else(|| started.elapsed().as_secs_f64() * 1000.0, |o| o.total_ms),
        };
        on_event(&event);
        ctx.events.publish(event);
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => {
                return BatchOutcome {
                    stored: outcomes,
                    failure: Some((index, err)),
                };
            }
        }
    }
    BatchOutcome {
        stored: outcomes,
        failure: None,
    }
}

/// Runs a write on its own task and waits for it. If the caller goes away (a client
/// disconnects, a request times out), only the waiting stops: the write still finishes, or
/// rolls back, as a whole, instead of being dropped between the vector write and the commit.
pub async fn detached<T: Send + 'static>(
    write: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(write.in_current_span())
        .await
        .map_err(|err| Error::internal(anyhow::anyhow!("write task failed: {err}")))?
}
