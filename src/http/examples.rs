//! The frontend examples (`frontend-examples/`, built by Vite into its `dist/`), served as plain
//! files under `/examples/` when `examples` is on. Same origin as `/graphql`, so the pages need
//! no CORS and no configuration.

use axum::Router;
use axum::http::{HeaderValue, Response, header};
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
    let files = tower::ServiceBuilder::new()
        .map_response(under_prefix)
        .service(ServeDir::new(&config.examples_dir));
    Router::new().nest_service(PREFIX, files)
}

/// ServeDir sees paths with the prefix stripped, so its redirect (`/search` → `/search/`)
/// would leave `/examples`; put it back.
fn under_prefix<B>(mut response: Response<B>) -> Response<B> {
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(header::LOCATION)
        && let Ok(location) = location.to_str()
        && location.starts_with('/')
        && let Ok(prefixed) = HeaderValue::from_str(&format!("{PREFIX}{location}"))
    {
        response.headers_mut().insert(header::LOCATION, prefixed);
    }
    response
}
