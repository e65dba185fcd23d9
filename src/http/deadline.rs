//! 408 for a request that has neither answered nor reported progress within
//! `http.request_timeout_ms`.
//!
//! Every request gets a [`Deadline`] in its extensions: a bulk ingest pushes it back with each
//! model batch and each stored document, so it is cut only once it stalls. A write cut off
//! this way still completes or rolls back (`ingest::detached`).
//!
//! A plain tower service rather than `from_fn`: its future is not boxed, and the timer is set
//! only when the handler does not answer at once, so a response-cache hit never touches the
//! runtime's timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::deadline::Deadline;

#[derive(Debug, Clone, Copy)]
pub struct AnswerBeforeDeadlineLayer {
    timeout: Duration,
}

impl AnswerBeforeDeadlineLayer {
    pub fn new(timeout: Duration) -> Self {
        AnswerBeforeDeadlineLayer { timeout }
    }
}

impl<S> Layer<S> for AnswerBeforeDeadlineLayer {
    type Service = AnswerBeforeDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnswerBeforeDeadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AnswerBeforeDeadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for AnswerBeforeDeadline<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let deadline = Deadline::after(self.timeout);
        request.extensions_mut().insert(deadline.clone());
        DeadlineFuture {
            inner: self.inner.call(request),
            deadline,
            timeout: self.timeout,
            timer: None,
        }
    }
}

pin_project! {
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        deadline: Deadline,
        timeout: Duration,
        // Set on the first poll that finds no answer.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(answer) = this.inner.poll(cx) {
            return Poll::Ready(answer);
        }
        let deadline = &*this.deadline;
        let timer = this.timer.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(deadline.expires_at().into()))
        });
        loop {
            ready!(timer.as_mut().poll(cx));
            if deadline.expired() {
                return Poll::Ready(Ok(timed_out(*this.timeout)));
            }
            // Progress was reported since the timer was set: wait for the new deadline.
            timer.as_mut().reset(deadline.expires_at().into());
        }
    }
}

fn timed_out(timeout: Duration) -> Response {
    super::reply::refusal(
        StatusCode::REQUEST_TIMEOUT,
        crate::graphql::codes::REQUEST_TIMEOUT,
        format!(
            "no answer or progress within {} ms (http.request_timeout_ms); a write that was \
             running still completes or rolls back as a whole",
            timeout.as_millis()
        ),
    )
}
