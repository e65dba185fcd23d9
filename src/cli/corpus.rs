//! Where the CLI's document commands run: against a server that answers (over its GraphQL
//! API), or on the data directory itself when no server holds it. Both give the same reports,
//! so `ingest`, `search` and `delete` print the same either way.

use anyhow::{anyhow, bail};
use clap::Args;
use serde_json::json;
use uuid::Uuid;

use super::remote::RemoteServer;
use crate::app::{Backends, Overrides, StartError};
use crate::config::{Config, Limits};
use crate::formats::Format;
use crate::ingest::{self, IngestRequest, IngestStatus};
use crate::search::{self, SearchMode, SearchRequest};
use crate::vector::{IndexError, VectorFilter};

/// Documents per `ingestDocuments` request, and their bytes: small enough that a request
/// finishes well inside the server's request timeout on a slow machine.
const REMOTE_BATCH_DOCUMENTS: usize = 16;
const REMOTE_BATCH_BYTES: usize = 256 * 1024;
/// Documents per page when listing them (within the default `limits.max_page_size`).
const PAGE: u64 = 100;

/// How the document commands find the corpus.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// A running server to send the work to (default: the configured `bind` address, used when
    /// a server answers there; otherwise the data directory is opened directly).
    #[arg(long, env = "SELFRAG_SERVER")]
    pub server: Option<String>,
    /// API key for the server (writer role to ingest or delete).
    #[arg(long, env = "SELFRAG_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

pub enum Corpus {
    Local(Box<Backends>),
    Remote(RemoteServer),
}

/// One stored document, as either side reports it.
pub struct Stored {
    pub status: IngestStatus,
    pub chunks_created: usize,
    pub chunks_embedded: usize,
    pub chunks_reused: usize,
}

/// A search hit as the CLI prints it.
pub struct Hit {
    pub score: f64,
    pub document_id: String,
    pub title: Option<String>,
    pub chunk_index: u64,
    pub content: String,
    /// The Markdown heading path of the chunk.
    pub headings: Vec<String>,
    /// The PDF page the chunk starts on.
    pub page: Option<u64>,
}

pub struct Found {
    pub query: String,
    pub hits: Vec<Hit>,
    pub took_ms: f64,
}

/// One document to ingest: its bytes in a format, with the fields the command gives
/// (`content` and `layout` come from the bytes).
pub struct Submission {
    /// The file's path as given (or `stdin`), for messages and as the upload's file name.
    pub name: String,
    /// Whether `name` names a file, whose defaults (source, title) then apply.
    pub file: bool,
    pub bytes: Vec<u8>,
    pub format: Format,
    pub fields: IngestRequest,
}

/// What became of one submission.
pub enum Done {
    Stored(Stored),
    /// Not ingested, and why (unreadable, unsupported, over a limit, or failed to store as the
    /// last of its batch); the rest go on.
    Unreadable(String),
}

/// A batch that stopped: the position of the document that failed, and why.
pub struct IngestFailure {
    pub index: usize,
    pub error: anyhow::Error,
}

impl Corpus {
    /// A server when one answers (at `--server`, or else at the configured bind address);
    /// otherwise the data directory. An explicit `--server` that does not answer is an error,
    /// as is a data directory another process holds.
    pub async fn open(config: Config, args: &ServerArgs) -> anyhow::Result<Corpus> {
        let url = args
            .server
            .clone()
            .unwrap_or_else(|| default_server_url(&config));
        let remote = RemoteServer::new(&url, args.api_key.clone())?;
        let unanswered = match remote.probe().await {
            Ok(()) => {
                eprintln!("using the server at {}", remote.url());
                return Ok(Corpus::Remote(remote));
            }
            Err(err) if args.server.is_some() => {
                bail!("no selfrag server answers at {}: {err}", remote.url())
            }
            Err(err) => err,
        };
        match Backends::open(config, Overrides::default()).await {
            Ok(backends) => Ok(Corpus::Local(Box::new(backends))),
            Err(StartError::Index(IndexError::InUse { path })) => bail!(
                "the vector index at {path} is held by another selfrag process, and no server \
                 answers at {url} ({unanswered}). If that process is a server on another address, \
                 pass --server URL (or set SELFRAG_SERVER); otherwise stop it and run this again"
            ),
            Err(err) => Err(err.into()),
        }
    }

    /// Ingests the submissions in order, each all or nothing, calling `on_done` for each as
    /// it is stored or found unreadable (unsupported, not text, over a limit: reported, and the
    /// rest go on). Stops at the first failure to store (those before it stay stored).
    pub async fn ingest(
        &self,
        submissions: Vec<Submission>,
        limits: &Limits,
        mut on_done: impl FnMut(usize, Done) + Send,
    ) -> Result<(), IngestFailure> {
        match self {
            Corpus::Local(backends) => {
                let mut readable = Vec::with_capacity(submissions.len());
                let mut positions = Vec::with_capacity(submissions.len());
                for (position, submission) in submissions.into_iter().enumerate() {
                    let Submission {
                        name,
                        file,
                        bytes,
                        format,
                        fields,
                    } = submission;
                    let request = if file {
                        ingest::from_file(&name, bytes, format, fields, limits).await
                    } else {
                        ingest::from_bytes(bytes, format, fields, limits).await
                    }
                    .and_then(|request| ingest::validate(request, limits));
                    match request {
                        Ok(request) => {
                            readable.push(request);
                            positions.push(position);
                        }
                        Err(err) => on_done(position, Done::Unreadable(err.to_string())),
                    }
                }
                if readable.is_empty() {
                    return Ok(());
                }
                let mut failed = None;
                let result = ingest::ingest_in_order(
                    &backends.services.ingest_context(),
                    readable,
                    None,
                    None,
                    |event| match event.status {
                        IngestStatus::Failed => failed = Some(positions[event.index]),
                        status => on_done(
                            positions[event.index],
                            Done::Stored(Stored {
                                status,
                                chunks_created: event.chunks_created,
                                chunks_embedded: event.chunks_embedded,
                                chunks_reused: event.chunks_reused,
                            }),
                        ),
                    },
                )
                .await;
                result.map(drop).map_err(|err| IngestFailure {
                    index: failed.unwrap_or(0),
                    error: err.into(),
                })
            }
            Corpus::Remote(server) => {
                let mut start = 0;
                // The last file the server reported an error for: where a batch stopped.
                let mut stopped_at: Option<(usize, String)> = None;
                for batch in remote_batches(&submissions) {
                    let results =
                        server
                            .ingest_files(batch)
                            .await
                            .map_err(|error| IngestFailure {
                                index: start,
                                error,
                            })?;
                    for (offset, result) in results.iter().enumerate() {
                        let position = start + offset;
                        if let Some(message) = result["error"]["message"].as_str() {
                            let code = result["error"]["code"].as_str().unwrap_or("ERROR");
                            if code == "NOT_REACHED" {
                                // The server stopped the batch at the file before (reported).
                                let (index, error) = stopped_at.take().unwrap_or((
                                    position,
                                    "the server stopped the batch".to_owned(),
                                ));
                                return Err(IngestFailure {
                                    index,
                                    error: anyhow!("{error}"),
                                });
                            }
                            let reason = if code == "BAD_INPUT" {
                                message.to_owned()
                            } else {
                                format!("{code}: {message}")
                            };
                            stopped_at = Some((position, reason.clone()));
                            on_done(position, Done::Unreadable(reason));
                            continue;
                        }
                        let result = &result["result"];
                        let count = |field: &str| result[field].as_u64().unwrap_or(0) as usize;
                        let status = match result["status"].as_str() {
                            Some("DEDUPLICATED") => IngestStatus::Deduplicated,
                            Some("UPDATED") => IngestStatus::Updated,
                            Some("UNCHANGED") => IngestStatus::Unchanged,
                            _ => IngestStatus::Ingested,
                        };
                        on_done(
                            position,
                            Done::Stored(Stored {
                                status,
                                chunks_created: count("chunksCreated"),
                                chunks_embedded: count("chunksEmbedded"),
                                chunks_reused: count("chunksReused"),
                            }),
                        );
                    }
                    start += batch.len();
                }
                Ok(())
            }
        }
    }

    pub async fn search(
        &self,
        query: String,
        limit: usize,
        threshold: Option<f32>,
        mode: Option<SearchMode>,
        tags: Vec<String>,
    ) -> anyhow::Result<Found> {
        match self {
            Corpus::Local(backends) => {
                let outcome = search::search(
                    &backends.services.search_context(),
                    SearchRequest {
                        threshold,
                        filter: VectorFilter {
                            tags,
                            ..VectorFilter::default()
                        },
                        mode,
                        ..SearchRequest::new(query, limit)
                    },
                )
                .await?;
                let hits = outcome
                    .result
                    .hits
                    .iter()
                    .map(|hit| Hit {
                        score: f64::from(hit.score),
                        document_id: hit.document.id.to_string(),
                        title: hit.document.title.clone(),
                        chunk_index: hit.chunk.index as u64,
                        content: hit.chunk.content.clone(),
                        headings: hit.chunk.headings.clone(),
                        page: hit.chunk.page.map(u64::from),
                    })
                    .collect();
                Ok(Found {
                    query: outcome.query,
                    hits,
                    took_ms: outcome.took_ms,
                })
            }
            Corpus::Remote(server) => {
                let mode = mode.map(|mode| match mode {
                    SearchMode::Dense => "DENSE",
                    SearchMode::Keyword => "KEYWORD",
                    SearchMode::Hybrid => "HYBRID",
                });
                let filter = (!tags.is_empty()).then(|| json!({ "tags": tags }));
                let data = server
                    .graphql(
                        "query($query: String!, $limit: Int, $threshold: Float,
                               $mode: SearchMode, $filter: SearchFilter) {
                            search(query: $query, limit: $limit, threshold: $threshold,
                                   mode: $mode, filter: $filter) {
                                query tookMs
                                hits {
                                    score
                                    chunk { index content headings page }
                                    document { id title }
                                }
                            }
                        }",
                        json!({
                            "query": query, "limit": limit, "threshold": threshold,
                            "mode": mode, "filter": filter,
                        }),
                    )
                    .await?;
                let result = &data["search"];
                let hits = result["hits"]
                    .as_array()
                    .ok_or_else(|| anyhow!("the server's answer has no hits"))?
                    .iter()
                    .map(|hit| Hit {
                        score: hit["score"].as_f64().unwrap_or_default(),
                        document_id: hit["document"]["id"].as_str().unwrap_or_default().into(),
                        title: hit["document"]["title"].as_str().map(str::to_owned),
                        chunk_index: hit["chunk"]["index"].as_u64().unwrap_or_default(),
                        content: hit["chunk"]["content"].as_str().unwrap_or_default().into(),
                        headings: serde_json::from_value(hit["chunk"]["headings"].clone())
                            .unwrap_or_default(),
                        page: hit["chunk"]["page"].as_u64(),
                    })
                    .collect();
                Ok(Found {
                    query: result["query"].as_str().unwrap_or(&query).to_owned(),
                    hits,
                    took_ms: result["tookMs"].as_f64().unwrap_or_default(),
                })
            }
        }
    }

    /// The documents whose external id starts with `prefix`: their ids and external ids.
    pub async fn documents_under(&self, prefix: &str) -> anyhow::Result<Vec<(Uuid, String)>> {
        let mut found = Vec::new();
        match self {
            Corpus::Local(backends) => {
                let filter = crate::store::DocumentFilter {
                    external_id_prefix: Some(prefix.to_owned()),
                    ..crate::store::DocumentFilter::default()
                };
                let mut after = None;
                loop {
                    let page = backends
                        .services
                        .store
                        .list_documents(&filter, after, PAGE)
                        .await?;
                    after = page.last().map(crate::store::DocumentCursor::of);
                    let full = page.len() as u64 == PAGE;
                    found.extend(
                        page.into_iter()
                            .filter_map(|doc| doc.external_id.map(|external| (doc.id, external))),
                    );
                    if !full {
                        return Ok(found);
                    }
                }
            }
            Corpus::Remote(server) => {
                let mut after: Option<String> = None;
                loop {
                    let data = server
                        .graphql(
                            "query($first: Int, $after: String, $prefix: String) {
                                documents(first: $first, after: $after,
                                          filter: { externalIdPrefix: $prefix }) {
                                    nodes { id externalId }
                                    pageInfo { hasNextPage endCursor }
                                }
                            }",
                            json!({ "first": PAGE, "after": after, "prefix": prefix }),
                        )
                        .await?;
                    let documents = &data["documents"];
                    for node in documents["nodes"].as_array().into_iter().flatten() {
                        if let (Some(id), Some(external)) =
                            (node["id"].as_str(), node["externalId"].as_str())
                        {
                            found.push((Uuid::parse_str(id)?, external.to_owned()));
                        }
                    }
                    if documents["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
                        return Ok(found);
                    }
                    after = documents["pageInfo"]["endCursor"]
                        .as_str()
                        .map(str::to_owned);
                }
            }
        }
    }

    /// Deletes a document with its chunks and vectors; whether there was one.
    pub async fn delete(&self, id: Uuid) -> anyhow::Result<bool> {
        match self {
            Corpus::Local(backends) => {
                Ok(ingest::delete_document(&backends.services.ingest_context(), id).await?)
            }
            Corpus::Remote(server) => {
                match server
                    .graphql(
                        "mutation($id: ID!) { deleteDocument(id: $id) }",
                        json!({ "id": id }),
                    )
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(err) if err.to_string().starts_with("NOT_FOUND") => Ok(false),
                    Err(err) => Err(err),
                }
            }
        }
    }

    /// Lets go of the data directory (waiting for background work), when it was opened.
    pub async fn close(self) {
        if let Corpus::Local(backends) = self {
            backends.close().await;
        }
    }
}

/// The address the configured server listens on, as a client reaches it.
fn default_server_url(config: &Config) -> String {
    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Splits requests into consecutive batches of at most [`REMOTE_BATCH_DOCUMENTS`] documents
/// and about [`REMOTE_BATCH_BYTES`] of content (a larger document goes alone).
fn remote_batches(submissions: &[Submission]) -> Vec<&[Submission]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, submission) in submissions.iter().enumerate() {
        let full = i > start
            && (i - start == REMOTE_BATCH_DOCUMENTS
                || bytes + submission.bytes.len() > REMOTE_BATCH_BYTES);
        if full {
            batches.push(&submissions[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += submission.bytes.len();
    }
    if start < submissions.len() {
        batches.push(&submissions[start..]);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bytes: usize) -> Submission {
        Submission {
            name: String::new(),
            file: false,
            bytes: vec![b'x'; bytes],
            format: Format::Text,
            fields: IngestRequest::default(),
        }
    }

    #[test]
    fn batches_keep_order_and_respect_both_bounds() {
        let requests: Vec<_> = (0..40).map(|_| request(10)).collect();
        let sizes: Vec<_> = remote_batches(&requests).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![16, 16, 8]);

        let requests = vec![
            request(200_000),
            request(100_000),
            request(REMOTE_BATCH_BYTES * 2),
            request(1),
        ];
        let sizes: Vec<_> = remote_batches(&requests).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1, 1]);
        assert!(remote_batches(&[]).is_empty());
    }
}
