//! Client links: `/j/<code>` is the client's page; `GET /api/links/<code>` what it
//! shows (binding nothing: link previews fetch it too); `POST /api/links/<code>` the
//! client's consent and connect, which binds the link to this device (a cookie) and
//! gives the join token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::DomainError;
use crate::domain::links::{LinkInfo, Links, OpenLink, Opened, is_device_id, new_device_id};
use crate::http::error::ApiError;
use crate::http::extract::{OptionalJson, cookie};
use crate::http::openapi::{Opening, Reading};
use crate::http::pages::{self, Message};
use crate::state::AppState;

/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "vchat_device";

/// The JSON routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(info, open))
}

/// The page route: answers in HTML, for people.
pub fn page_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page))
}

fn device(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, DEVICE_COOKIE).filter(|d| is_device_id(d))
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect())
}

/// What a client link's page shows (binds nothing).
#[utoipa::path(get, path = "/api/links/{code}", security(()), params(("code" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = LinkInfo), Reading))]
async fn info(
    State(links): State<Links>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<LinkInfo>, ApiError> {
    Ok(Json(links.info(&code, device(&headers)).await?))
}

/// Accept the consent and connect: binds the link to this device, gives the join token.
#[utoipa::path(post, path = "/api/links/{code}", security(()), params(("code" = crate::http::IdParam, Path)), request_body = Option<OpenLink>, responses((status = 200, description = "Done.", body = Opened), Opening))]
async fn open(
    State(links): State<Links>,
    headers: HeaderMap,
    Path(code): Path<String>,
    OptionalJson(request): OptionalJson<OpenLink>,
) -> Result<Response, ApiError> {
    let (device, new) = match device(&headers) {
        Some(d) => (d.to_string(), false),
        None => (new_device_id(), true),
    };
    let opened = links
        .open(&code, &device, user_agent(&headers), request)
        .await?;
    let mut r = Json(opened).into_response();
    if new {
        let c = format!(
            "{DEVICE_COOKIE}={device}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax"
        );
        r.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).expect("cookie is ASCII"),
        );
    }
    Ok(r)
}

/// The client's page of a link (binds nothing until the client connects).
#[utoipa::path(
    get,
    path = "/j/{code}",
    security(()),
    params(("code" = crate::http::IdParam, Path)),
    responses(
        (status = 200, description = "The client's page.", content_type = "text/html", body = String),
        (status = 404, description = "No such link.", content_type = "text/html", body = String),
        (status = 410, description = "Expired, over, or opened on another device.", content_type = "text/html", body = String),
        (status = 500, description = "Storage unavailable.", content_type = "text/html", body = String),
    )
)]
async fn page(
    State(links): State<Links>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let message = match links.info(&code, device(&headers)).await {
        Ok(_) => match crate::http::web::page("/client/index.html", StatusCode::OK) {
            Some(page) => return page,
            None => Message::TryLater,
        },
        Err(DomainError::NotFound(_)) => Message::NoSuchLink,
        Err(DomainError::LinkGone) => Message::LinkGone,
        Err(_) => Message::TryLater,
    };
    let language = pages::language(&headers, links.language(&code).await);
    pages::message(language, message)
}
