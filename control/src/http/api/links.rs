//! Client links: `/j/<code>` for browsers (a redirect into the call page), and
//! `POST /api/links/<code>` for pages that want the details as JSON. The device that
//! opens a link first gets a cookie; the link opens only there.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::DomainResult;
use crate::domain::links::{Links, Opened, is_device_id, new_device_id};
use crate::http::error::ApiError;
use crate::http::extract::cookie;
use crate::http::openapi::Opening;
use crate::state::AppState;

/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "vchat_device";

/// The JSON route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_json))
}

/// The page route: answers in HTML, for people.
pub fn page_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(open_page))
}

/// Opens `code` on the request's device; the cookie to set when it is a new device.
async fn open(
    links: &Links,
    headers: &HeaderMap,
    code: &str,
) -> DomainResult<(Opened, Option<HeaderValue>)> {
    let (device, set_cookie) = match cookie(headers, DEVICE_COOKIE).filter(|d| is_device_id(d)) {
        Some(d) => (d.to_string(), None),
        None => {
            let d = new_device_id();
            let c = format!(
                "{DEVICE_COOKIE}={d}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax"
            );
            (d, Some(HeaderValue::from_str(&c).expect("cookie is ASCII")))
        }
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect::<String>());
    let opened = links.open(code, &device, user_agent).await?;
    Ok((opened, set_cookie))
}

/// Open a client link (JSON; binds it to this device).
#[utoipa::path(post, path = "/api/links/{code}", security(()), params(("code" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Opened), Opening))]
async fn open_json(
    State(links): State<Links>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let (opened, set_cookie) = open(&links, &headers, &code).await?;
    let mut r = Json(opened).into_response();
    if let Some(c) = set_cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// Open a client link in a browser: a redirect into the call.
#[utoipa::path(
    get,
    path = "/j/{code}",
    security(()),
    params(("code" = crate::http::IdParam, Path)),
    responses(
        (status = 303, description = "Into the call."),
        (status = 404, description = "No such link.", content_type = "text/html", body = String),
        (status = 410, description = "Expired, over, or opened on another device.", content_type = "text/html", body = String),
        (status = 500, description = "Storage unavailable.", content_type = "text/html", body = String),
    )
)]
async fn open_page(
    State(links): State<Links>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    match open(&links, &headers, &code).await {
        Ok((opened, set_cookie)) => {
            let mut r =
                (StatusCode::SEE_OTHER, [(header::LOCATION, opened.join_url)]).into_response();
            if let Some(c) = set_cookie {
                r.headers_mut().insert(header::SET_COOKIE, c);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            let status = ApiError::from(e).status();
            let text = match status {
                StatusCode::GONE => "This link has expired or was opened on another device.",
                StatusCode::NOT_FOUND => "This link does not exist.",
                _ => "This link cannot be opened right now. Please try again.",
            };
            (
                status,
                Html(format!(
                    "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>vchat</title><p>{text}</p>"
                )),
            )
                .into_response()
        }
    }
}
