//! `TestApp`: the real server on port 0 with its own data directory (and its own PostgreSQL
//! database for the PostgreSQL run), driven over HTTP like a client would.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use selfrag::app::{App, Overrides};
use selfrag::config::Config;
use selfrag::embed::{Embedder, FastEmbedder};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Which backends a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and the embedded vector index: the zero-setup default.
    Sqlite,
    /// PostgreSQL (a database of the test's own) and the embedded vector index.
    Postgres,
    /// SQLite metadata with the vectors in the Qdrant server named by `SELFRAG_TEST_QDRANT_URL`
    /// (a collection of the test's own, deleted when the test ends).
    Qdrant,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/setup.sh` provisions the model and GraphiQL's files.
pub fn provision_dir() -> PathBuf {
    std::env::var_os("SELFRAG_PROVISION_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".selfrag"))
}

/// The provisioned model, as `scripts/setup.sh` leaves it.
pub fn model_config() -> selfrag::config::ModelConfig {
    let defaults = selfrag::config::ModelConfig::default();
    let base = provision_dir();
    selfrag::config::ModelConfig {
        dir: base.join("models/all-MiniLM-L6-v2"),
        onnxruntime_lib: base.join("onnxruntime/libonnxruntime.so"),
        ..defaults
    }
}

/// One model for the whole test process, of the default precision: loading it per test would
/// cost time and memory without testing anything more.
pub fn shared_embedder() -> Arc<dyn Embedder> {
    embedder_of(selfrag::config::ModelConfig::default().precision)
}

/// The model of `precision`, loaded once per test process.
pub fn embedder_of(precision: selfrag::config::Precision) -> Arc<dyn Embedder> {
    use selfrag::config::Precision;
    static FP32: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    static INT8: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    let slot = match precision {
        Precision::Fp32 => &FP32,
        Precision::Int8 => &INT8,
    };
    slot.get_or_init(|| {
        let model = selfrag::config::ModelConfig {
            precision,
            ..model_config()
        };
        Arc::new(
            FastEmbedder::load(&model, &Config::default().embed).unwrap_or_else(|err| {
                panic!("{err}\n(the test suite needs the provisioned model: run scripts/test.sh)")
            }),
        )
    })
    .clone()
}

pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().expect("valid address"),
        data_dir: data_dir.to_path_buf(),
        model: model_config(),
        graphql: selfrag::config::GraphqlConfig {
            graphiql_dir: provision_dir().join("graphiql"),
            ..Default::default()
        },
        ..Config::default()
    }
}

/// Stops the server when a test ends, also when it fails: dropping the sender ends the
/// server's shutdown future.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _database: Option<TestDatabase>,
    qdrant: Option<TestCollection>,
    /// The configuration it started with, tweaks included, for `restart`.
    config: Config,
    /// The running app's services, for setting up what has no HTTP surface (API keys).
    /// Taken at stop, so that the stopped app's index and database are released.
    services: Option<selfrag::services::Services>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts an app after `tweak` has adjusted its configuration.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_custom(backend, tweak, |_| Overrides::default()).await
    }

    /// Starts an app with parts of its own (fault-injecting wrappers around the real ones).
    /// The shared model is used unless `overrides` supplies an embedder.
    pub async fn spawn_custom(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        overrides: impl FnOnce(&Config) -> Overrides,
    ) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path());
        let (database, qdrant) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                config.database_url = Some(database.url.clone());
                (Some(database), None)
            }
            Backend::Qdrant => (None, Some(TestCollection::from_env())),
        };
        if let Some(collection) = &qdrant {
            collection.apply(&mut config);
        }
        tweak(&mut config);
        let overrides = overrides(&config);
        Self::start(config, data_dir, database, qdrant, overrides).await
    }

    async fn start(
        config: Config,
        data_dir: TempDir,
        database: Option<TestDatabase>,
        qdrant: Option<TestCollection>,
        mut overrides: Overrides,
    ) -> TestApp {
        overrides.embedder.get_or_insert_with(shared_embedder);
        let app = App::build(config.clone(), overrides)
            .await
            .expect("app starts");
        let base_url = format!("http://{}", app.local_addr());
        let services = app.services().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stop.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            base_url,
            client: reqwest::Client::new(),
            data_dir,
            shutdown: Some(shutdown),
            server: Some(server),
            _database: database,
            qdrant,
            config,
            services: Some(services),
        }
    }

    pub fn services(&self) -> &selfrag::services::Services {
        self.services.as_ref().expect("a running app")
    }

    /// Stops the server, waits for it to release the data directory, and starts a new one on
    /// the same data with the same configuration (a restart).
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// [`TestApp::restart`] after `tweak` has changed the configuration (an operator changing
    /// a setting between runs).
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        self.stop().await;
        let data_dir =
            std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("temp dir"));
        let database = self._database.take();
        let qdrant = self.qdrant.take();
        let mut config = self.config.clone();
        tweak(&mut config);
        Self::start(config, data_dir, database, qdrant, Overrides::default()).await
    }

    /// Starts an app on data that already exists: a data directory, and the database (or
    /// Qdrant collection) that goes with it, as another process left them.
    pub async fn start_on(
        data_dir: TempDir,
        database: Option<TestDatabase>,
        qdrant: Option<TestCollection>,
    ) -> TestApp {
        let mut config = test_config(data_dir.path());
        if let Some(db) = &database {
            config.database_url = Some(db.url.clone());
        }
        if let Some(collection) = &qdrant {
            collection.apply(&mut config);
        }
        Self::start(config, data_dir, database, qdrant, Overrides::default()).await
    }

    /// Drops this app's PostgreSQL database under it, as an outage would.
    pub fn drop_database(&mut self) {
        self._database
            .as_ref()
            .expect("a PostgreSQL app")
            .drop_now();
    }

    /// Creates the dropped database again (empty), as a database coming back would.
    pub async fn restore_database(&self) {
        self._database
            .as_ref()
            .expect("a PostgreSQL app")
            .create_again()
            .await;
    }

    pub async fn stop(&mut self) {
        self.services = None;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task ends cleanly");
        }
    }

    /// POSTs a GraphQL operation and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("JSON response")
    }

    /// POSTs a JSON body to `/graphql` whatever the answer's status: the status and the JSON.
    pub async fn post_json(&self, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// Like [`graphql`](Self::graphql) but asserts there were no errors and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    pub async fn ingest(&self, input: Value) -> Value {
        self.data(
            "mutation($input: IngestInput!) { ingestDocument(input: $input) {
                chunksCreated deduplicated embeddingMs totalMs
                document { id title tags type source chunkCount contentHash createdAt }
            } }",
            json!({ "input": input }),
        )
        .await["ingestDocument"]
            .clone()
    }

    pub async fn search(&self, query: &str, limit: usize, filter: Value) -> Value {
        self.data(
            "query($q: String!, $limit: Int, $filter: SearchFilter) {
                search(query: $q, limit: $limit, filter: $filter) {
                    query totalHits tookMs
                    hits { score chunk { id index content startChar endChar } document { id title tags } }
                } }",
            json!({ "q": query, "limit": limit, "filter": filter }),
        )
        .await["search"]
            .clone()
    }

    /// `search` with its cache fields.
    pub async fn cached_search(&self, query: &str) -> Value {
        self.data(
            "query($q: String!) { search(query: $q, limit: 5) { totalHits cacheHit cacheLevel hits { document { id } } } }",
            json!({ "q": query }),
        )
        .await["search"]
            .clone()
    }

    pub async fn cache_analytics(&self) -> Value {
        self.data(
            "{ cacheAnalytics { corpusGeneration
                overall { l1Hits l2Hits misses hitRate errors }
                l2 { state usedMemoryBytes keys errors }
                namespaces { namespace l1Entries l1Bytes l1CapacityBytes l1TtlSecs l2TtlSecs
                  counters { l1Hits l2Hits misses l1Sets l2Sets evictions errors l1HitRate l2HitRate hitRate } } } }",
            Value::Null,
        )
        .await["cacheAnalytics"]
            .clone()
    }

    /// The database URL this app uses (to start a second replica on the same database).
    pub fn database_url(&self) -> Option<String> {
        self._database.as_ref().map(|db| db.url.clone())
    }

    pub async fn delete(&self, id: &str) -> Value {
        self.graphql(
            "mutation($id: ID!) { deleteDocument(id: $id) }",
            json!({ "id": id }),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("request sent")
    }
}

/// `collectionStats { documents chunks vectors }`: whether rows and index agree.
pub async fn collection_stats(app: &TestApp) -> Value {
    app.data(
        "{ collectionStats { documents chunks vectors } }",
        Value::Null,
    )
    .await["collectionStats"]
        .clone()
}

/// The first error's `extensions.code` of a GraphQL response.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {body:#}"))
}

/// A PostgreSQL database of the test's own, dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database on `SELFRAG_TEST_DATABASE_URL`. Under CI the PostgreSQL suite
    /// must run, so a missing URL fails instead of skipping.
    pub async fn create() -> TestDatabase {
        let admin_url = std::env::var("SELFRAG_TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!("SELFRAG_TEST_DATABASE_URL is not set; e.g. postgres://postgres@127.0.0.1:5432/test (scripts/test.sh sets it)")
        });
        let name = format!("selfrag_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = match admin_url.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin_url[..slash]),
            None => panic!("SELFRAG_TEST_DATABASE_URL needs a database path"),
        };
        TestDatabase {
            url,
            admin_url,
            name,
        }
    }
}

impl TestDatabase {
    async fn create_again(&self) {
        let admin = sea_orm::Database::connect(&self.admin_url)
            .await
            .expect("connect to PostgreSQL");
        sea_orm::ConnectionTrait::execute_unprepared(
            &admin,
            &format!("CREATE DATABASE {}", self.name),
        )
        .await
        .expect("create test database");
        let _ = admin.close().await;
    }

    fn drop_now(&self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        clean_up_off_runtime(async move {
            let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sea_orm::ConnectionTrait::execute_unprepared(&admin, &sql)
                .await
                .ok()?;
            admin.close().await.ok()
        });
    }
}

/// Runs best-effort async clean-up to completion from `Drop`, which runs inside the test's
/// runtime and cannot block on it: on a thread with a runtime of its own.
fn clean_up_off_runtime<T: Send + 'static>(work: impl Future<Output = Option<T>> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?
            .block_on(work)
    })
    .join();
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// The Qdrant server for the Qdrant half of the suite, or `None` to skip it. Opt-in everywhere,
/// CI included: there is no Qdrant server in any registry our machines reach (see the README's
/// "Testing against Qdrant").
pub fn qdrant_url() -> Option<String> {
    match std::env::var("SELFRAG_TEST_QDRANT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: SELFRAG_TEST_QDRANT_URL is not set (Qdrant tests)");
            None
        }
    }
}

/// A Qdrant collection of one test's own; deleted when the test ends, pass or fail.
pub struct TestCollection {
    pub url: String,
    pub api_key: Option<String>,
    pub name: String,
}

impl TestCollection {
    pub fn from_env() -> TestCollection {
        TestCollection {
            url: std::env::var("SELFRAG_TEST_QDRANT_URL")
                .expect("SELFRAG_TEST_QDRANT_URL is set for Qdrant tests"),
            api_key: std::env::var("SELFRAG_TEST_QDRANT_API_KEY").ok(),
            name: format!("selfrag_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Points a configuration at this collection.
    pub fn apply(&self, config: &mut Config) {
        config.qdrant_url = Some(self.url.clone());
        config.qdrant.api_key = self.api_key.clone();
        config.qdrant.collection = self.name.clone();
    }
}

impl Drop for TestCollection {
    fn drop(&mut self) {
        let (url, api_key, name) = (self.url.clone(), self.api_key.clone(), self.name.clone());
        clean_up_off_runtime(async move {
            let client = qdrant_client::Qdrant::from_url(&url)
                .api_key(api_key)
                .skip_compatibility_check()
                .build()
                .ok()?;
            client.delete_collection(name).await.ok()
        });
    }
}

/// Whether this run is CI's (`CI` set to anything but `false`), where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A part a test needs is missing: under CI that fails the test; elsewhere the test is skipped
/// with a message saying `what` did not run and why.
pub fn skip_outside_ci(what: &str, why: &str) {
    assert!(!under_ci(), "CI must run {what}: {why}");
    eprintln!("skipped: {what} ({why})");
}

/// Whether the PostgreSQL half of the suite can run (see [`skip_outside_ci`]).
pub fn postgres_configured() -> bool {
    if std::env::var_os("SELFRAG_TEST_DATABASE_URL").is_some() {
        return true;
    }
    skip_outside_ci(
        "the PostgreSQL suite",
        "SELFRAG_TEST_DATABASE_URL is not set",
    );
    false
}

/// The Redis URL for L2 tests, or `None` to skip them (outside CI only, as for PostgreSQL).
pub fn redis_url() -> Option<String> {
    if let Ok(url) = std::env::var("SELFRAG_TEST_REDIS_URL") {
        return Some(url);
    }
    skip_outside_ci("the Redis tests", "SELFRAG_TEST_REDIS_URL is not set");
    None
}

/// A Redis key prefix of the test's own, so tests sharing one Redis never see each other.
pub fn unique_prefix() -> String {
    format!("selfrag-test-{}", uuid::Uuid::new_v4().simple())
}

/// Declares one `#[tokio::test]` per backend for each scenario `fn name(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_configured() {
                        super::$name($crate::helpers::Backend::Postgres).await
                    }
                }
            )*
        }
        mod qdrant {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::qdrant_url().is_some() {
                        super::$name($crate::helpers::Backend::Qdrant).await
                    }
                }
            )*
        }
    };
}

/// About 150 word pieces on `topic`: long enough that a section or page is a chunk of its own.
pub fn section(topic: &str) -> String {
    (0..9)
        .map(|i| format!("Note {i} on {topic}: the steps are written down here in full detail."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A PDF with one page per text (Helvetica, one line each), written by hand: the tests make
/// their own documents rather than download any.
pub fn pdf(pages: &[&str]) -> Vec<u8> {
    let escape = |text: &str| {
        text.replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)")
    };
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            (0..pages.len())
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" "),
            pages.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    for (i, text) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        let stream = format!("BT /F1 10 Tf 40 740 Td ({}) Tj ET", escape(text));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Sends a GraphQL multipart request (files as `variables.files.N`, or `variables.file` for
/// one) with the header that shows it is no cross-site form post.
pub async fn upload(
    app: &TestApp,
    query: &str,
    variables: Value,
    files: &[(&str, &str, Vec<u8>)],
) -> Value {
    let single = files.len() == 1 && variables.get("file").is_some();
    let map: serde_json::Map<String, Value> = (0..files.len())
        .map(|i| {
            let path = if single {
                "variables.file".to_owned()
            } else {
                format!("variables.files.{i}")
            };
            (i.to_string(), json!([path]))
        })
        .collect();
    let mut form = reqwest::multipart::Form::new()
        .text(
            "operations",
            json!({ "query": query, "variables": variables }).to_string(),
        )
        .text("map", Value::Object(map).to_string());
    for (i, (name, media_type, bytes)) in files.iter().enumerate() {
        let part = reqwest::multipart::Part::bytes(bytes.clone())
            .file_name(name.to_string())
            .mime_str(media_type)
            .expect("a media type");
        form = form.part(i.to_string(), part);
    }
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("request sent");
    response.json().await.expect("JSON response")
}

/// Polls `done` every 100 ms until it holds, failing the test after 60 s.
pub async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The status of `GET path` sent byte for byte (HTTP clients resolve `..` before sending, so a
/// traversal attempt needs a raw request).
pub async fn raw_get_status(base_url: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut head = vec![0; 64];
    let read = stream.read(&mut head).await.expect("answered");
    let line = String::from_utf8_lossy(&head[..read]).into_owned();
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line}"))
}

/// A port that is free now (bound, then released), for a child `selfrag serve`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `selfrag serve` on `127.0.0.1:port` over `data_dir`, with the provisioned model and none of
/// the environment's backend settings (the caller adds what it needs).
pub fn serve_command(data_dir: &std::path::Path, port: u16) -> std::process::Command {
    let model = model_config();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_selfrag"));
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("SELFRAG_DATA_DIR", data_dir)
        .env("SELFRAG_MODEL__DIR", &model.dir)
        .env("SELFRAG_MODEL__ONNXRUNTIME_LIB", &model.onnxruntime_lib)
        .env_remove("SELFRAG_DATABASE_URL")
        .env_remove("SELFRAG_REDIS_URL")
        .env_remove("SELFRAG_QDRANT_URL")
        .stdout(std::process::Stdio::null());
    command
}

/// Waits until the child answers `/health/live`; fails at once, with `log` when given, if it
/// exits first.
pub async fn wait_until_serving(
    process: &mut std::process::Child,
    base_url: &str,
    log: Option<&std::path::Path>,
) {
    let client = reqwest::Client::new();
    let ready = format!("{base_url}/health/live");
    wait_for("the server to serve", async || {
        if let Ok(Some(status)) = process.try_wait() {
            let log = log.and_then(|l| std::fs::read_to_string(l).ok());
            panic!("the server exited ({status}):\n{}", log.unwrap_or_default());
        }
        client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// `prefix/../file` and its percent-encoded form, sent raw, are 404: a file served under
/// `prefix` cannot reach `file` one level up from its directory.
pub async fn assert_no_traversal(base_url: &str, prefix: &str, file: &str) {
    for traversal in [
        format!("{prefix}/../{file}"),
        format!("{prefix}/%2e%2e/{file}"),
    ] {
        assert_eq!(
            raw_get_status(base_url, &traversal).await,
            404,
            "{traversal}"
        );
    }
}

/// A response's `Content-Type` (empty when it has none).
pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
