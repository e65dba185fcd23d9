//! The chunker with the model's real tokenizer: properties over arbitrary text.

use std::sync::OnceLock;

use proptest::prelude::*;
use selfrag::embed::ModelFiles;
use selfrag::ingest::Chunker;
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::helpers::model_config;

fn chunker(max_tokens: usize, overlap: usize) -> Chunker {
    let files = ModelFiles::locate(&model_config()).expect("provisioned model");
    Chunker::new(
        files.load_tokenizer().expect("tokenizer"),
        max_tokens,
        overlap,
    )
    .expect("valid config")
}

fn small() -> &'static Chunker {
    static CHUNKER: OnceLock<Chunker> = OnceLock::new();
    CHUNKER.get_or_init(|| chunker(24, 6))
}

/// Checks the invariants every chunking must keep, whatever the text.
fn check_invariants(chunker: &Chunker, text: &str) {
    let chars: Vec<char> = text.chars().collect();
    let chunks = chunker.chunk(text, false);
    let mut covered = vec![false; chars.len()];
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.index, i);
        // Offsets slice back to the content.
        let slice: String = chars[chunk.start_char..chunk.end_char].iter().collect();
        assert_eq!(slice, chunk.content, "offsets of chunk {i}");
        // No chunk exceeds the size.
        assert!(
            chunk.token_count <= chunker.max_tokens(),
            "chunk {i} has {} tokens",
            chunk.token_count
        );
        assert_eq!(chunk.token_count, chunker.count_tokens(&chunk.content));
        covered[chunk.start_char..chunk.end_char]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    // Only whitespace may fall between chunks.
    for (c, was_covered) in chars.iter().zip(&covered) {
        assert!(
            *was_covered || c.is_whitespace(),
            "character {c:?} was dropped"
        );
    }
}

/// The model's tokenizer measuring whole texts, as the chunker's sizing must.
fn whole_text_tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let files = ModelFiles::locate(&model_config()).expect("provisioned model");
        let mut tokenizer = files.load_tokenizer().expect("tokenizer");
        tokenizer.with_truncation(None).expect("no truncation");
        tokenizer.with_padding(None);
        tokenizer
    })
}

/// Chunks as text-splitter makes them when it tokenises every candidate itself (the chunker
/// counts candidates from one tokenisation of the document): offsets and contents.
fn chunks_tokenising_every_candidate(text: &str, markdown: bool) -> Vec<(usize, String)> {
    let config = ChunkConfig::new(24)
        .with_sizer(whole_text_tokenizer())
        .with_overlap(6)
        .expect("valid overlap")
        .with_trim(true);
    let chunks: Vec<_> = if markdown {
        MarkdownSplitter::new(config)
            .chunk_char_indices(text)
            .collect()
    } else {
        TextSplitter::new(config).chunk_char_indices(text).collect()
    };
    chunks
        .into_iter()
        .map(|c| (c.char_offset, c.chunk.to_owned()))
        .collect()
}

/// The chunker's chunks are exactly those of tokenising every candidate, token counts included.
fn check_same_as_tokenising_every_candidate(text: &str) {
    for markdown in [false, true] {
        let chunks = small().chunk(text, markdown);
        let got: Vec<_> = chunks
            .iter()
            .map(|c| (c.start_char, c.content.clone()))
            .collect();
        assert_eq!(
            got,
            chunks_tokenising_every_candidate(text, markdown),
            "markdown: {markdown}"
        );
        for chunk in &chunks {
            let pieces = whole_text_tokenizer()
                .encode_fast(chunk.content.as_str(), false)
                .expect("tokenised")
                .len();
            assert_eq!(chunk.token_count, pieces, "{:?}", chunk.content);
        }
    }
}

/// Words of every kind the tokenizer treats apart: accents (composed and combining), CJK
/// (a word per character), emoji, punctuation inside words, digits, special-token names,
/// words over WordPiece's 100-character limit, control characters, Markdown markers.
fn mixed_word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z]{1,12}",
        "[éüßñÅ]{1,4}",
        Just("e\u{301}te\u{301}".to_owned()),
        Just("漢字仮名".to_owned()),
        Just("🙂".to_owned()),
        Just("don't".to_owned()),
        "[0-9]{1,9}",
        "[.,;:!?()\\-]{1,3}",
        Just("[MASK]".to_owned()),
        Just("[CLS]x".to_owned()),
        Just("y".repeat(120)),
        Just("a\u{0}b\u{7}".to_owned()),
        Just("# ".to_owned()),
        Just("- ".to_owned()),
        Just("```".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunks_are_those_of_tokenising_every_candidate(
        words in prop::collection::vec(
            (mixed_word(), prop_oneof![Just(" "), Just(""), Just("\n"), Just("\n\n"), Just("\t")]),
            0..160,
        )
    ) {
        let text: String = words.into_iter().flat_map(|(word, gap)| [word, gap.to_owned()]).collect();
        check_same_as_tokenising_every_candidate(&text);
    }

    #[test]
    fn arbitrary_text_chunks_as_tokenising_every_candidate(text in "\\PC{0,600}") {
        check_same_as_tokenising_every_candidate(&text);
    }

    #[test]
    fn arbitrary_text_keeps_every_invariant(text in "\\PC{0,600}") {
        check_invariants(small(), &text);
    }

    #[test]
    fn prose_with_paragraphs_keeps_every_invariant(
        paragraphs in prop::collection::vec("[a-zA-Z ,.!?éüß漢字🙂]{1,160}", 1..8)
    ) {
        check_invariants(small(), &paragraphs.join("\n\n"));
    }
}

#[test]
fn a_short_document_is_one_chunk() {
    let text = "Twenty characters!!!";
    let chunks = chunker(254, 50).chunk(text, false);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].content, text);
    assert_eq!((chunks[0].start_char, chunks[0].end_char), (0, 20));
}

#[test]
fn default_chunks_fit_the_model_window_even_for_dense_scripts() {
    let config = selfrag::config::Config::default();
    let chunker = chunker(config.chunk.max_tokens, config.chunk.overlap_tokens);
    // CJK text and digits tokenise far denser than English: 1,000 characters would overflow.
    let text = "漢字仮名交じり文。".repeat(300) + &"0123456789 ".repeat(200);
    let chunks = chunker.chunk(&text, false);
    assert!(chunks.len() > 4);
    for chunk in &chunks {
        // +2 for [CLS] and [SEP].
        assert!(
            chunk.token_count + 2 <= config.model.max_tokens,
            "{} tokens",
            chunk.token_count
        );
    }
    check_invariants(&chunker, &text);
}

#[test]
fn paragraph_boundaries_are_preferred() {
    let para = |word: &str| format!("{word} ").repeat(12).trim_end().to_owned() + ".";
    let text = format!("{}\n\n{}\n\n{}", para("alpha"), para("beta"), para("gamma"));
    // Each paragraph is 13 word pieces: one fits in 20, two do not.
    let chunks = chunker(20, 0).chunk(&text, false);
    assert!(chunks.len() >= 2);
    for chunk in &chunks {
        let words: std::collections::HashSet<_> = chunk
            .content
            .split_whitespace()
            .map(|w| w.trim_end_matches('.'))
            .collect();
        assert_eq!(
            words.len(),
            1,
            "a chunk mixes paragraphs: {:?}",
            chunk.content
        );
    }
}
