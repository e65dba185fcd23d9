//! Checking a request before anything is stored: limits, and text every backend can store.

use serde_json::Value;

use super::pipeline::IngestRequest;
use crate::config::Limits;
use crate::error::{Error, Result};

/// Checks a request against the configured limits and normalises it (trimmed fields, tags
/// deduplicated in order). Nothing is touched before every input of a batch has passed.
///
/// U+0000 is refused in every text field and inside metadata, on every backend: PostgreSQL
/// cannot store it in text or JSON, and a character SQLite would keep but PostgreSQL refuses
/// would make the same request succeed or fail depending on the deployment.
pub fn validate(mut request: IngestRequest, limits: &Limits) -> Result<IngestRequest> {
    refuse_nul("content", &request.content)?;
    if let Some(metadata) = &request.metadata
        && json_has_nul(metadata)
    {
        return Err(Error::bad_input(
            "metadata contains the character U+0000, which cannot be stored; remove it",
        ));
    }
    if request.content.trim().is_empty() {
        return Err(Error::bad_input("content must not be empty"));
    }
    if request.content.len() > limits.max_content_bytes {
        return Err(Error::bad_input(format!(
            "content is {} bytes; the limit is {} (limits.max_content_bytes)",
            request.content.len(),
            limits.max_content_bytes
        )));
    }
    let field = |name: &str, value: Option<String>| -> Result<Option<String>> {
        let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        refuse_nul(name, &value)?;
        if value.chars().count() > limits.max_field_chars {
            return Err(Error::bad_input(format!(
                "{name} is longer than {} characters (limits.max_field_chars)",
                limits.max_field_chars
            )));
        }
        Ok(Some(value))
    };
    request.title = field("title", request.title)?;
    request.source = field("source", request.source)?;
    request.doc_type = field("type", request.doc_type)?;
    request.author = field("author", request.author)?;
    request.external_id = field("externalId", request.external_id)?;
    let mut tags: Vec<String> = Vec::with_capacity(request.tags.len());
    for tag in std::mem::take(&mut request.tags) {
        let tag =
            field("tag", Some(tag))?.ok_or_else(|| Error::bad_input("tags must not be empty"))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > limits.max_tags {
        return Err(Error::bad_input(format!(
            "more than {} tags (limits.max_tags)",
            limits.max_tags
        )));
    }
    request.tags = tags;
    if let Some(metadata) = &request.metadata {
        if !metadata.is_object() {
            return Err(Error::bad_input("metadata must be a JSON object"));
        }
        let size = serde_json::to_vec(metadata)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > limits.max_metadata_bytes {
            return Err(Error::bad_input(format!(
                "metadata is {size} bytes serialised; the limit is {} (limits.max_metadata_bytes)",
                limits.max_metadata_bytes
            )));
        }
    }
    Ok(request)
}

/// A `BAD_INPUT` naming `field` when `value` holds U+0000.
fn refuse_nul(field: &str, value: &str) -> Result<()> {
    match value.find('\0') {
        Some(at) => Err(Error::bad_input(format!(
            "{field} contains the character U+0000 at byte {at}, which cannot be stored; remove it"
        ))),
        None => Ok(()),
    }
}

/// Whether any string or key in `value` holds U+0000. Metadata is bounded in size and in
/// nesting (serde_json's limit), so the recursion is too.
fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content: &str) -> IngestRequest {
        IngestRequest {
            content: content.into(),
            ..IngestRequest::default()
        }
    }

    #[test]
    fn blank_and_oversized_content_is_refused() {
        let limits = Limits {
            max_content_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            validate(request(" \n\t"), &limits),
            Err(Error::BadInput(_))
        ));
        assert!(matches!(
            validate(request("01234567890"), &limits),
            Err(Error::BadInput(_))
        ));
        assert!(validate(request("0123456789"), &limits).is_ok());
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated_in_order() {
        let mut req = request("text");
        req.tags = vec![" b ".into(), "a".into(), "b".into()];
        let req = validate(req, &Limits::default()).expect("valid");
        assert_eq!(req.tags, vec!["b".to_string(), "a".to_string()]);
        let mut req = request("text");
        req.tags = vec!["  ".into()];
        assert!(validate(req, &Limits::default()).is_err());
    }

    #[test]
    fn nul_is_refused_in_every_field_naming_it() {
        let refused = |req: IngestRequest, field: &str| match validate(req, &Limits::default()) {
            Err(Error::BadInput(message)) => assert!(message.starts_with(field), "{message}"),
            other => panic!("{field}: expected BAD_INPUT, got {other:?}"),
        };
        refused(request("a\0b"), "content");
        let mut req = request("text");
        req.title = Some("t\0".into());
        refused(req, "title");
        let mut req = request("text");
        req.tags = vec!["x\0".into()];
        refused(req, "tag");
        let mut req = request("text");
        req.metadata = Some(serde_json::json!({"a": [{"b": "c\u{0}"}]}));
        refused(req, "metadata");
        let mut req = request("text");
        req.metadata = Some(serde_json::json!({"k\u{0}": 1}));
        refused(req, "metadata");
    }

    #[test]
    fn metadata_must_be_an_object() {
        let mut req = request("text");
        req.metadata = Some(serde_json::json!([1, 2]));
        assert!(validate(req, &Limits::default()).is_err());
    }
}
