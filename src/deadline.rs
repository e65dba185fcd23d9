//! A request's deadline that work still making progress pushes back.
//!
//! Every HTTP request gets one (`http.request_timeout_ms`, the 408 middleware). A bulk ingest
//! reports each model batch and each stored document to it, so a batch that takes minutes is
//! never cut while it moves, and one that stalls still times out: the timeout bounds the time
//! without progress, not the whole batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Deadline(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    origin: Instant,
    timeout: Duration,
    /// When progress was last reported, in nanoseconds after `origin`.
    last_progress_nanos: AtomicU64,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Deadline(Arc::new(Inner {
            origin: Instant::now(),
            timeout,
            last_progress_nanos: AtomicU64::new(0),
        }))
    }

    /// Reports progress: the deadline moves to `timeout` from now.
    pub fn progressed(&self) {
        let nanos = u64::try_from(self.0.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0
            .last_progress_nanos
            .fetch_max(nanos, Ordering::Relaxed);
    }

    /// When the deadline passes, unless progress is reported before.
    pub fn expires_at(&self) -> Instant {
        let last = Duration::from_nanos(self.0.last_progress_nanos.load(Ordering::Relaxed));
        self.0.origin + last + self.0.timeout
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.expires_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_pushes_the_deadline_back() {
        let deadline = Deadline::after(Duration::from_millis(50));
        let first = deadline.expires_at();
        assert!(!deadline.expired());
        std::thread::sleep(Duration::from_millis(20));
        deadline.progressed();
        let later = deadline.expires_at();
        assert!(later >= first + Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            deadline.expired(),
            "no progress for longer than the timeout"
        );
    }
}
