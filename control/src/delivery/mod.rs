//! Delivering client links: a job per request walks the tenant's chain of channels
//! (SMS, Telegram, custom connectors), retrying each with backoff, and records every
//! step in the interaction's history as `delivery.*` events:
//! `queued` → (`retrying` …) → `sent` / `delivered`, or `failed` per channel and,
//! when no channel worked, a final `failed`.

pub mod connectors;
pub mod outcome;
pub mod smsc;
pub mod telegram;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::api::ApiError;
use crate::app::App;
use crate::events::NewEvent;
use crate::model::{Interaction, Tenant};
use crate::store::Filter;
use crate::store::ids::new_id;
use outcome::Outcome;

/// Checks a chain of channel names.
pub fn check_chain(field: &str, chain: &[String]) -> Result<(), ApiError> {
    if chain.len() > 8 {
        return Err(ApiError::bad_request(format!(
            "{field} holds at most 8 channels"
        )));
    }
    for (i, c) in chain.iter().enumerate() {
        if !is_channel(c) {
            return Err(ApiError::bad_request(format!(
                "{field}[{i}] must be sms, telegram or connector:<name>, not {c:?}"
            )));
        }
    }
    Ok(())
}

/// Whether `name` is a delivery channel: `sms`, `telegram` or `connector:<name>`.
pub fn is_channel(name: &str) -> bool {
    name == "sms"
        || name == "telegram"
        || name
            .strip_prefix("connector:")
            .is_some_and(valid_connector_name)
}

/// Connector names: 1 to 40 of `a-z 0-9 _ -`.
pub fn valid_connector_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The HTTP client for providers.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("vchat/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with the process's TLS provider")
}

/// Starts delivering `interaction`'s link over `chain`; returns the delivery id.
pub fn start(
    app: Arc<App>,
    interaction: Interaction,
    tenant: Tenant,
    chain: Vec<String>,
    actor: String,
) -> String {
    let delivery = new_id();
    let id = delivery.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&app, &interaction, &tenant, &chain, &actor, &id).await {
            tracing::error!(interaction = %interaction.id, "link delivery: {e}");
        }
    });
    delivery
}

async fn event(
    app: &App,
    i: &Interaction,
    kind: &str,
    actor: &str,
    data: serde_json::Value,
) -> Result<(), crate::store::StoreError> {
    app.events
        .publish(NewEvent {
            tenant: &i.tenant,
            kind,
            interaction: Some(&i.id),
            actor,
            data,
        })
        .await
        .map(|_| ())
}

async fn run(
    app: &App,
    i: &Interaction,
    tenant: &Tenant,
    chain: &[String],
    actor: &str,
    delivery: &str,
) -> Result<(), crate::store::StoreError> {
    let config = &app.config.delivery;
    let link = format!("{}/j/{}", app.public_base, i.link);
    let company = if tenant.branding.company_name.is_empty() {
        tenant.name.clone()
    } else {
        tenant.branding.company_name.clone()
    };
    let text = config
        .message_template
        .replace("{company}", &company)
        .replace("{link}", &link);
    event(
        app,
        i,
        "delivery.queued",
        actor,
        json!({ "delivery": delivery, "channels": chain }),
    )
    .await?;
    for channel in chain {
        // Channels the contact cannot use are skipped, not failed.
        let skip = match channel.as_str() {
            "sms" if i.client.phone.is_none() => Some("the client has no phone number"),
            "telegram" if i.client.telegram_chat.is_none() => {
                Some("the client has no Telegram chat")
            }
            _ => None,
        };
        if let Some(reason) = skip {
            event(
                app,
                i,
                "delivery.skipped",
                "system",
                json!({ "delivery": delivery, "channel": channel, "reason": reason }),
            )
            .await?;
            continue;
        }
        let mut wait = Duration::from_millis(config.backoff_ms);
        let max_wait = Duration::from_millis(config.max_backoff_ms);
        for attempt in 1..=config.max_attempts.max(1) {
            let outcome = attempt_once(app, i, channel, &text, &link).await;
            match outcome {
                Outcome::Sent { id } => {
                    event(app, i, "delivery.sent", "system", json!({ "delivery": delivery, "channel": channel, "attempt": attempt, "provider_id": id })).await?;
                    return Ok(());
                }
                Outcome::Delivered { id } => {
                    event(app, i, "delivery.delivered", "system", json!({ "delivery": delivery, "channel": channel, "attempt": attempt, "provider_id": id })).await?;
                    return Ok(());
                }
                Outcome::Retry { reason, after } if attempt < config.max_attempts => {
                    let pause = after.unwrap_or(wait).min(max_wait);
                    event(
                        app,
                        i,
                        "delivery.retrying",
                        "system",
                        json!({
                            "delivery": delivery, "channel": channel, "attempt": attempt,
                            "reason": reason, "wait_ms": pause.as_millis() as u64,
                        }),
                    )
                    .await?;
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(max_wait);
                }
                Outcome::Retry { reason, .. } | Outcome::Failed { reason } => {
                    event(app, i, "delivery.failed", "system", json!({
                        "delivery": delivery, "channel": channel, "attempt": attempt, "reason": reason, "final": false,
                    })).await?;
                    break;
                }
            }
        }
    }
    event(app, i, "delivery.failed", "system", json!({
        "delivery": delivery, "channel": null, "reason": "no channel delivered the link", "final": true,
    }))
    .await
}

async fn attempt_once(
    app: &App,
    i: &Interaction,
    channel: &str,
    text: &str,
    link: &str,
) -> Outcome {
    let config = &app.config.delivery;
    match channel {
        "sms" => {
            smsc::send(
                &app.http,
                config,
                i.client.phone.as_deref().unwrap_or_default(),
                text,
            )
            .await
        }
        "telegram" => {
            telegram::send(
                &app.http,
                config,
                i.client.telegram_chat.as_deref().unwrap_or_default(),
                text,
                link,
            )
            .await
        }
        other => {
            let Some(name) = other.strip_prefix("connector:") else {
                return Outcome::Failed {
                    reason: format!("unknown channel {other}"),
                };
            };
            // The interaction's tenant, then its ancestors: a company's connector
            // serves its branches.
            let tenants = match app
                .store
                .find::<Tenant>(&Filter::all().page(0, 100_000))
                .await
            {
                Ok(all) => ancestors(&all, &i.tenant),
                Err(e) => {
                    return Outcome::Retry {
                        reason: format!("storage: {e}"),
                        after: None,
                    };
                }
            };
            let task = connectors::Task {
                task: String::new(),
                interaction: i.id.clone(),
                to: json!({
                    "name": i.client.name,
                    "phone": i.client.phone,
                    "telegram_chat": i.client.telegram_chat,
                }),
                text: text.to_string(),
                link: link.to_string(),
            };
            app.connectors
                .deliver(
                    &tenants,
                    name,
                    task,
                    Duration::from_secs(config.connector_timeout_secs),
                )
                .await
        }
    }
}

/// `tenant` and its ancestors, nearest first.
fn ancestors(all: &[Tenant], tenant: &str) -> Vec<String> {
    let mut out = vec![tenant.to_string()];
    while let Some(parent) = all
        .iter()
        .find(|t| t.id == *out.last().expect("not empty"))
        .and_then(|t| t.parent.clone())
    {
        if out.contains(&parent) {
            break;
        }
        out.push(parent);
    }
    out
}
