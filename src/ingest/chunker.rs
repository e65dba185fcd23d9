//! Splits a document into chunks that fit the model's window, with exact character offsets.
//!
//! `text-splitter` does the splitting (paragraphs, then sentences, then words, then characters;
//! for Markdown its structure first: sections by heading level, then blocks such as lists and
//! code, never splitting inside one when it fits),
//! sized in word pieces of the model's own tokenizer: a chunk measured in characters could exceed
//! the 256-piece window (code, numbers, non-Latin scripts) and have its tail silently truncated,
//! never to be found by search.

use text_splitter::{ChunkConfig, ChunkConfigError, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::embed::WordPieces;

/// One piece of a document, as embedded and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk {
    pub index: usize,
    pub content: String,
    /// Offset of the first character, in Unicode scalar values from the start of the document.
    pub start_char: usize,
    /// One past the last character.
    pub end_char: usize,
    /// Word pieces, without [CLS]/[SEP].
    pub token_count: usize,
}

pub struct Chunker {
    splitter: TextSplitter<Tokenizer>,
    markdown: MarkdownSplitter<Tokenizer>,
    pieces: WordPieces,
    max_tokens: usize,
}

impl Chunker {
    pub fn new(
        tokenizer: Tokenizer,
        max_tokens: usize,
        overlap_tokens: usize,
    ) -> Result<Self, ChunkConfigError> {
        // Sizing must see the real length of every candidate chunk: `WordPieces` switches off
        // the truncation and padding the model's tokenizer.json enables. A chunk's window is
        // its pieces plus [CLS] and [SEP].
        let pieces = WordPieces::new(tokenizer, max_tokens + 2);
        let config = || {
            ChunkConfig::new(max_tokens)
                .with_sizer(pieces.tokenizer().clone())
                .with_overlap(overlap_tokens)
                .map(|config| config.with_trim(true))
        };
        Ok(Chunker {
            splitter: TextSplitter::new(config()?),
            markdown: MarkdownSplitter::new(config()?),
            pieces,
            max_tokens,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Word pieces in `text`, without special tokens.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.pieces.count(text)
    }

    /// Splits `text`, along its Markdown structure when `markdown`. Only whitespace between
    /// chunks is left out; every other character is in at least one chunk. CPU-bound: call it
    /// off the async runtime for large documents.
    pub fn chunk(&self, text: &str, markdown: bool) -> Vec<TextChunk> {
        let pieces: Vec<_> = if markdown {
            self.markdown.chunk_char_indices(text).collect()
        } else {
            self.splitter.chunk_char_indices(text).collect()
        };
        pieces
            .into_iter()
            .enumerate()
            .map(|(index, piece)| TextChunk {
                index,
                content: piece.chunk.to_owned(),
                start_char: piece.char_offset,
                end_char: piece.char_offset + piece.chunk.chars().count(),
                token_count: self.count_tokens(piece.chunk),
            })
            .collect()
    }
}
