//! GraphiQL, served whole by selfrag: the page at `GET /graphql` (a request without an
//! operation) and its browser files under `/graphiql/`, as `scripts/setup.sh` took them from
//! the npm registry (pinned, checksum-checked). Nothing comes from a CDN, so the playground
//! works on air-gapped machines; without the files the page says how to provision them.
//!
//! The page (`graphiql.html`) opens on a search with variables and the cache analytics,
//! sends the API key field as `X-API-Key` (and in graphql-ws's connection parameters), and
//! runs subscriptions over `/graphql/ws`.

use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tower_http::services::ServeDir;
use tower_http::services::fs::ServeFileSystemResponseBody as ServeFileBody;
use tower_http::set_header::SetResponseHeaderLayer;

use super::HttpState;
use super::reply::refusal;
use crate::config::GraphqlConfig;
use crate::graphql::codes;

const PAGE: &str = include_str!("graphiql.html");

/// Where the browser files are served; the page's tags point here.
const ASSETS_ROUTE: &str = "/graphiql";

/// What `scripts/provision_graphiql.py` writes beside the files: their paths, in load order.
#[derive(Debug, Deserialize)]
struct Manifest {
    scripts: Vec<String>,
    styles: Vec<String>,
}

/// `/graphiql/…`, or nothing when GraphiQL is off. Files sit under their package's
/// `name@version`, so a browser may keep them for good.
pub fn router(config: &GraphqlConfig) -> Router<HttpState> {
    if !config.graphiql {
        return Router::new();
    }
    if let Err(reason) = read_manifest(&config.graphiql_dir) {
        tracing::warn!(
            dir = %config.graphiql_dir.display(),
            "GraphiQL will answer 503: {reason}; run scripts/setup.sh to provision it"
        );
    }
    // Only a file that was found may be kept for good: a 404 must be asked again.
    let keep = |response: &HttpResponse<ServeFileBody>| {
        response
            .status()
            .is_success()
            .then(|| HeaderValue::from_static("public, max-age=31536000, immutable"))
    };
    let files = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            keep,
        ))
        .service(ServeDir::new(&config.graphiql_dir));
    super::files::nest(ASSETS_ROUTE, files)
}

/// The answer to a GET without an operation: GraphiQL's page, a 503 page naming the fix when
/// its files are not provisioned, or `BAD_REQUEST` when GraphiQL is off.
pub async fn page(config: &GraphqlConfig) -> Response {
    if !config.graphiql {
        return refusal(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            "the request has no GraphQL operation (`query` in the URL); GraphiQL is off (graphql.graphiql)",
        );
    }
    let dir = config.graphiql_dir.clone();
    let manifest = tokio::task::spawn_blocking(move || read_manifest(&dir))
        .await
        .unwrap_or_else(|err| Err(format!("reading the manifest failed: {err}")));
    match manifest {
        Ok(manifest) => (
            [(header::CACHE_CONTROL, "no-cache")],
            Html(render(&manifest)),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(format!(
                "<!doctype html><title>selfrag · GraphiQL not provisioned</title>\
                 <h1>GraphiQL is not provisioned on this server</h1>\
                 <p>{}</p><p>Run <code>scripts/setup.sh</code> (it takes GraphiQL from the npm \
                 registry), or point <code>graphql.graphiql_dir</code> at its files. The API at \
                 <code>POST /graphql</code> works without them.</p>",
                escape(&reason)
            )),
        )
            .into_response(),
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read GraphiQL's manifest.json: {err}"))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|err| format!("GraphiQL's manifest.json is not valid: {err}"))?;
    if let Some(bad) = manifest
        .scripts
        .iter()
        .chain(&manifest.styles)
        .find(|path| !is_plain_asset_path(path))
    {
        return Err(format!(
            "GraphiQL's manifest.json names an unexpected path {bad:?}"
        ));
    }
    Ok(manifest)
}

/// A relative path of letters, digits and `@._-/`, without `..`: safe to put in an attribute
/// and unable to leave the directory.
fn is_plain_asset_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.split('/').any(|part| part.is_empty() || part == "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._-/".contains(c))
}

fn render(manifest: &Manifest) -> String {
    let styles: String = manifest
        .styles
        .iter()
        .map(|path| format!("<link rel=\"stylesheet\" href=\"{ASSETS_ROUTE}/{path}\">\n"))
        .collect();
    let scripts: String = manifest
        .scripts
        .iter()
        .map(|path| format!("<script src=\"{ASSETS_ROUTE}/{path}\"></script>\n"))
        .collect();
    PAGE.replacen("<!--STYLES-->", &styles, 1)
        .replacen("<!--SCRIPTS-->", &scripts, 1)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_stay_inside_and_plain() {
        assert!(is_plain_asset_path("graphiql@4.1.2/graphiql.min.js"));
        for bad in [
            "",
            "/etc/passwd",
            "../secret.js",
            "a/../../b.js",
            "a//b.js",
            "x.js\"><script>",
            "a b.js",
        ] {
            assert!(!is_plain_asset_path(bad), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_page_loads_the_manifests_files_in_order() {
        let manifest = Manifest {
            scripts: vec!["a@1/a.js".into(), "b@2/b.js".into()],
            styles: vec!["a@1/a.css".into()],
        };
        let page = render(&manifest);
        let a = page.find("src=\"/graphiql/a@1/a.js\"").expect("a.js");
        let b = page.find("src=\"/graphiql/b@2/b.js\"").expect("b.js");
        let init = page.find("GraphiQL.createFetcher").expect("init script");
        assert!(a < b && b < init, "scripts load before the page's own");
        assert!(page.contains("href=\"/graphiql/a@1/a.css\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
