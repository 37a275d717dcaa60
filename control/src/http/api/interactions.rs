//! `/api/interactions`: create, read, list, change, end, cancel, join, history, send
//! the link.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::interactions::{
    EndRequest, InteractionPatch, InteractionQuery, InteractionView, Interactions, NewInteraction,
    SendRequest, SendStarted, StaffJoin,
};
use crate::domain::paging::Page;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery, Caller, OptionalJson, Paging, PagingParams};
use crate::http::openapi::{Authed, AuthedStateful, Creating};
use crate::model::{Event, State as IState};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update))
        .routes(routes!(end))
        .routes(routes!(cancel))
        .routes(routes!(join))
        .routes(routes!(events))
        .routes(routes!(send_link))
}

/// Interactions, newest first.
#[utoipa::path(get, path = "/api/interactions", params(InteractionQuery, PagingParams), responses((status = 200, description = "Done.", body = Page<InteractionView>), Authed))]
async fn list(
    State(i): State<Interactions>,
    Caller(c): Caller,
    ApiQuery(q): ApiQuery<InteractionQuery>,
    Paging(p): Paging,
) -> ApiResult<Json<Page<InteractionView>>> {
    Ok(Json(i.list(&c, q, p).await?))
}

/// Create an interaction, its room and its client link.
#[utoipa::path(post, path = "/api/interactions", request_body = NewInteraction, responses((status = 201, description = "Done.", body = InteractionView), Creating))]
async fn create(
    State(i): State<Interactions>,
    Caller(c): Caller,
    ApiJson(request): ApiJson<NewInteraction>,
) -> ApiResult<(StatusCode, Json<InteractionView>)> {
    Ok((StatusCode::CREATED, Json(i.create(&c, request).await?)))
}

/// One interaction.
#[utoipa::path(get, path = "/api/interactions/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = InteractionView), Authed))]
async fn get(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InteractionView>> {
    Ok(Json(i.get(&c, &id).await?))
}

/// Change an interaction that has not ended.
#[utoipa::path(patch, path = "/api/interactions/{id}", params(("id" = crate::http::IdParam, Path)), request_body = InteractionPatch, responses((status = 200, description = "Done.", body = InteractionView), AuthedStateful))]
async fn update(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<InteractionPatch>,
) -> ApiResult<Json<InteractionView>> {
    Ok(Json(i.update(&c, &id, patch).await?))
}

/// End a connected call.
#[utoipa::path(post, path = "/api/interactions/{id}/end", params(("id" = crate::http::IdParam, Path)), request_body(content = Option<EndRequest>), responses((status = 200, description = "Done.", body = InteractionView), AuthedStateful))]
async fn end(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<EndRequest>,
) -> ApiResult<Json<InteractionView>> {
    Ok(Json(i.finish(&c, &id, request, IState::Ended).await?))
}

/// Call off an interaction that has not connected.
#[utoipa::path(post, path = "/api/interactions/{id}/cancel", params(("id" = crate::http::IdParam, Path)), request_body(content = Option<EndRequest>), responses((status = 200, description = "Done.", body = InteractionView), AuthedStateful))]
async fn cancel(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<EndRequest>,
) -> ApiResult<Json<InteractionView>> {
    Ok(Json(i.finish(&c, &id, request, IState::Cancelled).await?))
}

/// A join token for staff.
#[utoipa::path(post, path = "/api/interactions/{id}/join", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = StaffJoin), AuthedStateful))]
async fn join(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StaffJoin>> {
    Ok(Json(i.join(&c, &id).await?))
}

/// The interaction's events, oldest first.
#[utoipa::path(get, path = "/api/interactions/{id}/events", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Vec<Event>), Authed))]
async fn events(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Event>>> {
    Ok(Json(i.events(&c, &id).await?))
}

/// Send the client's link (progress in delivery.* events).
#[utoipa::path(post, path = "/api/interactions/{id}/send", params(("id" = crate::http::IdParam, Path)), request_body(content = Option<SendRequest>), responses((status = 202, description = "Done.", body = SendStarted), AuthedStateful))]
async fn send_link(
    State(i): State<Interactions>,
    Caller(c): Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<SendRequest>,
) -> ApiResult<(StatusCode, Json<SendStarted>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(i.send_link(&c, &id, request).await?),
    ))
}
