//! The documents people have, as text to index: plain text, Markdown, HTML and PDF.
//!
//! Each format becomes text plus the structure chunks can point into ([`Layout`]): Markdown
//! keeps its headings (chunks record the heading path they sit under), HTML is turned into
//! Markdown first (so its headings count too, and its `<title>` is the default title), PDF
//! gives the text of each page (chunks record the page they start on).

mod html;
mod markdown;
mod pdf;

pub use markdown::Outline;

/// The formats documents arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Markdown,
    Html,
    Pdf,
}

impl Format {
    /// By file extension (case-insensitive); `None` for one we do not read.
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(Format::Text),
            "md" | "markdown" | "mdown" | "mkd" => Some(Format::Markdown),
            "html" | "htm" | "xhtml" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    /// By a file name's or path's extension; `None` for one we do not read.
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Option<Format> {
        path.as_ref()
            .extension()
            .and_then(|ext| ext.to_str())
            .and_then(Format::from_extension)
    }

    /// By media type (parameters such as `; charset=utf-8` ignored); `None` for one we do not
    /// read.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/plain" => Some(Format::Text),
            "text/markdown" | "text/x-markdown" => Some(Format::Markdown),
            "text/html" | "application/xhtml+xml" => Some(Format::Html),
            "application/pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    /// The extensions read, for messages.
    pub const EXTENSIONS: &'static str = ".txt, .md, .markdown, .html, .htm, .pdf";

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "Markdown",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
        }
    }
}

/// Where things are in an extracted text, for the chunks to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Split along Markdown structure, and record heading paths.
    pub markdown: bool,
    /// The character offset where each page starts (page 1 at index 0); empty when the format
    /// has no pages.
    pub page_starts: Vec<usize>,
}

impl Layout {
    /// The page (from 1) that holds the character at `offset`, if the text has pages.
    pub fn page_at(&self, offset: usize) -> Option<u32> {
        if self.page_starts.is_empty() {
            return None;
        }
        let page = self.page_starts.partition_point(|&start| start <= offset);
        u32::try_from(page.max(1)).ok()
    }
}

/// A document's text and structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    pub layout: Layout,
    /// The title the document gives itself (HTML `<title>`).
    pub title: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{format} must be UTF-8 text: {reason}")]
    NotUtf8 {
        format: &'static str,
        reason: std::str::Utf8Error,
    },
    #[error("cannot read this {format}: {reason}")]
    Unreadable {
        format: &'static str,
        reason: String,
    },
    #[error("the {format} holds no text (a scanned PDF needs OCR first)")]
    NoText { format: &'static str },
}

impl From<FormatError> for crate::Error {
    fn from(err: FormatError) -> Self {
        crate::Error::bad_input(err.to_string())
    }
}

/// Reads `bytes` as `format`. CPU-bound (PDFs especially): call it off the async runtime.
pub fn extract(bytes: &[u8], format: Format) -> Result<Extracted, FormatError> {
    let text = |bytes| {
        std::str::from_utf8(bytes).map_err(|reason| FormatError::NotUtf8 {
            format: format.name(),
            reason,
        })
    };
    let extracted = match format {
        Format::Text => Extracted {
            text: text(bytes)?.to_owned(),
            layout: Layout::default(),
            title: None,
        },
        Format::Markdown => Extracted {
            text: text(bytes)?.to_owned(),
            layout: Layout {
                markdown: true,
                page_starts: Vec::new(),
            },
            title: None,
        },
        Format::Html => html::extract(text(bytes)?)?,
        Format::Pdf => pdf::extract(bytes)?,
    };
    if extracted.text.trim().is_empty() && format == Format::Pdf {
        return Err(FormatError::NoText {
            format: format.name(),
        });
    }
    Ok(extracted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions_and_media_types() {
        assert_eq!(Format::from_extension("MD"), Some(Format::Markdown));
        assert_eq!(Format::from_extension("htm"), Some(Format::Html));
        assert_eq!(Format::from_extension("docx"), None);
        assert_eq!(
            Format::from_content_type("text/html; charset=utf-8"),
            Some(Format::Html)
        );
        assert_eq!(
            Format::from_content_type("application/pdf"),
            Some(Format::Pdf)
        );
        assert_eq!(Format::from_content_type("image/png"), None);
    }

    #[test]
    fn pages_are_found_by_offset() {
        let layout = Layout {
            markdown: false,
            page_starts: vec![0, 10, 25],
        };
        assert_eq!(layout.page_at(0), Some(1));
        assert_eq!(layout.page_at(9), Some(1));
        assert_eq!(layout.page_at(10), Some(2));
        assert_eq!(layout.page_at(1000), Some(3));
        assert_eq!(Layout::default().page_at(3), None);
    }

    #[test]
    fn text_must_be_utf8() {
        assert!(matches!(
            extract(&[0xff, 0xfe, 0x00], Format::Text),
            Err(FormatError::NotUtf8 { .. })
        ));
    }
}
