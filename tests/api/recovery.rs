//! What a crash or a full disk leaves behind is recovered: a process killed between the vector
//! write and the rows' commit leaves no vectors that outrank real hits, and a data directory
//! short of space refuses writes (typed) instead of dying of SIGBUS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp, TestDatabase, collection_stats, error_code, free_port, serve_command,
    wait_for, wait_until_serving,
};
use crate::on_every_backend;

const PARAGRAPH: &str = "Honeybees survive the winter by clustering around the queen and \
    shivering their flight muscles to make heat; the cluster loosens and tightens with the cold.";

/// A point in the index with no rows is skipped by search, and the page still fills from the
/// points behind it.
async fn points_without_rows_never_take_a_result_slot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let real = app.ingest(json!({ "content": PARAGRAPH })).await;
    let real_id = real["document"]["id"].as_str().expect("id").to_owned();
    // Orphans with exactly the real chunk's vector: they tie with it for first place.
    let services = app.services();
    let vector = services
        .embedder
        .embed(vec![PARAGRAPH.to_owned()])
        .await
        .expect("embeds")
        .remove(0);
    let orphans: Vec<_> = (0..5)
        .map(|_| selfrag::vector::VectorPoint {
            id: Uuid::new_v4(),
            document_id: Uuid::new_v4(),
            vector: vector.clone(),
            keywords: Default::default(),
            tags: Vec::new(),
            doc_type: None,
            source: None,
        })
        .collect();
    services
        .index
        .upsert(orphans)
        .await
        .expect("orphans written");
    let result = app.search(PARAGRAPH, 1, Value::Null).await;
    assert_eq!(result["hits"][0]["document"]["id"], real_id, "{result}");
}

/// `selfrag serve` as a child process, stopped at a fault point (debug builds only).
struct Child {
    process: std::process::Child,
    base_url: String,
    marker: PathBuf,
}

impl Child {
    /// Starts the server on `data_dir` (and `database_url`), armed to stop at `point`, and
    /// waits until it serves.
    async fn serve(data_dir: &Path, database_url: Option<&str>, point: &str) -> Child {
        let port = free_port();
        let marker = data_dir.join("fault-reached");
        let mut command = serve_command(data_dir, port);
        command
            .env("SELFRAG_FAULT_POINT", point)
            .env("SELFRAG_FAULT_MARKER", &marker)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.env("SELFRAG_DATABASE_URL", url);
        }
        let mut child = Child {
            process: command.spawn().expect("selfrag starts"),
            base_url: format!("http://127.0.0.1:{port}"),
            marker,
        };
        wait_until_serving(&mut child.process, &child.base_url, None).await;
        child
    }

    /// Sends an ingest of `content` (with `externalId`, if any) and returns the request.
    fn ingest(
        &self,
        content: &str,
        external_id: Option<&str>,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
        reqwest::Client::new()
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({
                "query": "mutation($c: String!, $e: String) { ingestDocument(input: { content: $c, externalId: $e }) { status } }",
                "variables": { "c": content, "e": external_id },
            }))
            .timeout(Duration::from_secs(60))
            .send()
    }

    /// Sends `request`, waits until the server stops at its fault point, and kills it there
    /// (kill -9): the request gets no answer.
    async fn kill_during(
        mut self,
        request: impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
    ) {
        let in_flight = tokio::spawn(request);
        let marker = self.marker.clone();
        wait_for("the fault point", async || marker.exists()).await;
        self.process.kill().expect("kill -9");
        self.process.wait().expect("reaped");
        assert!(
            in_flight.await.expect("joined").is_err(),
            "the killed server answered"
        );
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// kill -9 between the vector write and the rows' commit, then a restart: the index and the
/// rows agree, and the document, sent again, is found first.
async fn a_kill_between_vectors_and_rows_leaves_no_orphans(backend: Backend) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database = match backend {
        Backend::Postgres => Some(TestDatabase::create().await),
        _ => None,
    };
    let child = Child::serve(
        data_dir.path(),
        database.as_ref().map(|db| db.url.as_str()),
        selfrag::fault::AFTER_VECTOR_WRITE,
    )
    .await;
    let request = child.ingest(PARAGRAPH, None);
    child.kill_during(request).await;

    let app = TestApp::start_on(data_dir, database, None).await;
    let after = collection_stats(&app).await;
    assert_eq!(after["documents"], 0, "{after}");
    assert_eq!(
        after["chunks"], after["vectors"],
        "index and rows disagree: {after}"
    );
    let again = app.ingest(json!({ "content": PARAGRAPH })).await;
    assert_eq!(again["deduplicated"], false);
    let result = app.search(PARAGRAPH, 1, Value::Null).await;
    assert_eq!(
        result["hits"][0]["document"]["id"], again["document"]["id"],
        "{result}"
    );
    let after = collection_stats(&app).await;
    assert_eq!(after["chunks"], after["vectors"], "{after}");
}

/// The text of a version: many paragraphs, one of them naming `animal`.
fn version(animal: &str) -> String {
    let mut paragraphs: Vec<String> = (0..6)
        .map(|n| format!("Paragraph {n}. {PARAGRAPH}"))
        .collect();
    paragraphs[2] = format!("The {animal} is the animal of this version.");
    paragraphs.join("\n\n")
}

/// kill -9 in the middle of a replacement (before its rows commit, or after but before the old
/// version's vectors are removed), then a restart: exactly one version stands, whole and
/// searchable, and no vector of the other is left.
async fn a_kill_mid_replacement_leaves_one_whole_version(backend: Backend, point: &str) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database = match backend {
        Backend::Postgres => Some(TestDatabase::create().await),
        _ => None,
    };
    let child = Child::serve(
        data_dir.path(),
        database.as_ref().map(|db| db.url.as_str()),
        point,
    )
    .await;
    let first: Value = child
        .ingest(&version("capybara"), Some("zoo"))
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        first["data"]["ingestDocument"]["status"], "INGESTED",
        "{first}"
    );
    let request = child.ingest(&version("pangolin"), Some("zoo"));
    child.kill_during(request).await;

    let app = TestApp::start_on(data_dir, database, None).await;
    let after = collection_stats(&app).await;
    assert_eq!(after["documents"], 1, "{after}");
    assert_eq!(
        after["chunks"], after["vectors"],
        "index and rows disagree: {after}"
    );
    let (standing, gone) = if point == selfrag::fault::REPLACE_AFTER_COMMIT {
        ("pangolin", "capybara")
    } else {
        ("capybara", "pangolin")
    };
    let keyword = async |word: &str| {
        app.data(
            "query($q: String!) { search(query: $q, mode: KEYWORD) { totalHits } }",
            json!({ "q": word }),
        )
        .await["search"]["totalHits"]
            .as_u64()
    };
    assert_eq!(keyword(standing).await, Some(1), "{standing} lost");
    assert_eq!(keyword(gone).await, Some(0), "{gone} still ranks");
    let document = app
        .data(
            "{ document(externalId: \"zoo\") { revision } }",
            Value::Null,
        )
        .await;
    let revision = if standing == "pangolin" { 2 } else { 1 };
    assert_eq!(document["document"]["revision"], revision, "{document}");
}

mod killed_mid_replacement {
    use selfrag::fault::{REPLACE_AFTER_COMMIT, REPLACE_AFTER_VECTOR_WRITE};

    use crate::helpers::{Backend, postgres_configured};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        for point in [REPLACE_AFTER_VECTOR_WRITE, REPLACE_AFTER_COMMIT] {
            super::a_kill_mid_replacement_leaves_one_whole_version(Backend::Sqlite, point).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if postgres_configured() {
            for point in [REPLACE_AFTER_VECTOR_WRITE, REPLACE_AFTER_COMMIT] {
                super::a_kill_mid_replacement_leaves_one_whole_version(Backend::Postgres, point)
                    .await;
            }
        }
    }
}

mod killed_mid_write {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_kill_between_vectors_and_rows_leaves_no_orphans(crate::helpers::Backend::Sqlite)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if crate::helpers::postgres_configured() {
            super::a_kill_between_vectors_and_rows_leaves_no_orphans(
                crate::helpers::Backend::Postgres,
            )
            .await
        }
    }
}

/// A tmpfs of its own, unmounted when the test ends. `None` (and a message) where mounting is
/// not permitted; under CI, which runs as root, that is a failure.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            crate::helpers::skip_outside_ci(
                "the disk-full test",
                "cannot mount a tmpfs (needs root)",
            );
            return None;
        }
        Some(SmallDisk {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    /// Fills the disk until `leave` bytes are available.
    fn fill_until(&self, leave: u64) -> PathBuf {
        let available = fs4::available_space(&self.path).expect("statvfs");
        let filler = self.path.join(format!("filler-{}", Uuid::new_v4()));
        let size = available.saturating_sub(leave);
        std::fs::write(&filler, vec![0u8; size as usize]).expect("filler written");
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The embedded database's journal mode, asked through a connection of its own.
async fn journal_mode(connection: &sea_orm::DatabaseConnection) -> String {
    use sea_orm::ConnectionTrait;
    connection
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .expect("journal mode")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("a mode")
}

/// The embedded database writes ahead to a log (one sync per commit, durable when it returns),
/// and a database left in the rollback-journal mode that data directories had before is
/// switched over when it is opened, its documents kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_database_writes_ahead_to_a_log() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    app.ingest(json!({ "content": PARAGRAPH })).await;
    assert_eq!(journal_mode(app.services().store.connection()).await, "wal");
    let database = app.data_dir.path().join("selfrag.db");
    assert!(
        database.with_extension("db-wal").exists(),
        "the log beside the database"
    );

    // Leaving WAL needs every other connection closed, and a stopped server's pool would
    // close its connections in the background after it is dropped: close it and wait.
    let pool = app.services().store.connection().clone();
    app.stop().await;
    pool.close().await.expect("the server's connections closed");
    let url = format!("sqlite://{}?mode=rw", database.display());
    let old = sea_orm::Database::connect(&url).await.expect("opened");
    sea_orm::ConnectionTrait::execute_unprepared(&old, "PRAGMA journal_mode = DELETE")
        .await
        .expect("back to the rollback journal");
    assert_eq!(journal_mode(&old).await, "delete");
    old.close().await.expect("closed");

    let data_dir = std::mem::replace(&mut app.data_dir, tempfile::tempdir().expect("temp dir"));
    let app = TestApp::start_on(data_dir, None, None).await;
    assert_eq!(journal_mode(app.services().store.connection()).await, "wal");
    let hits = app.search(PARAGRAPH, 1, Value::Null).await;
    assert_eq!(hits["hits"].as_array().map(Vec::len), Some(1), "{hits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_searching_and_recovers_without_a_restart() {
    const MIB: u64 = 1 << 20;
    let Some(disk) = SmallDisk::mount(640) else {
        return;
    };
    let data_dir = disk.path.join("data");
    let reserve = 256 * MIB;
    let mut app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.data_dir = data_dir.clone();
        c.storage.min_free_bytes = reserve;
    })
    .await;
    let first = app.ingest(json!({ "content": PARAGRAPH })).await;
    assert_eq!(first["deduplicated"], false);

    // Leave less than the reserve, counting what the index has reserved but not written. The
    // write checks reuse a walk of the index for up to a second while the disk is roomy (its
    // holes may grow meanwhile by less than the spare reserve), so let the first ingest's walk
    // age out: the refusal below is then exact, however fast this machine is.
    tokio::time::sleep(selfrag::disk::REUSE_WALK_FOR + Duration::from_millis(100)).await;
    let space = app.services().disk.measure().expect("measured");
    let filler = disk.fill_until(space.unbacked_bytes + reserve - 32 * MIB);
    let body = app
        .graphql(
            "mutation($c: String!) { ingestDocument(input: { content: $c }) { chunksCreated } }",
            json!({ "c": "Wasps do not keep a winter cluster; only the queens hibernate." }),
        )
        .await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("storage.min_free_bytes"), "{message}");
    let deleted = app
        .delete(first["document"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(error_code(&deleted), "UNAVAILABLE", "{deleted}");

    // Searches keep working, and readiness says what is wrong.
    let result = app.search("how do bees stay warm", 1, Value::Null).await;
    assert_eq!(result["hits"][0]["document"]["id"], first["document"]["id"]);
    let ready = app.get("/health/ready").await;
    let report: Value = ready.json().await.expect("JSON");
    assert_eq!(report["status"], "degraded", "{report}");
    assert_eq!(report["checks"]["disk"]["status"], "degraded", "{report}");

    // Freed space: writes work again, no restart.
    std::fs::remove_file(&filler).expect("filler removed");
    let second = app
        .ingest(
            json!({ "content": "Wasps do not keep a winter cluster; only the queens hibernate." }),
        )
        .await;
    assert_eq!(second["deduplicated"], false);
    let ready: Value = app.get("/health/ready").await.json().await.expect("JSON");
    assert_eq!(ready["checks"]["disk"]["status"], "up", "{ready}");

    // Start-up on a nearly full disk: a clear refusal naming the fix, never SIGBUS.
    app.stop().await;
    let space = selfrag::disk::DiskGuard::new(&data_dir, Some(data_dir.join("vectors")), reserve)
        .measure()
        .expect("measured");
    let _filler = disk.fill_until(space.unbacked_bytes + reserve - 32 * MIB);
    let mut config = crate::helpers::test_config(&data_dir);
    config.storage.min_free_bytes = reserve;
    let err = selfrag::app::App::build(
        config,
        selfrag::app::Overrides {
            embedder: Some(crate::helpers::shared_embedder()),
            index: None,
            on_keyword_progress: None,
            keyword_rebuild: Default::default(),
        },
    )
    .await
    .err()
    .expect("refuses to start");
    let err = err.to_string();
    assert!(
        err.contains("storage.min_free_bytes") && err.contains("cannot start"),
        "{err}"
    );
}

/// Recovery never takes a write that is still running for an interrupted one: in this process
/// the in-flight set names it; on PostgreSQL, another replica's running write holds its record
/// locked until its rows commit.
async fn recovery_leaves_running_writes_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let services = app.services();
    let context = services.ingest_context();
    let id = Uuid::new_v4();
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);

    // Running here: recorded, and in the in-flight set.
    let writing = context.in_flight.enter(id).await;
    services
        .store
        .record_pending_write(id, false)
        .await
        .expect("recorded");
    let recovered = selfrag::ingest::recover_interrupted_writes(&context, later)
        .await
        .expect("recovery runs");
    assert_eq!(recovered, 0, "took a write this process is running");
    drop(writing);

    if backend == Backend::Postgres {
        // Running elsewhere: its rows' transaction holds the record.
        let document = selfrag::store::Document {
            id,
            title: None,
            source: None,
            doc_type: None,
            author: None,
            tags: Vec::new(),
            metadata: None,
            content_hash: format!("{id}"),
            chunk_count: 0,
            created_at: selfrag::store::now(),
            external_id: None,
            revision: 1,
            updated_at: None,
        };
        let running = services
            .store
            .begin_insert(
                selfrag::store::NewDocument {
                    document,
                    content: "x".into(),
                },
                Vec::new(),
            )
            .await
            .unwrap_or_else(|err| panic!("insert begun: {err}"));
        let claim = services
            .store
            .claim_pending_write(id, later)
            .await
            .expect("claim runs");
        assert!(
            claim.is_none(),
            "claimed a record a running transaction holds"
        );
        running.rollback().await.expect("rolled back");
    }

    // Once nothing runs it, the record is recovered.
    let recovered = selfrag::ingest::recover_interrupted_writes(&context, later)
        .await
        .expect("recovery runs");
    assert_eq!(recovered, 1);
}

on_every_backend!(
    points_without_rows_never_take_a_result_slot,
    recovery_leaves_running_writes_alone
);
