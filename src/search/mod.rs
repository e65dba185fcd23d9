//! Semantic search: validate → embed the query → search the vector index.
//!
//! Hydrating hits into chunks and documents is the caller's (GraphQL's per-request DataLoaders),
//! so one query batches its row fetches and nothing is cached across requests or users here.

use std::time::Instant;

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::services::Services;
use crate::vector::{ScoredPoint, VectorFilter, VectorQuery};

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub limit: usize,
    pub threshold: Option<f32>,
    pub filter: VectorFilter,
}

#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The query as searched (trimmed).
    pub query: String,
    pub hits: Vec<ScoredPoint>,
    pub took_ms: f64,
}

pub fn validate(mut request: SearchRequest, limits: &Limits) -> Result<SearchRequest> {
    request.query = request.query.trim().to_owned();
    if request.query.is_empty() {
        return Err(Error::bad_input("query must not be empty"));
    }
    let chars = request.query.chars().count();
    if chars > limits.max_query_chars {
        return Err(Error::bad_input(format!(
            "query is {chars} characters; the limit is {} (limits.max_query_chars)",
            limits.max_query_chars
        )));
    }
    if request.limit == 0 || request.limit > limits.max_search_limit {
        return Err(Error::bad_input(format!(
            "limit must be between 1 and {} (limits.max_search_limit)",
            limits.max_search_limit
        )));
    }
    if let Some(threshold) = request.threshold
        && !(-1.0..=1.0).contains(&threshold)
    {
        return Err(Error::bad_input("threshold must be between -1 and 1"));
    }
    Ok(request)
}

pub async fn search(services: &Services, request: SearchRequest) -> Result<SearchOutcome> {
    let started = Instant::now();
    let request = validate(request, &services.config.limits)?;
    let vector = services
        .embedder
        .embed(vec![request.query.clone()])
        .await?
        .pop()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the embedder returned no vector")))?;
    let hits = services
        .index
        .search(VectorQuery {
            vector,
            limit: request.limit,
            threshold: request.threshold,
            filter: request.filter,
            exact: false,
        })
        .await?;
    Ok(SearchOutcome {
        query: request.query,
        hits,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, limit: usize, threshold: Option<f32>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            limit,
            threshold,
            filter: VectorFilter::default(),
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let limits = Limits::default();
        assert!(validate(request("  ", 10, None), &limits).is_err());
        assert!(validate(request("q", 0, None), &limits).is_err());
        assert!(validate(request("q", 101, None), &limits).is_err());
        assert!(validate(request("q", 100, Some(1.0)), &limits).is_ok());
        assert!(validate(request("q", 10, Some(1.01)), &limits).is_err());
        assert!(validate(request("q", 10, Some(f32::NAN)), &limits).is_err());
        assert_eq!(
            validate(request(" q ", 1, None), &limits)
                .expect("valid")
                .query,
            "q"
        );
    }
}
