//! `search`: the default mode and how hybrid search draws and fuses its candidates.

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive};

/// Which index ranks a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Cosine similarity of embeddings: finds paraphrases, misses rare exact tokens.
    Dense,
    /// BM25 over the chunks' words (stemmed, stopwords removed): finds exact tokens.
    Keyword,
    /// Both, fused.
    Hybrid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// The mode of a search that names none.
    pub default_mode: SearchMode,
    /// Reciprocal rank fusion's `k`: 60, as published (Cormack et al., 2009) and used by
    /// Elasticsearch and OpenSearch. Larger flattens the difference between ranks.
    pub rrf_k: u32,
    /// Candidates each side contributes to fusion, diversity and grouping (at least the page's
    /// end, `offset + limit`). 50: deeper candidates seldom reach a first page, and each costs
    /// a read on every search (SciFact's 100-hit evaluation draws 100 either way).
    pub candidates: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            default_mode: SearchMode::Hybrid,
            rrf_k: 60,
            candidates: 50,
        }
    }
}

impl SearchConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("search.rrf_k", u64::from(self.rrf_k)),
            ("search.candidates", self.candidates as u64),
        ])
    }
}
