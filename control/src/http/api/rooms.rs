//! `POST /api/rooms`: a bare room with join tokens, for the bootstrap token.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::auth::Auth;
use crate::domain::rooms::{CreateRoom, RoomCreated, Rooms};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::bearer;
use crate::http::openapi::Room;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

/// Make a bare room with join tokens (bootstrap token only).
#[utoipa::path(post, path = "/api/rooms", request_body(content = Option<CreateRoom>), responses((status = 201, description = "Done.", body = RoomCreated), Room))]
async fn create(
    State(rooms): State<Rooms>,
    State(auth): State<Auth>,
    State(metrics): State<Arc<Metrics>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RoomCreated>)> {
    if !bearer(&headers).is_some_and(|t| auth.is_bootstrap(t)) {
        return Err(ApiError::unauthorized());
    }
    let request = if crate::http::extract::no_body(&body) {
        CreateRoom::default()
    } else {
        serde_json::from_slice::<CreateRoom>(&body)
            .map_err(|e| ApiError::bad_request(format!("body is not a valid room request: {e}")))?
    };
    let created = rooms.create(request)?;
    metrics.rooms_created.inc();
    Ok((StatusCode::CREATED, Json(created)))
}
