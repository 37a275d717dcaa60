//! `GET /ws`: one browser's signaling WebSocket. [`protocol`] is the session's state
//! machine; this glue checks the origin, runs it on the shared loop (`ws::conn`),
//! checks join tokens, and carries SDP and signals between it and the SFU.

pub mod messages;
pub mod protocol;

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::unbounded_channel;
use vchat_sfu::{ParticipantId, RoomId};

use crate::domain::Deps;
use crate::domain::auth::token::{TokenError, unix_now};
use crate::domain::interactions::Interactions;
use crate::domain::media::MediaSession;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::ws::close::{self, Close};
use crate::ws::conn::{self, Meters};
use messages::Participant;
use protocol::{ClientProtocol, DRAINING, Effect, Input, Limits};

/// `GET /ws`: upgrades to the signaling WebSocket.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(origin) = check_origin(&headers, &state.deps) {
        state
            .metrics
            .signaling_rejected
            .with_label_values(&["origin"])
            .inc();
        return (
            StatusCode::FORBIDDEN,
            format!("origin {origin:?} may not open the signaling socket"),
        )
            .into_response();
    }
    let max = state.deps.config.signaling.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            state.metrics.signaling_sessions.inc();
            let ended = run(&state, socket).await;
            state.metrics.signaling_sessions.dec();
            tracing::debug!(
                code = ended.code,
                reason = ended.reason,
                "signaling socket closed"
            );
        })
}

/// Browsers send `Origin` with every WebSocket handshake; a page from a foreign site
/// must not ride on a visitor's network position (cross-site WebSocket hijacking).
/// Programs that send no `Origin` at all are not browsers and are let through.
fn check_origin(headers: &HeaderMap, deps: &Deps) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host);
    let listed = deps.config.allowed_origins.iter().any(|o| o == origin);
    let public = origin == deps.public_base;
    if same_host || listed || public {
        Ok(())
    } else {
        Err(origin.to_string())
    }
}

fn meters(m: &Metrics) -> Meters {
    Meters {
        messages: m.signaling_messages.clone(),
        closed: m.signaling_rejected.clone(),
    }
}

/// The session's glue state: the SFU session once joined, and who is in it.
struct Glue {
    media: Option<Box<dyn MediaSession>>,
    room: Option<(String, String)>,
}

async fn run(state: &AppState, socket: WebSocket) -> Close {
    let deps = &state.deps;
    let signaling = &deps.config.signaling;
    let limits = Limits {
        join_timeout: Duration::from_secs(signaling.join_timeout_secs),
        max_messages_per_second: signaling.max_messages_per_second,
    };
    let mut protocol = ClientProtocol::new(Instant::now(), limits, deps.is_draining());
    let (inputs_tx, mut inputs) = unbounded_channel::<Input>();
    let mut glue = Glue {
        media: None,
        room: None,
    };
    let lifecycle = Interactions::from(deps.clone()).lifecycle();
    let meters = meters(&state.metrics);
    let ended = {
        let glue = &mut glue;
        conn::run(socket, &mut protocol, &mut inputs, Some(&meters), |effect| {
            let mut joined = None;
            let result: Vec<Input> = match effect {
                Effect::Join { token } => vec![join(state, glue, &inputs_tx, &token)],
                Effect::Offer(sdp) => media_call(glue, |m| m.offer(sdp)),
                Effect::Answer(sdp) => media_call(glue, |m| m.answer(sdp)),
                Effect::Candidate(c) => media_call(glue, |m| m.candidate(c)),
                Effect::Joined => {
                    if let (Some((room, participant)), Some(m)) = (&glue.room, &glue.media) {
                        tracing::info!(%room, %participant, session = %m.id(), "signaling session joined");
                    }
                    joined = glue.room.clone();
                    Vec::new()
                }
            };
            let lifecycle = lifecycle.clone();
            async move {
                if let Some((room, participant)) = joined {
                    lifecycle.participant_changed(&room, &participant, true).await;
                }
                result
            }
        })
        .await
    };
    if let Some(media) = glue.media.take() {
        media.leave();
    }
    if protocol.joined()
        && let Some((room, participant)) = &glue.room
    {
        lifecycle
            .participant_changed(room, participant, false)
            .await;
    }
    ended
}

fn media_call(
    glue: &mut Glue,
    call: impl FnOnce(&dyn MediaSession) -> Result<(), crate::domain::media::Refused>,
) -> Vec<Input> {
    match glue.media.as_deref() {
        Some(m) if call(m).is_ok() => Vec::new(),
        _ => vec![Input::MediaGone],
    }
}

/// Checks `token` and joins its room; signals from the SFU go to `inputs`.
fn join(
    state: &AppState,
    glue: &mut Glue,
    inputs: &tokio::sync::mpsc::UnboundedSender<Input>,
    token: &str,
) -> Input {
    let deps = &state.deps;
    let claims = match deps.signer.verify(token, unix_now()) {
        Ok(claims) => claims,
        Err(e) => {
            tracing::debug!("join refused: {e}");
            let reason = match e {
                TokenError::Expired => "join token expired",
                _ => "invalid join token",
            };
            return Input::Refused(Close::new(close::UNAUTHORIZED, reason));
        }
    };
    let (Ok(room), Ok(participant)) = (RoomId::new(&claims.room), ParticipantId::new(&claims.sub))
    else {
        return Input::Refused(Close::new(
            close::UNAUTHORIZED,
            "join token names an invalid room or participant",
        ));
    };
    let (signals_tx, mut signals) = unbounded_channel();
    let media = match deps.media.join(
        room.clone(),
        participant.clone(),
        claims.name.clone(),
        signals_tx,
    ) {
        Ok(media) => media,
        Err(_) => return Input::Refused(Close::new(close::TRY_AGAIN_LATER, DRAINING)),
    };
    // The SFU's signals for this session become the protocol's inputs.
    let inputs = inputs.clone();
    tokio::spawn(async move {
        while let Some(signal) = signals.recv().await {
            if inputs.send(Input::Signal(signal)).is_err() {
                return;
            }
        }
        let _ = inputs.send(Input::SignalsEnded);
    });
    glue.media = Some(media);
    glue.room = Some((room.to_string(), participant.to_string()));
    Input::Joining {
        ice_servers: state
            .ice
            .as_ref()
            .map(|t| t.for_participant(participant.as_str()))
            .unwrap_or_default(),
        participant: Participant {
            id: participant.to_string(),
            name: claims.name,
        },
        room,
    }
}
