//! Delivering client links: a job per request walks the tenant's chain of channels
//! (SMS, Telegram, custom connectors), retrying each with backoff, and records every
//! step in the interaction's history as `delivery.*` events:
//! `queued` → (`retrying` …) → `sent` / `delivered`, or `failed` per channel and,
//! when no channel worked, a final `failed`.

pub mod connectors;
pub mod outcome;
pub mod smsc;
pub mod telegram;

use std::time::Duration;

use serde_json::json;

use crate::domain::Deps;
use crate::domain::events::kind::{DeliveryDone, DeliveryFailed};
use crate::domain::events::{EventKind, NewEvent};
use crate::model::{Interaction, Tenant};
use crate::store::ids::new_id;
use outcome::Outcome;

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
    app: Deps,
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
    app: &Deps,
    i: &Interaction,
    actor: &str,
    what: EventKind,
) -> Result<(), crate::store::StoreError> {
    app.events
        .publish(NewEvent::about(&i.tenant, &i.id, actor, what))
        .await
        .map(|_| ())
}

async fn run(
    app: &Deps,
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
    let language = i.language.unwrap_or(tenant.language);
    let text = config
        .template(language)
        .replace("{company}", &company)
        .replace("{link}", &link);
    event(
        app,
        i,
        actor,
        EventKind::DeliveryQueued {
            delivery: delivery.to_string(),
            channels: chain.to_vec(),
        },
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
                "system",
                EventKind::DeliverySkipped {
                    delivery: delivery.to_string(),
                    channel: channel.clone(),
                    reason: reason.to_string(),
                },
            )
            .await?;
            continue;
        }
        let mut wait = Duration::from_millis(config.backoff_ms);
        let max_wait = Duration::from_millis(config.max_backoff_ms);
        for attempt in 1..=config.max_attempts.max(1) {
            let outcome = attempt_once(app, i, channel, &text, &link, language).await;
            let outcome_kind = match outcome {
                Outcome::Sent { .. } => OutcomeKind::Sent,
                _ => OutcomeKind::Other,
            };
            match outcome {
                Outcome::Sent { id } | Outcome::Delivered { id } => {
                    let done = DeliveryDone {
                        delivery: delivery.to_string(),
                        channel: channel.clone(),
                        attempt,
                        provider_id: id,
                    };
                    let what = if matches!(outcome_kind, OutcomeKind::Sent) {
                        EventKind::DeliverySent(done)
                    } else {
                        EventKind::DeliveryDelivered(done)
                    };
                    event(app, i, "system", what).await?;
                    return Ok(());
                }
                Outcome::Retry { reason, after } if attempt < config.max_attempts => {
                    let pause = after.unwrap_or(wait).min(max_wait);
                    event(
                        app,
                        i,
                        "system",
                        EventKind::DeliveryRetrying {
                            delivery: delivery.to_string(),
                            channel: channel.clone(),
                            attempt,
                            reason,
                            wait_ms: pause.as_millis() as u64,
                        },
                    )
                    .await?;
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(max_wait);
                }
                Outcome::Retry { reason, .. } | Outcome::Failed { reason } => {
                    let failed = DeliveryFailed {
                        delivery: delivery.to_string(),
                        channel: Some(channel.clone()),
                        attempt: Some(attempt),
                        reason,
                        last: false,
                    };
                    event(app, i, "system", EventKind::DeliveryFailed(failed)).await?;
                    break;
                }
            }
        }
    }
    let failed = DeliveryFailed {
        delivery: delivery.to_string(),
        channel: None,
        attempt: None,
        reason: "no channel delivered the link".into(),
        last: true,
    };
    event(app, i, "system", EventKind::DeliveryFailed(failed)).await
}

/// Which success an attempt had (the event kind of its outcome).
enum OutcomeKind {
    Sent,
    Other,
}

async fn attempt_once(
    app: &Deps,
    i: &Interaction,
    channel: &str,
    text: &str,
    link: &str,
    language: crate::model::tenant::Language,
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
                config.button(language),
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
            let tenants = match app.auth.tree().await {
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
