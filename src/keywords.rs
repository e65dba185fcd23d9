//! The keyword side of search: BM25 term weights as sparse vectors, and where a text matches a
//! query's terms.
//!
//! Tokenising, stopwords, stemming and term ids are qdrant-edge's BM25 (the Qdrant server's own
//! pipeline), so the embedded index and a Qdrant server given these vectors score alike. The
//! index supplies the IDF at query time (the sparse vector's `idf` modifier); a chunk's vector
//! carries only its saturated, length-normalised term frequencies.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;

use crate::config::KeywordConfig;

/// Term ids and weights, sorted by id. Empty when a text has no keyword terms (all
/// stopwords or punctuation): such a chunk is never a keyword hit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// A range of characters (not bytes) in a text, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextSpan {
    pub start_char: usize,
    pub end_char: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum KeywordError {
    #[error("keywords.{key}: {reason}")]
    Settings { key: &'static str, reason: String },
}

/// The BM25 encoder, built once from configuration and shared.
#[derive(Debug)]
pub struct Keywords {
    bm25: EdgeBm25,
    fingerprint: String,
}

impl Keywords {
    pub fn new(settings: &KeywordConfig) -> Result<Self, KeywordError> {
        let number = |key: &'static str, value: f64| {
            NotNan::new(value).map_err(|_| KeywordError::Settings {
                key,
                reason: "must be a number".into(),
            })
        };
        let config = EdgeBm25Config {
            k: number("k1", settings.k1)?,
            b: number("b", settings.b)?,
            avg_len: number("avg_len", settings.avg_len)?,
            language: Some(settings.language.clone()),
            ..EdgeBm25Config::default()
        };
        let bm25 = EdgeBm25::new(config).map_err(|err| KeywordError::Settings {
            key: "language",
            reason: err.to_string(),
        })?;
        let fingerprint = format!(
            "BM25 k1={} b={} avg_len={} language={}",
            settings.k1, settings.b, settings.avg_len, settings.language
        );
        Ok(Keywords { bm25, fingerprint })
    }

    /// The settings that decide the weights, as the index records them: vectors computed with
    /// other settings must not be mixed with these.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A chunk's term weights: BM25's saturated, length-normalised term frequencies.
    pub fn document(&self, text: &str) -> SparseVector {
        let vector = self.bm25.embed_document(text);
        SparseVector {
            indices: vector.indices,
            values: vector.values,
        }
    }

    /// A query's terms, each weighted 1 (the index multiplies in their IDF).
    pub fn query(&self, text: &str) -> SparseVector {
        let vector = self.bm25.embed_query(text);
        SparseVector {
            indices: vector.indices,
            values: vector.values,
        }
    }

    /// The words of `text` whose term (after lowercasing and stemming) is one of `query`'s,
    /// in order. The tokenizer splits on every non-alphanumeric character and makes at most one
    /// term of each run, so each run is looked up on its own.
    pub fn matches(&self, text: &str, query: &SparseVector) -> Vec<TextSpan> {
        if query.is_empty() {
            return Vec::new();
        }
        let mut spans = Vec::new();
        // Words recur within a chunk: each distinct one goes through the pipeline once.
        let mut seen: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
        let mut word_start: Option<(usize, usize)> = None; // (byte, char) where the run began
        let ends = text.char_indices().map(Some).chain([None]);
        for (char_index, next) in ends.enumerate() {
            let in_word = next.is_some_and(|(_, c)| c.is_alphanumeric());
            match (word_start, in_word) {
                (None, true) => {
                    let byte = next.map_or(text.len(), |(byte, _)| byte);
                    word_start = Some((byte, char_index));
                }
                (Some((start_byte, start_char)), false) => {
                    let end_byte = next.map_or(text.len(), |(byte, _)| byte);
                    let word = &text[start_byte..end_byte];
                    let matched = *seen.entry(word).or_insert_with(|| {
                        self.bm25
                            .embed_query(word)
                            .indices
                            .iter()
                            .any(|term| query.indices.binary_search(term).is_ok())
                    });
                    if matched {
                        spans.push(TextSpan {
                            start_char,
                            end_char: char_index,
                        });
                    }
                    word_start = None;
                }
                _ => {}
            }
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords() -> Keywords {
        Keywords::new(&KeywordConfig::default()).expect("default settings")
    }

    /// What the cache keys rely on (README, "The cache"): case is folded, accents are kept.
    #[test]
    fn terms_fold_case_and_keep_accents() {
        let k = keywords();
        assert_eq!(k.query("Tokio RUNTIME"), k.query("tokio runtime"));
        assert_ne!(k.query("crème brûlée"), k.query("creme brulee"));
    }

    fn sliced(text: &str, spans: &[TextSpan]) -> Vec<String> {
        spans
            .iter()
            .map(|span| {
                text.chars()
                    .skip(span.start_char)
                    .take(span.end_char - span.start_char)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn stems_and_stopwords_are_shared_by_documents_and_queries() {
        let keywords = keywords();
        let query = keywords.query("the running foxes");
        assert_eq!(query.indices.len(), 2, "`the` is a stopword");
        assert!(query.values.iter().all(|&w| w == 1.0));
        let document = keywords.document("A fox ran; foxes run and keep running.");
        let shared = query
            .indices
            .iter()
            .filter(|id| document.indices.contains(id))
            .count();
        assert_eq!(shared, 2, "fox/foxes and run/running share their stems");
        assert!(keywords.query("the and of").is_empty());
    }

    #[test]
    fn matches_are_character_ranges_of_the_matching_words() {
        let keywords = keywords();
        let text = "Ünïcode first: the Running foxes, E-4012 jumped!";
        let query = keywords.query("run fox e 4012");
        let spans = keywords.matches(text, &query);
        assert_eq!(
            sliced(text, &spans),
            vec!["Running", "foxes", "E", "4012"],
            "{spans:?}"
        );
        assert!(keywords.matches(text, &SparseVector::default()).is_empty());
    }

    #[test]
    fn an_unknown_language_is_refused_naming_the_key() {
        let settings = KeywordConfig {
            language: "klingon".into(),
            ..KeywordConfig::default()
        };
        let err = Keywords::new(&settings).expect_err("unknown language");
        assert!(err.to_string().contains("keywords.language"), "{err}");
    }
}
