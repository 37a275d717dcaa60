//! SMS through SMSC's HTTP API: `POST <base>/sys/send.php` with `login`, `psw`,
//! `phones`, `mes`, `charset=utf-8` and `fmt=3` (JSON answers: `{"id", "cnt"}` on
//! success, `{"error", "error_code"}` on failure, with HTTP 200 either way).

use std::time::Duration;

use serde::Deserialize;

use super::outcome::{Outcome, describe};
use crate::config::DeliveryConfig;

/// SMSC's documented `error_code`s.
pub const ERRORS: &[(i64, &str)] = &[
    (1, "error in parameters"),
    (2, "invalid login or password"),
    (3, "not enough money on the account"),
    (4, "IP address temporarily blocked"),
    (5, "invalid date format"),
    (6, "message is prohibited (by text or by sender name)"),
    (7, "invalid phone number format"),
    (8, "message to this number cannot be delivered"),
    (9, "too many identical or concurrent requests"),
];

#[derive(Debug, Deserialize)]
struct Answer {
    id: Option<serde_json::Value>,
    error: Option<String>,
    error_code: Option<i64>,
}

/// Sends `text` to `phone` (E.164).
pub async fn send(
    http: &reqwest::Client,
    config: &DeliveryConfig,
    phone: &str,
    text: &str,
) -> Outcome {
    let (Some(login), Some(password)) = (&config.smsc_login, &config.smsc_password) else {
        return Outcome::Failed {
            reason: "SMS is not configured (delivery.smsc_login, delivery.smsc_password)".into(),
        };
    };
    let url = format!(
        "{}/sys/send.php",
        config.smsc_base_url.trim_end_matches('/')
    );
    let mut form = vec![
        ("login", login.as_str()),
        ("psw", password.expose()),
        ("phones", phone.trim_start_matches('+')),
        ("mes", text),
        ("charset", "utf-8"),
        ("fmt", "3"),
    ];
    if let Some(sender) = &config.smsc_sender {
        form.push(("sender", sender.as_str()));
    }
    let response = match http.post(&url).form(&form).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                reason: format!("SMSC unreachable: {}", without_url(&e)),
                after: None,
            };
        }
    };
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Outcome::Retry {
            reason: format!("SMSC answered HTTP {status}"),
            after: retry_after(&response),
        };
    }
    let answer: Answer = match response.json().await {
        Ok(a) => a,
        Err(_) => {
            return Outcome::Retry {
                reason: format!("SMSC answered HTTP {status} without its JSON"),
                after: None,
            };
        }
    };
    match (answer.error_code, answer.id) {
        (Some(code), _) => {
            let reason = format!(
                "SMSC {}{}",
                describe(code, ERRORS),
                answer.error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
            // 4 and 9 pass with time; the rest will not get better by retrying.
            if code == 4 || code == 9 {
                Outcome::Retry {
                    reason,
                    after: Some(Duration::from_secs(if code == 9 { 60 } else { 10 })),
                }
            } else {
                Outcome::Failed { reason }
            }
        }
        (None, Some(id)) => Outcome::Sent {
            id: Some(id.to_string().trim_matches('"').to_string()),
        },
        (None, None) => Outcome::Retry {
            reason: "SMSC answered neither an id nor an error".into(),
            after: None,
        },
    }
}

/// `Retry-After` in seconds, when given.
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A reqwest error without the URL, which holds the password (SMSC) or the bot token
/// (Telegram).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<provider>");
    }
    s
}
