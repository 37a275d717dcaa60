//! The life of interactions: state changes (each one an event), the clock that starts
//! scheduled ones and expires unanswered ones, the signaling hooks that mark joins and
//! leaves, media activity, and what happens to live calls after a restart.

use std::time::Duration;

use crate::domain::events::kind::Presence;
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::recordings::Recordings;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Interaction, State};
use crate::store::ids::now_ms;
use crate::store::{Filter, StoreResult, Value};

/// The participant id of the client in an interaction's room.
pub const CLIENT_PARTICIPANT: &str = "client";
/// Prefix of staff participant ids (`agent-<user id>`).
pub const STAFF_PREFIX: &str = "agent-";
/// The file the server writes its "still alive" time into, once a second.
pub const HEARTBEAT_FILE: &str = "alive";

service!(
    /// State changes and the background work of interactions.
    Lifecycle
);

/// The room role of a participant id: `client` or `agent`.
pub fn role_of(participant: &str) -> &'static str {
    if participant == CLIENT_PARTICIPANT {
        "client"
    } else {
        "agent"
    }
}

impl Lifecycle {
    /// Moves interaction `id` to `to`, records why and who, and publishes
    /// `interaction.<state>`. Returns the changed interaction.
    pub async fn change_state(
        &self,
        id: &str,
        to: State,
        actor: &str,
        reason: Option<&str>,
    ) -> DomainResult<Interaction> {
        self.change_state_at(id, to, actor, reason, now_ms()).await
    }

    /// [`Lifecycle::change_state`] as of `now` (Unix ms): a restart closes calls as of
    /// the moment the last process was last seen alive, not as of the restart.
    pub async fn change_state_at(
        &self,
        id: &str,
        to: State,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> DomainResult<Interaction> {
        let (actor, reason) = (actor.to_string(), reason.map(str::to_string));
        let (interaction, _) = self
            .0
            .events
            .update::<Interaction, _, DomainError, _>(id, move |i| {
                let from = i
                    .go_to(to, now)
                    .map_err(|t| DomainError::Conflict(t.to_string()))?;
                if to.is_final() {
                    i.end_reason = reason.clone();
                    i.ended_by = Some(actor.clone());
                }
                let event = NewEvent::about(
                    &i.tenant,
                    &i.id,
                    &actor,
                    EventKind::state_changed(from, to, reason.clone()),
                );
                Ok((i.clone(), vec![event]))
            })
            .await?
            .ok_or_else(|| DomainError::not_found("interaction"))??;
        if to.is_final() && interaction.recording {
            Recordings::from(self.0.clone()).call_ended(interaction.id.clone());
        }
        Ok(interaction)
    }

    /// A participant joined or left a room (the signaling socket says so).
    pub async fn participant_changed(&self, room: &str, participant: &str, joined: bool) {
        if let Err(e) = self
            .participant_changed_inner(room, participant, joined)
            .await
        {
            tracing::error!(room, participant, "cannot record a join or leave: {e}");
        }
    }

    async fn participant_changed_inner(
        &self,
        room: &str,
        participant: &str,
        joined: bool,
    ) -> DomainResult<()> {
        let Some(interaction) = self.0.store.get::<Interaction>(room).await? else {
            return Ok(()); // a room made through /api/rooms, not an interaction
        };
        let role = role_of(participant);
        let presence = Presence {
            participant: participant.to_string(),
            role: role.to_string(),
        };
        let what = if joined {
            EventKind::ParticipantJoined(presence)
        } else {
            EventKind::ParticipantLeft(presence)
        };
        self.0
            .events
            .publish(NewEvent::about(
                &interaction.tenant,
                &interaction.id,
                participant,
                what,
            ))
            .await?;
        // Every join applies the call's cap: the room is made on the first one, and
        // a worker that restarted forgets it.
        if joined {
            self.set_video_cap(&interaction.room, interaction.max_quality);
        }
        let mut connected = interaction.state == State::Connected;
        if !joined && connected {
            self.end_when_empty(interaction.id.clone());
        }
        if joined && role == "client" && interaction.state == State::Waiting {
            match self
                .change_state(&interaction.id, State::Connected, participant, None)
                .await
            {
                Ok(_) => connected = true,
                Err(DomainError::Store(e)) => return Err(DomainError::Store(e)),
                Err(_) => {} // it moved on meanwhile
            }
        }
        // Recording runs while the call is connected; each join (a rejoin too) is
        // recorded from its first packet.
        if joined && connected && interaction.recording {
            self.set_recording(&interaction.room, true);
            Recordings::from(self.0.clone()).started(&interaction).await;
        }
        Ok(())
    }

    /// After a leave: when nobody is back in the room within
    /// `interactions.empty_end_secs`, the call ends ("everybody left").
    fn end_when_empty(&self, id: String) {
        let secs = self.0.config.interactions.empty_end_secs;
        if secs == 0 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            match this.present(&id).await {
                Ok(0) => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(interaction = %id, "cannot tell who is in the call: {e}");
                    return;
                }
            }
            match this
                .change_state(&id, State::Ended, "system", Some("everybody left"))
                .await
            {
                Ok(i) => {
                    if let Ok(room) = vchat_sfu::RoomId::new(&i.room) {
                        this.0.media.close_room(room);
                    }
                }
                Err(DomainError::Store(e)) => {
                    tracing::warn!(interaction = %id, "cannot end an empty call: {e}");
                }
                Err(_) => {} // it ended or moved on meanwhile
            }
        });
    }

    /// How many participants are in the interaction's room, from its joins and leaves.
    async fn present(&self, id: &str) -> DomainResult<usize> {
        let Some(i) = self.0.store.get::<Interaction>(id).await? else {
            return Ok(0);
        };
        let events = self
            .0
            .store
            .find::<crate::model::Event>(
                &Filter::all()
                    .tenants(vec![i.tenant.clone()])
                    .eq(crate::model::Event::INTERACTION, id)
                    .page(0, 1_000_000),
            )
            .await?;
        let mut sessions: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for e in &events {
            match e.known() {
                Some(EventKind::ParticipantJoined(p)) => {
                    *sessions.entry(p.participant.clone()).or_default() += 1;
                }
                Some(EventKind::ParticipantLeft(p)) => {
                    *sessions.entry(p.participant.clone()).or_default() -= 1;
                }
                _ => {}
            }
        }
        Ok(sessions.values().filter(|n| **n > 0).count())
    }

    /// Caps a room's video at the call's maximum quality.
    pub fn set_video_cap(&self, room: &str, quality: crate::model::interaction::Quality) {
        if let Ok(room) = vchat_sfu::RoomId::new(room) {
            let height = u16::try_from(quality.height()).ok();
            self.0.media.set_video_cap(room, height);
        }
    }

    /// Starts or stops recording a room's media.
    pub fn set_recording(&self, room: &str, on: bool) {
        if let Ok(room) = vchat_sfu::RoomId::new(room) {
            self.0.media.record(room, on);
        }
    }

    /// Media activity from the SFU becomes `media.inactive` / `media.active` events of
    /// the room's interaction.
    pub fn sfu_event(&self, event: &vchat_sfu::SfuEvent) {
        let (room, participant, what) = match event {
            vchat_sfu::SfuEvent::MediaInactive {
                room,
                participant,
                quiet_for,
            } => (
                room,
                participant,
                EventKind::MediaInactive {
                    participant: participant.to_string(),
                    quiet_secs: quiet_for.as_secs(),
                },
            ),
            vchat_sfu::SfuEvent::MediaActive { room, participant } => (
                room,
                participant,
                EventKind::MediaActive {
                    participant: participant.to_string(),
                },
            ),
            _ => return,
        };
        let (this, room, participant) = (self.clone(), room.to_string(), participant.to_string());
        tokio::spawn(async move {
            let result: StoreResult<()> = async {
                let Some(i) = this.0.store.get::<Interaction>(&room).await? else {
                    return Ok(());
                };
                this.0
                    .events
                    .publish(NewEvent::about(&i.tenant, &i.id, &participant, what))
                    .await?;
                Ok(())
            }
            .await;
            if let Err(e) = result {
                tracing::error!(room, "cannot record media activity: {e}");
            }
        });
    }

    /// Closes interactions that were connected when the process stopped: their media
    /// cannot resume (DTLS state is gone with the process). They end as of
    /// `last_alive` (Unix ms, from the heartbeat file), so downtime is not counted as
    /// talk.
    pub async fn close_after_restart(&self, last_alive: Option<i64>) -> DomainResult<()> {
        let live = self
            .0
            .store
            .find::<Interaction>(
                &Filter::all()
                    .eq(Interaction::STATE, State::Connected.as_str())
                    .page(0, 100_000),
            )
            .await?;
        for i in live {
            let at = last_alive
                .filter(|t| *t >= i.connected_at.unwrap_or(i.created_at))
                .unwrap_or_else(now_ms);
            // One that changed state meanwhile is left as it is; a store failure stops.
            if let Err(DomainError::Store(e)) = self
                .change_state_at(&i.id, State::Failed, "system", Some("server restart"), at)
                .await
            {
                return Err(DomainError::Store(e));
            }
        }
        Ok(())
    }

    /// Once a second: scheduled interactions whose time came start waiting; unanswered
    /// ones whose link ran out expire. Once a minute: expired sessions are forgotten.
    pub fn spawn_clock(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                if let Err(e) = this.clock_tick().await {
                    tracing::warn!("interaction clock: {e}");
                }
                n += 1;
                if n.is_multiple_of(60)
                    && let Err(e) = this.0.auth.forget_expired_sessions().await
                {
                    tracing::warn!("session cleanup: {e}");
                }
            }
        });
    }

    async fn clock_tick(&self) -> DomainResult<()> {
        let now = now_ms();
        let due = self
            .0
            .store
            .find::<Interaction>(
                &Filter::all()
                    .eq(Interaction::STATE, State::Scheduled.as_str())
                    .below(Interaction::SCHEDULED_AT, now + 1)
                    .page(0, 1000),
            )
            .await?;
        for i in due {
            let _ = self
                .change_state(&i.id, State::Waiting, "system", None)
                .await;
        }
        let open = self
            .0
            .store
            .find::<Interaction>(
                &Filter::all()
                    .one_of(
                        Interaction::STATE,
                        [State::Scheduled, State::Waiting].map(|s| Value::from(s.as_str())),
                    )
                    .below(Interaction::LINK_EXPIRES_AT, now + 1)
                    .page(0, 1000),
            )
            .await?;
        for i in open {
            let _ = self
                .change_state(&i.id, State::Expired, "system", Some("link expired"))
                .await;
        }
        Ok(())
    }
}

/// When the previous process was last alive (Unix ms), if it left a heartbeat.
pub fn last_alive(data_dir: &std::path::Path) -> Option<i64> {
    std::fs::read_to_string(data_dir.join(HEARTBEAT_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes the heartbeat once a second.
pub fn spawn_heartbeat(data_dir: std::path::PathBuf) {
    tokio::spawn(async move {
        let path = data_dir.join(HEARTBEAT_FILE);
        let tmp = data_dir.join(format!("{HEARTBEAT_FILE}.tmp"));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            // Write then rename: a crash mid-write leaves the previous beat.
            if tokio::fs::write(&tmp, now_ms().to_string()).await.is_ok() {
                let _ = tokio::fs::rename(&tmp, &path).await;
            }
        }
    });
}
