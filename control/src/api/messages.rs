//! Chat messages of an interaction, kept in the store (history survives restarts).
//! Staff who see the interaction and the call's client (with its join token) read
//! and write them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::interactions::visible;
use super::{ApiError, parse_json, respond};
use crate::app::App;
use crate::auth::caller::authenticate;
use crate::auth::token::unix_now;
use crate::events::{NewEvent, prepare};
use crate::interactions::CLIENT_PARTICIPANT;
use crate::model::{ChatMessage, Event, Interaction};
use crate::store::ids::{new_id, now_ms};
use crate::store::{Batch, Filter, Order};

/// Longest message text.
pub const MAX_TEXT: usize = 4000;

/// Who writes in an interaction's chat.
#[derive(Debug, Clone)]
pub struct Author {
    /// A user id, or `client`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The interaction and the caller as a chat author: a user who sees it, or the
/// client holding a join token for its room. Others get 401/404.
pub async fn participant(
    app: &Arc<App>,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Interaction, Author), ApiError> {
    match authenticate(app, headers).await {
        Ok(caller) => {
            let i = visible(app, &caller, id).await?;
            Ok((
                i,
                Author {
                    id: caller.user,
                    name: caller.name,
                },
            ))
        }
        Err(unauthorized) => {
            let token = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(unauthorized)?;
            let claims = app
                .signer
                .verify(token.trim(), unix_now())
                .map_err(|_| ApiError::unauthorized())?;
            let i = app
                .store
                .get::<Interaction>(id)
                .await?
                .filter(|i| i.room == claims.room && claims.sub == CLIENT_PARTICIPANT)
                .ok_or_else(|| ApiError::not_found("interaction"))?;
            Ok((
                i,
                Author {
                    id: CLIENT_PARTICIPANT.into(),
                    name: claims.name,
                },
            ))
        }
    }
}

/// `POST .../messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Text.
    pub text: String,
}

/// The chat so far, oldest first.
pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let (i, _) = participant(&app, &headers, &id).await?;
            let messages = app
                .store
                .find::<ChatMessage>(
                    &Filter::all()
                        .tenants(vec![i.tenant])
                        .eq("interaction", i.id.as_str())
                        .order(Order::Id)
                        .page(0, 10_000),
                )
                .await?;
            Ok(Json(messages))
        }
        .await,
    )
}

/// Adds a message.
pub async fn send(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let (i, author) = participant(&app, &headers, &id).await?;
            let request: NewMessage = parse_json(&body)?;
            let text = request.text.trim();
            if text.is_empty() || text.chars().count() > MAX_TEXT {
                return Err(ApiError::bad_request(format!(
                    "text is 1 to {MAX_TEXT} characters"
                )));
            }
            if i.state.is_final() {
                return Err(ApiError::conflict(format!(
                    "the interaction is {}",
                    i.state.as_str()
                )));
            }
            let message = post(&app, &i, &author, text.to_string(), None, None).await?;
            Ok((StatusCode::CREATED, Json(message)))
        }
        .await,
    )
}

/// Stores a message (with `extra` records in the same transaction, and the events
/// `extra_events` makes, logged before it) and publishes them and `chat.message`.
pub async fn post(
    app: &App,
    i: &Interaction,
    author: &Author,
    text: String,
    file: Option<String>,
    extra: Option<(Batch, &(dyn Fn() -> Vec<Event> + Sync))>,
) -> Result<ChatMessage, ApiError> {
    let _order = app.events.ordered().await;
    let (mut batch, before) = match extra {
        Some((batch, events)) => (batch, events()),
        None => (Batch::new(), Vec::new()),
    };
    for e in &before {
        batch.insert(e);
    }
    let message = ChatMessage {
        id: new_id(),
        tenant: i.tenant.clone(),
        interaction: i.id.clone(),
        at: now_ms(),
        from: author.id.clone(),
        name: author.name.clone(),
        text,
        file,
        geo: None,
    };
    let event = prepare(NewEvent {
        tenant: &i.tenant,
        kind: "chat.message",
        interaction: Some(&i.id),
        actor: &author.id,
        data: json!({ "message": message.id, "file": message.file }),
    });
    batch.insert(&message).insert(&event);
    app.store.commit(batch).await?;
    for e in &before {
        app.events.announce(e);
    }
    app.events.announce(&event);
    Ok(message)
}

/// Shares a position in the chat: stored as a message and a `geo.position` event with
/// a map link; the address follows as `geo.address` once the geocoder answers.
pub async fn share_position(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let (i, author) = participant(&app, &headers, &id).await?;
            let position: crate::geo::Position = parse_json(&body)?;
            position.check().map_err(ApiError::bad_request)?;
            let order = app.events.ordered().await;
            let now = now_ms();
            if position.at.is_some_and(|t| (t - now).abs() > 24 * 3600 * 1000) {
                return Err(ApiError::bad_request("at is Unix ms within a day of now"));
            }
            if i.state.is_final() {
                return Err(ApiError::conflict(format!("the interaction is {}", i.state.as_str())));
            }
            let geo = json!({
                "lat": position.lat,
                "lon": position.lon,
                "accuracy": position.accuracy,
                "at": position.at.unwrap_or(now),
                "map_url": crate::geo::yandex_map_url(position.lat, position.lon),
            });
            let message = ChatMessage {
                id: new_id(),
                tenant: i.tenant.clone(),
                interaction: i.id.clone(),
                at: now,
                from: author.id.clone(),
                name: author.name.clone(),
                text: String::new(),
                file: None,
                geo: Some(geo.clone()),
            };
            let chat_event = prepare(NewEvent {
                tenant: &i.tenant,
                kind: "chat.message",
                interaction: Some(&i.id),
                actor: &author.id,
                data: json!({ "message": message.id, "file": null, "geo": true }),
            });
            let geo_event = prepare(NewEvent {
                tenant: &i.tenant,
                kind: "geo.position",
                interaction: Some(&i.id),
                actor: &author.id,
                data: geo.clone(),
            });
            let mut batch = Batch::new();
            batch.insert(&message).insert(&chat_event).insert(&geo_event);
            app.store.commit(batch).await?;
            app.events.announce(&chat_event);
            app.events.announce(&geo_event);
            drop(order);
            let (app2, i2, actor) = (app.clone(), i.clone(), author.id.clone());
            tokio::spawn(async move {
                let found = app2
                    .geocoder
                    .reverse(&app2.http, &app2.config.geo, position.lat, position.lon)
                    .await;
                let data = match found {
                    Ok(Some(a)) => json!({ "lat": position.lat, "lon": position.lon, "display_name": a.display_name, "address": a.address, "licence": a.licence }),
                    Ok(None) => json!({ "lat": position.lat, "lon": position.lon, "display_name": null, "reason": "no address at this position" }),
                    Err(reason) => json!({ "lat": position.lat, "lon": position.lon, "display_name": null, "reason": reason }),
                };
                let _ = app2
                    .events
                    .publish(NewEvent { tenant: &i2.tenant, kind: "geo.address", interaction: Some(&i2.id), actor: &actor, data })
                    .await;
            });
            Ok((StatusCode::CREATED, Json(message)))
        }
        .await,
    )
}
