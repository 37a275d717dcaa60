//! Join tokens: who may join which room, signed with the server's secret.
//!
//! A token is a JWT (RFC 7519) with `HS256`, so any JWT library can mint one for
//! vchat from an integration. Only `HS256` is accepted — a token naming another `alg`
//! (`none` included) is refused before its signature is looked at.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// The audience of join tokens; tokens minted for other purposes do not join rooms.
pub const JOIN_AUDIENCE: &str = "vchat-join";
/// The only header we issue and accept.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a join token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The room.
    pub room: String,
    /// The participant id (`sub`).
    pub sub: String,
    /// The display name.
    pub name: String,
    /// Audience: always [`JOIN_AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or not JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm.
    #[error("token algorithm not accepted (only HS256)")]
    Algorithm,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Meant for something else.
    #[error("token is not a join token")]
    Audience,
}

/// Signs and checks tokens with one key.
#[derive(Clone)]
pub struct TokenSigner {
    key: hmac::Key,
}

impl TokenSigner {
    /// A signer keyed with `secret`.
    pub fn new(secret: &[u8]) -> TokenSigner {
        TokenSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Makes a token for `claims`.
    pub fn sign(&self, claims: &JoinClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(tag.as_ref()))
    }

    /// Checks a token at time `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<JoinClaims, TokenError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.contains('.') {
            return Err(TokenError::Malformed);
        }
        let header = B64.decode(header).map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let payload = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        let claims: JoinClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.aud != JOIN_AUDIENCE {
            return Err(TokenError::Audience);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> JoinClaims {
        JoinClaims {
            room: "r1".into(),
            sub: "alice".into(),
            name: "Alice".into(),
            aud: JOIN_AUDIENCE.into(),
            iat: 100,
            exp,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let token = signer.sign(&claims(200));
        assert_eq!(signer.verify(&token, 150), Ok(claims(200)));
        assert_eq!(signer.verify(&token, 200), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let other = TokenSigner::new(b"another secret, same length......");
        let token = signer.sign(&claims(200));
        assert_eq!(other.verify(&token, 150), Err(TokenError::Signature));

        // A changed payload with the old signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims(200);
        evil.room = "other-room".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&evil).unwrap()),
            parts[2]
        );
        assert_eq!(signer.verify(&forged, 150), Err(TokenError::Signature));

        // alg:none with no signature.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert_eq!(signer.verify(&none, 150), Err(TokenError::Algorithm));

        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            "....",
            "x.y.z",
            &token[..token.len() - 3],
        ] {
            assert!(signer.verify(junk, 150).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn other_audiences_do_not_join() {
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let mut c = claims(200);
        c.aud = "something-else".into();
        assert_eq!(
            signer.verify(&signer.sign(&c), 150),
            Err(TokenError::Audience)
        );
    }
}
