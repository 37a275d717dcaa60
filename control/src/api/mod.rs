//! The REST API under `/api`.

pub mod cdrs;
pub mod connectors;
pub mod files;
pub mod interactions;
pub mod links;
pub mod messages;
pub mod openapi;
pub mod recordings;
pub mod rooms;
pub mod session;
pub mod tenants;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::App;

/// The JSON routes under `/api` (the body limit and deadline are the caller's).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route("/api/tokens", post(session::create_token))
        .route("/api/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/api/tenants/{id}",
            get(tenants::get).patch(tenants::update),
        )
        .route("/api/users", get(users::list).post(users::create))
        .route(
            "/api/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/api/interactions",
            get(interactions::list).post(interactions::create),
        )
        .route(
            "/api/interactions/{id}",
            get(interactions::get).patch(interactions::update),
        )
        .route("/api/interactions/{id}/end", post(interactions::end))
        .route("/api/interactions/{id}/cancel", post(interactions::cancel))
        .route("/api/interactions/{id}/join", post(interactions::join))
        .route("/api/interactions/{id}/events", get(interactions::events))
        .route("/api/interactions/{id}/cdr", get(cdrs::of_interaction))
        .route(
            "/api/interactions/{id}/recording",
            get(recordings::of_interaction),
        )
        .route("/api/cdrs", get(cdrs::list))
        .route(
            "/api/interactions/{id}/messages",
            get(messages::list).post(messages::send),
        )
        .route("/api/links/{code}", post(links::open_json))
        .route("/api/interactions/{id}/send", post(interactions::send_link))
        .route("/api/interactions/{id}/geo", post(messages::share_position))
        .route(
            "/api/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route(
            "/api/connectors/{id}",
            axum::routing::delete(connectors::delete),
        )
}

async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(openapi::document)).into_response()
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

/// Parses a JSON body, with a 400 that says what is wrong (field path included).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("body is not valid: {}", e.inner()))
        } else {
            ApiError::bad_request(format!("{path}: {}", e.inner()))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("body is not valid: {e}")))?;
    Ok(value)
}

/// Checks a display text: 1..=`max` characters, no control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if value.trim().is_empty() || n > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1 to {max} printable characters"
        )));
    }
    Ok(())
}

/// Paging of list endpoints: `?offset=&limit=` (limit 1..=200, default 50).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Records to skip.
    #[serde(default)]
    pub offset: u64,
    /// Records to return.
    #[serde(default = "default_limit")]
    pub limit: u64,
}

/// The page size list endpoints use when none is asked for.
pub(crate) fn default_limit() -> u64 {
    50
}

impl Paging {
    /// Checks the limits.
    pub fn checked(self) -> Result<Paging, ApiError> {
        if !(1..=200).contains(&self.limit) || self.offset > 1_000_000 {
            return Err(ApiError::bad_request(
                "limit is 1 to 200, offset at most 1000000",
            ));
        }
        Ok(self)
    }
}

/// A page of results.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// How many match in all.
    pub total: u64,
    /// The offset asked for.
    pub offset: u64,
    /// The limit asked for.
    pub limit: u64,
}

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: a status and `{"error": "<stable code>", "message": "<for people>"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a status, a stable code and words for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is wrong, and the message says how.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// 401: no or wrong credentials.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in, or send Authorization: Bearer <API token>",
        )
    }

    /// 403: known caller, not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing — also what callers get for things of tenants they cannot
    /// see, so ids do not leak existence.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no such {what}"),
        )
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500 for a storage failure; the details go to the log, not to the caller.
    pub fn store(e: crate::store::StoreError) -> ApiError {
        tracing::error!("store: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not reach its storage; try again",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::Duplicate { what, .. } => {
                ApiError::conflict(format!("the {what} is taken"))
            }
            e => ApiError::store(e),
        }
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
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Parses the query string, with a JSON 400 when it does not fit.
pub fn parse_query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A handler's result as a response.
pub fn respond<T: IntoResponse>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    }
}
