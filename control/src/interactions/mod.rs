//! The life of interactions: state changes (each one an event), the clock that starts
//! scheduled ones and expires unanswered ones, the signaling hooks that mark joins and
//! leaves, and what happens to live calls after a restart.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::app::App;
use crate::events::{NewEvent, prepare};
use crate::model::{Interaction, State};
use crate::store::ids::now_ms;
use crate::store::{Cond, Filter, StoreResult, Value};

/// The participant id of the client in an interaction's room.
pub const CLIENT_PARTICIPANT: &str = "client";
/// Prefix of staff participant ids (`agent-<user id>`).
pub const STAFF_PREFIX: &str = "agent-";

/// Why a state change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such interaction.
    #[error("no such interaction")]
    Missing,
    /// Not a step of the interaction's life.
    #[error(transparent)]
    Transition(#[from] crate::model::interaction::BadTransition),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Moves interaction `id` to `to`, records why and who, and publishes
/// `interaction.<state>`. Returns the changed interaction.
pub async fn change_state(
    app: &Arc<App>,
    id: &str,
    to: State,
    actor: &str,
    reason: Option<&str>,
) -> Result<Interaction, ChangeError> {
    change_state_at(app, id, to, actor, reason, now_ms()).await
}

/// [`change_state`] as of `now` (Unix ms): a restart closes calls as of the moment the
/// last process was last seen alive, not as of the restart.
pub async fn change_state_at(
    app: &Arc<App>,
    id: &str,
    to: State,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<Interaction, ChangeError> {
    let (actor_s, reason_s) = (actor.to_string(), reason.map(str::to_string));
    let _order = app.events.ordered().await;
    let changed = app
        .store
        .update_with::<Interaction, _, _, _>(id, move |i, batch| {
            let from = i.go_to(to, now)?;
            if to.is_final() {
                i.end_reason = reason_s.clone();
                i.ended_by = Some(actor_s.clone());
            }
            let event = prepare(NewEvent {
                tenant: &i.tenant,
                kind: &format!("interaction.{}", to.as_str()),
                interaction: Some(&i.id),
                actor: &actor_s,
                data: json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason_s }),
            });
            batch.insert(&event);
            Ok::<_, crate::model::interaction::BadTransition>((i.clone(), event))
        })
        .await?
        .ok_or(ChangeError::Missing)?;
    let (interaction, event) = changed?;
    app.events.announce(&event);
    if to.is_final() && interaction.recording {
        crate::recordings::call_ended(app.clone(), interaction.id.clone());
    }
    Ok(interaction)
}

/// Called by the signaling socket when a participant joins or leaves a room.
pub async fn participant_changed(app: &Arc<App>, room: &str, participant: &str, joined: bool) {
    let result: StoreResult<()> = async {
        let Some(interaction) = app.store.get::<Interaction>(room).await? else {
            return Ok(()); // a room made through /api/rooms, not an interaction
        };
        let role = if participant == CLIENT_PARTICIPANT {
            "client"
        } else {
            "agent"
        };
        app.events
            .publish(NewEvent {
                tenant: &interaction.tenant,
                kind: if joined {
                    "participant.joined"
                } else {
                    "participant.left"
                },
                interaction: Some(&interaction.id),
                actor: participant,
                data: json!({ "participant": participant, "role": role }),
            })
            .await?;
        let mut connected = interaction.state == State::Connected;
        if joined && role == "client" && interaction.state == State::Waiting {
            match change_state(app, &interaction.id, State::Connected, participant, None).await {
                Ok(_) => connected = true,
                Err(ChangeError::Transition(_)) => {}
                Err(ChangeError::Store(e)) => return Err(e),
                Err(ChangeError::Missing) => {}
            }
        }
        // Recording runs while the call is connected; each join (a rejoin too) is
        // recorded from its first packet.
        if joined && connected && interaction.recording {
            set_recording(app, &interaction.room, true);
            crate::recordings::started(app, &interaction).await;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(room, participant, "cannot record a join or leave: {e}");
    }
}

/// Starts or stops recording a room's media.
pub fn set_recording(app: &App, room: &str, on: bool) {
    if let Ok(room) = vchat_sfu::RoomId::new(room) {
        app.sfu.record(room, on);
    }
}

/// Media activity from the SFU becomes `media.inactive` / `media.active` events of
/// the room's interaction.
pub fn sfu_event(app: &Arc<App>, event: &vchat_sfu::SfuEvent) {
    let (room, participant, kind, data) = match event {
        vchat_sfu::SfuEvent::MediaInactive {
            room,
            participant,
            quiet_for,
        } => (
            room,
            participant,
            "media.inactive",
            json!({ "participant": participant.as_str(), "quiet_secs": quiet_for.as_secs() }),
        ),
        vchat_sfu::SfuEvent::MediaActive { room, participant } => (
            room,
            participant,
            "media.active",
            json!({ "participant": participant.as_str() }),
        ),
        _ => return,
    };
    let (app, room, participant) = (app.clone(), room.to_string(), participant.to_string());
    tokio::spawn(async move {
        let result: StoreResult<()> = async {
            let Some(i) = app.store.get::<Interaction>(&room).await? else {
                return Ok(());
            };
            app.events
                .publish(NewEvent {
                    tenant: &i.tenant,
                    kind,
                    interaction: Some(&i.id),
                    actor: &participant,
                    data,
                })
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
/// cannot resume (DTLS state is gone with the process). They end as of `last_alive`
/// (Unix ms, from the heartbeat file), so downtime is not counted as talk.
pub async fn close_after_restart(app: &Arc<App>, last_alive: Option<i64>) -> StoreResult<()> {
    let live = app
        .store
        .find::<Interaction>(
            &Filter::all()
                .eq("state", State::Connected.as_str())
                .page(0, 100_000),
        )
        .await?;
    for i in live {
        let at = last_alive
            .filter(|t| *t >= i.connected_at.unwrap_or(i.created_at))
            .unwrap_or_else(now_ms);
        match change_state_at(
            app,
            &i.id,
            State::Failed,
            "system",
            Some("server restart"),
            at,
        )
        .await
        {
            Ok(_) | Err(ChangeError::Transition(_) | ChangeError::Missing) => {}
            Err(ChangeError::Store(e)) => return Err(e),
        }
    }
    Ok(())
}

/// The file the server writes its "still alive" time into, once a second.
pub const HEARTBEAT_FILE: &str = "alive";

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

/// Once a second: scheduled interactions whose time came start waiting; unanswered
/// ones whose link ran out expire.
pub fn spawn_clock(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            if let Err(e) = clock_tick(&app).await {
                tracing::warn!("interaction clock: {e}");
            }
            n += 1;
            if n.is_multiple_of(60)
                && let Err(e) = forget_expired_sessions(&app).await
            {
                tracing::warn!("session cleanup: {e}");
            }
        }
    });
}

/// Deletes login sessions past their end (they no longer log anyone in; this keeps
/// the collection from growing).
async fn forget_expired_sessions(app: &Arc<App>) -> StoreResult<()> {
    let expired = app
        .store
        .find::<crate::model::Session>(
            &Filter::all()
                .and(Cond::Lt("expires_at", Value::Int(now_ms())))
                .page(0, 1000),
        )
        .await?;
    for s in expired {
        app.store.delete::<crate::model::Session>(&s.id).await?;
    }
    Ok(())
}

async fn clock_tick(app: &Arc<App>) -> StoreResult<()> {
    let now = now_ms();
    let due = app
        .store
        .find::<Interaction>(
            &Filter::all()
                .eq("state", State::Scheduled.as_str())
                .and(Cond::Lt("scheduled_at", Value::Int(now + 1)))
                .page(0, 1000),
        )
        .await?;
    for i in due {
        let _ = change_state(app, &i.id, State::Waiting, "system", None).await;
    }
    let open = app
        .store
        .find::<Interaction>(
            &Filter::all()
                .and(Cond::In(
                    "state",
                    vec![
                        State::Scheduled.as_str().into(),
                        State::Waiting.as_str().into(),
                    ],
                ))
                .and(Cond::Lt("link_expires_at", Value::Int(now + 1)))
                .page(0, 1000),
        )
        .await?;
    for i in open {
        let _ = change_state(app, &i.id, State::Expired, "system", Some("link expired")).await;
    }
    Ok(())
}
