//! The pages of `web/`, embedded at build time and served from memory.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

struct WebFile {
    path: &'static str,
    body: &'static [u8],
    mime: &'static str,
    etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// The page's content-security policy: our own scripts and styles only (no inline
/// code at all, so an injected `<script>` or `onerror=` never runs), pictures from
/// here or from files the page holds (`blob:`), media from WebRTC, sockets to here
/// only, no plugins, no frames around it, forms and `<base>` nowhere else.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-src 'none'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Serves an embedded file; `/x/` serves `/x/index.html`.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let mut path = uri.path().to_string();
    if path.ends_with('/') {
        path.push_str("index.html");
    }
    let Some(file) = FILES.iter().find(|f| f.path == path) else {
        // `/room` without the slash: send the browser where relative imports work.
        if FILES.iter().any(|f| f.path == format!("{path}/index.html")) {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, format!("{path}/"))],
            )
                .into_response();
        }
        return super::pages::message(
            super::pages::language(&headers, None),
            super::pages::Message::NotFound,
        );
    };
    respond(file, &headers)
}

/// The embedded page at `path` (e.g. `/client/index.html`), with `status`; `None` if
/// there is no such file.
pub fn page(path: &str, status: StatusCode) -> Option<Response> {
    let file = FILES.iter().find(|f| f.path == path)?;
    let mut r = respond(file, &HeaderMap::new());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(r)
}

/// Adds the headers every page gets (content type, security policy, no sniffing).
pub fn secure(mut response: Response, mime: &'static str) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if mime.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

fn respond(file: &WebFile, headers: &HeaderMap) -> Response {
    let response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == file.etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.body.into_response()
    };
    let mut response = secure(response, file.mime);
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(file.etag));
    // Revalidate every time: the ETag makes that a 304, and a new binary never serves
    // stale scripts.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The paths of every embedded file.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|f| f.path)
}
