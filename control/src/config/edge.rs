//! Logins and sessions.

use serde::{Deserialize, Serialize};

/// Logins and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Seconds a login session lasts.
    pub session_ttl_secs: u64,
    /// Login attempts per client address per minute; more get 429.
    pub login_attempts_per_minute: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_secs: 12 * 3600,
            login_attempts_per_minute: 10,
        }
    }
}
