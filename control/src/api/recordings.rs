//! Recordings for people: their state (`GET /api/interactions/{id}/recording`) and the
//! file (`GET /api/recordings/{id}/file`, with `Range`; a short-lived presigned URL
//! when the store is S3). Admins and supervisors of the recording's tenant (and its
//! parents) and the call's agent may see it; everyone else gets 404, so ids do not
//! leak; no credentials, 401.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vchat_recorder::store::{Range, StoreError};

use super::files::content_disposition;
use super::{ApiError, respond};
use crate::app::App;
use crate::auth::caller::{Caller, authenticate};
use crate::model::{Recording, RecordingState};

async fn visible(app: &App, caller: &Caller, id: &str) -> Result<Recording, ApiError> {
    match app.store.get::<Recording>(id).await? {
        Some(r) if caller.sees_call(&r.tenant, &r.agent) => Ok(r),
        _ => Err(ApiError::not_found("recording")),
    }
}

/// The recording of an interaction.
pub async fn of_interaction(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            Ok(Json(visible(&app, &caller, &id).await?))
        }
        .await,
    )
}

/// The recording's file.
pub async fn file(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = authenticate(&app, &headers).await?;
        let r = visible(&app, &caller, &id).await?;
        let (RecordingState::Ready, Some(key)) = (r.state, r.key.as_deref()) else {
            return Err(ApiError::conflict(format!(
                "the recording is {}",
                serde_json::to_value(r.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )));
        };
        // The key's extension is the container's (webm, mp4).
        let extension = key.rsplit_once('.').map_or("webm", |(_, e)| e);
        let filename = format!("call-{}.{extension}", r.interaction);
        let ttl = Duration::from_secs(app.config.recordings.presign_secs);
        if let Some(url) = app
            .recordings
            .presigned_url(key, ttl, &filename)
            .await
            .map_err(store_error)?
        {
            let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(resp);
        }
        let range = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Range::parse);
        let object = match app.recordings.open(key, range).await {
            Ok(o) => o,
            Err(StoreError::Range { size }) => {
                let mut resp = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range",
                    "the range is outside the file",
                )
                .into_response();
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
                );
                return Ok(resp);
            }
            Err(e) => return Err(store_error(e)),
        };
        let partial = range.is_some();
        let length = if object.size == 0 {
            0
        } else {
            object.end - object.start + 1
        };
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
            HeaderValue::from_str(r.content_type.as_deref().unwrap_or("video/webm"))
                .unwrap_or(HeaderValue::from_static("video/webm")),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&content_disposition(&filename)).expect("ASCII"),
        );
        if partial {
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!(
                    "bytes {}-{}/{}",
                    object.start, object.end, object.size
                ))
                .expect("ASCII"),
            );
        }
        Ok(resp)
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::not_found("recording file"),
        e => {
            tracing::error!("recording store: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the recording store is unavailable",
            )
        }
    }
}
