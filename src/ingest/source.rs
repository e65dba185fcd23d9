//! A document as it arrives (a file, an upload, text in a format) made into a request: its
//! text extracted, its structure kept, its own title used when the client gives none.

use crate::config::Limits;
use crate::error::{Error, Result};
use crate::formats::{self, Format};

use super::pipeline::IngestRequest;

/// Reads `bytes` as `format` into `request`'s content and layout. Unreadable input is
/// `BAD_INPUT` with the reason. A text format (not PDF, whose text is much smaller than its
/// file) over `limits.max_content_bytes` is refused before it is parsed. Extraction runs off
/// the async threads (PDFs take a while).
pub async fn from_bytes(
    bytes: Vec<u8>,
    format: Format,
    mut request: IngestRequest,
    limits: &Limits,
) -> Result<IngestRequest> {
    if format != Format::Pdf && bytes.len() > limits.max_content_bytes {
        return Err(Error::bad_input(format!(
            "the {} is {} bytes; the limit is {} (limits.max_content_bytes)",
            format.name(),
            bytes.len(),
            limits.max_content_bytes
        )));
    }
    let extracted = tokio::task::spawn_blocking(move || formats::extract(&bytes, format))
        .await
        .map_err(|err| Error::internal(anyhow::anyhow!("reading a document failed: {err}")))??;
    request.content = extracted.text;
    request.layout = extracted.layout;
    if request.title.is_none() {
        request.title = extracted.title;
    }
    Ok(request)
}

/// Like [`from_bytes`] for a file named `name` (a path, an upload's file name): the name is the
/// default source, and the default title is the document's own (an HTML `<title>`), else the
/// name without its directory and extension. One rule for uploads and the CLI.
pub async fn from_file(
    name: &str,
    bytes: Vec<u8>,
    format: Format,
    mut request: IngestRequest,
    limits: &Limits,
) -> Result<IngestRequest> {
    if request.source.is_none() {
        request.source = Some(name.to_owned());
    }
    let mut request = from_bytes(bytes, format, request, limits).await?;
    if request.title.is_none() {
        request.title = std::path::Path::new(name)
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned());
    }
    Ok(request)
}

/// Like [`from_bytes`] for text already in hand (`IngestInput.content` with a `format`).
pub async fn from_text(
    format: Format,
    request: IngestRequest,
    limits: &Limits,
) -> Result<IngestRequest> {
    match format {
        Format::Text => Ok(request),
        Format::Pdf => Err(Error::bad_input(
            "a PDF cannot be sent as content text: upload the file with ingestFile",
        )),
        Format::Markdown | Format::Html => {
            let mut request = request;
            let bytes = std::mem::take(&mut request.content).into_bytes();
            from_bytes(bytes, format, request, limits).await
        }
    }
}
