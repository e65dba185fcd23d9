//! Counters for one namespace. Plain atomics on the hot path; rates are derived when read.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Counters {
    pub l1_hits: AtomicU64,
    pub l2_hits: AtomicU64,
    pub misses: AtomicU64,
    pub l1_sets: AtomicU64,
    pub l2_sets: AtomicU64,
    pub evictions: AtomicU64,
    pub errors: AtomicU64,
}

/// A consistent-enough copy of the counters with the hit rates they imply.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterSnapshot {
    pub l1_hits: u64,
    pub l2_hits: u64,
    pub misses: u64,
    pub l1_sets: u64,
    pub l2_sets: u64,
    pub evictions: u64,
    pub errors: u64,
    /// L1 hits / lookups.
    pub l1_hit_rate: f64,
    /// L2 hits / lookups that reached L2 (L1 misses).
    pub l2_hit_rate: f64,
    /// (L1 + L2 hits) / lookups.
    pub hit_rate: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot::from_counts(
            self.l1_hits.load(Relaxed),
            self.l2_hits.load(Relaxed),
            self.misses.load(Relaxed),
            [
                self.l1_sets.load(Relaxed),
                self.l2_sets.load(Relaxed),
                self.evictions.load(Relaxed),
                self.errors.load(Relaxed),
            ],
        )
    }
}

impl CounterSnapshot {
    fn from_counts(
        l1_hits: u64,
        l2_hits: u64,
        misses: u64,
        [l1_sets, l2_sets, evictions, errors]: [u64; 4],
    ) -> Self {
        let lookups = l1_hits + l2_hits + misses;
        CounterSnapshot {
            l1_hits,
            l2_hits,
            misses,
            l1_sets,
            l2_sets,
            evictions,
            errors,
            l1_hit_rate: ratio(l1_hits, lookups),
            l2_hit_rate: ratio(l2_hits, l2_hits + misses),
            hit_rate: ratio(l1_hits + l2_hits, lookups),
        }
    }

    /// The sum of several namespaces, with rates recomputed from the sums.
    pub fn total<'a>(parts: impl IntoIterator<Item = &'a CounterSnapshot>) -> Self {
        let mut sum = [0u64; 7];
        for p in parts {
            for (slot, value) in sum.iter_mut().zip([
                p.l1_hits,
                p.l2_hits,
                p.misses,
                p.l1_sets,
                p.l2_sets,
                p.evictions,
                p.errors,
            ]) {
                *slot += value;
            }
        }
        Self::from_counts(sum[0], sum[1], sum[2], [sum[3], sum[4], sum[5], sum[6]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_counts() {
        let counters = Counters::default();
        for _ in 0..6 {
            Counters::bump(&counters.l1_hits);
        }
        Counters::bump(&counters.l2_hits);
        for _ in 0..3 {
            Counters::bump(&counters.misses);
        }
        let s = counters.snapshot();
        assert_eq!((s.l1_hit_rate, s.l2_hit_rate, s.hit_rate), (0.6, 0.25, 0.7));
        let total = CounterSnapshot::total([&s, &s]);
        assert_eq!((total.l1_hits, total.hit_rate), (12, 0.7));
        assert_eq!(CounterSnapshot::default().hit_rate, 0.0);
    }
}
