//! Intercom calls for agents: the rings waiting for an answer, answering, turning a
//! ring down and opening the door from the call.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::devices::Reply;
use crate::domain::interactions::{InteractionView, StaffJoin};
use crate::domain::intercom_calls::{IntercomCalls, OpenDoor};
use crate::http::error::ApiResult;
use crate::http::extract::{Caller, OptionalJson};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ringing))
        .routes(routes!(answer))
        .routes(routes!(reject))
        .routes(routes!(door))
}

/// Intercom calls ringing now that the caller may answer.
#[utoipa::path(get, path = "/api/intercom/calls", responses((status = 200, description = "Done.", body = Vec<InteractionView>), Authed))]
async fn ringing(
    State(calls): State<IntercomCalls>,
    Caller(c): Caller,
) -> ApiResult<Json<Vec<InteractionView>>> {
    Ok(Json(calls.ringing(&c).await?))
}

/// Answer a ringing intercom call: it becomes the caller's, the panel joins the room,
/// and the caller's page joins with the token returned (409 if someone was quicker).
#[utoipa::path(post, path = "/api/interactions/{id}/answer", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = StaffJoin), AuthedStateful))]
async fn answer(
    State(calls): State<IntercomCalls>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StaffJoin>> {
    Ok(Json(calls.answer(&c, &id).await?))
}

/// Turn a ringing intercom call down: it ends for everyone, and the panel hears
/// `rejected`.
#[utoipa::path(post, path = "/api/interactions/{id}/reject", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = InteractionView), AuthedStateful))]
async fn reject(
    State(calls): State<IntercomCalls>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InteractionView>> {
    Ok(Json(calls.reject(&c, &id).await?))
}

/// Open the door of the call's intercom; the panel's answer says the relay's position.
#[utoipa::path(post, path = "/api/interactions/{id}/door", params(("id" = crate::http::IdParam, Path)), request_body(content = Option<OpenDoor>), responses((status = 200, description = "The intercom's answer.", body = Reply), AuthedStateful))]
async fn door(
    State(calls): State<IntercomCalls>,
    Caller(c): Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<OpenDoor>,
) -> ApiResult<Json<Reply>> {
    Ok(Json(calls.open_door(&c, &id, request).await?))
}
