//! `GET /api/connectors/ws`: a custom delivery connector's socket. [`protocol`] is
//! the session; this glue checks its credentials, puts it in the registry of
//! connected connectors, forwards it the registry's tasks and hands its results back.

pub mod protocol;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::mpsc;

use crate::domain::Deps;
use crate::domain::connectors::Connectors;
use crate::domain::delivery::connectors::Task;
use crate::ws::conn;
use protocol::{ConnectorProtocol, Effect, Input, MAX_MESSAGE};

/// `GET /api/connectors/ws`.
pub async fn upgrade(State(deps): State<Deps>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move { run(deps, socket).await })
}

/// The registry slot this session holds: tenant, name, and (weakly) its task queue —
/// weakly, so a newer connection that replaces it closes the queue.
type Slot = Arc<Mutex<Option<(String, String, mpsc::WeakSender<Task>)>>>;

async fn run(deps: Deps, socket: WebSocket) {
    let (inputs_tx, mut inputs) = mpsc::unbounded_channel::<Input>();
    let mut protocol = ConnectorProtocol::new(Instant::now());
    let connectors = Connectors::from(deps.clone());
    let slot: Slot = Arc::default();
    let ended = conn::run(socket, &mut protocol, &mut inputs, None, |effect| {
        let (deps, connectors, inputs_tx, slot) =
            (deps.clone(), connectors.clone(), inputs_tx.clone(), slot.clone());
        async move {
            match effect {
                Effect::Authenticate { token, key } => {
                    match connectors.authenticate(&token, &key).await {
                        Ok(Some(c)) => {
                            let (tx, mut tasks) = mpsc::channel::<Task>(64);
                            *slot.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some((c.tenant.clone(), c.name.clone(), tx.downgrade()));
                            deps.connectors.connected(&c.tenant, &c.name, tx);
                            tracing::info!(connector = %c.name, tenant = %c.tenant, "delivery connector connected");
                            tokio::spawn(async move {
                                while let Some(task) = tasks.recv().await {
                                    if inputs_tx.send(Input::Task(task)).is_err() {
                                        return;
                                    }
                                }
                                let _ = inputs_tx.send(Input::Replaced);
                            });
                            vec![Input::Authenticated(c)]
                        }
                        Ok(None) => vec![Input::Unknown],
                        Err(e) => {
                            tracing::error!("connector login: {e}");
                            vec![Input::StoreFailed]
                        }
                    }
                }
                Effect::Result { task, outcome } => {
                    if deps.connectors.result(&task, outcome) {
                        Vec::new()
                    } else {
                        vec![Input::NobodyWaits(task)]
                    }
                }
            }
        }
    })
    .await;
    let held = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((tenant, name, weak)) = held {
        if let Some(tx) = weak.upgrade() {
            deps.connectors.disconnected(&tenant, &name, &tx);
        }
        tracing::info!(connector = %name, code = ended.code, "delivery connector disconnected");
    }
}
