//! Chat files: `POST /api/interactions/{id}/files?name=<name>` with the file as the
//! body, `GET /api/files/{id}` to fetch one.
//!
//! Uploads stream to a temporary file (never held whole in memory) while their size
//! is counted and their SHA-256 computed; past `files.max_bytes` the upload stops with
//! 413 and the partial file is removed, whether or not a Content-Length was sent. The
//! storage key is the server-made id; the uploader's name is metadata only, so no name
//! can reach outside the store.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::messages::{participant, post as post_message};
use super::{ApiError, parse_query, respond};
use crate::app::App;
use crate::events::{NewEvent, prepare};
use crate::model::FileMeta;
use crate::store::Batch;
use crate::store::ids::{is_id, new_id, now_ms};

/// A body chunk must arrive within this, or the upload is dropped (slow-loris).
const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

/// The upload and download routes (no body limit of the JSON routes: these count
/// bytes themselves).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/interactions/{id}/files", post(upload))
        .route("/api/files/{id}", get(download))
        .route("/api/recordings/{id}/file", get(super::recordings::file))
        .layer(DefaultBodyLimit::disable())
}

/// `?name=<file name>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name, as the user's device called it.
    pub name: String,
}

/// The folder of stored files.
pub fn folder(app: &App) -> PathBuf {
    app.data_dir.join("files")
}

fn too_big(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("files are at most {max} bytes"),
    )
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.chars().count() > 255
        || name.chars().any(char::is_control)
        || name.trim().is_empty()
    {
        return Err(ApiError::bad_request(
            "name is 1 to 255 printable characters",
        ));
    }
    Ok(())
}

/// Streams the body into the store.
pub async fn upload(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
    body: Body,
) -> Response {
    respond(upload_inner(&app, &headers, &id, &uri, body).await)
}

async fn upload_inner(
    app: &Arc<App>,
    headers: &HeaderMap,
    id: &str,
    uri: &Uri,
    body: Body,
) -> Result<(StatusCode, Json<FileMeta>), ApiError> {
    let (interaction, author) = participant(app, headers, id).await?;
    let query: UploadQuery = parse_query(uri)?;
    check_name(&query.name)?;
    if interaction.state.is_final() {
        return Err(ApiError::conflict(format!(
            "the interaction is {}",
            interaction.state.as_str()
        )));
    }
    let max = app.config.files.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_big(max));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .unwrap_or("application/octet-stream")
        .to_string();

    let dir = folder(app);
    let partial_dir = dir.join(".partial");
    tokio::fs::create_dir_all(&partial_dir)
        .await
        .map_err(|e| io_error("create the files folder", &e))?;
    let file_id = new_id();
    let partial = partial_dir.join(&file_id);
    let written = receive(body, &partial, max).await;
    let (size, sha256) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let final_path = dir.join(&file_id);
    tokio::fs::rename(&partial, &final_path)
        .await
        .map_err(|e| io_error("store the file", &e))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    let meta = FileMeta {
        id: file_id.clone(),
        tenant: interaction.tenant.clone(),
        interaction: interaction.id.clone(),
        name: query.name.clone(),
        content_type,
        size,
        sha256,
        uploaded_by: author.id.clone(),
        at: now_ms(),
    };
    let mut batch = Batch::new();
    batch.insert(&meta);
    // Made under the bus's order lock, inside `post_message`, so its id is in order.
    let file_event = || {
        vec![prepare(NewEvent {
            tenant: &interaction.tenant,
            kind: "file.uploaded",
            interaction: Some(&interaction.id),
            actor: &author.id,
            data: json!({ "file": file_id, "size": size }),
        })]
    };
    // The file's record, its event and its chat message land together or not at all.
    if let Err(e) = post_message(
        app,
        &interaction,
        &author,
        String::new(),
        Some(file_id.clone()),
        Some((batch, &file_event)),
    )
    .await
    {
        let _ = tokio::fs::remove_file(&final_path).await;
        return Err(e);
    }
    Ok((StatusCode::CREATED, Json(meta)))
}

async fn receive(body: Body, path: &FsPath, max: u64) -> Result<(u64, String), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io_error("create the file", &e))?;
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    loop {
        let chunk = match tokio::time::timeout(CHUNK_TIMEOUT, stream.next()).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    "the upload stalled",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!("the upload broke off: {e}")));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(too_big(max));
        }
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("write the file", &e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io_error("write the file", &e))?;
    let digest = hash.finish();
    Ok((size, crate::store::ids::hex(digest.as_ref())))
}

fn io_error(what: &str, e: &std::io::Error) -> ApiError {
    tracing::error!("cannot {what}: {e}");
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "storage",
        format!("cannot {what}"),
    )
}

/// Sends a stored file to someone who may see its interaction.
pub async fn download(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        if !is_id(&id) {
            return Err(ApiError::not_found("file"));
        }
        let meta = app
            .store
            .get::<FileMeta>(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("file"))?;
        participant(&app, &headers, &meta.interaction).await?;
        let file = tokio::fs::File::open(folder(&app).join(&meta.id))
            .await
            .map_err(|_| ApiError::not_found("file"))?;
        let mut r = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&meta.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&content_disposition(&meta.name)).expect("ASCII"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(r)
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// `attachment` with an ASCII fallback name and the real one in RFC 5987 form.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_quoted_safely() {
        assert_eq!(
            content_disposition("../x\"; evil.pdf"),
            "attachment; filename=\".._x__ evil.pdf\"; filename*=UTF-8''..%2Fx%22%3B%20evil.pdf"
        );
        assert!(content_disposition("отчёт.pdf").is_ascii());
    }
}
