//! Roles and budgets inside resolvers: the field guard for admin-only fields, and spending from
//! the caller's rate-limit budget, remembered for the HTTP layer's `RateLimit-*` headers.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Context, Guard};

use super::errors::{ApiError, ApiResult};
use super::responses::ResponseCapture;
use crate::auth::{Caller, Role};
use crate::ratelimit::{BudgetKind, Decision};
use crate::services::Services;

/// Request data the resolvers fill with the tightest rate-limit decision of the request.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<Option<Decision>>>);

impl RateLimitSlot {
    pub fn get(&self) -> Option<Decision> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, decision: Decision) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(match *slot {
            Some(previous) => previous.tighter(decision),
            None => decision,
        });
    }
}

fn caller<'a>(ctx: &Context<'a>) -> std::borrow::Cow<'a, Caller> {
    match ctx.data_opt::<Caller>() {
        Some(caller) => std::borrow::Cow::Borrowed(caller),
        None => std::borrow::Cow::Owned(Caller::default()),
    }
}

/// Spends `cost` from the caller's `kind` budget, or refuses with `RATE_LIMITED`.
pub async fn spend(ctx: &Context<'_>, kind: BudgetKind, cost: usize) -> ApiResult<()> {
    let services = ctx.data_unchecked::<Services>();
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    if let Some(capture) = ctx.data_opt::<ResponseCapture>() {
        capture.spent(kind, cost);
    }
    let Some(decision) = services.limiter.spend(&caller(ctx), kind, cost).await else {
        return Ok(());
    };
    if let Some(slot) = ctx.data_opt::<RateLimitSlot>() {
        slot.record(decision);
    }
    decision.into_result().map(drop).map_err(ApiError::from)
}

/// A field that needs more than the operation's role (the operation itself is checked by
/// `Admission`): `#[graphql(guard = "RoleGuard(Role::Admin)")]`.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let services = ctx.data_unchecked::<Services>();
        services
            .keys
            .authorize(&caller(ctx), self.0)
            .await
            .map_err(|err| ApiError::from(err).into())
    }
}
