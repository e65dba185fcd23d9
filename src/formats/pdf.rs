//! A PDF's text, page by page, by `pdf-extract` (on `lopdf`, pure Rust: fonts, encodings and
//! CMaps decoded, nothing to install). Pages are joined by a blank line; each page's starting
//! offset is kept so that chunks can say which page they start on.

use super::{Extracted, FormatError, Layout};

pub fn extract(bytes: &[u8]) -> Result<Extracted, FormatError> {
    let unreadable = |reason: String| FormatError::Unreadable {
        format: "PDF",
        reason,
    };
    // The parser is written for well-formed files; a broken one must not take the server down.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| unreadable("the file is malformed".into()))?
        .map_err(|err| unreadable(err.to_string()))?;
    let mut text = String::new();
    let mut page_starts = Vec::with_capacity(pages.len());
    let mut offset = 0;
    for page in pages {
        if !text.is_empty() {
            text.push_str("\n\n");
            offset += 2;
        }
        page_starts.push(offset);
        let page = page.trim();
        offset += page.chars().count();
        text.push_str(page);
    }
    Ok(Extracted {
        text,
        layout: Layout {
            markdown: false,
            page_starts,
        },
        title: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = extract(b"%PDF-1.4 this is not really a pdf").expect_err("unreadable");
        assert!(err.to_string().starts_with("cannot read this PDF"), "{err}");
    }
}
