//! Request budgets per caller: `search` (search and embed calls) and `ingest` (documents
//! written or deleted, cache clears).
//!
//! GCRA buckets ([`gcra`]), kept in Redis when it is configured so that every replica spends
//! from the same budget, and in process otherwise — or while Redis is unreachable, so that a
//! Redis outage loosens limits to per-replica ones instead of failing or lifting them.

mod gcra;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::auth::Caller;
use crate::config::{Budget, RateLimitConfig};
use crate::error::Error;
use crate::redis::RedisClient;

/// Which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetKind {
    Search,
    Ingest,
}

impl BudgetKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Search => "search",
            BudgetKind::Ingest => "ingest",
        }
    }
}

/// The answer for one call, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub budget: BudgetKind,
    pub allowed: bool,
    /// The burst: calls that may be made at once from a full bucket.
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    pub retry_after: Duration,
}

impl Decision {
    /// The refusal as the domain error (`RATE_LIMITED`, with the wait).
    pub fn into_result(self) -> Result<Decision, Error> {
        if self.allowed {
            return Ok(self);
        }
        Err(Error::RateLimited {
            message: format!(
                "the {} rate limit is exhausted; retry in {} s",
                self.budget.as_str(),
                self.retry_after.as_secs_f64().ceil()
            ),
            retry_after: self.retry_after,
        })
    }

    /// Of two decisions, the one a client most needs to hear about.
    pub fn tighter(self, other: Decision) -> Decision {
        match (self.allowed, other.allowed) {
            (false, true) => self,
            (true, false) => other,
            _ if other.remaining < self.remaining => other,
            _ => self,
        }
    }
}

/// `redis.call('TIME')` makes every replica use Redis's clock, so skewed hosts agree.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0, new_tat - now}";

pub struct RateLimiter {
    config: RateLimitConfig,
    redis: Option<Arc<RedisClient>>,
    /// Per (budget, caller): the TAT in microseconds since `epoch`.
    local: Cache<(BudgetKind, String), Arc<AtomicU64>>,
    epoch: Instant,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig, redis: Option<Arc<RedisClient>>) -> Self {
        // An idle bucket is full again after at most burst × interval; forget it by then.
        let longest = [config.search, config.ingest]
            .iter()
            .map(|b| interval_us(b) * u64::from(b.burst))
            .max()
            .unwrap_or(60_000_000);
        RateLimiter {
            config: config.clone(),
            redis,
            local: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_micros(longest.max(1_000_000)))
                .build(),
            epoch: Instant::now(),
        }
    }

    /// [`check`](Self::check) when limits are on; `None` (nothing to spend, no headers) when
    /// `rate_limit.enabled` is off. The one entry point for GraphQL resolvers and plain routes.
    pub async fn spend(&self, caller: &Caller, kind: BudgetKind, cost: u32) -> Option<Decision> {
        if !self.config.enabled {
            return None;
        }
        Some(self.check(caller, kind, cost).await)
    }

    /// Spends `cost` from `caller`'s `kind` budget, or says when it could.
    pub async fn check(&self, caller: &Caller, kind: BudgetKind, cost: u32) -> Decision {
        let budget = match kind {
            BudgetKind::Search => self.config.search,
            BudgetKind::Ingest => self.config.ingest,
        };
        // A call larger than the burst could never pass; it empties the bucket instead.
        let cost = u64::from(cost.clamp(1, budget.burst.max(1)));
        let interval = interval_us(&budget);
        let burst = u64::from(budget.burst.max(1));
        let who = caller.rate_key();
        // The Redis call is boxed: in process, a spend (made again by every response-cache
        // hit) then carries no future sized for a Redis round trip.
        let remote = match self.redis {
            Some(_) => Box::pin(self.remote(kind, &who, interval, burst, cost)).await,
            None => None,
        };
        let (allowed, retry_after, reset) = match remote {
            Some(answer) => answer,
            None => self.in_process(kind, who, interval, burst, cost),
        };
        if !allowed {
            metrics::counter!("rate_limited_total", "budget" => kind.as_str()).increment(1);
        }
        Decision {
            budget: kind,
            allowed,
            limit: budget.burst,
            remaining: u32::try_from(gcra::remaining(reset, interval, burst)).unwrap_or(u32::MAX),
            reset: Duration::from_micros(reset),
            retry_after: Duration::from_micros(retry_after),
        }
    }

    async fn remote(
        &self,
        kind: BudgetKind,
        who: &str,
        interval: u64,
        burst: u64,
        cost: u64,
    ) -> Option<(bool, u64, u64)> {
        let redis = self.redis.as_ref()?;
        let key = redis.key("rl", &format!("{}:{who}", kind.as_str()));
        match redis
            .eval::<(i64, i64, i64)>(GCRA_SCRIPT, &key, &[interval, burst, cost])
            .await
        {
            Ok((allowed, retry_after, reset)) => Some((
                allowed == 1,
                u64::try_from(retry_after).unwrap_or(0),
                u64::try_from(reset).unwrap_or(0),
            )),
            // Counted and logged by the tier; fall back to this replica's own budget.
            Err(_) => None,
        }
    }

    fn in_process(
        &self,
        kind: BudgetKind,
        who: String,
        interval: u64,
        burst: u64,
        cost: u64,
    ) -> (bool, u64, u64) {
        let cell = self
            .local
            .get_with((kind, who), || Arc::new(AtomicU64::new(0)));
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut stored = cell.load(Ordering::Acquire);
        loop {
            let tat = (stored != 0).then_some(stored);
            let out = gcra::decide(now, tat, interval, burst, cost);
            if !out.allowed {
                return (false, out.retry_after, out.reset);
            }
            match cell.compare_exchange_weak(stored, out.tat, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return (true, 0, out.reset),
                Err(current) => stored = current,
            }
        }
    }
}

fn interval_us(budget: &Budget) -> u64 {
    60_000_000 / u64::from(budget.per_minute.max(1))
}
