//! Logging in and out, who am I, API tokens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, check_text, parse_json};
use crate::app::App;
use crate::auth::caller::{SESSION_COOKIE, authenticate, cookie};
use crate::auth::password;
use crate::model::{ApiToken, Role, Session, User};
use crate::store::ids::{digest, now_ms, random_token};

/// `POST /api/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
}

/// A user as the API shows them (never the password hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Login.
    pub login: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disabled.
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            tenant: u.tenant.clone(),
            login: u.login.clone(),
            name: u.name.clone(),
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// Logs in: checks the password, opens a session, sets the cookie.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    match login_inner(&app, peer, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn login_inner(app: &Arc<App>, peer: SocketAddr, body: &[u8]) -> Result<Response, ApiError> {
    if let Err(wait) = app.login_limiter.attempt(peer.ip(), Instant::now()) {
        let secs = wait.as_secs().max(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            format!("too many login attempts; try again in {secs} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(r);
    }
    let request: Login = parse_json(body)?;
    let login = request.login.trim().to_lowercase();
    let user = app.store.get_unique::<User>(&login).await?;
    let password = request.password.clone();
    let phc = user.as_ref().map_or_else(
        || password::decoy().to_string(),
        |u| u.password_hash.clone(),
    );
    // argon2 takes tens of milliseconds by design: off the async threads.
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad-credentials",
                "wrong login or password",
            ));
        }
    };
    let secret = random_token(32);
    let now = now_ms();
    let ttl = Duration::from_secs(app.config.auth.session_ttl_secs.max(1));
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    app.store
        .insert(&Session {
            id: digest(&secret),
            tenant: user.tenant.clone(),
            user: user.id.clone(),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
        })
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        ttl.as_secs()
    );
    let mut r = (StatusCode::OK, Json(UserView::from(&user))).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    Ok(r)
}

/// Ends the session of the cookie (if any) and clears it.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = app.store.delete::<Session>(&digest(secret)).await
    {
        return ApiError::from(e).into_response();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "vchat_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
    r
}

/// Who the caller is.
#[derive(Debug, Serialize, Deserialize)]
pub struct Me {
    /// User id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Role.
    pub role: Role,
    /// Tenants the caller can see.
    pub scope: Vec<String>,
}

/// `GET /api/me`.
pub async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match authenticate(&app, &headers).await {
        Ok(c) => Json(Me {
            id: c.user,
            name: c.name,
            tenant: c.tenant,
            role: c.role,
            scope: c.scope,
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for.
    pub label: String,
}

/// A new token, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token: send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its label.
    pub label: String,
}

/// Makes an API token that acts as the caller.
pub async fn create_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let caller = authenticate(&app, &headers).await?;
        if caller.user == "system" {
            return Err(ApiError::forbidden(
                "the bootstrap token cannot make tokens; log in as a user",
            ));
        }
        let request: NewToken = parse_json(&body)?;
        check_text("label", &request.label, 100)?;
        let token = format!("vct_{}", random_token(32));
        app.store
            .insert(&ApiToken {
                id: digest(&token),
                tenant: caller.tenant.clone(),
                user: caller.user.clone(),
                label: request.label.clone(),
                created_at: now_ms(),
            })
            .await?;
        Ok((
            StatusCode::CREATED,
            Json(TokenCreated {
                token,
                label: request.label,
            }),
        ))
    }
    .await;
    match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    }
}
