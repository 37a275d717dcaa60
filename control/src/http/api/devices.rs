//! `/api/devices`: intercoms (door panels), their logs and commands.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::devices::{
    Command, DeviceCreated, DeviceView, Devices, LogLine, LogQuery, NewDevice, Reply,
};
use crate::domain::paging::Page;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, Caller, Paging, PagingParams};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, delete))
        .routes(routes!(logs))
        .routes(routes!(command))
}

/// Intercoms of the caller's scope, with their online state and last status.
#[utoipa::path(get, path = "/api/devices", responses((status = 200, description = "Done.", body = Vec<DeviceView>), Authed))]
async fn list(
    State(d): State<Devices>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<DeviceView>>> {
    Ok(Json(d.list(&caller).await?))
}

/// Add an intercom (its secret is shown once).
#[utoipa::path(post, path = "/api/devices", request_body = NewDevice, responses((status = 201, description = "Done.", body = DeviceCreated), AuthedStateful))]
async fn create(
    State(d): State<Devices>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceCreated>)> {
    Ok((StatusCode::CREATED, Json(d.create(&caller, request).await?)))
}

/// One intercom.
#[utoipa::path(get, path = "/api/devices/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = DeviceView), Authed))]
async fn get(
    State(d): State<Devices>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceView>> {
    Ok(Json(d.get(&caller, &id).await?))
}

/// Remove an intercom (a connected one is disconnected).
#[utoipa::path(delete, path = "/api/devices/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 204, description = "Done."), Authed))]
async fn delete(
    State(d): State<Devices>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    d.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An intercom's recent log lines, newest first.
#[utoipa::path(get, path = "/api/devices/{id}/logs", params(("id" = crate::http::IdParam, Path), LogQuery, PagingParams), responses((status = 200, description = "Done.", body = Page<LogLine>), Authed))]
async fn logs(
    State(d): State<Devices>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LogQuery>,
    Paging(paging): Paging,
) -> ApiResult<Json<Page<LogLine>>> {
    Ok(Json(d.logs(&caller, &id, query, paging).await?))
}

/// Send an intercom a command and wait for its answer (up to 10 s).
#[utoipa::path(post, path = "/api/devices/{id}/commands", params(("id" = crate::http::IdParam, Path)), request_body = Command, responses((status = 200, description = "The device's answer.", body = Reply), AuthedStateful))]
async fn command(
    State(d): State<Devices>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiJson(command): ApiJson<Command>,
) -> ApiResult<Json<Reply>> {
    Ok(Json(d.command(&caller, &id, command).await?))
}
