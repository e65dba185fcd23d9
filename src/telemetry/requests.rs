//! Request statistics over the last minute, for `/health/metrics` and `performanceMetrics`.
//!
//! A bounded ring of recent requests behind a mutex held for a push (tens of nanoseconds);
//! percentiles are computed when read, which is rare. Prometheus gets the same requests as
//! histograms; this is the "what is it doing right now" view for people and dashboards.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How far back the window looks.
const WINDOW: Duration = Duration::from_secs(60);
/// Records kept at most; at high rates the window is shortened to these.
const CAPACITY: usize = 100_000;
/// Slow requests remembered.
const SLOW_KEPT: usize = 50;

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub at: Instant,
    pub route: String,
    /// The GraphQL operation name, when there was one.
    pub operation: Option<String>,
    pub duration: Duration,
    pub failed: bool,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlowRequest {
    pub route: String,
    pub operation: Option<String>,
    pub duration_ms: f64,
    pub request_id: Option<String>,
    /// Seconds before this snapshot.
    pub seconds_ago: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStats {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The last minute, summarised.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsWindow {
    pub window_seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// GraphQL operations by name.
    pub operations: Vec<OperationStats>,
    /// The most recent requests slower than the configured threshold.
    pub slow_requests: Vec<SlowRequest>,
    pub slow_threshold_ms: f64,
}

pub struct RequestStats {
    started: Instant,
    slow_threshold: Duration,
    recent: Mutex<VecDeque<RequestRecord>>,
    slow: Mutex<VecDeque<RequestRecord>>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl RequestStats {
    pub fn new(slow_threshold: Duration) -> Self {
        RequestStats {
            started: Instant::now(),
            slow_threshold,
            recent: Mutex::new(VecDeque::with_capacity(1024)),
            slow: Mutex::new(VecDeque::with_capacity(SLOW_KEPT)),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn record(&self, record: RequestRecord) {
        if record.duration >= self.slow_threshold {
            let mut slow = self.slow.lock().unwrap_or_else(PoisonError::into_inner);
            if slow.len() == SLOW_KEPT {
                slow.pop_front();
            }
            slow.push_back(record.clone());
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        while recent.front().is_some_and(|r| r.at.elapsed() > WINDOW) || recent.len() >= CAPACITY {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    pub fn window(&self) -> StatsWindow {
        let now = Instant::now();
        let records: Vec<RequestRecord> = {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent
                .iter()
                .filter(|r| now.duration_since(r.at) <= WINDOW)
                .cloned()
                .collect()
        };
        let span = records
            .first()
            .map_or(WINDOW, |first| now.duration_since(first.at))
            .max(Duration::from_secs(1))
            .min(WINDOW.min(self.uptime().max(Duration::from_secs(1))));
        let mut latencies: Vec<f64> = records.iter().map(|r| millis(r.duration)).collect();
        latencies.sort_by(f64::total_cmp);
        let errors = records.iter().filter(|r| r.failed).count();

        let mut by_operation: HashMap<&str, (Vec<f64>, u64)> = HashMap::new();
        for record in &records {
            if let Some(name) = &record.operation {
                let entry = by_operation.entry(name.as_str()).or_default();
                entry.0.push(millis(record.duration));
                entry.1 += u64::from(record.failed);
            }
        }
        let mut operations: Vec<OperationStats> = by_operation
            .into_iter()
            .map(|(name, (mut ms, errors))| {
                ms.sort_by(f64::total_cmp);
                OperationStats {
                    name: name.to_owned(),
                    requests: ms.len() as u64,
                    errors,
                    p50_ms: percentile(&ms, 50.0),
                    p95_ms: percentile(&ms, 95.0),
                    p99_ms: percentile(&ms, 99.0),
                }
            })
            .collect();
        operations.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.name.cmp(&b.name))
        });

        let slow_requests = self
            .slow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .map(|r| SlowRequest {
                route: r.route.clone(),
                operation: r.operation.clone(),
                duration_ms: millis(r.duration),
                request_id: r.request_id.clone(),
                seconds_ago: now.duration_since(r.at).as_secs_f64(),
            })
            .collect();
        StatsWindow {
            window_seconds: span.as_secs_f64(),
            requests: records.len() as u64,
            requests_per_second: records.len() as f64 / span.as_secs_f64(),
            error_rate: if records.is_empty() {
                0.0
            } else {
                errors as f64 / records.len() as f64
            },
            p50_ms: percentile(&latencies, 50.0),
            p95_ms: percentile(&latencies, 95.0),
            p99_ms: percentile(&latencies, 99.0),
            operations,
            slow_requests,
            slow_threshold_ms: millis(self.slow_threshold),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ms: u64, failed: bool, operation: Option<&str>) -> RequestRecord {
        RequestRecord {
            at: Instant::now(),
            route: "/graphql".into(),
            operation: operation.map(str::to_owned),
            duration: Duration::from_millis(ms),
            failed,
            request_id: None,
        }
    }

    #[test]
    fn the_window_summarises_latency_errors_operations_and_slow_requests() {
        let stats = RequestStats::new(Duration::from_millis(50));
        for ms in 1..=100 {
            stats.record(record(
                ms,
                ms % 10 == 0,
                Some(if ms % 2 == 0 { "Even" } else { "Odd" }),
            ));
        }
        let window = stats.window();
        assert_eq!(window.requests, 100);
        assert_eq!(window.error_rate, 0.1);
        assert_eq!((window.p50_ms.round(), window.p99_ms.round()), (51.0, 99.0));
        assert_eq!(window.operations.len(), 2);
        assert_eq!(window.operations[0].requests, 50);
        assert_eq!(
            window
                .operations
                .iter()
                .find(|o| o.name == "Even")
                .map(|o| o.errors),
            Some(10)
        );
        // 51 requests took >= 50 ms; the most recent 50 are kept, newest first.
        assert_eq!(window.slow_requests.len(), SLOW_KEPT);
        assert_eq!(window.slow_requests[0].duration_ms, 100.0);
    }
}
