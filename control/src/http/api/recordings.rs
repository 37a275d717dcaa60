//! Recordings for people: their state and the file (with `Range`; a short-lived
//! presigned URL when the store is S3). Admins and supervisors of the recording's
//! tenant (and its parents) and the call's agent may see it; everyone else gets 404.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vchat_recorder::store::Range;

use super::files::content_disposition;
use crate::domain::recordings::{RecordingFile, Recordings};
use crate::http::error::ApiResult;
use crate::http::extract::Caller;
use crate::http::openapi::{Authed, Recording as RecordingErrors};
use crate::model::Recording;
use crate::state::AppState;

/// The JSON route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(of_interaction))
}

/// The file route (streamed).
pub fn file_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(file))
}

/// The call's recording and its state.
#[utoipa::path(get, path = "/api/interactions/{id}/recording", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Recording), Authed))]
async fn of_interaction(
    State(r): State<Recordings>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Recording>> {
    Ok(Json(r.of_interaction(&c, &id).await?))
}

/// Download a recording (Range supported; S3 stores redirect to a short-lived presigned URL).
#[utoipa::path(
    get,
    path = "/api/recordings/{id}/file",
    params(("id" = crate::http::IdParam, Path), ("Range" = Option<String>, Header, description = "One byte range, `bytes=a-b`")),
    responses(
        (status = 200, description = "The file.", content((Vec<u8> = "video/webm"), (Vec<u8> = "audio/webm"), (Vec<u8> = "video/mp4"), (Vec<u8> = "audio/mp4"))),
        (status = 206, description = "Part of the file.", content((Vec<u8> = "video/webm"), (Vec<u8> = "audio/webm"), (Vec<u8> = "video/mp4"), (Vec<u8> = "audio/mp4"))),
        (status = 303, description = "A presigned URL of the S3 store."),
        RecordingErrors
    )
)]
async fn file(
    State(r): State<Recordings>,
    Caller(c): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Range::parse);
    match r.file(&c, &id, range).await? {
        RecordingFile::Elsewhere(url) => {
            let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        RecordingFile::Here {
            filename,
            content_type,
            partial,
            object,
        } => {
            let length = if object.size == 0 {
                0
            } else {
                object.end - object.start + 1
            };
            let (start, end, size) = (object.start, object.end, object.size);
            let mut resp = Body::from_stream(object.body).into_response();
            *resp.status_mut() = if partial {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            };
            let h = resp.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&content_type)
                    .unwrap_or(HeaderValue::from_static("video/webm")),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&content_disposition(&filename)).expect("ASCII"),
            );
            if partial {
                h.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("ASCII"),
                );
            }
            Ok(resp)
        }
    }
}
