//! Telegram through the Bot API: `POST <base>/bot<token>/sendMessage` with JSON
//! `{chat_id, text, reply_markup}`; the answer is `{"ok": true, "result": {...}}` or
//! `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::outcome::Outcome;
use super::smsc::{retry_after, without_url};
use crate::config::DeliveryConfig;

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    result: Option<serde_json::Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// Sends `text` with a join button for `link` to `chat`.
pub async fn send(
    http: &reqwest::Client,
    config: &DeliveryConfig,
    chat: &str,
    text: &str,
    link: &str,
    button: &str,
) -> Outcome {
    let Some(token) = &config.telegram_bot_token else {
        return Outcome::Failed {
            reason: "Telegram is not configured (delivery.telegram_bot_token)".into(),
        };
    };
    let url = format!(
        "{}/bot{}/sendMessage",
        config.telegram_base_url.trim_end_matches('/'),
        token.expose()
    );
    let chat_id = chat
        .parse::<i64>()
        .map_or_else(|_| json!(chat), |n| json!(n));
    let mut body = json!({ "chat_id": chat_id, "text": text });
    // Telegram refuses URL buttons to non-public addresses; the link is in the text
    // either way.
    if link.starts_with("https://") {
        body["reply_markup"] = json!({
            "inline_keyboard": [[{ "text": button, "url": link }]]
        });
    }
    let response = match http.post(&url).json(&body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                reason: format!("Telegram unreachable: {}", without_url(&e)),
                after: None,
            };
        }
    };
    let status = response.status();
    let header_wait = retry_after(&response);
    let answer: Option<Answer> = response.json().await.ok();
    match answer {
        Some(a) if a.ok => Outcome::Sent {
            id: a
                .result
                .and_then(|r| r.get("message_id").map(ToString::to_string)),
        },
        Some(a) => {
            let code = a.error_code.unwrap_or(i64::from(status.as_u16()));
            let reason = format!(
                "Telegram {code}: {}",
                a.description.unwrap_or_else(|| "no description".into())
            );
            if code == 429 {
                let after = a
                    .parameters
                    .and_then(|p| p.retry_after)
                    .map(Duration::from_secs)
                    .or(header_wait);
                Outcome::Retry { reason, after }
            } else if code >= 500 {
                Outcome::Retry {
                    reason,
                    after: None,
                }
            } else {
                Outcome::Failed { reason }
            }
        }
        None if status.is_server_error() || status.as_u16() == 429 => Outcome::Retry {
            reason: format!("Telegram answered HTTP {status}"),
            after: header_wait,
        },
        None => Outcome::Failed {
            reason: format!("Telegram answered HTTP {status} without its JSON"),
        },
    }
}
