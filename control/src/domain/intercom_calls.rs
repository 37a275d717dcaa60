//! Intercom calls: a door panel rings, every agent of its tenant is rung, one answers
//! (or rejects), talks to the visitor through the room and opens the door from the
//! call. The call is an interaction of kind `intercom` whose agent is empty until
//! someone answers; the panel is its `client` participant, bridged into the room by
//! the SFU (`vchat_sfu::bridge`) as soon as the call is answered, before the agent's
//! page joins, so that the room speaks the panel's G.711 from its first browser on.

use std::time::Duration;

use serde::Deserialize;
use utoipa::ToSchema;
use vchat_intercom::frame::Codec;
use vchat_intercom::g711::Law;
use vchat_intercom::message::{Ring, ServerMessage};
use vchat_sfu::bridge::BridgeCodec;

use crate::domain::auth::Caller;
use crate::domain::devices::{COMMAND_WAIT, NoReply, Reply, ToDevice};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::interactions::{CLIENT_PARTICIPANT, InteractionView, Interactions, StaffJoin};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::interaction::{Camera, ClientContact, IntercomCall, Kind, Quality, VideoMode};
use crate::model::{Device, Interaction, Role, State};
use crate::store::ids::{new_id, now_ms, short_code};
use crate::store::{Batch, Filter};

service!(
    /// Intercom calls: rings, answers, the door.
    IntercomCalls
);

/// `POST /api/interactions/{id}/door`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDoor {
    /// The relay (default 1).
    #[serde(
        default = "first_relay",
        deserialize_with = "crate::domain::fields::whole_u8"
    )]
    #[schema(minimum = 0, maximum = 255)]
    pub relay: u8,
}

fn first_relay() -> u8 {
    1
}

impl Default for OpenDoor {
    fn default() -> OpenDoor {
        OpenDoor {
            relay: first_relay(),
        }
    }
}

/// The intercom side of an interaction; 409 for a call with a client.
fn intercom_of(i: &Interaction) -> DomainResult<IntercomCall> {
    i.intercom
        .clone()
        .ok_or_else(|| DomainError::conflict("this is not an intercom call"))
}

/// How a panel's session codec meets a room: G.711 and Opus pass through, L16 is
/// transcoded to the room's Opus; `complexity` is libopus's, for L16 and for a mix to
/// an Opus panel.
pub fn bridge_codec(codec: Codec, complexity: u8) -> BridgeCodec {
    match codec {
        Codec::Pcmu => BridgeCodec::G711(Law::Ulaw),
        Codec::Pcma => BridgeCodec::G711(Law::Alaw),
        Codec::L16 => BridgeCodec::L16 { complexity },
        Codec::Opus => BridgeCodec::Opus { complexity },
    }
}

impl IntercomCalls {
    /// `device` rang: a new interaction that rings its tenant's agents. Unanswered, it
    /// ends after `interactions.intercom_ring_secs`.
    pub async fn rang(&self, device: &Device, ring: &Ring) -> DomainResult<Interaction> {
        self.0.refuse_if_draining()?;
        let now = now_ms();
        let id = new_id();
        let flat = ring.flat.clone().or_else(|| ring.address.clone());
        let name = match &flat {
            Some(flat) => format!("{} · {flat}", device.name),
            None => device.name.clone(),
        };
        let interaction = Interaction {
            id: id.clone(),
            tenant: device.tenant.clone(),
            agent: String::new(),
            client: ClientContact {
                name,
                phone: None,
                telegram_chat: None,
            },
            fields: Default::default(),
            scheduled_at: None,
            video: VideoMode::OneWay,
            max_quality: Quality::P480,
            recording: self.0.config.interactions.intercom_recording,
            camera: Camera::Front,
            language: None,
            state: State::Waiting,
            room: id.clone(),
            // Nobody opens a link to an intercom call; its code only keeps the record
            // shaped like every other, and its expiry is the ring's (with a margin: the
            // ring's own timer says "no answer" first and tells the panel).
            link: short_code(self.0.config.interactions.link_code_length),
            link_expires_at: now + self.ring_timeout().as_millis() as i64 + 15_000,
            created_at: now,
            updated_at: now,
            connected_at: None,
            ended_at: None,
            end_reason: None,
            ended_by: None,
            cdr_at: None,
            surveyed_at: None,
            notes: String::new(),
            kind: Kind::Intercom,
            intercom: Some(IntercomCall {
                device: device.id.clone(),
                device_id: device.device.clone(),
                device_name: device.name.clone(),
                call: ring.call,
                call_kind: ring.kind.name().into(),
                flat,
                rang_at: now,
                answered_at: None,
                answered_by: None,
                answered_by_name: None,
                door_opened_at: None,
                door_opened_by: None,
                doors_opened: 0,
            }),
        };
        let created = NewEvent::about(
            &interaction.tenant,
            &id,
            &device.device,
            EventKind::InteractionCreated {
                agent: String::new(),
                state: State::Waiting,
                scheduled_at: None,
                recording: interaction.recording,
                video: VideoMode::OneWay,
            },
        );
        let mut batch = Batch::new();
        batch.insert(&interaction);
        self.0.events.commit(batch, vec![created]).await?;
        let this = self.clone();
        let (id, device_id, call) = (id.clone(), device.device.clone(), ring.call);
        let wait = self.ring_timeout();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if this.unanswered(&id).await {
                let _ = this
                    .interactions()
                    .lifecycle()
                    .change_state(&id, State::Expired, "system", Some("no answer"))
                    .await;
                this.0.devices.tell(
                    &device_id,
                    ToDevice::Hangup {
                        call,
                        reason: "no_answer".into(),
                    },
                );
            }
        });
        Ok(interaction)
    }

    /// How long a ring rings before it ends unanswered.
    fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.0.config.interactions.intercom_ring_secs)
    }

    async fn unanswered(&self, id: &str) -> bool {
        matches!(
            self.0.store.get::<Interaction>(id).await,
            Ok(Some(i)) if i.state == State::Waiting && i.agent.is_empty()
        )
    }

    /// Intercom calls ringing now that the caller may answer.
    pub async fn ringing(&self, caller: &Caller) -> DomainResult<Vec<InteractionView>> {
        caller.require(Role::Agent)?;
        let found = self
            .0
            .store
            .find::<Interaction>(
                &Filter::all()
                    .tenants(caller.scope.clone())
                    .eq(Interaction::STATE, State::Waiting.as_str())
                    .eq(Interaction::KIND, "intercom")
                    .page(0, 100),
            )
            .await?;
        let interactions = self.interactions();
        Ok(found
            .into_iter()
            .filter(|i| i.agent.is_empty())
            .map(|i| interactions.view(i))
            .collect())
    }

    /// The caller answers: the call is theirs, the panel joins the room, and the join
    /// token for the caller's page comes back. Someone else was quicker: 409.
    pub async fn answer(&self, caller: &Caller, id: &str) -> DomainResult<StaffJoin> {
        caller.require(Role::Agent)?;
        if caller.is_bootstrap() {
            return Err(DomainError::Forbidden(
                "the bootstrap token cannot answer calls".into(),
            ));
        }
        let i = self.interactions().visible(caller, id).await?;
        let call = intercom_of(&i)?;
        let codec = self
            .0
            .devices
            .codec(&call.device_id)
            .ok_or_else(|| DomainError::conflict("the intercom went offline"))?;
        let complexity = self.0.config.interactions.intercom_opus_complexity;
        let bridged = bridge_codec(codec, complexity);
        let (user, name) = (caller.user.clone(), caller.name.clone());
        let now = now_ms();
        let (answered, _) = self
            .0
            .events
            .update::<Interaction, _, DomainError, _>(id, move |i| {
                if i.state != State::Waiting || !i.agent.is_empty() {
                    return Err(DomainError::conflict(if i.state == State::Waiting {
                        "someone else answered".to_string()
                    } else {
                        format!("the call is {}", i.state.as_str())
                    }));
                }
                i.agent = user.clone();
                if let Some(c) = i.intercom.as_mut() {
                    c.answered_at = Some(now);
                    c.answered_by = Some(user.clone());
                    c.answered_by_name = Some(name.clone());
                }
                let event = NewEvent::about(
                    &i.tenant,
                    &i.id,
                    &user,
                    EventKind::InteractionUpdated {
                        changed: vec!["agent".into(), "intercom".into()],
                    },
                );
                Ok((i.clone(), vec![event]))
            })
            .await?
            .ok_or_else(|| DomainError::not_found("interaction"))??;
        // The panel goes in first: a G.711 room speaks its law before the agent's page
        // joins (the worker takes the two joins in this order).
        let told = self.bridge(&answered, &call, bridged, &caller.name);
        if !told {
            let _ = self
                .interactions()
                .lifecycle()
                .change_state(
                    id,
                    State::Failed,
                    "system",
                    Some("the intercom went offline"),
                )
                .await;
            return Err(DomainError::conflict("the intercom went offline"));
        }
        self.interactions().join(caller, id).await
    }

    /// Bridges the panel into the call's room and tells its session; false when the
    /// panel is gone or the media server refused.
    fn bridge(&self, i: &Interaction, call: &IntercomCall, codec: BridgeCodec, by: &str) -> bool {
        let (Ok(room), Ok(participant)) = (
            vchat_sfu::RoomId::new(&i.room),
            vchat_sfu::ParticipantId::new(CLIENT_PARTICIPANT),
        ) else {
            return false;
        };
        let (signals_tx, signals) = tokio::sync::mpsc::unbounded_channel();
        let Ok((session, link)) = self.0.media.bridge(
            room,
            participant,
            call.device_name.clone(),
            codec,
            signals_tx,
        ) else {
            return false;
        };
        self.0.devices.tell(
            &call.device_id,
            ToDevice::Answer(Box::new(crate::domain::devices::Answer {
                call: call.call,
                by: by.to_owned(),
                interaction: i.id.clone(),
                room: i.room.clone(),
                session,
                link,
                signals,
            })),
        )
    }

    /// The caller turns the ring down: the call ends for everyone ("rejected").
    pub async fn reject(&self, caller: &Caller, id: &str) -> DomainResult<InteractionView> {
        caller.require(Role::Agent)?;
        let i = self.interactions().visible(caller, id).await?;
        let call = intercom_of(&i)?;
        if i.state != State::Waiting || !i.agent.is_empty() {
            return Err(DomainError::conflict("only a ringing call can be rejected"));
        }
        let changed = self
            .interactions()
            .lifecycle()
            .change_state(id, State::Cancelled, &caller.user, Some("rejected"))
            .await?;
        self.0.devices.tell(
            &call.device_id,
            ToDevice::Hangup {
                call: call.call,
                reason: "rejected".into(),
            },
        );
        Ok(self.interactions().view(changed))
    }

    /// Opens the panel's door from the call; the device's answer says the relay's
    /// position, and the call's record keeps who opened it and when.
    pub async fn open_door(
        &self,
        caller: &Caller,
        id: &str,
        request: OpenDoor,
    ) -> DomainResult<Reply> {
        caller.require(Role::Agent)?;
        let i = self.interactions().visible(caller, id).await?;
        let call = intercom_of(&i)?;
        if i.state.is_final() {
            return Err(DomainError::conflict(format!(
                "the call is {}",
                i.state.as_str()
            )));
        }
        let relay = request.relay;
        let reply = match self
            .0
            .devices
            .command(
                &call.device_id,
                COMMAND_WAIT,
                move |id| ServerMessage::OpenDoor {
                    id,
                    relay: relay.into(),
                },
                None,
            )
            .await
        {
            Ok(reply) => reply,
            Err(NoReply::Offline) => return Err(DomainError::conflict("the intercom is offline")),
            Err(NoReply::Timeout) => {
                return Err(DomainError::conflict(format!(
                    "the intercom did not answer within {} s",
                    COMMAND_WAIT.as_secs()
                )));
            }
        };
        if reply.ok {
            let (user, now) = (caller.user.clone(), now_ms());
            self.0
                .events
                .update::<Interaction, _, DomainError, _>(id, move |i| {
                    if let Some(c) = i.intercom.as_mut() {
                        c.door_opened_at.get_or_insert(now);
                        c.door_opened_by.get_or_insert(user.clone());
                        c.doors_opened += 1;
                    }
                    let event = NewEvent::about(
                        &i.tenant,
                        &i.id,
                        &user,
                        EventKind::InteractionUpdated {
                            changed: vec!["intercom".into()],
                        },
                    );
                    Ok(((), vec![event]))
                })
                .await?;
        }
        Ok(reply)
    }

    /// The panel ended the call (`reason` in its words: `caller`, `busy`,
    /// `disconnected`, ...), or vchat did: the interaction ends if it has not.
    pub async fn ended(&self, id: &str, reason: &str) {
        let Ok(Some(i)) = self.0.store.get::<Interaction>(id).await else {
            return;
        };
        let lifecycle = self.interactions().lifecycle();
        let why = match reason {
            "caller" => "the visitor hung up".to_string(),
            "disconnected" => "the intercom went offline".to_string(),
            other => format!("the intercom ended the call ({other})"),
        };
        let to = match i.state {
            State::Connected => State::Ended,
            State::Waiting => State::Cancelled,
            _ => return,
        };
        match lifecycle
            .change_state(id, to, CLIENT_PARTICIPANT, Some(&why))
            .await
        {
            Ok(changed) => {
                if let Ok(room) = vchat_sfu::RoomId::new(&changed.room) {
                    self.0.media.close_room(room);
                }
            }
            Err(DomainError::Store(e)) => {
                tracing::warn!(interaction = id, "cannot end an intercom call: {e}")
            }
            Err(_) => {} // it moved on meanwhile
        }
    }

    fn interactions(&self) -> Interactions {
        Interactions::from(self.0.clone())
    }
}
