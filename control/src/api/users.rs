//! Users. Admins manage the users of their scope; supervisors read them; everyone
//! reads and edits (name, password) themselves.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::session::UserView;
use super::{ApiError, Page, Paging, check_text, parse_json, parse_query, respond};
use crate::app::App;
use crate::auth::caller::{Caller, authenticate};
use crate::auth::password;
use crate::model::{Role, User};
use crate::store::ids::{new_id, now_ms};
use crate::store::{Filter, Order};

/// `POST /api/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Tenant (default: the caller's).
    pub tenant: Option<String>,
    /// Login.
    pub login: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Password.
    pub password: String,
}

/// `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name.
    pub name: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Role (admins only).
    pub role: Option<Role>,
    /// Disabled (admins only).
    pub disabled: Option<bool>,
}

/// `GET /api/users?role=&offset=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only this role.
    pub role: Option<Role>,
    /// Records to skip.
    #[serde(default)]
    pub offset: u64,
    /// Records to return.
    #[serde(default = "super::default_limit")]
    pub limit: u64,
}

/// Checks a login: 3 to 64 of `a-z 0-9 . _ - @`.
pub fn check_login(login: &str) -> Result<String, ApiError> {
    let login = login.trim().to_lowercase();
    if !(3..=64).contains(&login.len())
        || !login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
    {
        return Err(ApiError::bad_request(
            "login is 3 to 64 of a-z, 0-9, '.', '_', '-', '@'",
        ));
    }
    Ok(login)
}

async fn visible_user(app: &App, caller: &Caller, id: &str) -> Result<User, ApiError> {
    let user = app.store.get::<User>(id).await?;
    match user {
        Some(u)
            if caller.sees(&u.tenant) && (u.id == caller.user || caller.is(Role::Supervisor)) =>
        {
            Ok(u)
        }
        _ => Err(ApiError::not_found("user")),
    }
}

/// Lists users of the caller's scope (supervisors and admins).
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            caller.require(Role::Supervisor)?;
            let q: UserQuery = parse_query(&uri)?;
            let paging = Paging {
                offset: q.offset,
                limit: q.limit,
            }
            .checked()?;
            let mut filter = Filter::all().tenants(caller.scope.clone());
            if let Some(role) = q.role {
                filter = filter.eq("role", role.as_str());
            }
            let total = app.store.count::<User>(&filter).await?;
            let users = app
                .store
                .find::<User>(&filter.order(Order::Id).page(paging.offset, paging.limit))
                .await?;
            Ok(Json(Page {
                items: users.iter().map(UserView::from).collect::<Vec<_>>(),
                total,
                offset: paging.offset,
                limit: paging.limit,
            }))
        }
        .await,
    )
}

/// One user.
pub async fn get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            Ok(Json(UserView::from(
                &visible_user(&app, &caller, &id).await?,
            )))
        }
        .await,
    )
}

/// Creates a user in a tenant of the caller's scope (admins).
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let request: NewUser = parse_json(&body)?;
            let tenant = request
                .tenant
                .clone()
                .unwrap_or_else(|| caller.tenant.clone());
            if !caller.sees(&tenant) {
                return Err(ApiError::not_found("tenant"));
            }
            caller.require(Role::Admin)?;
            let login = check_login(&request.login)?;
            check_text("name", &request.name, 100)?;
            password::check_new(&request.password)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let pw = request.password.clone();
            let password_hash = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(|_| ApiError::bad_request("cannot hash the password"))?;
            let user = User {
                id: new_id(),
                tenant,
                login,
                name: request.name.trim().to_string(),
                role: request.role,
                password_hash,
                disabled: false,
                created_at: now_ms(),
            };
            app.store.insert(&user).await.map_err(|e| match e {
                crate::store::StoreError::Duplicate { .. } => {
                    ApiError::conflict("this login is taken")
                }
                e => e.into(),
            })?;
            Ok((StatusCode::CREATED, Json(UserView::from(&user))))
        }
        .await,
    )
}

/// Changes a user: admins change anyone in scope; others only their own name and
/// password.
pub async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let target = visible_user(&app, &caller, &id).await?;
            let patch: UserPatch = parse_json(&body)?;
            let own = target.id == caller.user;
            if !own || patch.role.is_some() || patch.disabled.is_some() {
                caller.require(Role::Admin)?;
            }
            if own && patch.disabled == Some(true) {
                return Err(ApiError::bad_request("you cannot disable yourself"));
            }
            if let Some(name) = &patch.name {
                check_text("name", name, 100)?;
            }
            let new_hash = match patch.password.clone() {
                Some(pw) => {
                    password::check_new(&pw).map_err(|e| ApiError::bad_request(e.to_string()))?;
                    Some(
                        tokio::task::spawn_blocking(move || password::hash(&pw))
                            .await
                            .map_err(|_| ApiError::bad_request("cannot hash the password"))?,
                    )
                }
                None => None,
            };
            let updated = app
                .store
                .update::<User, _, ApiError, _>(&id, move |u| {
                    if let Some(name) = &patch.name {
                        u.name = name.trim().to_string();
                    }
                    if let Some(h) = &new_hash {
                        u.password_hash = h.clone();
                    }
                    if let Some(role) = patch.role {
                        u.role = role;
                    }
                    if let Some(d) = patch.disabled {
                        u.disabled = d;
                    }
                    Ok(UserView::from(&*u))
                })
                .await?
                .ok_or_else(|| ApiError::not_found("user"))??;
            Ok(Json(updated))
        }
        .await,
    )
}

/// Deletes a user of the caller's scope (admins; not themselves).
pub async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let target = visible_user(&app, &caller, &id).await?;
            caller.require(Role::Admin)?;
            if target.id == caller.user {
                return Err(ApiError::bad_request("you cannot delete yourself"));
            }
            app.store.delete::<User>(&id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        .await,
    )
}
