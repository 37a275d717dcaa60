//! Interactions: one agent's call with one client, from creation to its end.
//!
//! Agents see and act on their own interactions; supervisors and admins on every
//! interaction of their scope. Anything else is "not found", so ids of others do not
//! leak. Their life — state changes, the clock, joins and leaves, restarts — is in
//! [`lifecycle`].

pub mod lifecycle;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use lifecycle::{CLIENT_PARTICIPANT, STAFF_PREFIX};

use crate::domain::auth::Caller;
use crate::domain::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::fields::{
    Channel, FieldKey, MessageText, Millis, OptionalText, Phone, Printable, SendChannels,
    TelegramChat, Text,
};
use crate::domain::paging::{Page, Paging};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::interaction::{Camera, ClientContact, Quality, VideoMode};
use crate::model::tenant::Language;
use crate::model::{Event, Interaction, Link, Role, State, Tenant, User};
use crate::store::ids::{new_id, now_ms, short_code};
use crate::store::{Batch, Filter};

service!(
    /// Interactions and their calls.
    Interactions
);

/// How far ahead a call may be scheduled.
const YEAR_MS: i64 = 366 * 24 * 3600 * 1000;

/// How to reach the client, as a request gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Name as the agent typed it (may be empty).
    #[serde(default)]
    pub name: OptionalText<100>,
    /// Phone in E.164 (`+79991234567`), for SMS.
    #[serde(default)]
    pub phone: Option<Phone>,
    /// Telegram chat id or @username, for the bot.
    #[serde(default)]
    pub telegram_chat: Option<TelegramChat>,
}

impl From<ContactInput> for ClientContact {
    fn from(c: ContactInput) -> ClientContact {
        ClientContact {
            name: c.name.into_string(),
            phone: c.phone.map(Phone::into_string),
            telegram_chat: c.telegram_chat.map(TelegramChat::into_string),
        }
    }
}

/// `POST /api/interactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// The client.
    pub client: ContactInput,
    /// Values of the tenant's custom fields: only its keys (`custom_fields` of the
    /// tenant; others are refused), at most 500 printable characters each.
    #[serde(default)]
    pub fields: BTreeMap<FieldKey, Printable<500>>,
    /// When (Unix ms, within a year; a minute in the past is taken as now); none: now.
    pub scheduled_at: Option<Millis>,
    /// Video mode (default two-way).
    pub video: Option<VideoMode>,
    /// Quality cap (default 720p).
    pub max_quality: Option<Quality>,
    /// Record the call (default yes).
    pub recording: Option<bool>,
    /// The camera the client's page opens first (default the front one).
    pub camera: Option<Camera>,
    /// The client's language (default: the tenant's).
    pub language: Option<Language>,
    /// The agent (supervisors and admins may assign one; default: the caller).
    pub agent: Option<String>,
}

/// `PATCH /api/interactions/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionPatch {
    /// The client.
    pub client: Option<ContactInput>,
    /// Custom fields (replaced whole; only the tenant's keys).
    pub fields: Option<BTreeMap<FieldKey, Printable<500>>>,
    /// New time (within the next year), while scheduled.
    pub scheduled_at: Option<Millis>,
    /// Video mode.
    pub video: Option<VideoMode>,
    /// Quality cap.
    pub max_quality: Option<Quality>,
    /// Recording.
    pub recording: Option<bool>,
    /// The camera the client's page opens first.
    pub camera: Option<Camera>,
    /// The client's language.
    pub language: Option<Language>,
    /// The agent's notes (also after the call).
    #[serde(default)]
    pub notes: Option<MessageText>,
}

/// `GET /api/interactions?state=&agent=&from=&to=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InteractionQuery {
    /// Only this state.
    pub state: Option<State>,
    /// Only this agent's (supervisors and admins).
    pub agent: Option<String>,
    /// Created at or after (Unix ms).
    #[serde(default, deserialize_with = "Millis::in_query")]
    pub from: Option<Millis>,
    /// Created before (Unix ms).
    #[serde(default, deserialize_with = "Millis::in_query")]
    pub to: Option<Millis>,
}

/// An interaction as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InteractionView {
    /// The record.
    #[serde(flatten)]
    pub interaction: Interaction,
    /// The client's link; `null` for an intercom's call (nobody opens a link to it).
    pub link_url: Option<String>,
}

/// `{"reason": "..."}` of end and cancel (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndRequest {
    /// Why.
    pub reason: Option<Text<200>>,
}

/// A join token for staff.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffJoin {
    /// The room.
    pub room: String,
    /// The join token.
    pub token: String,
    /// The page to open.
    pub join_url: String,
}

/// `POST /api/interactions/{id}/send`: `{"channels": [...]}` overrides the tenant's
/// chain for this sending.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Channels to try in order.
    pub channels: Option<SendChannels>,
}

/// A delivery that started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendStarted {
    /// The delivery's id (in its `delivery.*` events).
    pub delivery: String,
    /// The channels it will try.
    pub channels: Vec<String>,
}

/// Checks the custom field values against the tenant's fields; their plain text.
fn check_custom(
    tenant: &Tenant,
    fields: BTreeMap<FieldKey, Printable<500>>,
) -> DomainResult<BTreeMap<String, String>> {
    let fields: BTreeMap<String, Printable<500>> = fields
        .into_iter()
        .map(|(k, v)| (k.into_string(), v))
        .collect();
    for k in fields.keys() {
        if !tenant.custom_fields.iter().any(|f| &f.key == k) {
            return Err(DomainError::invalid(format!(
                "fields.{k} is not a custom field of this tenant"
            )));
        }
    }
    for f in tenant.custom_fields.iter().filter(|f| f.required) {
        if fields
            .get(&f.key)
            .is_none_or(|v| v.as_str().trim().is_empty())
        {
            return Err(DomainError::invalid(format!(
                "fields.{} is required",
                f.key
            )));
        }
    }
    Ok(fields
        .into_iter()
        .map(|(k, v)| (k, v.as_str().to_string()))
        .collect())
}

impl Interactions {
    fn link_ttl_ms(&self) -> i64 {
        i64::try_from(self.0.config.interactions.link_ttl_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    }

    /// The interaction as the API shows it.
    pub fn view(&self, i: Interaction) -> InteractionView {
        InteractionView {
            link_url: (i.kind == crate::model::interaction::Kind::Client)
                .then(|| format!("{}/j/{}", self.0.public_base, i.link)),
            interaction: i,
        }
    }

    /// The interaction if the caller may see it, else "not found".
    pub async fn visible(&self, caller: &Caller, id: &str) -> DomainResult<Interaction> {
        match self.0.store.get::<Interaction>(id).await? {
            Some(i) if caller.sees_call(&i.tenant, &i.agent) => Ok(i),
            _ => Err(DomainError::not_found("interaction")),
        }
    }

    async fn tenant(&self, id: &str) -> DomainResult<Tenant> {
        self.0
            .store
            .get::<Tenant>(id)
            .await?
            .ok_or_else(|| DomainError::not_found("tenant"))
    }

    /// Creates an interaction, its room and its client link.
    pub async fn create(
        &self,
        caller: &Caller,
        request: NewInteraction,
    ) -> DomainResult<InteractionView> {
        self.0.refuse_if_draining()?;
        let (agent, tenant_id) = match &request.agent {
            Some(agent) if *agent != caller.user => {
                caller.require(Role::Supervisor)?;
                let user = self
                    .0
                    .store
                    .get::<User>(agent)
                    .await?
                    .filter(|u| caller.sees(&u.tenant) && !u.disabled)
                    .ok_or_else(|| DomainError::invalid("agent: no such user"))?;
                (user.id, user.tenant)
            }
            _ => {
                if caller.is_bootstrap() {
                    return Err(DomainError::invalid(
                        "the bootstrap token must name an agent",
                    ));
                }
                (caller.user.clone(), caller.tenant.clone())
            }
        };
        let tenant = self.tenant(&tenant_id).await?;
        let fields = check_custom(&tenant, request.fields)?;
        let now = now_ms();
        let scheduled_at = request.scheduled_at.map(|m| m.0);
        if let Some(at) = scheduled_at
            && (at < now - 60_000 || at > now + YEAR_MS)
        {
            return Err(DomainError::invalid(
                "scheduled_at is Unix ms, not in the past and within a year",
            ));
        }
        let start = scheduled_at.unwrap_or(now).max(now);
        let id = new_id();
        let code = short_code(self.0.config.interactions.link_code_length);
        let state = if start > now {
            State::Scheduled
        } else {
            State::Waiting
        };
        let interaction = Interaction {
            id: id.clone(),
            tenant: tenant.id.clone(),
            agent,
            client: request.client.into(),
            fields,
            scheduled_at,
            video: request.video.unwrap_or(VideoMode::TwoWay),
            max_quality: request.max_quality.unwrap_or(Quality::P720),
            recording: request.recording.unwrap_or(true),
            camera: request.camera.unwrap_or_default(),
            language: request.language,
            state,
            room: id.clone(),
            link: code.clone(),
            link_expires_at: start.saturating_add(self.link_ttl_ms()),
            created_at: now,
            updated_at: now,
            connected_at: None,
            ended_at: None,
            end_reason: None,
            ended_by: None,
            cdr_at: None,
            surveyed_at: None,
            notes: String::new(),
            kind: crate::model::interaction::Kind::Client,
            intercom: None,
        };
        let created = NewEvent::about(
            &interaction.tenant,
            &id,
            &caller.user,
            EventKind::InteractionCreated {
                agent: interaction.agent.clone(),
                state,
                scheduled_at: interaction.scheduled_at,
                recording: interaction.recording,
                video: interaction.video,
            },
        );
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
            .insert(&interaction);
        self.0.events.commit(batch, vec![created]).await?;
        Ok(self.view(interaction))
    }

    /// One interaction.
    pub async fn get(&self, caller: &Caller, id: &str) -> DomainResult<InteractionView> {
        Ok(self.view(self.visible(caller, id).await?))
    }

    /// Interactions, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        q: InteractionQuery,
        paging: Paging,
    ) -> DomainResult<Page<InteractionView>> {
        let mut filter = Filter::<Interaction>::all().tenants(caller.scope.clone());
        if !caller.is(Role::Supervisor) {
            filter = filter.eq(Interaction::AGENT, caller.user.as_str());
        } else if let Some(agent) = &q.agent {
            filter = filter.eq(Interaction::AGENT, agent.as_str());
        }
        if let Some(state) = q.state {
            filter = filter.eq(Interaction::STATE, state.as_str());
        }
        if let Some(from) = q.from {
            filter = filter.at_least(Interaction::CREATED_AT, from.0);
        }
        if let Some(to) = q.to {
            filter = filter.below(Interaction::CREATED_AT, to.0);
        }
        let total = self.0.store.count(&filter).await?;
        let items = self
            .0
            .store
            .find(&filter.newest_first().page(paging.offset, paging.limit))
            .await?;
        Ok(paging.of(items.into_iter().map(|i| self.view(i)).collect(), total))
    }

    /// Changes an interaction that has not ended.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        patch: InteractionPatch,
    ) -> DomainResult<InteractionView> {
        let current = self.visible(caller, id).await?;
        let fields = match patch.fields {
            Some(f) => Some(check_custom(&self.tenant(&current.tenant).await?, f)?),
            None => None,
        };
        let now = now_ms();
        let scheduled_at = patch.scheduled_at.map(|m| m.0);
        if let Some(at) = scheduled_at
            && (at < now || at > now + YEAR_MS)
        {
            return Err(DomainError::invalid(
                "scheduled_at must be in the next year",
            ));
        }
        let ttl_ms = self.link_ttl_ms();
        let changed: Vec<String> = [
            patch.client.as_ref().map(|_| "client"),
            fields.as_ref().map(|_| "fields"),
            scheduled_at.map(|_| "scheduled_at"),
            patch.video.map(|_| "video"),
            patch.max_quality.map(|_| "max_quality"),
            patch.recording.map(|_| "recording"),
            patch.camera.map(|_| "camera"),
            patch.language.map(|_| "language"),
            patch.notes.as_ref().map(|_| "notes"),
        ]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
        let recording_changed = patch.recording.is_some();
        let quality_changed = patch.max_quality.is_some();
        let client: Option<ClientContact> = patch.client.map(Into::into);
        let (video, max_quality, recording) = (patch.video, patch.max_quality, patch.recording);
        let (camera, language) = (patch.camera, patch.language);
        let notes = patch.notes.map(MessageText::into_string);
        // After the call only what the agent writes about it changes.
        let after_call_only = changed.iter().all(|c| c == "notes" || c == "fields");
        let actor = caller.user.clone();
        let (updated, _) = self
            .0
            .events
            .update::<Interaction, _, DomainError, _>(id, move |i| {
                if i.state.is_final() && !after_call_only {
                    return Err(DomainError::conflict(format!(
                        "the interaction is {}: only its notes and fields change now",
                        i.state.as_str()
                    )));
                }
                if let Some(n) = &notes {
                    i.notes = n.clone();
                }
                if let Some(at) = scheduled_at {
                    if i.state != State::Scheduled {
                        return Err(DomainError::conflict(
                            "only a scheduled interaction can be moved",
                        ));
                    }
                    i.scheduled_at = Some(at);
                    i.link_expires_at = at.saturating_add(ttl_ms);
                }
                if let Some(c) = &client {
                    i.client = c.clone();
                }
                if let Some(f) = &fields {
                    i.fields = f.clone();
                }
                if let Some(v) = video {
                    i.video = v;
                }
                if let Some(q) = max_quality {
                    i.max_quality = q;
                }
                if let Some(r) = recording {
                    i.recording = r;
                }
                if let Some(c) = camera {
                    i.camera = c;
                }
                if let Some(l) = language {
                    i.language = Some(l);
                }
                i.updated_at = now;
                let event = NewEvent::about(
                    &i.tenant,
                    &i.id,
                    &actor,
                    EventKind::InteractionUpdated {
                        changed: changed.clone(),
                    },
                );
                Ok((i.clone(), vec![event]))
            })
            .await?
            .ok_or_else(|| DomainError::not_found("interaction"))??;
        if scheduled_at.is_some() {
            let expires = updated.link_expires_at;
            self.0
                .store
                .update::<Link, _, (), _>(&updated.link, move |l| {
                    l.expires_at = expires;
                    Ok(())
                })
                .await?;
        }
        if quality_changed {
            // A new cap takes effect in the call at once (the SFU's next pass).
            self.lifecycle()
                .set_video_cap(&updated.room, updated.max_quality);
        }
        if updated.state == State::Connected && recording_changed {
            self.lifecycle()
                .set_recording(&updated.room, updated.recording);
            if updated.recording {
                crate::domain::recordings::Recordings::from(self.0.clone())
                    .started(&updated)
                    .await;
            }
        }
        Ok(self.view(updated))
    }

    /// Ends a connected interaction (`to` = ended) or calls off one that has not
    /// connected (`to` = cancelled).
    pub async fn finish(
        &self,
        caller: &Caller,
        id: &str,
        request: EndRequest,
        to: State,
    ) -> DomainResult<InteractionView> {
        let current = self.visible(caller, id).await?;
        let default_reason = if to == State::Ended {
            "ended by agent"
        } else {
            "cancelled by agent"
        };
        if to == State::Ended && current.state != State::Connected {
            return Err(DomainError::conflict(format!(
                "only a connected interaction can end; this one is {} (cancel it instead)",
                current.state.as_str()
            )));
        }
        let reason = request
            .reason
            .map_or_else(|| default_reason.to_string(), Text::into_string);
        let changed = self
            .lifecycle()
            .change_state(id, to, &caller.user, Some(&reason))
            .await?;
        // Whoever is still in the room is told the call is over.
        if to == State::Ended
            && let Ok(room) = vchat_sfu::RoomId::new(&changed.room)
        {
            self.0.media.close_room(room);
        }
        Ok(self.view(changed))
    }

    /// A join token for the agent (or a supervisor) to enter the interaction's room.
    pub async fn join(&self, caller: &Caller, id: &str) -> DomainResult<StaffJoin> {
        let i = self.visible(caller, id).await?;
        if i.state.is_final() {
            return Err(DomainError::conflict(format!(
                "the interaction is {}",
                i.state.as_str()
            )));
        }
        if caller.is_bootstrap() {
            return Err(DomainError::Forbidden(
                "the bootstrap token cannot join calls".into(),
            ));
        }
        let now = unix_now();
        let token = self.0.signer.sign(&JoinClaims {
            room: i.room.clone(),
            sub: format!("{STAFF_PREFIX}{}", caller.user.to_lowercase()),
            name: caller.name.clone(),
            aud: JOIN_AUDIENCE.into(),
            iat: now,
            exp: now + self.0.config.rooms.token_ttl_secs,
        });
        Ok(StaffJoin {
            join_url: format!("{}/room/#token={token}", self.0.public_base),
            room: i.room,
            token,
        })
    }

    /// The interaction's events, oldest first.
    pub async fn events(&self, caller: &Caller, id: &str) -> DomainResult<Vec<Event>> {
        let i = self.visible(caller, id).await?;
        Ok(self
            .0
            .store
            .find::<Event>(
                &Filter::all()
                    .tenants(vec![i.tenant.clone()])
                    .eq(Event::INTERACTION, i.id.as_str())
                    .page(0, 10_000),
            )
            .await?)
    }

    /// Sends the client's link; progress lands in the interaction's events.
    pub async fn send_link(
        &self,
        caller: &Caller,
        id: &str,
        request: SendRequest,
    ) -> DomainResult<SendStarted> {
        let i = self.visible(caller, id).await?;
        if i.state.is_final() {
            return Err(DomainError::conflict(format!(
                "the interaction is {}",
                i.state.as_str()
            )));
        }
        let tenant = self.tenant(&i.tenant).await?;
        let chain: Vec<String> = match request.channels {
            Some(c) => c.into_vec().into_iter().map(Channel::into_string).collect(),
            None if !tenant.delivery_chain.is_empty() => tenant.delivery_chain.clone(),
            None => self.0.config.delivery.chain.clone(),
        };
        if chain.is_empty() {
            return Err(DomainError::invalid("channels is empty"));
        }
        let delivery = crate::domain::delivery::start(
            self.0.clone(),
            i,
            tenant,
            chain.clone(),
            caller.user.clone(),
        );
        Ok(SendStarted {
            delivery,
            channels: chain,
        })
    }

    /// The lifecycle handle over the same dependencies.
    pub fn lifecycle(&self) -> lifecycle::Lifecycle {
        lifecycle::Lifecycle::from(self.0.clone())
    }
}
