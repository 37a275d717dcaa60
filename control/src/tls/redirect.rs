//! Plain HTTP next to HTTPS: every request is sent to the same place over HTTPS
//! (308, so a POST stays a POST), except ACME HTTP-01 validations, answered here.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Certificates;

#[derive(Clone)]
struct Redirect {
    certs: Arc<Certificates>,
    https_port: u16,
}

/// The plain-HTTP service for a server whose HTTPS is on `https_port`.
pub fn router(certs: Arc<Certificates>, https_port: u16) -> Router {
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(challenge))
        .fallback(to_https)
        .with_state(Redirect { certs, https_port })
}

async fn challenge(State(r): State<Redirect>, Path(token): Path<String>) -> Response {
    match r.certs.http_challenge(&token) {
        Some(answer) => {
            tracing::info!("answered an HTTP-01 validation");
            ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such challenge\n").into_response(),
    }
}

async fn to_https(State(r): State<Redirect>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_only)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "this server answers over HTTPS; the request named no host to send you to\n",
        )
            .into_response();
    };
    let port = if r.https_port == 443 {
        String::new()
    } else {
        format!(":{}", r.https_port)
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let to = format!("https://{host}{port}{path}");
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// The host of a `Host` header without its port (`[::1]:80` → `[::1]`), if it is one.
fn host_only(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.split(':').next()?
    };
    let fine = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    fine.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_only;

    #[test]
    fn hosts_lose_their_port_and_odd_ones_are_refused() {
        assert_eq!(host_only("vchat.example.com"), Some("vchat.example.com"));
        assert_eq!(host_only("vchat.example.com:80"), Some("vchat.example.com"));
        assert_eq!(host_only("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_only("127.0.0.5"), Some("127.0.0.5"));
        assert_eq!(host_only(""), None);
        assert_eq!(host_only("evil.com/path"), None);
        assert_eq!(host_only("a b"), None);
    }
}
