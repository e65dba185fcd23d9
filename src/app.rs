//! Assembling the server: backends from configuration, the router, the listener, shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::ApiKeys;
use crate::cache::Caches;
use crate::config::Config;
use crate::disk::DiskGuard;
use crate::embed::{Embedder, FastEmbedder, WordPieces};
use crate::graphql::build_schema;
use crate::graphql::responses::ResponseCache;
use crate::http::{HttpState, router};
use crate::ingest::{
    Chunker, InFlightWrites, IngestEvents, check_keyword_settings, fill_missing_keywords,
    record_keyword_settings, recover_interrupted_writes, spawn_periodic_recovery,
};
use crate::ratelimit::RateLimiter;
use crate::services::Services;
use crate::store::{MetadataStore, StoreError};
use crate::telemetry::{RequestStats, SystemSampler};
use crate::vector::{IndexError, IndexIdentity, VectorIndex};

/// Why the server could not start. Each message names the fix where there is one.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Model(#[from] crate::embed::LoadError),
    #[error(transparent)]
    ModelFiles(#[from] crate::embed::ModelFilesError),
    #[error("invalid keyword configuration: {0}")]
    Keywords(#[from] crate::keywords::KeywordError),
    #[error("invalid chunking configuration: {0}")]
    Chunker(#[from] text_splitter::ChunkConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("no vector index is available: {0}")]
    NoIndex(&'static str),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the cache: {0}")]
    Cache(#[from] crate::cache::CacheStartError),
    #[error("cannot roll back interrupted writes: {0}")]
    Recovery(#[source] crate::Error),
    #[error("cannot add keyword vectors to the existing index (start again to resume): {0}")]
    KeywordUpgrade(#[source] crate::Error),
    #[error("cannot start: {0}")]
    Disk(#[from] crate::disk::DiskError),
    #[error("a start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Parts a caller may supply instead of having them built from configuration. Tests share one
/// loaded model across many apps this way.
#[derive(Default, Clone)]
pub struct Overrides {
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Used as is: no background optimiser is started for it.
    pub index: Option<Arc<dyn VectorIndex>>,
    /// Told how the keyword upgrade of an old index advances (`selfrag reindex` draws a bar);
    /// by default it is logged.
    pub on_keyword_progress: Option<Arc<dyn Fn(crate::ingest::KeywordProgress) + Send + Sync>>,
    /// Whether keyword vectors computed with other settings are computed again (`selfrag
    /// reindex`) or refused (the server, by default).
    pub keyword_rebuild: crate::ingest::KeywordRebuild,
}

/// Background work owned by the services (the vector optimiser); aborted on drop.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The backends, with the background tasks that keep them tidy.
pub struct Backends {
    pub services: Services,
    _background: Background,
}

impl Backends {
    /// How long [`close`](Self::close) waits for the last users of the index to finish.
    const RELEASE_WAIT: Duration = Duration::from_secs(30);
    /// Loads the model, opens the stores and starts background work. Also used by the CLI's
    /// `ingest` and `search`, which need the backends without HTTP.
    /// Stops background work and waits until the index has let go of the data directory, so
    /// that a process or app started next can open it. Tasks that still hold a handle (a write
    /// finishing for a client that left, a connection closing) are waited for, up to
    /// [`RELEASE_WAIT`](Self::RELEASE_WAIT); after that the process's exit releases it.
    pub async fn close(self) {
        let released = self.services.index.released();
        drop(self);
        let started = std::time::Instant::now();
        if tokio::time::timeout(Self::RELEASE_WAIT, released.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                waited_ms = started.elapsed().as_millis() as u64,
                "the vector index is still in use by a finishing task; not waiting longer"
            );
        }
    }

    pub async fn open(config: Config, overrides: Overrides) -> Result<Self, StartError> {
        config.validate()?;
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir).map_err(|source| {
            StartError::Index(IndexError::Io(std::io::Error::new(
                source.kind(),
                format!(
                    "cannot create data directory {}: {source}",
                    config.data_dir.display()
                ),
            )))
        })?;

        // Before anything writes to the data directory: opening the index on a full disk
        // would die of SIGBUS rather than fail.
        let disk = DiskGuard::for_config(&config);
        let space = disk.check()?;
        tracing::info!(
            available_mib = space.available_bytes >> 20,
            unbacked_mib = space.unbacked_bytes >> 20,
            reserve_mib = space.reserve_bytes >> 20,
            "disk space in the data directory"
        );

        let embedder: Arc<dyn Embedder> = match overrides.embedder {
            Some(embedder) => embedder,
            None => {
                let (model, embed) = (config.model.clone(), config.embed.clone());
                Arc::new(
                    tokio::task::spawn_blocking(move || FastEmbedder::load(&model, &embed))
                        .await??,
                )
            }
        };
        let files = crate::embed::ModelFiles::locate(&config.model)?;
        // Parsed once: the chunker and the query measure share the model's tokenizer.
        let tokenizer = files.load_tokenizer()?;
        let chunker = Chunker::new(
            tokenizer.clone(),
            config.chunk.max_tokens,
            config.chunk.overlap_tokens,
        )?;
        let word_pieces = Arc::new(WordPieces::new(tokenizer, config.model.max_tokens));
        let keywords = Arc::new(crate::keywords::Keywords::new(&config.keywords)?);
        let store = MetadataStore::connect(&config.database_url(), &config.database).await?;
        let (index, background) = match overrides.index {
            Some(index) => (index, Vec::new()),
            None => open_index(&config, embedder.model().into()).await?,
        };

        let cache = Caches::open(&config, store.clone()).await?;
        let (system, sampler) = SystemSampler::start(
            &config.data_dir,
            Duration::from_millis(config.telemetry.sample_interval_ms),
        );
        let mut background = background;
        background.push(sampler);
        let requests = Arc::new(RequestStats::new(Duration::from_millis(
            config.telemetry.slow_request_ms,
        )));
        let keys = Arc::new(ApiKeys::new(store.clone(), &config.auth));
        let limiter = Arc::new(RateLimiter::new(&config.rate_limit, cache.redis_shared()));
        let services = Services {
            config,
            disk,
            store,
            index,
            embedder,
            chunker: Arc::new(chunker),
            word_pieces,
            keywords,
            cache: Arc::new(cache),
            requests,
            system,
            keys,
            limiter,
            ingest_events: IngestEvents::new(),
            in_flight: InFlightWrites::default(),
        };
        // The embedded index has no other writer than this process, so every write still
        // recorded as pending was cut short by the last one's end; a shared index waits for
        // the grace period, as another replica may be writing right now.
        let embedded = services.config.qdrant_url.is_none();
        let grace = if embedded {
            0
        } else {
            services.config.storage.interrupted_write_grace_secs
        };
        let before = chrono::Utc::now()
            - chrono::Duration::seconds(i64::try_from(grace).unwrap_or(i64::MAX));
        let recovered = recover_interrupted_writes(&services.ingest_context(), before)
            .await
            .map_err(StartError::Recovery)?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "rolled back writes interrupted by the last shutdown"
            );
        }
        // An index from before keyword search gets its keyword vectors now, before the first
        // search could see it half done.
        let on_progress = overrides.on_keyword_progress.unwrap_or_else(|| {
            Arc::new(|progress: crate::ingest::KeywordProgress| {
                tracing::info!(
                    done = progress.done,
                    total = progress.total,
                    "weighting keywords of existing chunks"
                );
            })
        });
        let context = services.ingest_context();
        check_keyword_settings(&context, overrides.keyword_rebuild).await?;
        let upgraded = fill_missing_keywords(&context, |progress| on_progress(progress))
            .await
            .map_err(StartError::KeywordUpgrade)?;
        record_keyword_settings(&context).await?;
        if upgraded > 0 {
            tracing::info!(upgraded, "keyword index complete");
        }
        background.push(spawn_periodic_recovery(
            services.ingest_context(),
            Duration::from_secs(services.config.storage.interrupted_write_grace_secs),
        ));
        Ok(Backends {
            services,
            _background: Background(background),
        })
    }
}

/// The vector index the configuration asks for: Qdrant when `qdrant_url` is set, otherwise the
/// embedded index in the data directory. Returns its background tasks (the embedded index's
/// optimiser), which the caller keeps alive as long as the index.
pub async fn open_index(
    config: &Config,
    identity: IndexIdentity,
) -> Result<(Arc<dyn VectorIndex>, Vec<tokio::task::JoinHandle<()>>), StartError> {
    if let Some(url) = &config.qdrant_url {
        return open_qdrant(config, url, identity).await;
    }
    open_embedded(config, identity).await
}

#[cfg(feature = "qdrant")]
async fn open_qdrant(
    config: &Config,
    url: &str,
    identity: IndexIdentity,
) -> Result<(Arc<dyn VectorIndex>, Vec<tokio::task::JoinHandle<()>>), StartError> {
    let options = crate::vector::QdrantOptions {
        url: url.to_owned(),
        api_key: config.qdrant.api_key.clone(),
        collection: config.qdrant.collection.clone(),
        settings: config.qdrant.clone(),
    };
    let index = crate::vector::QdrantIndex::connect(options, &identity).await?;
    Ok((Arc::new(index), Vec::new()))
}

#[cfg(not(feature = "qdrant"))]
async fn open_qdrant(
    _config: &Config,
    _url: &str,
    _identity: IndexIdentity,
) -> Result<(Arc<dyn VectorIndex>, Vec<tokio::task::JoinHandle<()>>), StartError> {
    Err(StartError::NoIndex(
        "qdrant_url is set, but this build has no `qdrant` feature",
    ))
}

#[cfg(feature = "embedded-index")]
async fn open_embedded(
    config: &Config,
    identity: IndexIdentity,
) -> Result<(Arc<dyn VectorIndex>, Vec<tokio::task::JoinHandle<()>>), StartError> {
    let dir = config.vector_index_dir();
    let settings = config.index.clone();
    let index = tokio::task::spawn_blocking(move || {
        crate::vector::EdgeIndex::open(&dir, &identity, &settings)
    })
    .await??;
    let optimizer = index.spawn_optimizer(
        Duration::from_millis(config.index.optimize_delay_ms),
        DiskGuard::for_config(config),
    );
    Ok((Arc::new(index), vec![optimizer]))
}

#[cfg(not(feature = "embedded-index"))]
async fn open_embedded(
    _config: &Config,
    _identity: IndexIdentity,
) -> Result<(Arc<dyn VectorIndex>, Vec<tokio::task::JoinHandle<()>>), StartError> {
    Err(StartError::NoIndex(
        "this build has no `embedded-index` feature: set qdrant_url",
    ))
}

/// A server bound to its port, ready to run.
pub struct App {
    listener: TcpListener,
    router: Router,
    backends: Backends,
}

impl App {
    /// Builds everything and binds `config.bind` (port 0 picks a free port; see [`App::local_addr`]).
    pub async fn build(config: Config, overrides: Overrides) -> Result<Self, StartError> {
        let addr = config.bind;
        let mut backends = Backends::open(config, overrides).await?;
        backends
            ._background
            .0
            .push(crate::http::spawn_metrics_upkeep(Duration::from_secs(5)));
        let config = &backends.services.config;
        let responses = ResponseCache::new(
            &config.cache.responses,
            config.graphql.field_timing && config.graphql.timing_in_response,
        );
        let schema = build_schema(backends.services.clone(), responses.clone());
        let router = router(HttpState::new(backends.services.clone(), schema, responses));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(App {
            listener,
            router,
            backends,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn services(&self) -> &Services {
        &self.backends.services
    }

    /// Serves until `shutdown` completes, then stops accepting and drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let App {
            listener,
            router,
            backends,
        } = self;
        let limits = crate::http::ConnectionLimits::from_config(&backends.services.config.http);
        crate::http::serve(listener, router, limits, shutdown).await?;
        backends.close().await;
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
