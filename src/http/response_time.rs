//! `X-Response-Time` (time to response headers) on every response, and the request counted
//! in the per-route metrics and the request statistics, labelled by the matched route (never
//! the raw path: bounded label cardinality).
//!
//! A plain tower service rather than `from_fn`: its future is not boxed, and what it needs of
//! the request is taken before the request moves on (no copy of the route or the id as
//! strings until the response is in).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::middleware::{GraphqlOutcome, REQUEST_ID};
use crate::telemetry::{RequestRecord, RequestStats};

pub const RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");

#[derive(Clone)]
pub struct ResponseTimeLayer {
    requests: Arc<RequestStats>,
}

impl ResponseTimeLayer {
    pub fn new(requests: Arc<RequestStats>) -> Self {
        ResponseTimeLayer { requests }
    }
}

impl<S> Layer<S> for ResponseTimeLayer {
    type Service = ResponseTime<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseTime {
            inner,
            requests: Arc::clone(&self.requests),
        }
    }
}

#[derive(Clone)]
pub struct ResponseTime<S> {
    inner: S,
    requests: Arc<RequestStats>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseTime<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseTimeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let timed = Timed {
            started: Instant::now(),
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            request_id: request.headers().get(&REQUEST_ID).cloned(),
            requests: Arc::clone(&self.requests),
        };
        ResponseTimeFuture {
            inner: self.inner.call(request),
            timed: Some(timed),
        }
    }
}

pin_project! {
    pub struct ResponseTimeFuture<F> {
        #[pin]
        inner: F,
        timed: Option<Timed>,
    }
}

impl<F, B, E> Future for ResponseTimeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(timed) = this.timed.take() {
            timed.finish(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

/// What is known of a request when it comes in.
struct Timed {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<HeaderValue>,
    requests: Arc<RequestStats>,
}

impl Timed {
    fn finish<B>(self, response: &mut Response<B>) {
        let elapsed = self.started.elapsed();
        let millis = format!("{:.3}ms", elapsed.as_secs_f64() * 1000.0);
        if let Ok(value) = HeaderValue::try_from(millis) {
            response.headers_mut().insert(RESPONSE_TIME, value);
        }
        let status = response.status();
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let outcome = response.extensions().get::<GraphqlOutcome>();
        self.requests.record(RequestRecord {
            at: self.started,
            route: route.to_owned(),
            operation: outcome.and_then(|o| o.operation.clone()),
            duration: elapsed,
            failed: status.is_server_error() || outcome.is_some_and(|o| o.failed),
            request_id: self
                .request_id
                .as_ref()
                .and_then(|id| id.to_str().ok())
                .map(str::to_owned),
        });
        let labels = vec![
            metrics::Label::new("method", method_label(&self.method)),
            metrics::Label::new("route", route.to_owned()),
            metrics::Label::new("status", status.as_str().to_owned()),
        ];
        metrics::counter!("http_requests_total", labels.iter()).increment(1);
        metrics::histogram!("http_request_duration_seconds", labels).record(elapsed.as_secs_f64());
    }
}

/// The method as a label, without an allocation for the methods clients send.
fn method_label(method: &Method) -> metrics::SharedString {
    const KNOWN: [&str; 7] = ["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH"];
    match KNOWN.iter().find(|known| **known == method.as_str()) {
        Some(known) => metrics::SharedString::const_str(known),
        None => method.as_str().to_owned().into(),
    }
}
