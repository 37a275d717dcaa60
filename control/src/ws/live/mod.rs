//! `GET /api/live`: one socket per page for its live updates. Staff (by the session
//! cookie of the upgrade) get the events of the calls they see — states, deliveries,
//! the client's reports, chat — so the agent's list changes without a reload; the
//! client (by its join token in `hello`) gets its own call's chat and states.
//! [`protocol`] is the session; this glue checks who it is and filters the bus.

pub mod protocol;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::domain::Deps;
use crate::domain::auth::token::unix_now;
use crate::domain::auth::{Caller, Credential};
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::model::Role;
use crate::model::{ChatMessage, Event, Interaction};
use crate::ws::conn;
use protocol::{Effect, Input, LiveProtocol, MAX_MESSAGE};

/// `GET /api/live`.
pub async fn upgrade(
    State(deps): State<Deps>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let credential = crate::http::extract::credential(&headers);
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move { run(deps, credential, socket).await })
}

/// Whose events a page sees.
enum Audience {
    Staff(Caller),
    /// The client of the interaction with this id.
    Client(String),
}

async fn run(deps: Deps, credential: Option<Credential>, socket: WebSocket) {
    let (inputs_tx, mut inputs) = mpsc::unbounded_channel::<Input>();
    let mut protocol = LiveProtocol::new(Instant::now());
    let forwarder: Arc<Mutex<Option<AbortHandle>>> = Arc::default();
    conn::run(socket, &mut protocol, &mut inputs, None, |effect| {
        let Effect::Authorize { token } = effect;
        let (deps, credential, inputs_tx, forwarder) = (
            deps.clone(),
            credential.clone(),
            inputs_tx.clone(),
            forwarder.clone(),
        );
        async move {
            let audience = match token {
                Some(token) => client(&deps, &token).await.map(|i| Audience::Client(i.id)),
                None => match &credential {
                    Some(c) => deps.auth.resolve(c).await.ok().map(Audience::Staff),
                    None => None,
                },
            };
            let Some(audience) = audience else {
                return vec![Input::Refused];
            };
            let name = match audience {
                Audience::Staff(_) => "staff",
                Audience::Client(_) => "client",
            };
            let task = tokio::spawn(forward(deps, audience, inputs_tx));
            *forwarder.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
            vec![Input::Ready(name)]
        }
    })
    .await;
    if let Some(f) = forwarder.lock().unwrap_or_else(|p| p.into_inner()).take() {
        f.abort();
    }
}

/// The interaction whose client holds `token`, if it is still going.
async fn client(deps: &Deps, token: &str) -> Option<Interaction> {
    let claims = deps.signer.verify(token.trim(), unix_now()).ok()?;
    if claims.sub != CLIENT_PARTICIPANT {
        return None;
    }
    deps.store
        .get::<Interaction>(&claims.room)
        .await
        .ok()
        .flatten()
}

/// The kinds a client sees of its own call.
const CLIENT_KINDS: &[&str] = &[
    "chat.message",
    "geo.address",
    "interaction.connected",
    "interaction.ended",
    "interaction.failed",
    "interaction.cancelled",
    "interaction.expired",
];

/// Sends `audience` the events it may see until the socket goes or the server stops.
async fn forward(deps: Deps, audience: Audience, to: mpsc::UnboundedSender<Input>) {
    let mut bus = deps.events.subscribe();
    let mut draining = deps.draining.clone();
    // The agent of each call seen so far (staff who see only their own calls).
    let mut agents: HashMap<String, String> = HashMap::new();
    loop {
        let event = tokio::select! {
            e = bus.recv() => e,
            _ = draining.wait_for(|d| *d) => {
                let _ = to.send(Input::ShuttingDown);
                return;
            }
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                if to.send(Input::Lagged(n)).is_err() {
                    return;
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if !sees(&deps, &audience, &event, &mut agents).await {
            continue;
        }
        let mut out = serde_json::json!({"type": "event", "event": event});
        if let Some(crate::domain::events::EventKind::ChatMessage { message, .. }) = event.known()
            && let Ok(Some(m)) = deps.store.get::<ChatMessage>(message).await
        {
            out["message"] = serde_json::to_value(&m).unwrap_or_default();
        }
        if to.send(Input::Event(out.to_string())).is_err() {
            return;
        }
    }
}

async fn sees(
    deps: &Deps,
    audience: &Audience,
    event: &Event,
    agents: &mut HashMap<String, String>,
) -> bool {
    match audience {
        Audience::Client(id) => {
            event.interaction.as_deref() == Some(id.as_str())
                && CLIENT_KINDS.contains(&event.kind().as_str())
        }
        Audience::Staff(caller) => {
            if !caller.sees(&event.tenant) {
                return false;
            }
            if caller.is(Role::Supervisor) {
                return true;
            }
            let Some(id) = &event.interaction else {
                return false;
            };
            if !agents.contains_key(id) {
                let Ok(Some(i)) = deps.store.get::<Interaction>(id).await else {
                    return false;
                };
                if agents.len() > 10_000 {
                    agents.clear();
                }
                agents.insert(id.clone(), i.agent);
            }
            // A ringing intercom's call (no agent yet) rings every agent: they all
            // hear of it, and of its answer.
            agents
                .get(id)
                .is_some_and(|a| *a == caller.user || a.is_empty())
        }
    }
}
