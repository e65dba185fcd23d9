//! CSRF prevention as Apollo Server does it: a browser sends a cross-site request without a
//! CORS preflight only with a "simple" content type and no custom headers. So an operation
//! is refused unless its `Content-Type` is something else (such as `application/json`) or it
//! carries `Apollo-Require-Preflight` or `X-Apollo-Operation-Name`. GraphiQL's own page (a GET
//! without an operation) is not an operation and passes.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use tower_http::validate_request::ValidateRequest;

use super::reply::refusal;
use crate::graphql::codes;

const SIMPLE_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// The check, as a layer: `ValidateRequestHeaderLayer::custom(PreventCsrf)`.
#[derive(Debug, Clone, Copy)]
pub struct PreventCsrf;

impl ValidateRequest<Body> for PreventCsrf {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request) -> Result<(), Response> {
        let carries_operation = request.method() != Method::GET || request.uri().query().is_some();
        if carries_operation && !preflighted(request.headers()) {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                codes::CSRF,
                "this request has been blocked as a potential cross-site request forgery: send \
                 it with `Content-Type: application/json` or an `Apollo-Require-Preflight: true` \
                 header",
            ));
        }
        Ok(())
    }
}

/// Whether a browser would have had to ask (CORS preflight) before sending this request.
fn preflighted(headers: &HeaderMap) -> bool {
    let non_simple_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v.split(';').next().unwrap_or_default().trim();
            !mime.is_empty()
                && !SIMPLE_TYPES
                    .iter()
                    .any(|simple| mime.eq_ignore_ascii_case(simple))
        })
        .unwrap_or(false);
    non_simple_type
        || PREFLIGHT_HEADERS
            .iter()
            .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().expect("valid header"));
        headers
    }

    #[test]
    fn only_requests_a_browser_would_preflight_pass() {
        assert!(preflighted(&with("content-type", "application/json")));
        assert!(preflighted(&with(
            "content-type",
            "application/json; charset=utf-8"
        )));
        assert!(preflighted(&with("apollo-require-preflight", "true")));
        assert!(!preflighted(&with("content-type", "text/plain")));
        assert!(!preflighted(&with(
            "content-type",
            "Multipart/Form-Data; boundary=x"
        )));
        assert!(!preflighted(&with("apollo-require-preflight", "")));
        assert!(!preflighted(&HeaderMap::new()));
    }
}
