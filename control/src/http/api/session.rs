//! Logging in and out, who am I, API tokens.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::auth::{Auth, SESSION_COOKIE};
use crate::domain::fields::Text;
use crate::domain::users::UserView;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, Caller, cookie};
use crate::http::openapi::{Authed, LoggingIn, LoggingOut};
use crate::model::{Role, TokenScope};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(create_token))
}

/// `POST /api/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
}

/// Who the caller is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// `POST /api/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for.
    pub label: Text<100>,
    /// `api` (the default): the HTTP API as the caller; `intercom`: intercoms'
    /// `hello` only, for the caller's tenant and those below it (admins).
    #[serde(default)]
    pub scope: TokenScope,
}

/// A new token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The token: send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its label.
    pub label: String,
    /// What it may be used for.
    pub scope: TokenScope,
}

fn session_cookie(value: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    ))
    .expect("cookie is ASCII")
}

/// Log in: sets the session cookie.
#[utoipa::path(post, path = "/api/login", security(()), request_body = Login, responses((status = 200, description = "Done.", body = UserView), LoggingIn))]
async fn login(
    State(auth): State<Auth>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<Login>,
) -> ApiResult<Response> {
    let session = auth
        .login(peer.ip(), &request.login, request.password)
        .await?;
    let mut r = Json(UserView::from(&session.user)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&session.secret, session.ttl.as_secs()),
    );
    Ok(r)
}

/// Log out: ends the session.
#[utoipa::path(post, path = "/api/logout", security(()), responses((status = 204, description = "Done."), LoggingOut))]
async fn logout(State(auth): State<Auth>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        auth.logout(secret).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(r)
}

/// The caller.
#[utoipa::path(get, path = "/api/me", responses((status = 200, description = "Done.", body = Me), Authed))]
async fn me(Caller(c): Caller) -> Json<Me> {
    Json(Me {
        id: c.user,
        name: c.name,
        tenant: c.tenant,
        role: c.role,
        scope: c.scope,
    })
}

/// Make an API token acting as the caller (shown once).
#[utoipa::path(post, path = "/api/tokens", request_body = NewToken, responses((status = 201, description = "Done.", body = TokenCreated), Authed))]
async fn create_token(
    State(auth): State<Auth>,
    Caller(c): Caller,
    ApiJson(request): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let (label, scope) = (request.label.as_str().to_string(), request.scope);
    let token = auth.create_token(&c, request.label, scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token,
            label,
            scope,
        }),
    ))
}
