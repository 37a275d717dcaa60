//! Interactions under `/api/interactions`: create, read, list, change, end, cancel,
//! join, history.
//!
//! Agents see and act on their own interactions; supervisors and admins on every
//! interaction of their scope. Anything else is 404, so ids of others do not leak.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, Page, Paging, check_text, parse_json, parse_query, respond};
use crate::app::App;
use crate::auth::caller::{Caller, authenticate};
use crate::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::events::{NewEvent, prepare};
use crate::interactions::{ChangeError, STAFF_PREFIX, change_state};
use crate::model::interaction::{ClientContact, Quality, VideoMode};
use crate::model::{Event, Interaction, Link, Role, State as IState, Tenant, User};
use crate::store::ids::{new_id, now_ms, short_code};
use crate::store::{Batch, Cond, Filter, Order, Value};

const YEAR_MS: i64 = 366 * 24 * 3600 * 1000;

/// `POST /api/interactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// The client.
    pub client: ClientContact,
    /// Values of the tenant's custom fields.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// When (Unix ms); none: now.
    pub scheduled_at: Option<i64>,
    /// Video mode (default two-way).
    pub video: Option<VideoMode>,
    /// Quality cap (default high).
    pub max_quality: Option<Quality>,
    /// Record the call (default yes).
    pub recording: Option<bool>,
    /// The agent (supervisors and admins may assign one; default: the caller).
    pub agent: Option<String>,
}

/// `PATCH /api/interactions/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionPatch {
    /// The client.
    pub client: Option<ClientContact>,
    /// Custom fields (replaced whole).
    pub fields: Option<BTreeMap<String, String>>,
    /// New time, while scheduled.
    pub scheduled_at: Option<i64>,
    /// Video mode.
    pub video: Option<VideoMode>,
    /// Quality cap.
    pub max_quality: Option<Quality>,
    /// Recording.
    pub recording: Option<bool>,
}

/// `GET /api/interactions?state=&agent=&from=&to=&offset=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionQuery {
    /// Only this state.
    pub state: Option<IState>,
    /// Only this agent's.
    pub agent: Option<String>,
    /// Created at or after (Unix ms).
    pub from: Option<i64>,
    /// Created before (Unix ms).
    pub to: Option<i64>,
    /// Records to skip.
    #[serde(default)]
    pub offset: u64,
    /// Records to return.
    #[serde(default = "super::default_limit")]
    pub limit: u64,
}

/// An interaction as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct InteractionView {
    /// The record.
    #[serde(flatten)]
    pub interaction: Interaction,
    /// The client's link.
    pub link_url: String,
}

fn link_ttl_ms(app: &App) -> i64 {
    i64::try_from(app.config.interactions.link_ttl_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

fn view(app: &App, i: Interaction) -> InteractionView {
    InteractionView {
        link_url: format!("{}/j/{}", app.public_base, i.link),
        interaction: i,
    }
}

/// `{"reason": "..."}` of end and cancel (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndRequest {
    /// Why.
    pub reason: Option<String>,
}

/// A join token for staff.
#[derive(Debug, Serialize, Deserialize)]
pub struct StaffJoin {
    /// The room.
    pub room: String,
    /// The join token.
    pub token: String,
    /// The page to open.
    pub join_url: String,
}

fn check_contact(c: &ClientContact) -> Result<(), ApiError> {
    if !c.name.is_empty() {
        check_text("client.name", &c.name, 100)?;
    }
    if let Some(phone) = &c.phone {
        let digits = phone.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request(
                "client.phone must be E.164: + and 8 to 15 digits",
            ));
        }
    }
    if let Some(chat) = &c.telegram_chat {
        let numeric = chat.strip_prefix('-').unwrap_or(chat);
        let ok = (!numeric.is_empty()
            && numeric.len() <= 20
            && numeric.bytes().all(|b| b.is_ascii_digit()))
            || (chat.starts_with('@')
                && (6..=33).contains(&chat.len())
                && chat[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !ok {
            return Err(ApiError::bad_request(
                "client.telegram_chat is a numeric chat id or an @username",
            ));
        }
    }
    Ok(())
}

fn check_custom(tenant: &Tenant, fields: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in fields {
        if !tenant.custom_fields.iter().any(|f| &f.key == k) {
            return Err(ApiError::bad_request(format!(
                "fields.{k} is not a custom field of this tenant"
            )));
        }
        if v.chars().count() > 500 || v.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "fields.{k} is at most 500 printable characters"
            )));
        }
    }
    for f in tenant.custom_fields.iter().filter(|f| f.required) {
        if fields.get(&f.key).is_none_or(|v| v.trim().is_empty()) {
            return Err(ApiError::bad_request(format!(
                "fields.{} is required",
                f.key
            )));
        }
    }
    Ok(())
}

/// The interaction if the caller may see it, else 404.
pub async fn visible(app: &App, caller: &Caller, id: &str) -> Result<Interaction, ApiError> {
    match app.store.get::<Interaction>(id).await? {
        Some(i) if caller.sees_call(&i.tenant, &i.agent) => Ok(i),
        _ => Err(ApiError::not_found("interaction")),
    }
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::Missing => ApiError::not_found("interaction"),
        ChangeError::Transition(t) => ApiError::conflict(t.to_string()),
        ChangeError::Store(e) => e.into(),
    }
}

/// Creates an interaction, its room and its client link.
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            if app.is_draining() {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "draining",
                    "the server is shutting down",
                ));
            }
            let request: NewInteraction = parse_json(&body)?;
            check_contact(&request.client)?;
            let (agent, tenant_id) = match &request.agent {
                Some(agent) if *agent != caller.user => {
                    caller.require(Role::Supervisor)?;
                    let user = app
                        .store
                        .get::<User>(agent)
                        .await?
                        .filter(|u| caller.sees(&u.tenant) && !u.disabled)
                        .ok_or_else(|| ApiError::bad_request("agent: no such user"))?;
                    (user.id, user.tenant)
                }
                _ => {
                    if caller.user == "system" {
                        return Err(ApiError::bad_request(
                            "the bootstrap token must name an agent",
                        ));
                    }
                    (caller.user.clone(), caller.tenant.clone())
                }
            };
            let tenant = app
                .store
                .get::<Tenant>(&tenant_id)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
            check_custom(&tenant, &request.fields)?;
            let now = now_ms();
            if let Some(at) = request.scheduled_at
                && (at < now - 60_000 || at > now + YEAR_MS)
            {
                return Err(ApiError::bad_request(
                    "scheduled_at is Unix ms, not in the past and within a year",
                ));
            }
            let start = request.scheduled_at.unwrap_or(now).max(now);
            let ttl_ms = link_ttl_ms(&app);
            let id = new_id();
            let code = short_code(app.config.interactions.link_code_length);
            let state = if start > now {
                IState::Scheduled
            } else {
                IState::Waiting
            };
            let interaction = Interaction {
                id: id.clone(),
                tenant: tenant.id.clone(),
                agent,
                client: request.client,
                fields: request.fields,
                scheduled_at: request.scheduled_at,
                video: request.video.unwrap_or(VideoMode::TwoWay),
                max_quality: request.max_quality.unwrap_or(Quality::High),
                recording: request.recording.unwrap_or(true),
                state,
                room: id.clone(),
                link: code.clone(),
                link_expires_at: start.saturating_add(ttl_ms),
                created_at: now,
                updated_at: now,
                connected_at: None,
                ended_at: None,
                end_reason: None,
                ended_by: None,
                cdr_at: None,
            };
            let _order = app.events.ordered().await;
            let event = prepare(NewEvent {
                tenant: &interaction.tenant,
                kind: "interaction.created",
                interaction: Some(&id),
                actor: &caller.user,
                data: json!({
                    "agent": interaction.agent,
                    "state": state.as_str(),
                    "scheduled_at": interaction.scheduled_at,
                    "recording": interaction.recording,
                    "video": interaction.video,
                }),
            });
            let mut batch = Batch::new();
            batch
                .insert(&Link {
                    id: code,
                    tenant: tenant.id.clone(),
                    interaction: id.clone(),
                    created_at: now,
                    expires_at: interaction.link_expires_at,
                    device: None,
                    opened_at: None,
                })
                .insert(&interaction)
                .insert(&event);
            app.store.commit(batch).await?;
            app.events.announce(&event);
            Ok((StatusCode::CREATED, Json(view(&app, interaction))))
        }
        .await,
    )
}

/// One interaction.
pub async fn get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            Ok(Json(view(&app, visible(&app, &caller, &id).await?)))
        }
        .await,
    )
}

/// Lists interactions, newest first.
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let q: InteractionQuery = parse_query(&uri)?;
            let paging = Paging {
                offset: q.offset,
                limit: q.limit,
            }
            .checked()?;
            let mut filter = Filter::all().tenants(caller.scope.clone());
            if !caller.is(Role::Supervisor) {
                filter = filter.eq("agent", caller.user.as_str());
            } else if let Some(agent) = &q.agent {
                filter = filter.eq("agent", agent.as_str());
            }
            if let Some(state) = q.state {
                filter = filter.eq("state", state.as_str());
            }
            if let Some(from) = q.from {
                filter = filter.and(Cond::Gte("created_at", Value::Int(from)));
            }
            if let Some(to) = q.to {
                filter = filter.and(Cond::Lt("created_at", Value::Int(to)));
            }
            let total = app.store.count::<Interaction>(&filter).await?;
            let items = app
                .store
                .find::<Interaction>(
                    &filter
                        .order(Order::IdDesc)
                        .page(paging.offset, paging.limit),
                )
                .await?;
            Ok(Json(Page {
                items: items.into_iter().map(|i| view(&app, i)).collect::<Vec<_>>(),
                total,
                offset: paging.offset,
                limit: paging.limit,
            }))
        }
        .await,
    )
}

/// Changes an interaction that has not ended.
pub async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let current = visible(&app, &caller, &id).await?;
            let patch: InteractionPatch = parse_json(&body)?;
            if let Some(c) = &patch.client {
                check_contact(c)?;
            }
            if let Some(f) = &patch.fields {
                let tenant = app
                    .store
                    .get::<Tenant>(&current.tenant)
                    .await?
                    .ok_or_else(|| ApiError::not_found("tenant"))?;
                check_custom(&tenant, f)?;
            }
            let now = now_ms();
            if let Some(at) = patch.scheduled_at
                && (at < now || at > now + YEAR_MS)
            {
                return Err(ApiError::bad_request(
                    "scheduled_at must be in the next year",
                ));
            }
            let ttl_ms = link_ttl_ms(&app);
            let changed: Vec<&'static str> = [
                patch.client.as_ref().map(|_| "client"),
                patch.fields.as_ref().map(|_| "fields"),
                patch.scheduled_at.map(|_| "scheduled_at"),
                patch.video.map(|_| "video"),
                patch.max_quality.map(|_| "max_quality"),
                patch.recording.map(|_| "recording"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let patch_moves_link = patch.scheduled_at.is_some();
            let recording_changed = patch.recording.is_some();
            let actor = caller.user.clone();
            let order = app.events.ordered().await;
            let (updated, event) = app
                .store
                .update_with::<Interaction, _, ApiError, _>(&id, move |i, batch| {
                    if i.state.is_final() {
                        return Err(ApiError::conflict(format!(
                            "the interaction is {}",
                            i.state.as_str()
                        )));
                    }
                    if let Some(at) = patch.scheduled_at {
                        if i.state != IState::Scheduled {
                            return Err(ApiError::conflict(
                                "only a scheduled interaction can be moved",
                            ));
                        }
                        i.scheduled_at = Some(at);
                        i.link_expires_at = at.saturating_add(ttl_ms);
                    }
                    if let Some(c) = &patch.client {
                        i.client = c.clone();
                    }
                    if let Some(f) = &patch.fields {
                        i.fields = f.clone();
                    }
                    if let Some(v) = patch.video {
                        i.video = v;
                    }
                    if let Some(q) = patch.max_quality {
                        i.max_quality = q;
                    }
                    if let Some(r) = patch.recording {
                        i.recording = r;
                    }
                    i.updated_at = now;
                    let event = prepare(NewEvent {
                        tenant: &i.tenant,
                        kind: "interaction.updated",
                        interaction: Some(&i.id),
                        actor: &actor,
                        data: json!({ "changed": changed }),
                    });
                    batch.insert(&event);
                    Ok((i.clone(), event))
                })
                .await?
                .ok_or_else(|| ApiError::not_found("interaction"))??;
            if patch_moves_link {
                let expires = updated.link_expires_at;
                app.store
                    .update::<Link, _, (), _>(&updated.link, move |l| {
                        l.expires_at = expires;
                        Ok(())
                    })
                    .await?;
            }
            app.events.announce(&event);
            drop(order);
            if updated.state == IState::Connected && recording_changed {
                crate::interactions::set_recording(&app, &updated.room, updated.recording);
                if updated.recording {
                    crate::recordings::started(&app, &updated).await;
                }
            }
            Ok(Json(view(&app, updated)))
        }
        .await,
    )
}

async fn finish(
    app: &Arc<App>,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    to: IState,
) -> Result<Json<InteractionView>, ApiError> {
    let caller = authenticate(app, headers).await?;
    let current = visible(app, &caller, id).await?;
    let request: EndRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EndRequest::default()
    } else {
        parse_json(body)?
    };
    if let Some(r) = &request.reason {
        check_text("reason", r, 200)?;
    }
    let default_reason = if to == IState::Ended {
        "ended by agent"
    } else {
        "cancelled by agent"
    };
    if to == IState::Ended && current.state != IState::Connected {
        return Err(ApiError::conflict(format!(
            "only a connected interaction can end; this one is {} (cancel it instead)",
            current.state.as_str()
        )));
    }
    let reason = request.reason.as_deref().unwrap_or(default_reason);
    let changed = change_state(app, id, to, &caller.user, Some(reason))
        .await
        .map_err(change_error)?;
    // Whoever is still in the room is told the call is over.
    if to == IState::Ended
        && let Ok(room) = vchat_sfu::RoomId::new(&changed.room)
    {
        app.sfu.close_room(room);
    }
    Ok(Json(view(app, changed)))
}

/// Ends a connected interaction.
pub async fn end(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(finish(&app, &headers, &id, &body, IState::Ended).await)
}

/// Calls off an interaction that has not connected.
pub async fn cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(finish(&app, &headers, &id, &body, IState::Cancelled).await)
}

/// A join token for the agent (or a supervisor) to enter the interaction's room.
pub async fn join(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let i = visible(&app, &caller, &id).await?;
            if i.state.is_final() {
                return Err(ApiError::conflict(format!(
                    "the interaction is {}",
                    i.state.as_str()
                )));
            }
            if caller.user == "system" {
                return Err(ApiError::forbidden("the bootstrap token cannot join calls"));
            }
            let now = unix_now();
            let claims = JoinClaims {
                room: i.room.clone(),
                sub: format!("{STAFF_PREFIX}{}", caller.user.to_lowercase()),
                name: caller.name.clone(),
                aud: JOIN_AUDIENCE.into(),
                iat: now,
                exp: now + app.config.rooms.token_ttl_secs,
            };
            let token = app.signer.sign(&claims);
            Ok(Json(StaffJoin {
                join_url: format!("{}/room/#token={token}", app.public_base),
                room: i.room,
                token,
            }))
        }
        .await,
    )
}

/// The interaction's events, oldest first.
pub async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let i = visible(&app, &caller, &id).await?;
            let events = app
                .store
                .find::<Event>(
                    &Filter::all()
                        .tenants(vec![i.tenant.clone()])
                        .eq("interaction", i.id.as_str())
                        .order(Order::Id)
                        .page(0, 10_000),
                )
                .await?;
            Ok(Json(events))
        }
        .await,
    )
}

/// `POST /api/interactions/{id}/send`: `{"channels": [...]}` overrides the tenant's
/// chain for this sending.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Channels to try in order.
    pub channels: Option<Vec<String>>,
}

/// A delivery that started.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendStarted {
    /// The delivery's id (in its `delivery.*` events).
    pub delivery: String,
    /// The channels it will try.
    pub channels: Vec<String>,
}

/// Sends the client's link; progress lands in the interaction's events.
pub async fn send_link(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let i = visible(&app, &caller, &id).await?;
            let request: SendRequest = if body.iter().all(u8::is_ascii_whitespace) {
                SendRequest::default()
            } else {
                parse_json(&body)?
            };
            if i.state.is_final() {
                return Err(ApiError::conflict(format!(
                    "the interaction is {}",
                    i.state.as_str()
                )));
            }
            let tenant = app
                .store
                .get::<Tenant>(&i.tenant)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
            let chain = match request.channels {
                Some(c) => c,
                None if !tenant.delivery_chain.is_empty() => tenant.delivery_chain.clone(),
                None => app.config.delivery.chain.clone(),
            };
            crate::delivery::check_chain("channels", &chain)?;
            if chain.is_empty() {
                return Err(ApiError::bad_request("channels is empty"));
            }
            let delivery =
                crate::delivery::start(app.clone(), i, tenant, chain.clone(), caller.user.clone());
            Ok((
                StatusCode::ACCEPTED,
                Json(SendStarted {
                    delivery,
                    channels: chain,
                }),
            ))
        }
        .await,
    )
}
