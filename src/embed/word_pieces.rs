//! How much of a text the model reads. all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP]
//! included; whatever follows is cut off before inference. Callers are told when that happened
//! and how many pieces were read, instead of being refused or left guessing.

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{NormalizedString, Normalizer, Tokenizer};

pub struct WordPieces {
    /// The model's own tokenizer, with its truncation and padding switched off so that it
    /// measures whole texts.
    tokenizer: Tokenizer,
    /// Pieces of text the model reads: its window less [CLS] and [SEP].
    window: usize,
    /// Whether the tokenizer splits words at whitespace (BERT's does), so that runs of it
    /// read as one space.
    splits_on_whitespace: bool,
}

/// What the model reads of one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reading {
    /// Word pieces read (at most the window).
    pub word_pieces: usize,
    /// Whether the text had more pieces than the window, and its tail was not read.
    pub truncated: bool,
}

impl WordPieces {
    /// `model_tokens` is the model's window, special tokens included (`model.max_tokens`).
    /// The model files' tokenizer enables truncation and padding; both are switched off here.
    pub fn new(mut tokenizer: Tokenizer, model_tokens: usize) -> Self {
        tokenizer.with_truncation(None).ok();
        tokenizer.with_padding(None);
        let splits_on_whitespace = matches!(
            tokenizer.get_pre_tokenizer(),
            Some(
                PreTokenizerWrapper::BertPreTokenizer(_)
                    | PreTokenizerWrapper::Whitespace(_)
                    | PreTokenizerWrapper::WhitespaceSplit(_)
            )
        );
        WordPieces {
            tokenizer,
            window: model_tokens.saturating_sub(2),
            splits_on_whitespace,
        }
    }

    /// `text` as the model reads it, for cache keys: texts of one form embed identically.
    /// It is the tokenizer's own normalizer (all-MiniLM-L6-v2's is uncased: it lower-cases
    /// and strips accents), then, where the tokenizer splits words at whitespace, runs of it
    /// collapsed. A normalizer that fails leaves the text as it is (a key that shares less).
    pub fn model_form(&self, text: &str) -> String {
        let normalized = match self.tokenizer.get_normalizer() {
            Some(normalizer) => {
                let mut form = NormalizedString::from(text);
                match normalizer.normalize(&mut form) {
                    Ok(()) => form.get().to_owned(),
                    Err(_) => text.to_owned(),
                }
            }
            None => text.to_owned(),
        };
        if self.splits_on_whitespace {
            normalized.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            normalized
        }
    }

    /// Whether every word of a text becomes the same pieces wherever the text is cut between
    /// words: true of BERT's tokenizers (a per-character normalizer, a split at whitespace and
    /// punctuation, then each word alone). Not of byte-level BPE, whose words carry the space
    /// before them, nor of SentencePiece, which marks a text's first word.
    pub fn reads_words_independently(&self) -> bool {
        self.splits_on_whitespace
            && matches!(
                self.tokenizer.get_normalizer(),
                None | Some(NormalizerWrapper::BertNormalizer(_))
            )
    }

    /// The tokenizer, measuring whole texts (for sizing chunks with it).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Word pieces in `text`, without special tokens, however many.
    pub fn count(&self, text: &str) -> usize {
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .unwrap_or_default()
    }

    pub fn read(&self, text: &str) -> Reading {
        let pieces = self.count(text);
        Reading {
            word_pieces: pieces.min(self.window),
            truncated: pieces > self.window,
        }
    }
}
