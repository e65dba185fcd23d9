//! Who is calling: every request gets a [`Caller`] (its API key, if it presented a valid one,
//! and its address). A presented key that is not valid is refused here with 401, on every
//! route: a mistyped key must not silently fall back to anonymous access.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use super::HttpState;
use super::reply::error_response;
use crate::auth::Caller;

pub async fn identify(
    State(state): State<HttpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let services = &state.services;
    let ip = client_ip(
        &request,
        services.config.rate_limit.client_ip_header.as_deref(),
    );
    let identity = match presented_key(request.headers()) {
        None => None,
        Some(key) => match services.keys.authenticate(key).await {
            Ok(identity) => Some(identity),
            Err(err) => return error_response(&err),
        },
    };
    request.extensions_mut().insert(Caller { identity, ip });
    next.run(request).await
}

/// `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

/// The configured forwarding header's first address, else the TCP peer.
fn client_ip(request: &Request, header: Option<&str>) -> Option<IpAddr> {
    let forwarded = header.and_then(|name| {
        request
            .headers()
            .get(name)?
            .to_str()
            .ok()?
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()
    });
    forwarded.or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    })
}
