//! The response cache: whole `search` responses, serialised once and answered again from memory,
//! before GraphQL runs, to a request with the same body, role and corpus generation (the way
//! Hasura's `@cached` and Apollo Router's response cache do it). It saves what an L1 result hit
//! still spends: parsing the request, executing the operation, serialising the response.
//!
//! The per-request facts stay the receiving request's own. While a request executes, its
//! [`ResponseCapture`] swaps `SearchResult.cacheHit`, `cacheLevel` and `tookMs` for markers
//! that no client can guess, so that the serialised response becomes a template with holes.
//! The executing request gets its own values put back; a request answered from the cache gets
//! `true`, `L1` and its own time.
//!
//! Kept only: single query operations whose root fields are all `search`, answered without
//! errors, extensions (timing) or headers. The rate-limit spends the execution made are made
//! again on every hit (a refusal answers as execution would: `RATE_LIMITED`, 429), and the
//! caller must still be allowed to query (a key created since may close queries to anonymous
//! callers). The corpus generation in the key means no response computed before a change this
//! replica can see is served after it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::Value;
use bytes::Bytes;
use moka::sync::Cache;

use crate::auth::Caller;
use crate::cache::{CacheKey, CacheNamespace};
use crate::config::ResponseCacheConfig;
use crate::ratelimit::{BudgetKind, Decision, RateLimiter};

/// A fact that describes the request receiving the response, not the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    CacheHit,
    CacheLevel,
    TookMs,
}

impl Fact {
    /// The fact a field stands for: `cacheHit`, `cacheLevel` and `tookMs` of `SearchResult`.
    pub fn of_field(parent_type: &str, field: &str) -> Option<Fact> {
        if parent_type != "SearchResult" {
            return None;
        }
        match field {
            "cacheHit" => Some(Fact::CacheHit),
            "cacheLevel" => Some(Fact::CacheLevel),
            "tookMs" => Some(Fact::TookMs),
            _ => None,
        }
    }
}

/// The layout of an entry's key: a new version when what a response holds changes.
const KEY_LAYOUT: &[u8] = b"response-v1";

/// The root fields whose responses may be kept.
const CACHEABLE_ROOT_FIELDS: &[&str] = &["search"];

/// The store, shared by the HTTP handler (which answers from it) and the schema (whose
/// `clearCache` empties it).
#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<Cache<CacheKey, Arc<CachedResponse>>>,
}

impl ResponseCache {
    /// Off when `capacity_bytes` is 0, or when every response carries timing
    /// (`graphql.timing_in_response`): none could be kept, and every request would pay the
    /// look-up for nothing.
    pub fn new(settings: &ResponseCacheConfig, timing_in_every_response: bool) -> Self {
        let enabled = settings.capacity_bytes > 0 && !timing_in_every_response;
        let entries = enabled.then(|| {
            Cache::builder()
                .max_capacity(settings.capacity_bytes)
                .weigher(|_, entry: &Arc<CachedResponse>| {
                    u32::try_from(entry.size()).unwrap_or(u32::MAX)
                })
                .time_to_live(Duration::from_secs(settings.ttl_secs))
                .build()
        });
        ResponseCache { entries }
    }

    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The key of a request: the request as sent (method, content type and body, or the
    /// query string: the query, operation name, variables and extensions, byte for byte), the
    /// caller's role and the corpus generation.
    pub fn key(request: &[&[u8]], caller: &Caller, generation: u64) -> CacheKey {
        let role = caller
            .identity
            .as_ref()
            .map_or("anonymous", |identity| identity.role.as_str());
        let generation = generation.to_le_bytes();
        let mut parts = Vec::with_capacity(request.len() + 3);
        parts.push(KEY_LAYOUT);
        parts.extend_from_slice(request);
        parts.push(role.as_bytes());
        parts.push(&generation);
        CacheKey::of(&parts)
    }

    /// The kept response under `key`. (A miss is not counted: most requests looked up are
    /// not searches; `stored` counts the responses kept.)
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        let found = self.entries.as_ref()?.get(key)?;
        metrics::counter!("graphql_response_cache_total", "outcome" => "hit").increment(1);
        Some(found)
    }

    pub fn insert(&self, key: CacheKey, response: CachedResponse) {
        if let Some(entries) = &self.entries {
            metrics::counter!("graphql_response_cache_total", "outcome" => "stored").increment(1);
            entries.insert(key, Arc::new(response));
        }
    }

    /// Empties the cache when `namespace` (`None`: all) holds results: kept responses hold
    /// results. Call it after clearing the results, so that no response is kept from results
    /// cleared meanwhile.
    pub fn clear_with(&self, namespace: Option<CacheNamespace>) {
        if matches!(namespace, None | Some(CacheNamespace::Results)) {
            self.clear();
        }
    }

    /// Empties the cache; returns how many entries it held.
    pub fn clear(&self) -> u64 {
        let Some(entries) = &self.entries else {
            return 0;
        };
        entries.run_pending_tasks();
        let count = entries.entry_count();
        entries.invalidate_all();
        count
    }
}

/// A kept response: its body with the per-request facts cut out.
#[derive(Debug)]
pub struct CachedResponse {
    /// The serialised response without the facts; a hit shares it rather than copies it.
    body: Bytes,
    /// Where each fact goes in `body`, in order.
    holes: Vec<Hole>,
    /// The operation's label, for the request statistics.
    pub operation: String,
    /// What the execution spent of the caller's budgets, spent again on every hit.
    pub spends: Vec<(BudgetKind, u32)>,
    /// The `Cache-Control` value of the response, if it had one.
    pub cache_control: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Hole {
    at: usize,
    fact: Fact,
    /// The capture's number for it, to put the executing request's value back.
    slot: usize,
}

impl CachedResponse {
    fn size(&self) -> usize {
        self.body.len() + self.holes.len() * std::mem::size_of::<Hole>() + 256
    }

    /// The body for a request answered from the cache, which took `took_ms` so far, in
    /// pieces: the kept bytes between the holes (shared, not copied: copying ~10 KB per hit
    /// was the largest `memmove` of a hit) and this request's facts.
    pub fn render_hit(&self, took_ms: f64) -> Vec<Bytes> {
        self.render(|hole| match hole.fact {
            Fact::CacheHit => Bytes::from_static(b"true"),
            Fact::CacheLevel => Bytes::from_static(b"\"L1\""),
            Fact::TookMs => json_bytes(&took_ms),
        })
    }

    /// The kept bytes with each hole filled by `fill`, as pieces in order.
    fn render(&self, mut fill: impl FnMut(&Hole) -> Bytes) -> Vec<Bytes> {
        let mut pieces = Vec::with_capacity(self.holes.len() * 2 + 1);
        let mut from = 0;
        for hole in &self.holes {
            pieces.push(self.body.slice(from..hole.at));
            pieces.push(fill(hole));
            from = hole.at;
        }
        pieces.push(self.body.slice(from..));
        pieces
    }

    /// Spends again what the execution spent, in the same order: the tightest decision, for
    /// the `RateLimit-*` headers, or the refusal (what execution would have met; a refused
    /// spend costs nothing).
    pub async fn spend_again(
        &self,
        limiter: &RateLimiter,
        caller: &Caller,
    ) -> Result<Option<Decision>, Decision> {
        let mut tightest: Option<Decision> = None;
        for &(kind, cost) in &self.spends {
            let Some(decision) = limiter.spend(caller, kind, cost).await else {
                continue;
            };
            if !decision.allowed {
                metrics::counter!("graphql_response_cache_total", "outcome" => "refused")
                    .increment(1);
                return Err(decision);
            }
            tightest = Some(match tightest {
                Some(previous) => previous.tighter(decision),
                None => decision,
            });
        }
        Ok(tightest)
    }
}

fn json_bytes(value: &impl serde::Serialize) -> Bytes {
    // Writing plain values to a Vec cannot fail; `null` would be a wrong answer, so a failure
    // (none is known) leaves the hole as null rather than a broken body.
    serde_json::to_vec(value).map_or(Bytes::from_static(b"null"), Bytes::from)
}

/// Request data while a request executes for the cache: records the facts it resolves (and
/// hands out markers in their place), the root fields it runs and the budgets it spends.
#[derive(Clone)]
pub struct ResponseCapture(Arc<Capture>);

struct Capture {
    /// Unguessable, so that no text a client sends or stores can pass for a marker.
    nonce: String,
    facts: Mutex<Vec<(Fact, Value)>>,
    spends: Mutex<Vec<(BudgetKind, u32)>>,
    ran_search: AtomicBool,
    ran_other: AtomicBool,
}

impl Default for ResponseCapture {
    fn default() -> Self {
        ResponseCapture(Arc::new(Capture {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            facts: Mutex::new(Vec::new()),
            spends: Mutex::new(Vec::new()),
            ran_search: AtomicBool::new(false),
            ran_other: AtomicBool::new(false),
        }))
    }
}

impl ResponseCapture {
    /// Keeps a fact's value and returns the marker that stands in for it in the response.
    pub fn fact(&self, fact: Fact, value: Value) -> Value {
        let mut facts = self.0.facts.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = facts.len();
        facts.push((fact, value));
        Value::String(format!("\u{0}{}:{slot}\u{0}", self.0.nonce))
    }

    /// Notes a root field of the executing operation (`parent_type` is its root type).
    pub fn root_field(&self, parent_type: &str, field: &str) {
        if parent_type == "Query" && CACHEABLE_ROOT_FIELDS.contains(&field) {
            self.0.ran_search.store(true, Ordering::Relaxed);
        } else {
            self.0.ran_other.store(true, Ordering::Relaxed);
        }
    }

    /// Notes a spend from the caller's budget.
    pub fn spent(&self, kind: BudgetKind, cost: u32) {
        self.0
            .spends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((kind, cost));
    }

    /// The executing request's body, and the entry to keep when the response may be kept.
    pub fn finish(
        self,
        response: &async_graphql::Response,
        operation: &str,
    ) -> serde_json::Result<(Vec<u8>, Option<CachedResponse>)> {
        let serialised = serde_json::to_vec(response)?;
        let facts =
            std::mem::take(&mut *self.0.facts.lock().unwrap_or_else(PoisonError::into_inner));
        let (mut body, holes) = if facts.is_empty() {
            (serialised, Vec::new()) // nothing to cut (a mutation, a report)
        } else {
            cut_holes(&serialised, &self.0.nonce, &facts)
        };
        body.shrink_to_fit();
        let entry = CachedResponse {
            body: Bytes::from(body),
            holes,
            operation: operation.to_owned(),
            spends: std::mem::take(
                &mut *self.0.spends.lock().unwrap_or_else(PoisonError::into_inner),
            ),
            cache_control: response.cache_control.value(),
        };
        let own = entry
            .render(|hole| match facts.get(hole.slot) {
                Some((_, value)) => json_bytes(value),
                None => Bytes::from_static(b"null"),
            })
            .concat();
        let keep = self.0.ran_search.load(Ordering::Relaxed)
            && !self.0.ran_other.load(Ordering::Relaxed)
            && response.errors.is_empty()
            && response.extensions.is_empty()
            && response.http_headers.is_empty()
            && entry.holes.len() == facts.len();
        Ok((own, keep.then_some(entry)))
    }
}

/// Cuts the markers of `nonce` out of a serialised response: the body without them, and where
/// each was (with its fact and slot).
fn cut_holes(serialised: &[u8], nonce: &str, facts: &[(Fact, Value)]) -> (Vec<u8>, Vec<Hole>) {
    // A marker serialises as `"\u0000<nonce>:<slot>\u0000"`.
    let opening = format!("\"\\u0000{nonce}:");
    let closing: &[u8] = b"\\u0000\"";
    let mut body = Vec::with_capacity(serialised.len());
    let mut holes = Vec::new();
    let mut rest = serialised;
    while let Some(start) = find(rest, opening.as_bytes()) {
        let after = &rest[start + opening.len()..];
        let Some(digits) = find(after, closing) else {
            break;
        };
        let slot = std::str::from_utf8(&after[..digits])
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let Some((slot, &(fact, _))) = slot.and_then(|n| Some((n, facts.get(n)?))) else {
            break;
        };
        body.extend_from_slice(&rest[..start]);
        holes.push(Hole {
            at: body.len(),
            fact,
            slot,
        });
        rest = &after[digits + closing.len()..];
    }
    body.extend_from_slice(rest);
    (body, holes)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_cut_out_and_filled_per_request() {
        let capture = ResponseCapture::default();
        let hit = capture.fact(Fact::CacheHit, Value::Boolean(false));
        let took = capture.fact(Fact::TookMs, Value::from(12.5));
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(async_graphql::Name::new("took"), took);
        data.insert(
            async_graphql::Name::new("query"),
            Value::String("\u{0}forged:0\u{0}".into()),
        );
        data.insert(async_graphql::Name::new("hit"), hit);
        let response = async_graphql::Response::new(Value::Object(data));
        capture.root_field("Query", "search");
        let (own, entry) = capture.finish(&response, "Q").expect("serialises");
        assert_eq!(
            String::from_utf8(own).expect("utf-8"),
            r#"{"data":{"took":12.5,"query":"\u0000forged:0\u0000","hit":false}}"#
        );
        let entry = entry.expect("kept");
        assert_eq!(
            String::from_utf8(entry.render_hit(0.25).concat()).expect("utf-8"),
            r#"{"data":{"took":0.25,"query":"\u0000forged:0\u0000","hit":true}}"#
        );
    }

    #[test]
    fn only_search_operations_without_errors_are_kept() {
        let finish = |roots: &[(&str, &str)], errors: bool| {
            let capture = ResponseCapture::default();
            for (parent, field) in roots {
                capture.root_field(parent, field);
            }
            let mut response = async_graphql::Response::new(Value::Null);
            if errors {
                response
                    .errors
                    .push(async_graphql::ServerError::new("no", None));
            }
            capture
                .finish(&response, "Q")
                .expect("serialises")
                .1
                .is_some()
        };
        assert!(finish(&[("Query", "search"), ("Query", "search")], false));
        assert!(!finish(&[("Query", "search")], true));
        assert!(!finish(
            &[("Query", "search"), ("Query", "cacheAnalytics")],
            false
        ));
        assert!(!finish(&[("Query", "health")], false));
        assert!(!finish(&[("Mutation", "search")], false));
        assert!(!finish(&[], false));
    }
}
