//! `keywords`: how chunks are weighted for keyword (BM25) search.
//!
//! The weights are computed when a chunk is ingested. The index records the settings they were
//! computed with; after a change the server refuses to start until `selfrag reindex` has
//! computed every chunk's weights again, so two settings are never mixed in one ranking.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeywordConfig {
    /// Term-frequency saturation: how much a term's second, third … occurrence adds. 1.2 is
    /// the usual BM25 default (Robertson & Zaragoza; Lucene, Elasticsearch, Qdrant).
    pub k1: f64,
    /// Length normalisation, 0 (none) to 1 (full). 0.75 is the usual BM25 default.
    pub b: f64,
    /// The chunk length, in keyword tokens, that `b` normalises against: BM25's average
    /// document length, which must be fixed before the corpus is known. 100 is about the
    /// content words (stopwords removed) of a full chunk of `chunk.max_tokens` word pieces.
    pub avg_len: f64,
    /// Stemmer and stopwords (Snowball languages: `english`, `german`, `french`, …).
    pub language: String,
}

impl Default for KeywordConfig {
    fn default() -> Self {
        KeywordConfig {
            k1: 1.2,
            b: 0.75,
            avg_len: 100.0,
            language: "english".into(),
        }
    }
}

impl KeywordConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(invalid("keywords.k1", "must be a number of at least 0"));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(invalid("keywords.b", "must be between 0 and 1"));
        }
        if !(self.avg_len.is_finite() && self.avg_len > 0.0) {
            return Err(invalid("keywords.avg_len", "must be greater than 0"));
        }
        Ok(())
    }
}
