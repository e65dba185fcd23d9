//! Splits a document into chunks that fit the model's window, with exact character offsets.
//!
//! `text-splitter` does the splitting (paragraphs, then sentences, then words, then characters;
//! for Markdown its structure first: sections by heading level, then blocks such as lists and
//! code, never splitting inside one when it fits),
//! sized in word pieces of the model's own tokenizer: a chunk measured in characters could exceed
//! the 256-piece window (code, numbers, non-Latin scripts) and have its tail silently truncated,
//! never to be found by search.
//!
//! The splitter sizes many candidate chunks per chunk it makes (it searches for the longest
//! that fits), and tokenising each candidate again was most of ingest's own CPU beside the
//! model's. So the document is tokenised once ([`DocumentPieces`]) and a candidate's size is
//! counted from those pieces, wherever that count is exactly what tokenising the candidate
//! would give.

use std::ops::Range;

use text_splitter::{ChunkConfig, ChunkConfigError, ChunkSizer, MarkdownSplitter, TextSplitter};
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
    pieces: WordPieces,
    max_tokens: usize,
    overlap_tokens: usize,
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
        let chunker = Chunker {
            pieces,
            max_tokens,
            overlap_tokens,
        };
        chunker.config(text_splitter::Characters)?; // refuses an overlap as large as the chunk
        Ok(chunker)
    }

    fn config<S: ChunkSizer>(&self, sizer: S) -> Result<ChunkConfig<S>, ChunkConfigError> {
        ChunkConfig::new(self.max_tokens)
            .with_sizer(sizer)
            .with_overlap(self.overlap_tokens)
            .map(|config| config.with_trim(true))
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
        let sizer = DocumentPieces::new(&self.pieces, text);
        let config = self.config(&sizer).expect("checked in Chunker::new");
        let pieces: Vec<_> = if markdown {
            MarkdownSplitter::new(config)
                .chunk_char_indices(text)
                .collect()
        } else {
            TextSplitter::new(config).chunk_char_indices(text).collect()
        };
        pieces
            .into_iter()
            .enumerate()
            .map(|(index, piece)| TextChunk {
                index,
                content: piece.chunk.to_owned(),
                start_char: piece.char_offset,
                end_char: piece.char_offset + piece.chunk.chars().count(),
                token_count: sizer.size(piece.chunk),
            })
            .collect()
    }
}

/// One document tokenised once, sizing its slices (what the splitter asks for) without
/// tokenising them again: a slice that starts and ends between words holds exactly the pieces
/// of the words inside it. A slice that cuts a word, or any slice when the tokenizer does not
/// read words independently, is tokenised as it is.
pub(crate) struct DocumentPieces<'a> {
    pieces: &'a WordPieces,
    text: &'a str,
    /// Byte offsets of each piece in `text`, in order.
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// Byte ranges of the words, in order and disjoint.
    words: Vec<Range<usize>>,
}

impl<'a> DocumentPieces<'a> {
    fn new(word_pieces: &'a WordPieces, text: &'a str) -> Self {
        let mut pieces = DocumentPieces {
            pieces: word_pieces,
            text,
            starts: Vec::new(),
            ends: Vec::new(),
            words: Vec::new(),
        };
        if !word_pieces.reads_words_independently() {
            return pieces;
        }
        let Ok(encoding) = word_pieces.tokenizer().encode(text, false) else {
            return pieces;
        };
        // A piece outside any word (none, with BERT) counts as a word of its own.
        let mut word: Option<(Option<u32>, Range<usize>)> = None;
        for (&(start, end), &word_id) in encoding.get_offsets().iter().zip(encoding.get_word_ids())
        {
            pieces.starts.push(start);
            pieces.ends.push(end);
            match &mut word {
                Some((Some(id), span)) if word_id == Some(*id) => span.end = span.end.max(end),
                _ => pieces
                    .words
                    .extend(word.replace((word_id, start..end)).map(|(_, span)| span)),
            }
        }
        pieces.words.extend(word.map(|(_, span)| span));
        // The lookups search these in order: pieces that went back would break them, so such
        // a document is tokenised slice by slice instead.
        let ordered = pieces.starts.is_sorted()
            && pieces.ends.is_sorted()
            && pieces.words.windows(2).all(|w| w[0].end <= w[1].start);
        if !ordered {
            pieces.starts.clear();
        }
        pieces
    }

    /// Where `slice` lies in the document, if it is a slice of it.
    fn range_of(&self, slice: &str) -> Option<Range<usize>> {
        let start = (slice.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        let end = start + slice.len();
        (end <= self.text.len()).then_some(start..end)
    }

    /// Whether byte `at` falls between words (not strictly inside one).
    fn between_words(&self, at: usize) -> bool {
        let next = self.words.partition_point(|word| word.end <= at);
        self.words.get(next).is_none_or(|word| word.start >= at)
    }
}

impl ChunkSizer for DocumentPieces<'_> {
    fn size(&self, chunk: &str) -> usize {
        match self.range_of(chunk) {
            Some(range)
                if !self.starts.is_empty()
                    && self.between_words(range.start)
                    && self.between_words(range.end) =>
            {
                let first = self.starts.partition_point(|&start| start < range.start);
                let past = self.ends.partition_point(|&end| end <= range.end);
                past.saturating_sub(first)
            }
            _ => self.pieces.count(chunk),
        }
    }
}
