//! The one ingest orchestration, for every way documents arrive (the GraphQL mutations, the
//! CLI): documents in order, each all or nothing, their chunks embedded across documents in
//! full model batches, progress published per document to `ingestProgress` and handed to the
//! caller, stopping at the first failure.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Instant;

use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt as _, StreamExt as _};
use tracing::Instrument as _;

use super::IngestContext;
use super::events::{IngestEvent, IngestStatus};
use super::pipeline::{IngestOutcome, IngestRequest, Plan, content_hash, plan, write_planned};
use super::validate::validate;
use crate::config::Limits;
use crate::deadline::Deadline;
use crate::embed::Vector;
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

/// Ingests validated requests in order, each all or nothing. Each outcome is published to the
/// `ingestProgress` subscription (tagged with `batch_id`) and passed to `on_event`; the first
/// failure stops the batch, and the documents before it stay ingested. Each model batch and
/// each stored document pushes `deadline` back.
pub async fn ingest_in_order(
    ctx: &IngestContext,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
    deadline: Option<Deadline>,
    on_event: impl FnMut(&IngestEvent) + Send,
) -> Result<Vec<IngestOutcome>> {
    let batch = ingest_until_failure(ctx, requests, batch_id, deadline, on_event).await;
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
///
/// The model sees the batch's chunks across documents, `embed.max_batch` at a time, a call in
/// flight per model session ([`Embedder::parallel_calls`](crate::embed::Embedder)) and a full
/// one queued, while the documents are written in order, in groups once their vectors add up to
/// `storage.write_group_chunks` (and while the model works on the next calls). Documents are
/// planned (looked up, chunked) only as far ahead as the next calls need; one whose content or
/// external id repeats a document still waiting is planned once that one is written, so that
/// it finds it.
pub async fn ingest_until_failure(
    ctx: &IngestContext,
    requests: Vec<IngestRequest>,
    batch_id: Option<String>,
    deadline: Option<Deadline>,
    mut on_event: impl FnMut(&IngestEvent) + Send,
) -> BatchOutcome {
    let total = requests.len();
    let model_batch = ctx.model_batch.max(1);
    // A call per model session, and one more waiting in the embedder's queue: a session that
    // finishes while a write is still syncing to disk finds its next call there.
    let sessions = ctx.embedder.parallel_calls().max(1);
    let calls = sessions + 1;
    let plan_target = model_batch * calls;
    let mut requests = requests.into_iter().enumerate().peekable();
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut in_flight = FuturesOrdered::new();
    let mut stored = Vec::with_capacity(total);
    let mut planning = true;
    loop {
        // Plan ahead until the calls to make have their texts, or nothing more can be planned
        // now (after the first call this was mostly done while the model worked).
        plan_ahead(ctx, &mut requests, &mut waiting, &mut planning, plan_target).await;
        // A failure among the ready documents ends the batch: no model call after it.
        let halted = ready_front(&waiting).any(|w| w.plan.is_err());
        let any_ready = ready_front(&waiting).next().is_some();
        // Planning stopped short of its target only because the next request repeats a
        // waiting document: its texts come once the ready documents are written, so a call
        // waits for them unless nothing else could move the batch on.
        let blocked = planning && requests.peek().is_some() && unsent(&waiting) < plan_target;
        let may_send_partial = !blocked || (!any_ready && in_flight.is_empty());
        while !halted && in_flight.len() < calls {
            let unsent_texts = unsent(&waiting);
            let idle_sessions = sessions.saturating_sub(in_flight.len());
            // The queued call, and any while more texts are on their way, waits to be full.
            if unsent_texts < model_batch && (idle_sessions == 0 || !may_send_partial) {
                break;
            }
            let size = call_size(unsent_texts, idle_sessions, model_batch);
            let batch = next_model_batch(&mut waiting, size);
            if batch.texts.is_empty() {
                break;
            }
            in_flight.push_back(embed(ctx, batch));
        }
        // Ready documents wait to be written together until they are a group's worth, unless
        // waiting would gain nothing: a failure ends the batch, a repeat waits for them, or no
        // call is left to complete more.
        let write_now = halted
            || blocked
            || in_flight.is_empty()
            || ready_front(&waiting).map(Waiting::needed).sum::<usize>() >= ctx.write_group_chunks;
        let ready = if write_now {
            take_ready(&mut waiting)
        } else {
            Vec::new()
        };
        if ready.is_empty() && in_flight.is_empty() {
            let Some(stuck) = waiting.front() else {
                break;
            };
            // Every text went to the model and a document still lacks vectors: nothing more
            // can arrive. Unreachable while the embedder answers one vector per text.
            return BatchOutcome {
                stored,
                failure: Some((
                    stuck.index,
                    Error::internal(anyhow::anyhow!(
                        "document {} never received all its vectors",
                        stuck.index
                    )),
                )),
            };
        }
        // The model works on the calls in flight while the documents it finished are written
        // and the documents for the calls after them are planned, so that it never waits on
        // either. Planning follows the writes, so that a repeat of a written document finds it.
        let (embedded, written) = tokio::join!(
            async {
                if halted {
                    None
                } else {
                    in_flight.next().await.flatten()
                }
            },
            async {
                let written = write_in_order(
                    ctx,
                    ready,
                    &batch_id,
                    total,
                    deadline.as_ref(),
                    &mut on_event,
                )
                .await;
                if written.failure.is_none() {
                    plan_ahead(ctx, &mut requests, &mut waiting, &mut planning, plan_target).await;
                }
                written
            }
        );
        stored.extend(written.stored);
        if let Some(failure) = written.failure {
            return BatchOutcome {
                stored,
                failure: Some(failure),
            };
        }
        // The call awaited, then any that finished meanwhile (during a long write): their
        // documents are written together next, and their places go to new calls.
        let mut finished = embedded;
        while let Some(embedded) = finished {
            if let Some(deadline) = &deadline {
                deadline.progressed();
            }
            planning &= deliver(&mut waiting, embedded);
            finished = in_flight.next().now_or_never().flatten().flatten();
        }
    }
    BatchOutcome {
        stored,
        failure: None,
    }
}

/// Texts for the next call while `idle_sessions` model sessions have none: `model_batch`, or
/// an even share of what is left, so that the last texts of a batch spread over the sessions.
fn call_size(unsent: usize, idle_sessions: usize, model_batch: usize) -> usize {
    unsent.div_ceil(idle_sessions.max(1)).clamp(1, model_batch)
}

/// Plans requests in order until `target` texts wait unsent, the requests run out, the
/// next one must wait for a document still waiting (it repeats it), or a plan fails (which
/// stops planning: nothing after a failure is written).
async fn plan_ahead(
    ctx: &IngestContext,
    requests: &mut std::iter::Peekable<impl Iterator<Item = (usize, IngestRequest)>>,
    waiting: &mut VecDeque<Waiting>,
    planning: &mut bool,
    target: usize,
) {
    while *planning && unsent(waiting) < target {
        let Some((_, request)) = requests.peek() else {
            break;
        };
        if repeats_a_waiting_document(waiting, request) {
            break;
        }
        let Some((index, request)) = requests.next() else {
            break;
        };
        let title = request.title.clone();
        let started = Instant::now();
        let plan = plan(ctx, request).await;
        *planning = plan.is_ok();
        waiting.push_back(Waiting {
            index,
            title,
            started,
            plan,
            vectors: Vec::new(),
            sent: 0,
            embedding_ms: 0.0,
        });
    }
}

/// A planned document waiting for its vectors, then for its turn to be written.
struct Waiting {
    index: usize,
    title: Option<String>,
    started: Instant,
    /// An error here fails the document at its turn.
    plan: Result<Plan>,
    /// The vectors of `plan.texts()` received so far, in order.
    vectors: Vec<Vector>,
    /// How many of its texts went to the model.
    sent: usize,
    /// Time in the model batches that held its texts.
    embedding_ms: f64,
}

impl Waiting {
    fn needed(&self) -> usize {
        self.plan.as_ref().map_or(0, |plan| plan.texts().count())
    }

    fn is_ready(&self) -> bool {
        self.plan.is_err() || self.vectors.len() == self.needed()
    }
}

/// Texts of waiting documents not yet handed to the model.
fn unsent(waiting: &VecDeque<Waiting>) -> usize {
    waiting.iter().map(|w| w.needed() - w.sent).sum()
}

/// Whether `request` stores the content or the external id of a document still waiting: it
/// must see that document written (to be deduplicated against it, or to replace it).
fn repeats_a_waiting_document(waiting: &VecDeque<Waiting>, request: &IngestRequest) -> bool {
    if waiting.is_empty() {
        return false;
    }
    let hash = content_hash(&request.content);
    waiting.iter().any(|w| {
        w.plan
            .as_ref()
            .ok()
            .and_then(Plan::claims)
            .is_some_and(|(claimed_hash, claimed_id)| {
                match (request.external_id.as_deref(), claimed_id) {
                    (Some(ours), Some(theirs)) if ours == theirs => true,
                    // Content is deduplicated only among documents without an external id.
                    (None, None) => claimed_hash == hash,
                    _ => false,
                }
            })
    })
}

/// The documents at the front with all their vectors (or a failure), in order.
fn ready_front(waiting: &VecDeque<Waiting>) -> impl Iterator<Item = &Waiting> {
    waiting.iter().take_while(|w| w.is_ready())
}

/// Takes [`ready_front`] out of `waiting`.
fn take_ready(waiting: &mut VecDeque<Waiting>) -> Vec<Waiting> {
    let ready = ready_front(waiting).count();
    waiting.drain(..ready).collect()
}

/// Texts for one model call: up to `size`, from the waiting documents in order.
#[derive(Default)]
struct ModelBatch {
    texts: Vec<String>,
    /// How many texts each document gave, by the document's index in the request.
    counts: Vec<(usize, usize)>,
}

fn next_model_batch(waiting: &mut VecDeque<Waiting>, size: usize) -> ModelBatch {
    let mut texts = Vec::new();
    let mut counts = Vec::new();
    for w in waiting.iter_mut() {
        if texts.len() >= size {
            break;
        }
        let Ok(plan) = &w.plan else {
            break; // nothing after a failed plan will be written
        };
        let before = texts.len();
        texts.extend(
            plan.texts()
                .skip(w.sent)
                .take(size - before)
                .map(str::to_owned),
        );
        let count = texts.len() - before;
        w.sent += count;
        if count > 0 {
            counts.push((w.index, count));
        }
    }
    ModelBatch { texts, counts }
}

/// The vectors of one model call, with how long it took; `None` when there were no texts.
struct Embedded {
    counts: Vec<(usize, usize)>,
    vectors: Result<Vec<Vector>>,
    ms: f64,
}

async fn embed(ctx: &IngestContext, batch: ModelBatch) -> Option<Embedded> {
    if batch.texts.is_empty() {
        return None;
    }
    let started = Instant::now();
    let sent = batch.texts.len();
    let vectors = ctx
        .embedder
        .embed(batch.texts)
        .await
        .map_err(Error::from)
        .and_then(|vectors| {
            if vectors.len() == sent {
                Ok(vectors)
            } else {
                Err(Error::internal(anyhow::anyhow!(
                    "the model returned {} vectors for {sent} texts",
                    vectors.len()
                )))
            }
        });
    Some(Embedded {
        counts: batch.counts,
        vectors,
        ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Hands each document its vectors. A failed model call fails the first document it held
/// (the ones before it are complete); returns whether planning may go on.
fn deliver(waiting: &mut VecDeque<Waiting>, embedded: Embedded) -> bool {
    let Embedded {
        counts,
        vectors,
        ms,
    } = embedded;
    match vectors {
        Ok(vectors) => {
            let mut vectors = vectors.into_iter();
            for (index, count) in counts {
                if let Some(w) = waiting.iter_mut().find(|w| w.index == index) {
                    w.vectors.extend(vectors.by_ref().take(count));
                    w.embedding_ms += ms;
                }
            }
            true
        }
        Err(err) => {
            let first = counts.first().map(|&(index, _)| index);
            if let Some(w) = waiting.iter_mut().find(|w| Some(w.index) == first) {
                w.plan = Err(err);
            }
            false
        }
    }
}

/// Writes ready documents in order (`pipeline::write_planned`: runs of new documents as a
/// group), then publishes each outcome, until one fails.
async fn write_in_order(
    ctx: &IngestContext,
    ready: Vec<Waiting>,
    batch_id: &Option<String>,
    total: usize,
    deadline: Option<&Deadline>,
    on_event: &mut (impl FnMut(&IngestEvent) + Send),
) -> BatchOutcome {
    // The documents before the first failed plan are written; that failure follows them.
    let mut planned = Vec::with_capacity(ready.len());
    let mut written = Vec::with_capacity(ready.len());
    let mut failed_plan = None;
    for w in ready {
        let Waiting {
            index,
            title,
            started,
            plan,
            vectors,
            embedding_ms,
            ..
        } = w;
        match plan {
            Ok(plan) => {
                planned.push((plan, vectors, embedding_ms));
                written.push((index, title, started));
            }
            Err(err) => {
                failed_plan = Some(((index, title, started), err));
                break;
            }
        }
    }
    let results = write_planned(ctx, planned).await;
    let outcomes = written
        .into_iter()
        .zip(results)
        .chain(failed_plan.map(|(document, err)| (document, Err(err))));
    let mut stored = Vec::new();
    for ((index, title, started), result) in outcomes {
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
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        on_event(&event);
        ctx.events.publish(event);
        if let Some(deadline) = deadline {
            deadline.progressed();
        }
        match result {
            Ok(mut outcome) => {
                // From its plan to its write, waiting for other documents included.
                outcome.total_ms = started.elapsed().as_secs_f64() * 1000.0;
                stored.push(outcome);
            }
            Err(err) => {
                return BatchOutcome {
                    stored,
                    failure: Some((index, err)),
                };
            }
        }
    }
    BatchOutcome {
        stored,
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
