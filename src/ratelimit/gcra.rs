//! The generic cell rate algorithm, on plain numbers so that the in-process limiter and the
//! Redis script compute the same thing (the script is a transcription of [`decide`]).
//!
//! State is one number per client: the theoretical arrival time (TAT) at which the bucket is
//! empty again. A call of cost `c` moves it `c × interval` later; it is refused when that
//! would put the TAT more than `burst × interval` ahead of now.

/// All times in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    /// The TAT to store (unchanged when refused).
    pub tat: u64,
    /// Wait before a call of the same cost would pass (0 when allowed).
    pub retry_after: u64,
    /// Time until the bucket is full again.
    pub reset: u64,
}

pub fn decide(now: u64, stored_tat: Option<u64>, interval: u64, burst: u64, cost: u64) -> Outcome {
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + interval * cost;
    let allow_at = new_tat.saturating_sub(interval * burst);
    if now < allow_at {
        Outcome {
            allowed: false,
            tat,
            retry_after: allow_at - now,
            reset: tat - now,
        }
    } else {
        Outcome {
            allowed: true,
            tat: new_tat,
            retry_after: 0,
            reset: new_tat - now,
        }
    }
}

/// Calls of cost 1 that would pass now, given the time until the bucket is full.
pub fn remaining(reset: u64, interval: u64, burst: u64) -> u64 {
    (interval * burst).saturating_sub(reset) / interval.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let (interval, burst) = (1_000, 3);
        let mut tat = None;
        for i in 0..3 {
            let out = decide(0, tat, interval, burst, 1);
            assert!(out.allowed, "call {i} of the burst");
            assert_eq!(remaining(out.reset, interval, burst), 2 - i);
            tat = Some(out.tat);
        }
        let refused = decide(0, tat, interval, burst, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 1_000);
        // After one interval, exactly one more call fits.
        assert!(decide(1_000, tat, interval, burst, 1).allowed);
        assert!(!decide(999, tat, interval, burst, 1).allowed);
    }

    #[test]
    fn cost_counts_and_idle_time_refills_up_to_the_burst_only() {
        let out = decide(0, None, 10, 5, 5);
        assert!(out.allowed);
        assert!(!decide(0, Some(out.tat), 10, 5, 1).allowed);
        // Long idle: the bucket is full (5), never more.
        let later = decide(1_000_000, Some(out.tat), 10, 5, 5);
        assert!(later.allowed);
        assert!(!decide(1_000_000, Some(later.tat), 10, 5, 1).allowed);
    }
}
