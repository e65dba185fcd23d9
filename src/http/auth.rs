//! Who is calling: every request gets a [`Caller`] (its API key, if it presented a valid one,
//! and its address). A presented key that is not valid is refused here with 401, on every
//! route: a mistyped key must not silently fall back to anonymous access.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use tower_http::auth::AsyncAuthorizeRequest;

use super::HttpState;
use super::reply::error_response;
use crate::auth::Caller;

/// Puts the [`Caller`] in every request's extensions, for `tower_http`'s
/// `AsyncRequireAuthorizationLayer`. Without a key there is nothing to wait for: the
/// request goes on at once, with no future boxed.
#[derive(Clone)]
pub struct Identify {
    state: HttpState,
}

impl Identify {
    pub fn new(state: HttpState) -> Self {
        Identify { state }
    }
}

type Identified = Result<Request, Response>;

impl AsyncAuthorizeRequest<axum::body::Body> for Identify {
    type RequestBody = axum::body::Body;
    type ResponseBody = axum::body::Body;
    type Future = Either<Ready<Identified>, BoxFuture<'static, Identified>>;

    fn authorize(&mut self, mut request: Request) -> Self::Future {
        let services = &self.state.services;
        let ip = client_ip(
            &request,
            services.config.rate_limit.client_ip_header.as_deref(),
        );
        let Some(key) = presented_key(request.headers()).map(str::to_owned) else {
            request
                .extensions_mut()
                .insert(Caller { identity: None, ip });
            return Either::Left(ready(Ok(request)));
        };
        let state = self.state.clone();
        Either::Right(Box::pin(async move {
            match state.services.keys.authenticate(&key).await {
                Ok(identity) => {
                    let identity = Some(identity);
                    request.extensions_mut().insert(Caller { identity, ip });
                    Ok(request)
                }
                Err(err) => Err(error_response(&err)),
            }
        }))
    }
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
