//! Files uploaded through the GraphQL multipart request spec (`ingestFile`, `ingestFiles`): the
//! format from the client's word, the part's content type or the file name, in that order; the
//! text extracted by `ingest::from_bytes`; the file name as the default title and source. The
//! upload is bounded by `http.max_body_bytes`, its text by `limits.max_content_bytes`.

use async_graphql::{Context, Enum, InputObject, Json, SimpleObject, Upload};
use serde_json::Value;

use super::types::{DocumentFormat, IngestResult};
use crate::config::Limits;
use crate::error::{Error, ErrorCode, Result};
use crate::formats::{Format, Layout};
use crate::ingest::{self, BatchOutcome, IngestRequest};

/// The fields of an uploaded document; all optional.
#[derive(InputObject, Default)]
pub struct FileInput {
    /// Default: the HTML `<title>`, else the file name without its extension.
    pub title: Option<String>,
    /// Default: the file name.
    pub source: Option<String>,
    #[graphql(name = "type")]
    pub doc_type: Option<String>,
    pub author: Option<String>,
    pub tags: Option<Vec<String>>,
    /// A JSON object, returned as given.
    pub metadata: Option<Json<Value>>,
    /// As in `IngestInput`: ingesting again under it replaces the document.
    pub external_id: Option<String>,
    /// Default: from the part's content type, else from the file name's extension.
    pub format: Option<DocumentFormat>,
}

/// One file of `ingestFiles`: its result, or why it was not ingested.
#[derive(SimpleObject)]
pub struct FileIngestResult {
    pub filename: String,
    /// Null when the file was not ingested (`error` says why).
    pub result: Option<IngestResult>,
    pub error: Option<FileError>,
}

/// Why one file of a batch was not ingested.
#[derive(SimpleObject)]
pub struct FileError {
    /// The error's code, as `extensions.code` would carry it (`BAD_INPUT` for an unreadable or
    /// unsupported file).
    pub code: FileErrorCode,
    pub message: String,
}

/// The codes of `extensions.code`, and `NOT_REACHED`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileErrorCode {
    /// Unreadable, unsupported or over a limit: this file needs fixing.
    BadInput,
    NotFound,
    /// Another write changed the same document meanwhile; send the file again.
    Conflict,
    /// A dependency failed reading or storing it (it may pass); a failure to store stops the
    /// batch here.
    Unavailable,
    Unauthenticated,
    Forbidden,
    RateLimited,
    /// It failed on our side (logged); a failure to store stops the batch here.
    Internal,
    /// The batch stopped before this file (an earlier one failed to store).
    NotReached,
}

impl From<ErrorCode> for FileErrorCode {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::BadInput => FileErrorCode::BadInput,
            ErrorCode::NotFound => FileErrorCode::NotFound,
            ErrorCode::Conflict => FileErrorCode::Conflict,
            ErrorCode::Unavailable => FileErrorCode::Unavailable,
            ErrorCode::Unauthenticated => FileErrorCode::Unauthenticated,
            ErrorCode::Forbidden => FileErrorCode::Forbidden,
            ErrorCode::RateLimited => FileErrorCode::RateLimited,
            ErrorCode::Internal => FileErrorCode::Internal,
        }
    }
}

/// Each file's entry, in order: its result; or the error that kept it from being read; or the
/// storage error that stopped the batch at it; or `NOT_REACHED` for the readable files after.
/// `files` holds each file's name and its read error (`None`: read, and in the batch).
pub fn file_results(
    files: Vec<(String, Option<Error>)>,
    batch: BatchOutcome,
) -> Vec<FileIngestResult> {
    let mut stored = batch.stored.into_iter();
    let mut position = 0;
    let failed = |filename, err: &Error| FileIngestResult {
        filename,
        result: None,
        error: Some(FileError {
            code: err.code().into(),
            message: err.to_string(),
        }),
    };
    files
        .into_iter()
        .map(|(filename, read_error)| {
            if let Some(err) = read_error {
                return failed(filename, &err);
            }
            let at = position;
            position += 1;
            if let Some(outcome) = stored.next() {
                return FileIngestResult {
                    filename,
                    result: Some(outcome.into()),
                    error: None,
                };
            }
            match &batch.failure {
                Some((failed_at, err)) if *failed_at == at => {
                    // Logged with its cause here: the entry carries only the code and message.
                    tracing::warn!(file = %filename, error = ?err, "a file of an upload batch was not stored");
                    failed(filename, err)
                }
                _ => FileIngestResult {
                    filename,
                    result: None,
                    error: Some(FileError {
                        code: FileErrorCode::NotReached,
                        message: "the batch stopped before this file".into(),
                    }),
                },
            }
        })
        .collect()
}

/// Reads an upload into a validated request. Errors name the file.
pub async fn read_upload(
    ctx: &Context<'_>,
    file: &Upload,
    input: FileInput,
    limits: &Limits,
) -> (String, Result<IngestRequest>) {
    let upload = match file.value(ctx) {
        Ok(upload) => upload,
        Err(err) => {
            return (
                String::new(),
                Err(Error::bad_input(format!(
                    "the upload cannot be read: {err}"
                ))),
            );
        }
    };
    let filename = upload.filename.clone();
    let request = async {
        let format = match input.format {
            Some(format) => format.into(),
            None => format_of(&filename, upload.content_type.as_deref())?,
        };
        let request = IngestRequest {
            content: String::new(),
            title: input.title,
            source: input.source,
            doc_type: input.doc_type,
            author: input.author,
            tags: input.tags.unwrap_or_default(),
            metadata: input.metadata.map(|json| json.0),
            external_id: input.external_id,
            layout: Layout::default(),
        };
        let request =
            ingest::from_file(&filename, upload.content.to_vec(), format, request, limits).await?;
        ingest::validate(request, limits)
    }
    .await
    .map_err(|err| match err {
        Error::BadInput(message) => Error::bad_input(format!("{filename}: {message}")),
        other => other,
    });
    (filename, request)
}

/// The format of an upload without a `format`: its content type when that names one we read,
/// else its file name's extension.
fn format_of(filename: &str, content_type: Option<&str>) -> Result<Format> {
    content_type
        .and_then(Format::from_content_type)
        .or_else(|| Format::from_path(filename))
        .ok_or_else(|| {
            Error::bad_input(format!(
                "unsupported file type{}: selfrag reads {} (or give `format`)",
                content_type.map_or(String::new(), |ct| format!(" ({ct})")),
                Format::EXTENSIONS
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_wins_then_the_extension() {
        assert_eq!(
            format_of("page.txt", Some("text/html")).ok(),
            Some(Format::Html)
        );
        assert_eq!(
            format_of("notes.md", Some("application/octet-stream")).ok(),
            Some(Format::Markdown)
        );
        let err = format_of("slides.pptx", None).expect_err("unsupported");
        assert!(err.to_string().contains(".pdf"), "{err}");
    }
}
