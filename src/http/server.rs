//! The connection loop: accepts TCP connections and serves the router on each, with the
//! bounds `axum::serve` does not offer.
//!
//! - A connection cap (a semaphore: at the cap the loop stops accepting and new clients wait in
//!   the kernel's backlog), set below the process's descriptor limit so that the database, the
//!   index and Redis always find descriptors: without it, clients holding ~1,000 connections
//!   made `accept` fail with EMFILE and nobody else could connect.
//! - A header-read timeout (hyper's), so a client trickling its headers cannot hold a
//!   connection for ever.
//! - An idle timeout: a connection with no request in flight for that long is closed
//!   (gracefully: hyper finishes what it is writing).
//! - Graceful shutdown: stop accepting, let every connection finish its request, and wait for
//!   all of them (by taking back every permit of the cap).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// Descriptors kept free for everything that is not a client connection: database and Redis
/// pools, the index's files, the model, logs.
pub const DESCRIPTOR_HEADROOM: u64 = 256;

/// The connection bounds in force, worked out once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// `http.max_connections` (0: as many as the descriptor limit allows), capped at the
    /// process's descriptor limit minus [`DESCRIPTOR_HEADROOM`]. Logs what it found.
    pub fn from_config(config: &HttpConfig) -> Self {
        let descriptors = descriptor_limit();
        let allowed = descriptors
            .map(|limit| limit.saturating_sub(DESCRIPTOR_HEADROOM).max(1))
            .unwrap_or(u64::MAX);
        let wanted = if config.max_connections == 0 {
            u64::MAX
        } else {
            config.max_connections as u64
        };
        // The semaphore's own ceiling is far above any descriptor limit.
        let max_connections = wanted.min(allowed).min(1 << 20) as usize;
        if wanted != u64::MAX && wanted > allowed {
            tracing::warn!(
                configured = wanted,
                descriptor_limit = descriptors,
                max_connections,
                "http.max_connections is above what the descriptor limit allows; raise the \
                 limit (ulimit -n, LimitNOFILE=) to allow more"
            );
        }
        tracing::info!(
            descriptor_limit = descriptors,
            max_connections,
            header_read_timeout_ms = config.header_read_timeout_ms,
            idle_timeout_ms = config.idle_timeout_ms,
            "connection limits"
        );
        ConnectionLimits {
            max_connections,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
        }
    }
}

/// The soft limit on open descriptors (`ulimit -n`), when it can be read.
fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // HTTP/2 WebSockets (RFC 8441), as axum::serve enables.
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let mut last_accept_error: Option<Instant> = None;
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: wait a little rather than spin; log once a second.
                    if last_accept_error.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                        tracing::error!(error = %err, "accept failed");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: Arc::clone(&builder),
            router: router.clone(),
            peer,
            idle_timeout: limits.idle_timeout,
            stop: stop_rx.clone(),
        };
        tokio::spawn(connection.run(stream, Arc::new(permit)));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it is closed: taking them all back waits for all.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

/// A connection's place under `http.max_connections`, in every request's extensions. An
/// upgraded connection (a WebSocket) outlives its HTTP serving, so the upgrade handler keeps a
/// clone for as long as the socket is open.
#[derive(Clone)]
pub struct ConnectionPermit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

struct Connection {
    builder: Arc<Builder<TokioExecutor>>,
    router: Router,
    peer: SocketAddr,
    idle_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// Serves the connection; `permit` is its place under the cap, given back when the last of
    /// the connection and any WebSocket upgraded from it ends.
    async fn run(mut self, stream: tokio::net::TcpStream, permit: Arc<OwnedSemaphorePermit>) {
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = Arc::clone(&activity);
            let router = self.router.clone();
            let peer = self.peer;
            let permit = ConnectionPermit(permit);
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(permit.clone());
                let busy = activity.begin();
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let check_every = (self.idle_timeout / 4).max(Duration::from_millis(50));
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %self.peer, error = %err, "connection ended with an error");
                    }
                    return;
                }
                changed = self.stop.changed(), if !closing => {
                    if changed.is_err() || *self.stop.borrow() {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                () = tokio::time::sleep(check_every), if !closing => {
                    if activity.idle_for() >= self.idle_timeout {
                        metrics::counter!("http_connections_closed_idle_total").increment(1);
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// Requests in flight on one connection, and when the last one ended.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` at which the connection last became idle.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// How long no request has been in flight (zero while one is).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        self.started.elapsed().saturating_sub(since)
    }
}

/// A request in flight; marks the connection idle again when dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.started.elapsed().as_millis() as u64;
        self.0.idle_since_ms.store(now, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_stay_below_the_descriptor_limit() {
        let config = HttpConfig {
            max_connections: 1 << 30,
            ..HttpConfig::default()
        };
        let limits = ConnectionLimits::from_config(&config);
        if let Some(descriptors) = descriptor_limit() {
            assert!(
                limits.max_connections as u64
                    <= descriptors.saturating_sub(DESCRIPTOR_HEADROOM).max(1)
            );
        }
        let auto = ConnectionLimits::from_config(&HttpConfig::default());
        assert_eq!(auto.max_connections, limits.max_connections);
        let small = ConnectionLimits::from_config(&HttpConfig {
            max_connections: 7,
            ..HttpConfig::default()
        });
        assert_eq!(small.max_connections, 7);
    }
}
