//! Error answers of the HTTP API: a status and `{"error": "<stable code>", "message":
//! "<for people>"}` — the one place a [`DomainError`] becomes a status.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::DomainError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

/// The body of every error answer (for the document).
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
#[serde(deny_unknown_fields)]
pub struct ErrorSchema {
    /// A stable code: `bad-request`, `unauthorized`, `not-found`, ...
    pub error: String,
    /// Words for people.
    pub message: String,
}

/// Results of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a stable code and words for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400: the request is wrong, and the message says how.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// 401: no or wrong credentials.
    pub fn unauthorized() -> ApiError {
        ApiError::from(DomainError::Unauthorized)
    }

    /// With one more header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        let message = e.to_string();
        let (status, code) = match &e {
            DomainError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            DomainError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad-credentials"),
            DomainError::TooManyAttempts { retry_after_secs } => {
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", message)
                    .with_header(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            DomainError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            DomainError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            DomainError::NeedsRole(_) | DomainError::Forbidden(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            DomainError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            DomainError::LinkGone => (StatusCode::GONE, "link-gone"),
            DomainError::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
            DomainError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            DomainError::Stalled => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            DomainError::Files(_) => (StatusCode::INSUFFICIENT_STORAGE, "storage"),
            DomainError::Range { size } => {
                return ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range", message)
                    .with_header(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
                    );
            }
            DomainError::RecordingStore => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            DomainError::Store(store) => {
                tracing::error!("store: {store}");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not reach its storage; try again",
                );
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        DomainError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Errors that axum or tower make themselves (405, 408, 413, 415...) come as text or
/// empty; this gives them the API's JSON shape, so every `/api` answer reads alike.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let code = match status.as_u16() {
        405 => "method-not-allowed",
        408 => "timeout",
        413 => "too-large",
        415 => "unsupported-media-type",
        _ if status.is_server_error() => "internal",
        _ => "bad-request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k == header::ALLOW || k == header::RETRY_AFTER {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
