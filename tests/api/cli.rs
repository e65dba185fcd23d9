//! The document commands (`ingest`, `search`, `delete`) through the real binary: beside a
//! running server they go through its GraphQL API (its keys included); alone they open the data
//! directory; a directory another process holds with no server answering is a plain error that
//! names the fix, never a WAL error.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, section};

/// An address where nothing listens (connections are refused at once).
const NOBODY: &str = "127.0.0.1:1";

/// Runs `selfrag ARGS` on `data_dir` with `bind` as its configured address and `extra` env.
fn selfrag(data_dir: &Path, bind: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selfrag"));
    command
        .args(args)
        .env("SELFRAG_DATA_DIR", data_dir)
        .env("SELFRAG_BIND", bind)
        .env_remove("SELFRAG_DATABASE_URL")
        .env_remove("SELFRAG_QDRANT_URL")
        .env_remove("SELFRAG_SERVER")
        .env_remove("SELFRAG_API_KEY");
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().expect("selfrag runs")
}

fn succeeded(output: &Output, what: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{what}: {stderr}\n{stdout}");
    (stdout, stderr)
}

fn failed(output: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{what} should fail: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("WouldBlock"),
        "{what}: {stderr}"
    );
    stderr
}

/// Two Markdown notes in a directory of their own.
fn notes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bees.md"),
        "# Bees\n\nHoneybees cluster around the queen in winter and shiver to make heat.",
    )
    .expect("written");
    std::fs::create_dir(dir.path().join("sub")).expect("dir");
    std::fs::write(
        dir.path().join("sub/tides.txt"),
        "Tides rise and fall twice a day, pulled by the moon.",
    )
    .expect("written");
    std::fs::write(
        dir.path().join("sub/glaciers.pdf"),
        crate::helpers::pdf(&["Glaciers carve valleys slowly over thousands of years."]),
    )
    .expect("written");
    dir
}

fn search_json(stdout: &str) -> Value {
    serde_json::from_str(stdout).expect("search --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beside_a_running_server_the_cli_goes_through_its_api() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.auth.key_cache_ttl_ms = 100).await;
    let bind = app.base_url.trim_start_matches("http://").to_owned();
    let data_dir = app.data_dir.path().to_owned();
    let notes = notes();
    let notes_path = notes.path().to_str().expect("UTF-8 path");

    let (stdout, stderr) = succeeded(
        &selfrag(&data_dir, &bind, &["ingest", notes_path], &[]),
        "ingest beside the server",
    );
    assert!(
        stderr.contains(&format!("using the server at {}", app.base_url)),
        "{stderr}"
    );
    assert!(
        stdout.contains("ingested 3 new, updated 0, 0 unchanged"),
        "{stdout}"
    );
    // The server itself has them (and answers for them at once: its cache was invalidated).
    let hits = app.search("how do bees keep warm", 1, Value::Null).await;
    assert_eq!(hits["hits"][0]["document"]["title"], "bees");

    let (stdout, _) = succeeded(
        &selfrag(
            &data_dir,
            &bind,
            &["search", "moon pulls the sea", "--json", "--limit", "1"],
            &[],
        ),
        "search beside the server",
    );
    let found = search_json(&stdout);
    assert_eq!(found["hits"][0]["title"], "tides", "{found:#}");
    let tides = found["hits"][0]["documentId"]
        .as_str()
        .expect("an id")
        .to_owned();
    // The PDF went up as a file (multipart) and was read by the server.
    let (stdout, _) = succeeded(
        &selfrag(
            &data_dir,
            &bind,
            &[
                "search",
                "glaciers carving valleys",
                "--json",
                "--limit",
                "1",
            ],
            &[],
        ),
        "search for the PDF",
    );
    let found = search_json(&stdout);
    assert_eq!(found["hits"][0]["title"], "glaciers", "{found:#}");
    assert_eq!(found["hits"][0]["page"], 1, "{found:#}");

    let (stdout, _) = succeeded(
        &selfrag(&data_dir, &bind, &["delete", &tides], &[]),
        "delete beside the server",
    );
    assert!(stdout.contains(&format!("deleted {tides}")), "{stdout}");
    let body = app
        .graphql(
            "query($id: ID!) { document(id: $id) { id } }",
            json!({ "id": tides }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body:#}");
    let stderr = failed(
        &selfrag(&data_dir, &bind, &["delete", &tides], &[]),
        "second delete",
    );
    assert!(
        stderr.contains(&format!("no document with id {tides}")),
        "{stderr}"
    );

    // Once keys exist, the server wants one; the message says how to give it.
    let created = selfrag(
        &data_dir,
        NOBODY,
        &["keys", "create", "--name", "cli", "--role", "writer"],
        &[],
    );
    let (key, _) = succeeded(&created, "keys create");
    let key = key.trim();
    // Past the server's key cache.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let stderr = failed(
        &selfrag(&data_dir, &bind, &["delete", &tides], &[]),
        "delete without a key",
    );
    assert!(
        stderr.contains("UNAUTHENTICATED") && stderr.contains("--api-key"),
        "{stderr}"
    );
    let stderr = failed(
        &selfrag(
            &data_dir,
            &bind,
            &["delete", &tides],
            &[("SELFRAG_API_KEY", key)],
        ),
        "delete with a key",
    );
    assert!(stderr.contains("no document with id"), "{stderr}");

    // A file removed from the directory: `--prune` removes its document, through the server.
    std::fs::remove_file(notes.path().join("sub/glaciers.pdf")).expect("removed");
    let (stdout, _) = succeeded(
        &selfrag(
            &data_dir,
            &bind,
            &["ingest", notes_path, "--prune"],
            &[("SELFRAG_API_KEY", key)],
        ),
        "ingest --prune beside the server",
    );
    assert!(
        stdout.contains("glaciers.pdf (the file is gone)") && stdout.ends_with("; 1 removed\n"),
        "{stdout}"
    );
    let hits = app.search("glaciers carving valleys", 3, Value::Null).await;
    assert!(
        hits["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .all(|hit| hit["document"]["title"] != "glaciers"),
        "{hits:#}"
    );

    // An explicit --server that does not answer is an error, not a silent local run.
    let stderr = failed(
        &selfrag(
            &data_dir,
            &bind,
            &["search", "bees", "--server", &format!("http://{NOBODY}")],
            &[],
        ),
        "search against nobody",
    );
    assert!(
        stderr.contains(&format!("no selfrag server answers at http://{NOBODY}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_the_cli_opens_the_data_directory() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let notes = notes();
    let notes_path = notes.path().to_str().expect("UTF-8 path");

    let (stdout, stderr) = succeeded(
        &selfrag(data_dir.path(), NOBODY, &["ingest", notes_path], &[]),
        "ingest alone",
    );
    assert!(!stderr.contains("using the server"), "{stderr}");
    assert!(
        stdout.contains("ingested 3 new, updated 0, 0 unchanged"),
        "{stdout}"
    );
    let (stdout, _) = succeeded(
        &selfrag(data_dir.path(), NOBODY, &["ingest", notes_path], &[]),
        "ingest again",
    );
    assert!(
        stdout.contains(
            "ingested 0 new, updated 0, 3 unchanged, 0 already stored, 0 skipped; 0 chunks embedded"
        ),
        "{stdout}"
    );

    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["search", "bees in winter", "--json"],
            &[],
        ),
        "search alone",
    );
    let found = search_json(&stdout);
    assert_eq!(found["hits"][0]["title"], "bees", "{found:#}");
    let bees = found["hits"][0]["documentId"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (stdout, _) = succeeded(
        &selfrag(data_dir.path(), NOBODY, &["delete", &bees], &[]),
        "delete alone",
    );
    assert!(stdout.contains(&format!("deleted {bees}")), "{stdout}");

    // The server then starts on what the CLI left.
    let app = TestApp::start_on(data_dir, None, None).await;
    let hits = app.search("bees in winter", 5, Value::Null).await;
    let titles: Vec<_> = hits["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["document"]["title"].clone())
        .collect();
    assert!(
        titles.contains(&json!("tides")) && !titles.contains(&json!("bees")),
        "{titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_directory_with_no_server_answering_names_the_fix() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let notes = notes();
    let output = selfrag(
        app.data_dir.path(),
        NOBODY,
        &["ingest", notes.path().to_str().expect("UTF-8 path")],
        &[],
    );
    let stderr = failed(&output, "ingest on a held directory");
    assert!(
        stderr.contains("held by another selfrag process")
            && stderr.contains(&format!("no server answers at http://{NOBODY}"))
            && stderr.contains("--server URL"),
        "{stderr}"
    );
    // Nothing was written behind the server's back.
    let listed = app
        .data("{ documents { nodes { id } } }", Value::Null)
        .await;
    assert_eq!(listed["documents"]["nodes"], json!([]), "{listed:#}");
}

fn guide(owls: &str) -> String {
    format!(
        "# Garden guide\n\n{}\n\n## Birds\n\n{}\n\n## Owls\n\n{}\n\n## Soil\n\n{}\n",
        section("why a garden needs a guide"),
        section("songbirds that visit feeders"),
        section(owls),
        section("compost and worms in the soil"),
    )
}

/// A Markdown tree with an HTML page, a PDF, a broken PDF, an image and a hidden directory:
/// what can be read is ingested (the broken file is named, and the exit status says so), and
/// running the command again after an edit updates that file alone, re-embedding only the
/// edited section.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_again_keeps_a_tree_current() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let tree = tempfile::tempdir().expect("temp dir");
    let root = tree.path();
    std::fs::create_dir_all(root.join("web")).expect("dir");
    std::fs::create_dir_all(root.join(".git")).expect("dir");
    std::fs::write(root.join("guide.md"), guide("owls that hunt at dusk")).expect("written");
    std::fs::write(
        root.join("web/ponds.html"),
        "<title>Ponds</title><nav>menu</nav><p>Frogs lay eggs in shallow ponds.</p>",
    )
    .expect("written");
    std::fs::write(
        root.join("web/bees.pdf"),
        crate::helpers::pdf(&[
            &section("bees dancing to show where the flowers are"),
            &section("hives that hold one queen"),
        ]),
    )
    .expect("written");
    std::fs::write(root.join("web/broken.pdf"), b"%PDF-1.4 truncated").expect("written");
    std::fs::write(root.join("web/photo.png"), [0x89, b'P', b'N', b'G']).expect("written");
    std::fs::write(root.join(".git/notes.md"), "# hidden").expect("written");
    let root_arg = root.to_str().expect("UTF-8 path");

    let output = selfrag(data_dir.path(), NOBODY, &["ingest", root_arg], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = failed(&output, "ingest with a broken file");
    assert!(
        stdout.contains("broken.pdf: cannot read this PDF"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ingested 3 new, updated 0, 0 unchanged, 0 already stored, 1 skipped"),
        "{stdout}"
    );
    assert!(stderr.contains("1 file(s) could not be read"), "{stderr}");
    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["search", "owls hunting at dusk", "--json", "--limit", "1"],
            &[],
        ),
        "search the guide",
    );
    let hit = search_json(&stdout)["hits"][0].clone();
    assert_eq!(hit["headings"], json!(["Garden guide", "Owls"]), "{hit:#}");
    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["search", "a hive holds one queen", "--json", "--limit", "1"],
            &[],
        ),
        "search the PDF",
    );
    let hit = search_json(&stdout)["hits"][0].clone();
    assert_eq!(
        (hit["title"].clone(), hit["page"].clone()),
        (json!("bees"), json!(2)),
        "{hit:#}"
    );

    // One section edited; the broken file fixed by removing it.
    std::fs::write(
        root.join("guide.md"),
        guide("barn owls nesting in old trees"),
    )
    .expect("written");
    std::fs::remove_file(root.join("web/broken.pdf")).expect("removed");
    let (stdout, _) = succeeded(
        &selfrag(data_dir.path(), NOBODY, &["ingest", root_arg], &[]),
        "ingest again",
    );
    let updated = stdout
        .lines()
        .find(|line| line.starts_with("updated "))
        .unwrap_or_else(|| panic!("no update reported: {stdout}"));
    assert!(updated.contains("guide.md"), "{updated}");
    let embedded: usize = updated
        .split('(')
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{updated}"));
    assert!((1..=2).contains(&embedded), "{updated}");
    assert!(
        stdout.contains("ingested 0 new, updated 1, 2 unchanged, 0 already stored, 0 skipped"),
        "{stdout}"
    );
    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["search", "barn owls nesting", "--json", "--limit", "1"],
            &[],
        ),
        "search the edit",
    );
    assert_eq!(
        search_json(&stdout)["hits"][0]["headings"],
        json!(["Garden guide", "Owls"])
    );

    // A file removed: `--prune` removes its document; the files that remain stay.
    std::fs::remove_file(root.join("web/ponds.html")).expect("removed");
    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["ingest", root_arg, "--prune"],
            &[],
        ),
        "ingest --prune",
    );
    assert!(
        stdout.contains("ponds.html (the file is gone)")
            && stdout.contains("0 new, updated 0, 2 unchanged")
            && stdout.ends_with("; 1 removed\n"),
        "{stdout}"
    );
    let (stdout, _) = succeeded(
        &selfrag(
            data_dir.path(),
            NOBODY,
            &["search", "frogs lay eggs in ponds", "--json"],
            &[],
        ),
        "search after pruning",
    );
    let titles: Vec<Value> = search_json(&stdout)["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["title"].clone())
        .collect();
    assert!(!titles.contains(&json!("Ponds")), "{titles:?}");
    assert!(titles.contains(&json!("guide")), "{titles:?}");
}

/// Variables by which ONNX Runtime recognises a CI machine, where it keeps its telemetry off
/// by itself (`CI=true` does; the list is read off the library's strings, where they sit
/// together). They are removed so that a run tells what a user's machine would do.
const CI_MARKERS: [&str; 12] = [
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
];

/// What ONNX Runtime left in a home directory of its own after `selfrag ingest` ran with
/// `telemetry_opt_out` as `ORT_DISABLE_TELEMETRY` (`None`: the variable unset), outside CI.
fn runtime_leftovers(telemetry_opt_out: Option<&str>) -> Vec<String> {
    let notes = notes();
    let data = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_selfrag"));
    command
        .arg("ingest")
        .arg(notes.path())
        .env("SELFRAG_DATA_DIR", data.path())
        .env("SELFRAG_BIND", NOBODY)
        .env_remove("SELFRAG_DATABASE_URL")
        .env_remove("SELFRAG_QDRANT_URL")
        .env_remove("SELFRAG_SERVER")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"));
    for marker in CI_MARKERS {
        command.env_remove(marker);
    }
    match telemetry_opt_out {
        Some(value) => command.env("ORT_DISABLE_TELEMETRY", value),
        // Cargo sets it for the tests themselves (.cargo/config.toml).
        None => command.env_remove("ORT_DISABLE_TELEMETRY"),
    };
    succeeded(&command.output().expect("selfrag runs"), "ingest");
    let mut left = Vec::new();
    let mut pending = vec![home.path().to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            left.push(
                path.strip_prefix(home.path())
                    .expect("under home")
                    .display()
                    .to_string(),
            );
        }
    }
    left
}

/// ONNX Runtime's telemetry uploader (Microsoft's builds, 1.29 and later on Linux) never
/// starts in the binary: it would keep a device id and an event store in the user's cache
/// directory and look up Microsoft's collector while the model runs. The first run, with the
/// opt-out refused, shows that the runtime provisioned here does start it when allowed, so the
/// check below can fail.
#[test]
fn the_binary_keeps_onnx_runtime_telemetry_off() {
    let allowed = runtime_leftovers(Some("0"));
    assert!(
        allowed.iter().any(|path| path.ends_with("deviceid")),
        "with its telemetry allowed, the provisioned ONNX Runtime kept no device id (left: \
         {allowed:?}): this test can no longer tell whether the opt-out works"
    );
    let left = runtime_leftovers(None);
    assert!(
        left.is_empty(),
        "selfrag left ONNX Runtime's telemetry state in its home directory: {left:?}"
    );
}
