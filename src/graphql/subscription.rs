//! Streams over graphql-ws (`/graphql/ws`): cache analytics for dashboards, ingest progress for
//! batch uploads.

use std::time::Duration;

use async_graphql::{Context, ID, SimpleObject, Subscription as SubscriptionObject};
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::errors::ApiError;
use super::reports::{CacheAnalytics, IngestStatus};
use crate::error::Error;
use crate::ingest::IngestEvent;
use crate::services::Services;

/// Bounds of `cacheAnalytics(intervalMs)`: faster would only load the server, slower is polling.
const MIN_INTERVAL_MS: i32 = 100;
const MAX_INTERVAL_MS: i32 = 60_000;

pub struct Subscription;

/// One document of an `ingestDocuments` batch finished (or failed).
#[derive(SimpleObject)]
pub struct IngestProgress {
    pub batch_id: Option<String>,
    /// Position in the batch, from 0.
    pub index: usize,
    pub total: usize,
    pub status: IngestStatus,
    pub document_id: Option<ID>,
    pub title: Option<String>,
    pub chunks_created: usize,
    /// Chunks that went through the model.
    pub chunks_embedded: usize,
    /// Chunks of a replacement that kept their vectors (their text did not change).
    pub chunks_reused: usize,
    /// Why the document failed.
    pub error: Option<String>,
    pub elapsed_ms: f64,
    /// Events this listener missed because it fell behind (0 normally).
    pub missed: u64,
}

impl IngestProgress {
    fn of(event: IngestEvent, missed: u64) -> Self {
        IngestProgress {
            batch_id: event.batch_id,
            index: event.index,
            total: event.total,
            status: event.status.into(),
            document_id: event.document_id.map(|id| ID(id.to_string())),
            title: event.title,
            chunks_created: event.chunks_created,
            chunks_embedded: event.chunks_embedded,
            chunks_reused: event.chunks_reused,
            error: event.error,
            elapsed_ms: event.elapsed_ms,
            missed,
        }
    }
}

#[SubscriptionObject]
impl Subscription {
    /// The cache analytics now, then every `intervalMs` (100..60000, default 1000).
    async fn cache_analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> async_graphql::Result<impl Stream<Item = CacheAnalytics> + use<>> {
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval_ms) {
            return Err(ApiError::from(Error::bad_input(format!(
                "intervalMs must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS}"
            )))
            .into());
        }
        let services = ctx.data_unchecked::<Services>().clone();
        let mut ticks = tokio::time::interval(Duration::from_millis(interval_ms as u64));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ok(stream::unfold(
            (services, ticks),
            |(services, mut ticks)| async move {
                ticks.tick().await;
                let analytics: CacheAnalytics = services.cache.analytics().await.into();
                Some((analytics, (services, ticks)))
            },
        ))
    }

    /// Progress of ingests from now on: every batch's, or only `batchId`'s.
    async fn ingest_progress(
        &self,
        ctx: &Context<'_>,
        batch_id: Option<String>,
    ) -> impl Stream<Item = IngestProgress> + use<> {
        let receiver = ctx.data_unchecked::<Services>().ingest_events.subscribe();
        stream::unfold(receiver, |mut receiver| async move {
            let mut missed = 0;
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some(((event, missed), receiver)),
                    Err(RecvError::Lagged(n)) => missed += n,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .filter_map(move |(event, missed)| {
            let wanted = batch_id.is_none() || event.batch_id == batch_id;
            async move { wanted.then(|| IngestProgress::of(event, missed)) }
        })
    }
}
