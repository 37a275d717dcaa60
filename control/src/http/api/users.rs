//! `/api/users`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::paging::Page;
use crate::domain::users::{NewUser, UserPatch, UserQuery, UserView, Users};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, Caller, Paging, PagingParams};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// Users of the caller's scope.
#[utoipa::path(get, path = "/api/users", params(UserQuery, PagingParams), responses((status = 200, description = "Done.", body = Page<UserView>), Authed))]
async fn list(
    State(u): State<Users>,
    Caller(c): Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
    Paging(p): Paging,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(u.list(&c, q, p).await?))
}

/// Make a user.
#[utoipa::path(post, path = "/api/users", request_body = NewUser, responses((status = 201, description = "Done.", body = UserView), AuthedStateful))]
async fn create(
    State(u): State<Users>,
    Caller(c): Caller,
    ApiJson(request): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((StatusCode::CREATED, Json(u.create(&c, request).await?)))
}

/// One user.
#[utoipa::path(get, path = "/api/users/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = UserView), Authed))]
async fn get(
    State(u): State<Users>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(u.get(&c, &id).await?))
}

/// Change a user.
#[utoipa::path(patch, path = "/api/users/{id}", params(("id" = crate::http::IdParam, Path)), request_body = UserPatch, responses((status = 200, description = "Done.", body = UserView), AuthedStateful))]
async fn update(
    State(u): State<Users>,
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(u.update(&c, &id, patch).await?))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/users/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 204, description = "Done."), Authed))]
async fn delete(
    State(u): State<Users>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    u.delete(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
