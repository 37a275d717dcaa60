//! Chat files: `POST /api/interactions/{id}/files?name=<name>` with the file as the
//! body, `GET /api/files/{id}` to fetch one.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::files::{Files, Upload, UploadQuery};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Participant};
use crate::http::openapi::{Downloading, Uploading};
use crate::model::FileMeta;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
}

/// Upload a file (the body is the file, up to files.max_bytes).
#[utoipa::path(post, path = "/api/interactions/{id}/files", params(("id" = crate::http::IdParam, Path), UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, description = "Done.", body = FileMeta), Uploading))]
async fn upload(
    State(files): State<Files>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileMeta>)> {
    let upload = Upload {
        declared: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.into_data_stream(),
    };
    Ok((
        StatusCode::CREATED,
        Json(files.upload(&p, &id, q.name, upload).await?),
    ))
}

/// Download a file.
#[utoipa::path(get, path = "/api/files/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "The file.", content_type = "application/octet-stream", body = Vec<u8>), Downloading))]
async fn download(
    State(files): State<Files>,
    Participant(p): Participant,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = files.download(&p, &id).await?;
    let mut r = Body::from_stream(tokio_util::io::ReaderStream::new(d.file)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(d.meta.size));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&d.meta.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(&d.meta.name)).expect("ASCII"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
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
