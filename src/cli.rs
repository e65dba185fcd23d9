//! The `selfrag` command line: serve, ingest, search, schema, migrate.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{App, Backends, Overrides, shutdown_signal};
use crate::config::Config;
use crate::ingest::{self, IngestEvent, IngestRequest, IngestStatus};
use crate::search::{self, SearchMode, SearchRequest};
use crate::vector::VectorFilter;

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
    /// Ingest .md/.txt files (directories are walked), or text from --text or stdin (`-`).
    Ingest(IngestArgs),
    /// Search the corpus from the command line.
    Search(SearchArgs),
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
            let mut config = load()?;
            if let Some(bind) = bind {
                config.bind = bind;
            }
            let app = App::build(config, Overrides::default()).await?;
            tracing::info!(addr = %app.local_addr(), "selfrag listening; GraphiQL at /graphql");
            app.run_until(shutdown_signal()).await?;
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
    let mut documents: Vec<(Option<PathBuf>, String)> = Vec::new();
    if let Some(text) = args.text.clone() {
        documents.push((None, text));
    } else if args.paths.is_empty() || args.paths.iter().any(|p| p == Path::new("-")) {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        documents.push((None, text));
    }
    for path in args.paths.iter().filter(|p| *p != Path::new("-")) {
        for file in collect_files(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            documents.push((Some(file), text));
        }
    }
    if documents.is_empty() {
        bail!("nothing to ingest: no .md or .txt files under the given paths");
    }

    let backends = Backends::open(config, Overrides::default()).await?;
    let services = &backends.services;
    // Every file is checked before any is stored, as `ingestDocuments` does.
    let mut names = Vec::with_capacity(documents.len());
    let mut requests = Vec::with_capacity(documents.len());
    for (path, content) in documents {
        let name = path
            .as_ref()
            .map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
        let request = IngestRequest {
            content,
            title: args.title.clone().or_else(|| {
                path.as_ref()
                    .and_then(|p| p.file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
            }),
            source: args
                .source
                .clone()
                .or_else(|| path.as_ref().map(|p| p.display().to_string())),
            doc_type: args.doc_type.clone(),
            author: None,
            tags: args.tags.clone(),
            metadata: None,
        };
        let request = ingest::validate(request, &services.config.limits)
            .map_err(|err| anyhow::anyhow!("{name}: {err}"))?;
        names.push(name);
        requests.push(request);
    }
    let progress = ProgressBar::new(requests.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(names.first().cloned().unwrap_or_default());
    let (mut stored, mut duplicates, mut chunks) = (0, 0, 0);
    let mut failed: Option<String> = None;
    let on_event = |event: &IngestEvent| match event.status {
        IngestStatus::Failed => failed = names.get(event.index).cloned(),
        status => {
            if status == IngestStatus::Deduplicated {
                duplicates += 1;
            } else {
                stored += 1;
                chunks += event.chunks_created;
            }
            progress.inc(1);
            if let Some(next) = names.get(event.index + 1) {
                progress.set_message(next.clone());
            }
        }
    };
    if let Err(err) =
        ingest::ingest_in_order(&services.ingest_context(), requests, None, on_event).await
    {
        progress.abandon();
        bail!("{}: {err}", failed.unwrap_or_else(|| "stdin".into()));
    }
    progress.finish_with_message("done");
    println!("ingested {stored} documents ({chunks} chunks); {duplicates} already stored");
    Ok(())
}

fn collect_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("md" | "txt")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

async fn search_command(config: Config, args: SearchArgs) -> anyhow::Result<()> {
    let backends = Backends::open(config, Overrides::default()).await?;
    let services = &backends.services;
    let outcome = search::search(
        &services.search_context(),
        SearchRequest {
            threshold: args.threshold,
            filter: VectorFilter {
                tags: args.tag,
                ..VectorFilter::default()
            },
            mode: args.mode.map(Into::into),
            ..SearchRequest::new(args.query, args.limit)
        },
    )
    .await?;
    let hits: Vec<serde_json::Value> = outcome
        .result
        .hits
        .iter()
        .map(|hit| {
            serde_json::json!({
                "score": hit.score,
                "documentId": hit.document.id,
                "title": hit.document.title,
                "chunkIndex": hit.chunk.index,
                "content": hit.chunk.content,
            })
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "query": outcome.query, "hits": hits })
            )?
        );
    } else {
        for hit in &hits {
            println!(
                "{:.4}  {}  #{}\n    {}\n",
                hit["score"].as_f64().unwrap_or_default(),
                hit["title"].as_str().unwrap_or("(untitled)"),
                hit["chunkIndex"],
                hit["content"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
        println!("{} hits in {:.1} ms", hits.len(), outcome.took_ms);
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
