//! The frontend examples (`frontend-examples/`, built by Vite into its `dist/`), served as plain
//! files under `/examples/` when `examples` is on. Same origin as `/graphql`, so the pages need
//! no CORS and no configuration.

use axum::Router;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderValue, Response, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect};
use tower_http::services::ServeDir;

use super::HttpState;
use crate::config::Config;

const PREFIX: &str = "/examples";

/// `/examples/…` from `examples_dir`, or nothing when examples are off. A directory answers
/// with its `index.html`; a path without its trailing slash is redirected to it.
pub fn router(config: &Config) -> Router<HttpState> {
    if !config.examples {
        return Router::new();
    }
    if !config.examples_dir.join("index.html").exists() {
        tracing::warn!(
            dir = %config.examples_dir.display(),
            "examples are on but not built: run `npm ci --prefix frontend-examples && npm run --prefix frontend-examples build`"
        );
    }
    let files = tower::ServiceBuilder::new()
        .map_response(under_prefix)
        .service(ServeDir::new(&config.examples_dir));
    Router::new()
        .nest_service(PREFIX, files)
        .layer(middleware::from_fn(slash_after_prefix))
}

/// `/examples` itself goes to `/examples/`: the pages' relative links need the slash (nested,
/// it would be served as the directory's `index.html` without one).
async fn slash_after_prefix(request: Request, next: Next) -> axum::response::Response {
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |uri| uri.path());
    if path == PREFIX {
        return Redirect::permanent(&format!("{PREFIX}/")).into_response();
    }
    next.run(request).await
}

/// ServeDir sees paths with the prefix stripped, so its redirect (`/search` → `/search/`)
/// would leave `/examples`; put it back, also in an absolute `Location` (a request in
/// absolute form, or over HTTP/2, gets one).
fn under_prefix<B>(mut response: Response<B>) -> Response<B> {
    if !response.status().is_redirection() {
        return response;
    }
    let prefixed = response
        .headers()
        .get(header::LOCATION)
        .and_then(|location| location.to_str().ok()?.parse::<Uri>().ok())
        .and_then(|location| {
            let path_and_query = location.path_and_query()?.as_str();
            let mut parts = location.clone().into_parts();
            parts.path_and_query = Some(format!("{PREFIX}{path_and_query}").parse().ok()?);
            let uri = Uri::from_parts(parts).ok()?;
            HeaderValue::from_str(&uri.to_string()).ok()
        });
    if let Some(prefixed) = prefixed {
        response.headers_mut().insert(header::LOCATION, prefixed);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirected(location: &str) -> String {
        let response = Response::builder()
            .status(307)
            .header(header::LOCATION, location)
            .body(())
            .expect("a response");
        under_prefix(response).headers()[header::LOCATION]
            .to_str()
            .expect("ASCII")
            .to_owned()
    }

    #[test]
    fn redirects_stay_under_the_prefix() {
        assert_eq!(redirected("/search/"), "/examples/search/");
        assert_eq!(redirected("/search/?q=x"), "/examples/search/?q=x");
        assert_eq!(
            redirected("http://host:8080/search/"),
            "http://host:8080/examples/search/"
        );
    }
}
