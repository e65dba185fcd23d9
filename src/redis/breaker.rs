//! A circuit breaker for Redis: after `threshold` consecutive failures it opens and callers
//! stop calling Redis (the cache answers from L1 and the source, the rate limiter from its
//! in-process budgets) until `cooldown` has passed; then one probe goes through, and its
//! outcome closes or re-opens the breaker.
//!
//! Lock-free: the state is three atomics read on every cache operation.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cooldown ends.
    Open,
    /// One probe is in flight.
    HalfOpen,
}

pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    started: Instant,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `started` when the breaker opened; meaningful while failures >= threshold.
    opened_at_ms: AtomicU64,
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            started: Instant::now(),
            consecutive_failures: AtomicU32::new(0),
            opened_at_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn state(&self) -> BreakerState {
        if self.consecutive_failures.load(Ordering::Acquire) < self.threshold {
            BreakerState::Closed
        } else if self.probing.load(Ordering::Acquire) {
            BreakerState::HalfOpen
        } else {
            BreakerState::Open
        }
    }

    /// Whether a call may go to Redis now. While open, exactly one caller per cooldown gets
    /// `true` (the probe); it must report back with `success` or `failure`.
    pub fn allow(&self) -> bool {
        if self.consecutive_failures.load(Ordering::Acquire) < self.threshold {
            return true;
        }
        let opened = self.opened_at_ms.load(Ordering::Acquire);
        if self.now_ms().saturating_sub(opened) < self.cooldown.as_millis() as u64 {
            return false;
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub fn success(&self) {
        self.consecutive_failures.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }

    pub fn failure(&self) {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold {
            // (Re)open: a failed probe restarts the cooldown.
            self.opened_at_ms.store(self.now_ms(), Ordering::Release);
            self.probing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_once_after_the_cooldown() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "one probe after the cooldown");
        assert!(!breaker.allow(), "only one");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "a failed probe restarts the cooldown");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
    }
}
