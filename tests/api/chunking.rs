//! The chunker with the model's real tokenizer: properties over arbitrary text.

use std::sync::OnceLock;

use proptest::prelude::*;
use selfrag::embed::ModelFiles;
use selfrag::ingest::Chunker;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

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
