//! `limits`: explicit bounds on what one request may carry.

use serde::{Deserialize, Serialize};

use super::{ConfigError, all_positive};

/// Explicit bounds on what one request may ask for. Each one is a documented, typed refusal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_content_bytes: usize,
    pub max_ingest_batch: usize,
    pub max_embed_texts: usize,
    pub max_search_limit: usize,
    /// Deepest `offset` a search may page to: later pages need `offset + limit` candidates.
    pub max_search_offset: usize,
    pub max_page_size: usize,
    pub max_query_chars: usize,
    /// Longest title, source, type, author or tag, in characters.
    pub max_field_chars: usize,
    pub max_tags: usize,
    pub max_metadata_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 5 * 1024 * 1024,
            max_ingest_batch: 100,
            max_embed_texts: 256,
            max_search_limit: 100,
            max_search_offset: 1_000,
            max_page_size: 100,
            max_query_chars: 20_000,
            max_field_chars: 1_000,
            max_tags: 64,
            max_metadata_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// The page size a listing asked for (`first`), or 20 (at most the limit) when it asked
    /// for none; outside 1..=`max_page_size` is refused.
    pub fn page_size(&self, first: Option<i32>) -> Result<usize, crate::Error> {
        let max = self.max_page_size;
        match first {
            None => Ok(20.min(max)),
            Some(n) if n >= 1 && (n as usize) <= max => Ok(n as usize),
            Some(_) => Err(crate::Error::bad_input(format!(
                "first must be between 1 and {max} (limits.max_page_size)"
            ))),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("limits.max_content_bytes", self.max_content_bytes as u64),
            ("limits.max_ingest_batch", self.max_ingest_batch as u64),
            ("limits.max_embed_texts", self.max_embed_texts as u64),
            ("limits.max_search_limit", self.max_search_limit as u64),
            ("limits.max_search_offset", self.max_search_offset as u64),
            ("limits.max_page_size", self.max_page_size as u64),
            ("limits.max_query_chars", self.max_query_chars as u64),
            ("limits.max_field_chars", self.max_field_chars as u64),
            ("limits.max_tags", self.max_tags as u64),
            ("limits.max_metadata_bytes", self.max_metadata_bytes as u64),
        ])
    }
}
