//! A directory of files served under a path prefix (`/examples`, `/graphiql`). ServeDir, once
//! nested, sees paths with the prefix stripped; this keeps its redirects under the prefix and
//! sends the bare prefix to `prefix/`, whose relative links need the slash.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderValue, Response, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect};
use tower::Service;

use super::HttpState;

/// `files` (ServeDir, perhaps wrapped in layers of its own) at `prefix`.
pub fn nest<S, B>(prefix: &'static str, files: S) -> Router<HttpState>
where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let files = tower::ServiceBuilder::new()
        .map_response(move |response| under_prefix(prefix, response))
        .service(files);
    Router::new()
        .nest_service(prefix, files)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            slash_after_prefix(prefix, request, next)
        }))
}

/// The bare prefix goes to `prefix/` (nested, it would be answered without the slash).
async fn slash_after_prefix(
    prefix: &'static str,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |uri| uri.path());
    if path == prefix {
        return Redirect::permanent(&format!("{prefix}/")).into_response();
    }
    next.run(request).await
}

/// ServeDir's redirect (`/search` → `/search/`) would leave the prefix; put it back, also in an
/// absolute `Location` (a request in absolute form, or over HTTP/2, gets one).
fn under_prefix<B>(prefix: &str, mut response: Response<B>) -> Response<B> {
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
            parts.path_and_query = Some(format!("{prefix}{path_and_query}").parse().ok()?);
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
        under_prefix("/examples", response).headers()[header::LOCATION]
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
