//! The frontend examples (TypeScript, built by Vite into `frontend-examples/dist`) in headless
//! Chromium: starts a server with `examples` on (and Redis, when configured, so the dashboard
//! shows L2) and runs `tests/browser/e2e.mjs` against it
//! (playwright-core driving Debian's Chromium), and GraphiQL the same way. Both run with no
//! network but the server. Screenshots go to `target/screenshots/` (or `SELFRAG_SCREENSHOT_DIR`).
//!
//! Needs Node.js, `tests/browser/node_modules` (`npm ci --prefix tests/browser`, which
//! `scripts/test.sh` runs) and Chromium (`/usr/bin/chromium`, or `CHROMIUM`). Skipped without
//! them outside CI; under CI (`CI=true`, where `.ci/run` installs them) missing ones fail.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{
    Backend, TestApp, assert_no_traversal, content_type, redis_url, repo_root, unique_prefix,
};

/// The example pages as Vite builds them (`npm run build` in `frontend-examples`).
fn examples_dir() -> PathBuf {
    repo_root().join("frontend-examples/dist")
}

/// What is missing for the built example pages, if anything: the build, or a build newer than
/// the sources (a test must not pass on pages that are no longer the code).
fn missing_examples() -> Option<String> {
    const BUILD: &str =
        "npm ci --prefix frontend-examples && npm run --prefix frontend-examples build";
    let built = std::fs::metadata(examples_dir().join("index.html"))
        .and_then(|m| m.modified())
        .ok();
    let Some(built) = built else {
        return Some(format!("frontend-examples/dist ({BUILD})"));
    };
    let sources = repo_root().join("frontend-examples");
    let newer = newest_source(&sources).filter(|(modified, _)| *modified > built);
    newer.map(|(_, path)| {
        format!(
            "a build of frontend-examples newer than {} ({BUILD})",
            path.display()
        )
    })
}

/// The most recently modified page source (`.ts`, `.html`, `.css`) under `dir`, outside
/// `node_modules` and `dist`.
fn newest_source(dir: &std::path::Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "node_modules"
                && name != "dist"
                && let Some(found) = newest_source(&path)
            {
                newest = newest.max(Some(found));
            }
            continue;
        }
        let source = ["ts", "html", "css"]
            .iter()
            .any(|ext| path.extension().is_some_and(|e| e == *ext));
        if source && let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            newest = newest.max(Some((modified, path)));
        }
    }
    newest
}

/// What is missing for the browser test, if anything.
fn missing_tools() -> Vec<String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!("Chromium at {}", chromium.display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".into());
    }
    if !repo_root()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        missing.push("tests/browser/node_modules (npm ci --prefix tests/browser)".into());
    }
    missing
}

/// `SELFRAG_SCREENSHOT_DIR` (`docs/images` takes the README's pictures again), else
/// `target/screenshots`.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("SELFRAG_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/screenshots"))
}

/// Runs `tests/browser/<script>` against the app at `base_url` (with `env` added), failing the
/// test with its output when it fails.
async fn run_browser_script(script: &str, base_url: String, env: Vec<(&'static str, String)>) {
    let script = repo_root().join("tests/browser").join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .env("SELFRAG_BASE_URL", base_url)
            .env("SELFRAG_SCREENSHOT_DIR", screenshot_dir())
            .envs(env)
            .output()
    })
    .await
    .expect("the browser task ends")
    .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// Skips (or under CI fails) when the browser's tools are missing; true when they are there.
fn browser_available() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    crate::helpers::skip_outside_ci(
        "the browser test",
        &format!("missing: {}", missing.join(", ")),
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_pages_work_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    if let Some(missing) = missing_examples() {
        crate::helpers::skip_outside_ci("the browser test", &format!("missing: {missing}"));
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.examples = true;
        config.examples_dir = examples_dir();
        config.redis_url = redis;
        config.cache.key_prefix = prefix;
    })
    .await;
    run_browser_script("e2e.mjs", app.base_url.clone(), Vec::new()).await;
}

/// GraphiQL with no network but the server: its files, a search from the editor, the API key
/// field (a mutation needs the writer key once keys exist), the documentation explorer and a
/// subscription over graphql-ws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_works_offline_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = app
        .services()
        .keys
        .create("graphiql-e2e", selfrag::auth::Role::Writer)
        .await
        .expect("a writer key");
    run_browser_script(
        "graphiql.mjs",
        app.base_url.clone(),
        vec![("SELFRAG_API_KEY", key.secret)],
    )
    .await;
}

#[tokio::test]
async fn examples_are_served_only_when_enabled() {
    let off = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(off.get("/examples/").await.status(), 404);
    if let Some(missing) = missing_examples() {
        crate::helpers::skip_outside_ci("the example pages", &format!("missing: {missing}"));
        return;
    }

    let on = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.examples = true;
        config.examples_dir = examples_dir();
    })
    .await;
    let mut scripts = Vec::new();
    for page in ["/examples/", "/examples/search/", "/examples/dashboard/"] {
        let response = on.get(page).await;
        assert_eq!(response.status(), 200, "{page}");
        let content_type = content_type(&response);
        assert!(
            content_type.starts_with("text/html"),
            "{page}: {content_type}"
        );
        let html = response.text().await.expect("text");
        assert!(html.contains("<title>"), "{page} is a page");
        // Vite's module scripts, under the base the pages are served at.
        for part in html.split("src=\"").skip(1) {
            let src = &part[..part.find('"').expect("a closed attribute")];
            assert!(src.starts_with("/examples/"), "{page} loads {src}");
            scripts.push(src.to_owned());
        }
    }
    assert!(!scripts.is_empty(), "the pages load their scripts");
    for src in scripts {
        let script = on.get(&src).await;
        assert_eq!(script.status(), 200, "{src}");
        assert!(
            content_type(&script).contains("javascript"),
            "ES modules need a JavaScript MIME type: {src}"
        );
    }
    // A directory without its slash is redirected (relative links in the page need it), and
    // the redirect stays under /examples.
    let not_following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, to) in [
        ("/examples/search", "/examples/search/"),
        ("/examples", "/examples/"),
    ] {
        let answer = not_following
            .get(format!("{}{path}", on.base_url))
            .send()
            .await
            .expect("request");
        assert!(
            answer.status().is_redirection(),
            "{path}: {}",
            answer.status()
        );
        assert_eq!(answer.headers()["location"], to, "{path}");
    }
    // `package.json` is one level up from the built pages.
    assert_no_traversal(&on.base_url, "/examples", "package.json").await;
}

/// The example pages' TypeScript types are generated from `schema.graphql` by GraphQL Code
/// Generator; this fails when they drift from the schema (or from the pages' operations), or
/// when the pages no longer type-check against them: run `npm run --prefix frontend-examples
/// codegen`, fix what `tsc` names, and commit the result.
#[test]
fn the_example_pages_types_match_the_schema() {
    let pages = repo_root().join("frontend-examples");
    if !pages.join("node_modules/.bin/graphql-codegen").exists() {
        crate::helpers::skip_outside_ci(
            "the example pages' type check",
            "missing: frontend-examples/node_modules (npm ci --prefix frontend-examples)",
        );
        return;
    }
    for (script, fix) in [
        (
            "codegen:check",
            "the generated types drift from schema.graphql; run `npm run --prefix frontend-examples codegen`",
        ),
        (
            "typecheck",
            "the pages do not type-check against the generated types",
        ),
    ] {
        let output = Command::new("npm")
            .args(["run", "--silent", script])
            .current_dir(&pages)
            .output()
            .expect("npm runs");
        assert!(
            output.status.success(),
            "{fix}:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
