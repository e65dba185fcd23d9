//! The `selfrag` command line: serve, ingest, search, delete, reindex, schema, migrate, keys.
//!
//! `ingest`, `search` and `delete` go through a running server when one answers, and open
//! the data directory themselves otherwise (`corpus`).

mod corpus;
mod files;
mod remote;

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use self::corpus::{Corpus, Done, ServerArgs, Stored, Submission};
use crate::app::{App, Backends, Overrides, shutdown_signal};
use crate::config::Config;
use crate::formats::Format;
use crate::ingest::{self, IngestRequest, IngestStatus};
use crate::search::SearchMode;
use crate::telemetry::traces::TraceExport;

#[derive(Parser)]
#[command(
    name = "selfrag",
    version,
    about = "Self-hosted semantic search over GraphQL"
)]
pub struct Cli {
    /// Configuration file (default: ./selfrag.toml when it exists; also SELFRAG_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Address to listen on (overrides `bind`).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Ingest files (.txt, .md, .html, .pdf; directories are walked), or text from --text or
    /// stdin (`-`). Files are known by their absolute path: running it again updates the files
    /// that changed and skips the rest.
    Ingest(IngestArgs),
    /// Search the corpus from the command line.
    Search(SearchArgs),
    /// Delete documents (with their chunks and vectors) by id.
    Delete(DeleteArgs),
    /// Print the GraphQL schema (SDL), as checked in at schema.graphql.
    Schema,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Compute the keyword vectors the index lacks, with a progress bar, and exit: those of an
    /// index from before keyword search (the server also does this at start), or all of them
    /// when the `keywords.*` settings changed (the server refuses to start until then).
    /// Resumable: stopped, it continues where it was. Needs the data directory to itself (stop
    /// the server) unless the index is a Qdrant server.
    Reindex {
        /// Compute every keyword vector again, even if the settings did not change.
        #[arg(long)]
        all: bool,
    },
    /// Manage API keys. Once one exists, mutations and cache clearing need a key (and queries
    /// too unless `auth.public_queries`). Safe while the server runs: it only touches the database.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// Who or what the key is for, e.g. `search-frontend`.
        #[arg(long)]
        name: String,
        /// reader, writer or admin.
        #[arg(long, default_value = "reader")]
        role: String,
    },
    /// List keys (never the keys themselves: their id, shown prefix, role and state).
    List,
    /// Revoke a key by id or by the prefix `keys list` shows.
    Revoke { id_or_prefix: String },
}

#[derive(Args)]
struct IngestArgs {
    /// Files or directories; `-` reads one document from stdin.
    paths: Vec<PathBuf>,
    /// Ingest this text as one document.
    #[arg(long, conflicts_with = "paths")]
    text: Option<String>,
    /// Title (default: the file name).
    #[arg(long)]
    title: Option<String>,
    /// Comma-separated tags.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    #[arg(long = "type")]
    doc_type: Option<String>,
    /// Source (default: the file path).
    #[arg(long)]
    source: Option<String>,
    /// External id of a document from --text or stdin; ingesting again under it replaces the
    /// document. Files always use their absolute path, so re-running over a directory updates
    /// the changed files and skips the rest.
    #[arg(long)]
    external_id: Option<String>,
    /// Then delete the documents whose file under the given directories no longer exists.
    #[arg(long)]
    prune: bool,
    /// Read every input as this format (default: by file extension; text for --text and stdin).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Text,
    Markdown,
    Html,
    Pdf,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => Format::Text,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Html => Format::Html,
            FormatArg::Pdf => Format::Pdf,
        }
    }
}

#[derive(Args)]
struct DeleteArgs {
    /// Document ids, as `ingest`, `search --json` and the API give them.
    #[arg(required = true)]
    ids: Vec<uuid::Uuid>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
struct SearchArgs {
    query: String,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    #[arg(long)]
    threshold: Option<f32>,
    /// dense, keyword or hybrid (default: `search.default_mode`).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Only documents with any of these tags (repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Dense,
    Keyword,
    Hybrid,
}

impl From<ModeArg> for SearchMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Dense => SearchMode::Dense,
            ModeArg::Keyword => SearchMode::Keyword,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

impl Cli {
    /// Whether this invocation runs the server (which logs at `info`).
    pub fn is_server(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve { .. }))
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let load = || Config::load(cli.config.as_deref());
    match cli.command.unwrap_or(Command::Serve { bind: None }) {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Serve { bind } => {
            let mut config = crate::telemetry::with_startup_logging(load)?;
            if let Some(bind) = bind {
                config.bind = bind;
            }
            let traces = TraceExport::start(&config.telemetry)?;
            let (traces, tracer) = traces.unzip();
            crate::telemetry::init_logging(true, tracer);
            if let Some(endpoint) = config.telemetry.otlp_endpoint.as_deref() {
                let protocol = config.telemetry.otlp_protocol;
                tracing::info!(endpoint, ?protocol, "exporting traces over OTLP");
            }
            let app = App::build(config, Overrides::default()).await?;
            tracing::info!(addr = %app.local_addr(), "selfrag listening; GraphiQL at /graphql");
            let served = app.run_until(shutdown_signal()).await;
            if let Some(traces) = traces {
                let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
            }
            served?;
            Ok(())
        }
        Command::Migrate => {
            let config = load()?;
            crate::store::MetadataStore::connect(&config.database_url(), &config.database).await?;
            println!("migrations applied to {}", redact(&config.database_url()));
            Ok(())
        }
        Command::Keys(command) => keys_command(load()?, command).await,
        Command::Reindex { all } => reindex_command(load()?, all).await,
        Command::Ingest(args) => ingest_command(load()?, args).await,
        Command::Search(args) => search_command(load()?, args).await,
        Command::Delete(args) => delete_command(load()?, args).await,
    }
}

async fn keys_command(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let store =
        crate::store::MetadataStore::connect(&config.database_url(), &config.database).await?;
    let keys = crate::auth::ApiKeys::new(store, &config.auth);
    match command {
        KeysCommand::Create { name, role } => {
            let role: crate::auth::Role = role.parse()?;
            let created = keys.create(&name, role).await?;
            eprintln!(
                "created key {} ({}, role {}); it is shown only this once:",
                created.record.id, created.record.name, created.record.role
            );
            println!("{}", created.secret);
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<12}  {:<7}  {:<8}  name",
                "id", "prefix", "role", "state"
            );
            for key in keys.list().await? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<36}  {:<12}  {:<7}  {:<8}  {}",
                    key.id, key.prefix, key.role, state, key.name
                );
            }
        }
        KeysCommand::Revoke { id_or_prefix } => {
            let revoked = keys.revoke(&id_or_prefix).await?;
            if revoked == 0 {
                bail!("no active key has id or prefix `{id_or_prefix}`");
            }
            println!(
                "revoked {revoked} key(s); running servers stop accepting them within {} ms",
                config.auth.key_cache_ttl_ms
            );
        }
    }
    Ok(())
}

async fn reindex_command(config: Config, all: bool) -> anyhow::Result<()> {
    let bar = ProgressBar::hidden().with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} chunks weighted")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let drawn = bar.clone();
    let overrides = Overrides {
        on_keyword_progress: Some(std::sync::Arc::new(move |progress| {
            if drawn.is_hidden() {
                drawn.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            drawn.set_length(progress.total);
            drawn.set_position(progress.done);
        })),
        keyword_rebuild: if all {
            ingest::KeywordRebuild::Always
        } else {
            ingest::KeywordRebuild::IfChanged
        },
        ..Overrides::default()
    };
    let backends = Backends::open(config, overrides).await?;
    bar.finish();
    let left = backends.services.index.count_without_keywords().await?;
    if bar.position() == 0 {
        println!("every chunk already has its keyword vector");
    } else {
        println!("weighted {} chunks; {left} left without", bar.position());
    }
    Ok(())
}

async fn ingest_command(config: Config, args: IngestArgs) -> anyhow::Result<()> {
    let forced = args.format.map(Format::from);
    let mut submissions = Vec::new();
    let mut unreadable: Vec<(String, String)> = Vec::new();
    let fields = |path: Option<&Path>| -> anyhow::Result<IngestRequest> {
        Ok(IngestRequest {
            // A file's defaults (its name as the source, its own title or name as the title) are
            // `ingest::from_file`'s, applied here or by the server.
            title: args.title.clone(),
            source: args.source.clone(),
            doc_type: args.doc_type.clone(),
            tags: args.tags.clone(),
            external_id: match path {
                Some(path) => Some(files::external_id_of(path)?),
                None => args.external_id.clone(),
            },
            ..IngestRequest::default()
        })
    };
    if let Some(text) = args.text.clone() {
        submissions.push(Submission {
            name: "--text".into(),
            file: false,
            bytes: text.into_bytes(),
            format: forced.unwrap_or_default(),
            fields: fields(None)?,
        });
    } else if args.paths.is_empty() || args.paths.iter().any(|p| p == Path::new("-")) {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        submissions.push(Submission {
            name: "stdin".into(),
            file: false,
            bytes,
            format: forced.unwrap_or_default(),
            fields: fields(None)?,
        });
    }
    for path in args.paths.iter().filter(|p| *p != Path::new("-")) {
        for file in files::collect(path)? {
            let name = file.display().to_string();
            let Some(format) = forced.or_else(|| Format::from_path(&file)) else {
                unreadable.push((
                    name,
                    format!(
                        "unsupported file type: selfrag reads {}",
                        Format::EXTENSIONS
                    ),
                ));
                continue;
            };
            let bytes = std::fs::read(&file).with_context(|| format!("reading {name}"))?;
            submissions.push(Submission {
                name,
                file: true,
                bytes,
                format,
                fields: fields(Some(&file))?,
            });
        }
    }
    if submissions.is_empty() && unreadable.is_empty() {
        bail!(
            "nothing to ingest: no files selfrag reads ({}) under the given paths",
            Format::EXTENSIONS
        );
    }

    let corpus = Corpus::open(config.clone(), &args.server).await?;
    let names: Vec<String> = submissions.iter().map(|s| s.name.clone()).collect();
    let progress = ProgressBar::new(names.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(names.first().cloned().unwrap_or_default());
    // Above the bar on a terminal; plain lines when output is piped (the bar is hidden then).
    let say = |line: String| progress.suspend(|| println!("{line}"));
    for (name, reason) in &unreadable {
        say(format!("skipped {name}: {reason}"));
    }
    let mut tally = Tally {
        unreadable: unreadable.len(),
        ..Tally::default()
    };
    let result = corpus
        .ingest(submissions, &config.limits, |index, done| {
            let name = names.get(index).map_or("stdin", String::as_str);
            match done {
                Done::Unreadable(reason) => {
                    say(format!("skipped {name}: {reason}"));
                    tally.unreadable += 1;
                }
                Done::Stored(outcome) => {
                    match outcome.status {
                        IngestStatus::Updated => say(format!(
                            "updated {name} ({} chunks embedded, {} reused)",
                            outcome.chunks_embedded, outcome.chunks_reused
                        )),
                        IngestStatus::Ingested => say(format!(
                            "ingested {name} ({} chunks)",
                            outcome.chunks_created
                        )),
                        _ => {}
                    }
                    tally.add(&outcome);
                }
            }
            progress.inc(1);
            if let Some(next) = names.get(index + 1) {
                progress.set_message(next.clone());
            }
        })
        .await;
    if let Err(failure) = result {
        corpus.close().await;
        progress.abandon();
        let name = names.get(failure.index).map_or("stdin", String::as_str);
        bail!("{name}: {}", failure.error);
    }
    progress.finish_with_message("done");
    let pruned = if args.prune {
        prune(&corpus, &args.paths).await
    } else {
        Ok(None)
    };
    corpus.close().await;
    tally.removed = pruned?;
    println!("{tally}");
    if tally.unreadable > 0 {
        bail!(
            "{} file(s) could not be read (see `skipped` above); the rest were ingested",
            tally.unreadable
        );
    }
    Ok(())
}

/// What an ingest did, counted for the closing line.
#[derive(Default)]
struct Tally {
    ingested: usize,
    updated: usize,
    unchanged: usize,
    duplicates: usize,
    unreadable: usize,
    embedded: usize,
    reused: usize,
    /// Documents removed by `--prune` (`None` without it).
    removed: Option<usize>,
}

impl Tally {
    fn add(&mut self, outcome: &Stored) {
        match outcome.status {
            IngestStatus::Ingested => self.ingested += 1,
            IngestStatus::Updated => self.updated += 1,
            IngestStatus::Unchanged => self.unchanged += 1,
            IngestStatus::Deduplicated => self.duplicates += 1,
            IngestStatus::Failed => {}
        }
        self.embedded += outcome.chunks_embedded;
        self.reused += outcome.chunks_reused;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ingested {} new, updated {}, {} unchanged, {} already stored, {} skipped; \
             {} chunks embedded, {} reused",
            self.ingested,
            self.updated,
            self.unchanged,
            self.duplicates,
            self.unreadable,
            self.embedded,
            self.reused
        )?;
        match self.removed {
            Some(removed) => write!(f, "; {removed} removed"),
            None => Ok(()),
        }
    }
}

/// Deletes the documents whose file under one of the directories in `paths` is gone (files
/// are known by their absolute path, their external id). Files that exist stay, read or not.
async fn prune(corpus: &Corpus, paths: &[PathBuf]) -> anyhow::Result<Option<usize>> {
    let mut removed = 0;
    for path in paths.iter().filter(|path| path.is_dir()) {
        let mut prefix = files::external_id_of(path)?;
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        for (id, external_id) in corpus.documents_under(&prefix).await? {
            if Path::new(&external_id).exists() {
                continue;
            }
            if corpus.delete(id).await? {
                println!("removed {external_id} (the file is gone)");
                removed += 1;
            }
        }
    }
    Ok(Some(removed))
}

async fn search_command(config: Config, args: SearchArgs) -> anyhow::Result<()> {
    let corpus = Corpus::open(config, &args.server).await?;
    let found = corpus
        .search(
            args.query,
            args.limit,
            args.threshold,
            args.mode.map(Into::into),
            args.tag,
        )
        .await;
    corpus.close().await;
    let found = found?;
    if args.json {
        let hits: Vec<serde_json::Value> = found
            .hits
            .iter()
            .map(|hit| {
                serde_json::json!({
                    "score": hit.score,
                    "documentId": hit.document_id,
                    "title": hit.title,
                    "chunkIndex": hit.chunk_index,
                    "content": hit.content,
                    "headings": hit.headings,
                    "page": hit.page,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "query": found.query, "hits": hits })
            )?
        );
    } else {
        for hit in &found.hits {
            let mut place = format!("#{}", hit.chunk_index);
            if let Some(page) = hit.page {
                place.push_str(&format!(", page {page}"));
            }
            if !hit.headings.is_empty() {
                place.push_str(&format!(", {}", hit.headings.join(" › ")));
            }
            println!(
                "{:.4}  {}  {place}\n    {}\n",
                hit.score,
                hit.title.as_deref().unwrap_or("(untitled)"),
                hit.content
                    .chars()
                    .take(200)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
        println!("{} hits in {:.1} ms", found.hits.len(), found.took_ms);
    }
    Ok(())
}

async fn delete_command(config: Config, args: DeleteArgs) -> anyhow::Result<()> {
    let corpus = Corpus::open(config, &args.server).await?;
    let mut missing = Vec::new();
    let mut result = Ok(());
    for id in &args.ids {
        match corpus.delete(*id).await {
            Ok(true) => println!("deleted {id}"),
            Ok(false) => missing.push(id.to_string()),
            Err(err) => {
                result = Err(err.context(format!("deleting {id}")));
                break;
            }
        }
    }
    corpus.close().await;
    result?;
    if !missing.is_empty() {
        bail!("no document with id {}", missing.join(", "));
    }
    Ok(())
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
