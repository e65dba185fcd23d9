//! The CLI's client for a running server: the same GraphQL API a frontend uses, so a command
//! run beside a server goes through its cache invalidation, rate limits and keys like any
//! other client, and never touches the data directory the server holds.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use super::corpus::Submission;
use crate::formats::Format;

/// How long the CLI waits for `/health/live` before deciding no server is there.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A selfrag server reached over HTTP.
pub struct RemoteServer {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
}

impl RemoteServer {
    /// `url` is the server's base address (`http://127.0.0.1:8080`); a trailing `/graphql`
    /// or slash is accepted.
    pub fn new(url: &str, api_key: Option<String>) -> anyhow::Result<Self> {
        let url = url
            .trim_end_matches('/')
            .trim_end_matches("/graphql")
            .to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--server must be an http:// or https:// address, got `{url}`");
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("selfrag-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(RemoteServer {
            client,
            url,
            api_key,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a selfrag server answers at this address (`/health/live`).
    pub async fn probe(&self) -> anyhow::Result<()> {
        let response = self
            .client
            .get(format!("{}/health/live", self.url))
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map_err(|err| anyhow!("{}", describe_http_error(&err)))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() && body["status"] == "live" {
            Ok(())
        } else {
            bail!("something answers, but not a selfrag server (HTTP {status})")
        }
    }

    /// Runs one GraphQL operation and returns its `data`; a GraphQL error becomes an error
    /// naming its code, and a missing key says how to give one.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let request = self
            .client
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        self.send(request).await
    }

    /// Sends a GraphQL request (with the key, if any) and returns its `data`.
    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|err| {
            anyhow!(
                "the server at {} did not answer: {}",
                self.url,
                describe_http_error(&err)
            )
        })?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| {
            format!(
                "the server at {} answered HTTP {status} without JSON",
                self.url
            )
        })?;
        if let Some(error) = body["errors"].as_array().and_then(|errors| errors.first()) {
            let code = error["extensions"]["code"].as_str().unwrap_or("ERROR");
            let message = error["message"].as_str().unwrap_or("(no message)");
            if code == "UNAUTHENTICATED" || code == "FORBIDDEN" {
                bail!(
                    "{code}: {message}. Pass a key with the writer role: --api-key KEY or \
                     SELFRAG_API_KEY (create one with `selfrag keys create --name cli --role writer`)"
                );
            }
            bail!("{code}: {message}");
        }
        if !status.is_success() {
            bail!("the server at {} answered HTTP {status}", self.url);
        }
        Ok(body["data"].clone())
    }
}

impl RemoteServer {
    /// Uploads files to `ingestFiles` (GraphQL multipart request spec) and returns each file's
    /// entry: `{ filename, result { status chunks… }, error { code message } }`.
    pub async fn ingest_files(&self, files: &[Submission]) -> anyhow::Result<Vec<Value>> {
        let inputs: Vec<Value> = files.iter().map(file_input).collect();
        let operations = json!({
            "query": "mutation($files: [Upload!]!, $inputs: [FileInput!]) {
                ingestFiles(files: $files, inputs: $inputs) {
                    filename
                    result { status chunksCreated chunksEmbedded chunksReused }
                    error { code message }
                }
            }",
            "variables": { "files": vec![Value::Null; files.len()], "inputs": inputs },
        });
        let map: serde_json::Map<String, Value> = (0..files.len())
            .map(|i| (i.to_string(), json!([format!("variables.files.{i}")])))
            .collect();
        let mut form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", Value::Object(map).to_string());
        for (i, file) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(file.bytes.clone())
                .file_name(file.name.clone())
                .mime_str(media_type(file.format))
                .context("a media type")?;
            form = form.part(i.to_string(), part);
        }
        // Multipart is a "simple" content type a browser may send cross-site: the server
        // wants this header as proof the sender is not a form on another site (CSRF).
        let request = self
            .client
            .post(format!("{}/graphql", self.url))
            .header("apollo-require-preflight", "true")
            .multipart(form);
        let data = self.send(request).await?;
        data["ingestFiles"]
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow!("the server's answer has no ingestFiles"))
    }
}

/// A submission's fields as `FileInput`.
fn file_input(file: &Submission) -> Value {
    let fields = &file.fields;
    json!({
        "title": fields.title,
        "source": fields.source,
        "type": fields.doc_type,
        "author": fields.author,
        "tags": fields.tags,
        "metadata": fields.metadata,
        "externalId": fields.external_id,
        "format": match file.format {
            Format::Text => "TEXT",
            Format::Markdown => "MARKDOWN",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
        },
    })
}

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Text => "text/plain",
        Format::Markdown => "text/markdown",
        Format::Html => "text/html",
        Format::Pdf => "application/pdf",
    }
}

/// The part of a reqwest error a person can act on.
fn describe_http_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection refused or unreachable".to_owned()
    } else {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            message = format!("{message}: {inner}");
            source = inner.source();
        }
        message
    }
}
