//! Screenshots: `POST /api/interactions/{id}/screenshots?source=…` with a JPEG as the
//! body; the server writes its EXIF and stores it as a call file.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::screenshots::{ScreenshotQuery, Screenshots, StoredScreenshot};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Participant};
use crate::http::openapi::Uploading;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(take))
}

/// Store a screenshot (the body is a JPEG, up to 32 MiB).
#[utoipa::path(post, path = "/api/interactions/{id}/screenshots", params(("id" = crate::http::IdParam, Path), ScreenshotQuery), request_body(content = Vec<u8>, content_type = "image/jpeg"), responses((status = 201, description = "Stored, with its EXIF.", body = StoredScreenshot), Uploading))]
async fn take(
    State(screenshots): State<Screenshots>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ScreenshotQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<StoredScreenshot>)> {
    let stored = screenshots
        .take(&p, &id, q, body.into_data_stream())
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
