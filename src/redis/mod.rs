//! The one Redis client: a pool (one server or a Redis Cluster), a circuit breaker and a
//! timeout on every call. The cache's L2, the corpus generation's mirror and the rate limiter
//! use it; none of them opens connections of its own.

mod breaker;
mod client;

pub use breaker::BreakerState;
pub use client::{RedisClient, RedisError, RedisInfo, cluster_urls};
