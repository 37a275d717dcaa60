//! The chat of an interaction: messages and shared positions (staff, or the client
//! with its join token).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::chat::{Chat, NewMessage, Position};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, Participant};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::model::ChatMessage;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, send))
        .routes(routes!(share_position))
}

/// The chat, oldest first (staff, or the client with its join token).
#[utoipa::path(get, path = "/api/interactions/{id}/messages", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Vec<ChatMessage>), Authed))]
async fn list(
    State(chat): State<Chat>,
    Participant(p): Participant,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ChatMessage>>> {
    Ok(Json(chat.list(&p, &id).await?))
}

/// Add a chat message.
#[utoipa::path(post, path = "/api/interactions/{id}/messages", params(("id" = crate::http::IdParam, Path)), request_body = NewMessage, responses((status = 201, description = "Done.", body = ChatMessage), AuthedStateful))]
async fn send(
    State(chat): State<Chat>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<NewMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    Ok((
        StatusCode::CREATED,
        Json(chat.send(&p, &id, request).await?),
    ))
}

/// Share a position.
#[utoipa::path(post, path = "/api/interactions/{id}/geo", params(("id" = crate::http::IdParam, Path)), request_body = Position, responses((status = 201, description = "Done.", body = ChatMessage), AuthedStateful))]
async fn share_position(
    State(chat): State<Chat>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiJson(position): ApiJson<Position>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    Ok((
        StatusCode::CREATED,
        Json(chat.share_position(&p, &id, position).await?),
    ))
}
