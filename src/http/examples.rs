//! The frontend examples (`frontend-examples/`, built by Vite into its `dist/`), served as plain
//! files under `/examples/` when `examples` is on. Same origin as `/graphql`, so the pages need
//! no CORS and no configuration.

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
    if !config.examples_dir.join("index.html").exists() {
        tracing::warn!(
            dir = %config.examples_dir.display(),
            "examples are on but not built: run `npm ci --prefix frontend-examples && npm run --prefix frontend-examples build`"
        );
    }
    super::files::nest("/examples", ServeDir::new(&config.examples_dir))
}
