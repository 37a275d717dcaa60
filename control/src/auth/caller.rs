//! Who is calling: a logged-in user (session cookie), an integration (API token), the
//! installation's bootstrap token, or nobody. Handlers ask [`Caller`] what it may do;
//! everything not granted here is denied.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

use crate::api::ApiError;
use crate::app::App;
use crate::model::tenant::{ROOT, subtree};
use crate::model::{ApiToken, Role, Session, Tenant, User};
use crate::store::Filter;
use crate::store::ids::{digest, now_ms};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vchat_session";

/// An authenticated staff member (or the bootstrap token, as the root admin).
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id (`system` for the bootstrap token).
    pub user: String,
    /// Display name.
    pub name: String,
    /// Their tenant.
    pub tenant: String,
    /// Their role.
    pub role: Role,
    /// Their tenant and every tenant below it.
    pub scope: Vec<String>,
}

impl Caller {
    /// Whether records of `tenant` are visible at all. Outside the scope, handlers
    /// answer 404, never 403, so ids of other tenants do not leak.
    pub fn sees(&self, tenant: &str) -> bool {
        self.scope.iter().any(|t| t == tenant)
    }

    /// Whether the caller may see a call (interaction, recording, CDR) of `tenant`
    /// handled by `agent`: supervisors and admins of the scope, and that agent.
    pub fn sees_call(&self, tenant: &str, agent: &str) -> bool {
        self.sees(tenant) && (self.is(Role::Supervisor) || agent == self.user)
    }

    /// Whether the caller has at least `role`.
    pub fn is(&self, role: Role) -> bool {
        self.role >= role
    }

    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.is(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }
}

/// The caller of a request, or 401.
pub async fn authenticate(app: &Arc<App>, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let now = now_ms();
    let user = if let Some(token) = bearer(headers) {
        if crate::auth::bearer_matches(headers, app.api_token.expose()) {
            return Ok(Caller {
                user: "system".into(),
                name: "bootstrap token".into(),
                tenant: ROOT.into(),
                role: Role::Admin,
                scope: scope(app, ROOT).await?,
            });
        }
        let Some(t) = app.store.get::<ApiToken>(&digest(token)).await? else {
            return Err(ApiError::unauthorized());
        };
        t.user
    } else if let Some(cookie) = cookie(headers, SESSION_COOKIE) {
        let Some(s) = app.store.get::<Session>(&digest(cookie)).await? else {
            return Err(ApiError::unauthorized());
        };
        if s.expires_at <= now {
            return Err(ApiError::unauthorized());
        }
        s.user
    } else {
        return Err(ApiError::unauthorized());
    };
    let Some(user) = app.store.get::<User>(&user).await? else {
        return Err(ApiError::unauthorized());
    };
    if user.disabled {
        return Err(ApiError::unauthorized());
    }
    Ok(Caller {
        scope: scope(app, &user.tenant).await?,
        user: user.id,
        name: user.name,
        tenant: user.tenant,
        role: user.role,
    })
}

async fn scope(app: &Arc<App>, tenant: &str) -> Result<Vec<String>, ApiError> {
    let all = app
        .store
        .find::<Tenant>(&Filter::all().page(0, 100_000))
        .await?;
    Ok(subtree(&all, tenant))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
