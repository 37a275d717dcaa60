//! What handlers take from a request, each refusing with the API's error shape:
//! - [`Caller`]: a staff member (session cookie or API token), resolved once per
//!   request (kept in its extensions), or 401;
//! - [`Participant`]: staff, or a call's client with its join token;
//! - [`ApiJson`] / [`OptionalJson`]: a JSON body, with 400s that name the field;
//! - [`ApiQuery`]: the query string (strict: unknown keys are refused), without the
//!   paging keys, which [`Paging`] reads.
//!
//! Parts extractors run before the body one, so a request without credentials is 401
//! before its body is looked at.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::domain::auth::{self, Auth, Credential, SESSION_COOKIE};
use crate::domain::chat::{self, Chat};
use crate::domain::paging;
use crate::http::error::ApiError;

/// `Authorization: Bearer <token>`, trimmed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The credential a request presents: a bearer token first, else the session cookie.
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    if let Some(token) = bearer(headers) {
        return Some(Credential::Bearer(token.to_string()));
    }
    cookie(headers, SESSION_COOKIE).map(|s| Credential::Session(s.to_string()))
}

/// The staff member calling.
#[derive(Debug, Clone)]
pub struct Caller(pub auth::Caller);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Auth: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<auth::Caller>() {
            return Ok(Caller(c.clone()));
        }
        let credential = credential(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let caller = Auth::from_ref(state).resolve(&credential).await?;
        parts.extensions.insert(caller.clone());
        Ok(Caller(caller))
    }
}

/// Someone in a call: staff, or the client with its join token (which call is the
/// service's question).
#[derive(Debug, Clone)]
pub struct Participant(pub chat::Participant);

impl<S> FromRequestParts<S> for Participant
where
    S: Send + Sync,
    Chat: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let credential = credential(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        Ok(Participant(
            Chat::from_ref(state).participant(&credential).await?,
        ))
    }
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

/// A body must be a JSON object: serde reads a struct from an array of its fields too
/// (so `[]` would be every field's default, and `[1]` a struct's first field), which no
/// route means.
fn object_body(body: &[u8]) -> Result<(), ApiError> {
    match body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// A JSON body (an object).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), rejection_code(e.status()), e.body_text()))?;
        object_body(&body)?;
        parse_json(&body).map(ApiJson)
    }
}

/// A JSON body that may be left out (empty or white space): then `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

/// Whether `body` is empty or JSON white space only (RFC 8259 §2: space, tab, line
/// feed, carriage return). A form feed, white space to `is_ascii_whitespace`, is not
/// JSON's and is refused as a broken body.
pub fn no_body(body: &[u8]) -> bool {
    body.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), rejection_code(e.status()), e.body_text()))?;
        if no_body(&body) {
            return Ok(OptionalJson(T::default()));
        }
        object_body(&body)?;
        parse_json(&body).map(OptionalJson)
    }
}

fn rejection_code(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        408 => "timeout",
        413 => "too-large",
        _ => "bad-request",
    }
}

const PAGING_KEYS: [&str; 2] = ["offset", "limit"];

fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Failed to deserialize query string: {e}")))
}

/// The query string as `T`, paging keys aside; unknown keys are refused.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let rest: Vec<(String, String)> = query_pairs(&parts.uri)?
            .into_iter()
            .filter(|(k, _)| !PAGING_KEYS.contains(&k.as_str()))
            .collect();
        let text = serde_urlencoded::to_string(&rest).unwrap_or_default();
        serde_urlencoded::from_str::<T>(&text)
            .map(ApiQuery)
            .map_err(|e| ApiError::bad_request(format!("Failed to deserialize query string: {e}")))
    }
}

/// `?offset=&limit=` (limit 1 to 200, default 50; offset at most 1000000).
#[derive(Debug, Clone, Copy)]
pub struct Paging(pub paging::Paging);

/// The paging keys, for the document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PagingParams {
    /// Records to skip.
    #[param(minimum = 0, maximum = 1_000_000)]
    offset: Option<u64>,
    /// Records to return.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        #[derive(Deserialize)]
        struct Keys {
            offset: Option<u64>,
            limit: Option<u64>,
        }
        let ours: Vec<(String, String)> = query_pairs(&parts.uri)?
            .into_iter()
            .filter(|(k, _)| PAGING_KEYS.contains(&k.as_str()))
            .collect();
        let text = serde_urlencoded::to_string(&ours).unwrap_or_default();
        let keys: Keys = serde_urlencoded::from_str(&text).map_err(|e| {
            ApiError::bad_request(format!("Failed to deserialize query string: {e}"))
        })?;
        Ok(Paging(paging::Paging::new(keys.offset, keys.limit)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_objects() {
        for ok in [&b"{}"[..], b"  \r\n{\"relay\": 2}"] {
            assert!(object_body(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        // An array would be read as a struct's fields in order; a bare value is no body.
        for bad in [
            &b"[]"[..],
            b"[2]",
            b" [\"x\"]",
            b"2",
            b"\"relay\"",
            b"null",
            b"true",
        ] {
            assert!(
                object_body(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
