//! The frontend examples (`frontend-examples/`), served as plain files under `/examples/` when
//! `examples` is on. Same origin as `/graphql`, so the pages need no CORS and no configuration.

use axum::Router;
use tower_http::services::ServeDir;

use super::HttpState;
use crate::config::Config;

/// `/examples/…` from `examples_dir`, or nothing when examples are off. A directory answers
/// with its `index.html`; a path without its trailing slash is redirected to it.
pub fn router(config: &Config) -> Router<HttpState> {
    if !config.examples {
        return Router::new();
    }
    Router::new().nest_service("/examples", ServeDir::new(&config.examples_dir))
}
