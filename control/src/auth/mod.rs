//! Who may do what: join tokens, the server's secrets, the API bearer token.

pub mod caller;
pub mod password;
pub mod ratelimit;
pub mod secrets;
pub mod token;

use axum::http::HeaderMap;

/// Whether `headers` carry `Authorization: Bearer <expected>`, compared in constant time.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    aws_lc_rs::constant_time::verify_slices_are_equal(given.trim().as_bytes(), expected.as_bytes())
        .is_ok()
}
