//! Custom delivery connectors: a customer's process connects to
//! `/api/connectors/ws`, says who it is (token and key from `POST /api/connectors`),
//! receives delivery tasks and answers each with a result. The protocol is in
//! docs/connectors.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::outcome::Outcome;
use crate::app::App;
use crate::model::Connector;
use crate::store::ids::{digest, new_id};

/// Largest message a connector may send.
const MAX_MESSAGE: usize = 16 * 1024;
/// Time to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A task for a connector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// Task id; the result names it.
    pub task: String,
    /// The interaction.
    pub interaction: String,
    /// Whom to send to.
    pub to: serde_json::Value,
    /// The message.
    pub text: String,
    /// The client's link.
    pub link: String,
}

/// What a connector says.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum FromConnector {
    Hello {
        token: String,
        key: String,
    },
    Result {
        task: String,
        status: ResultStatus,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ResultStatus {
    Sent,
    Delivered,
    Failed,
    Retry,
}

/// What the server says to a connector.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToConnector<'a> {
    Welcome {
        connector: &'a str,
        name: &'a str,
        tenant: &'a str,
    },
    Task(&'a Task),
    Error {
        message: String,
    },
}

/// Connected connectors and the tasks waiting for their results.
#[derive(Default)]
pub struct Registry {
    live: Mutex<HashMap<(String, String), mpsc::Sender<Task>>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

impl Registry {
    /// Whether a connector `name` of `tenant` is connected.
    pub fn is_connected(&self, tenant: &str, name: &str) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant.to_string(), name.to_string()))
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Hands a task to connector `name` of the first of `tenants` that has it
    /// connected, and waits up to `timeout` for its result.
    pub async fn deliver(
        &self,
        tenants: &[String],
        name: &str,
        mut task: Task,
        timeout: Duration,
    ) -> Outcome {
        let tx = {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            tenants.iter().find_map(|t| {
                live.get(&(t.clone(), name.to_string()))
                    .filter(|tx| !tx.is_closed())
                    .cloned()
            })
        };
        let Some(tx) = tx else {
            return Outcome::Failed {
                reason: format!("connector {name} is not connected"),
            };
        };
        task.task = new_id();
        let (result_tx, result_rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.task.clone(), result_tx);
        let id = task.task.clone();
        if tx.send(task).await.is_err() {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Outcome::Retry {
                reason: format!("connector {name} went away"),
                after: None,
            };
        }
        match tokio::time::timeout(timeout, result_rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                Outcome::Retry {
                    reason: format!("connector {name} did not answer in {timeout:?}"),
                    after: None,
                }
            }
        }
    }
}

/// `GET /api/connectors/ws`.
pub async fn upgrade(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move { run(app, socket).await })
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

async fn send(socket: &mut WebSocket, message: &ToConnector<'_>) -> bool {
    let text = serde_json::to_string(message).expect("messages serialize");
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn run(app: Arc<App>, mut socket: WebSocket) {
    // Hello first.
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<FromConnector>(&t),
        Ok(Some(Ok(_))) => return close(socket, 1003, "send JSON text messages").await,
        _ => return close(socket, 4408, "no hello in time").await,
    };
    let Ok(FromConnector::Hello { token, key }) = hello else {
        return close(
            socket,
            4400,
            "the first message must be hello with token and key",
        )
        .await;
    };
    let connector = match app.store.get_unique::<Connector>(&digest(&token)).await {
        Ok(Some(c))
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                c.key_digest.as_bytes(),
                digest(&key).as_bytes(),
            )
            .is_ok() =>
        {
            c
        }
        Ok(_) => return close(socket, 4401, "unknown token or wrong key").await,
        Err(e) => {
            tracing::error!("connector login: {e}");
            return close(socket, 1011, "storage unavailable").await;
        }
    };
    let (tx, mut tasks) = mpsc::channel::<Task>(64);
    let slot = (connector.tenant.clone(), connector.name.clone());
    // A new connection of the same connector replaces the old one.
    app.connectors
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(slot.clone(), tx.clone());
    tracing::info!(connector = %connector.name, tenant = %connector.tenant, "delivery connector connected");
    if !send(
        &mut socket,
        &ToConnector::Welcome {
            connector: &connector.id,
            name: &connector.name,
            tenant: &connector.tenant,
        },
    )
    .await
    {
        return;
    }
    let mut bad = 0;
    loop {
        tokio::select! {
            task = tasks.recv() => {
                let Some(task) = task else { break };
                if !send(&mut socket, &ToConnector::Task(&task)).await {
                    break;
                }
            }
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        return close(socket, 1003, "send JSON text messages").await;
                    }
                    _ => break,
                };
                match serde_json::from_str::<FromConnector>(&text) {
                    Ok(FromConnector::Result { task, status, reason, id, retry_after_secs }) => {
                        let waiting = app.connectors.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&task);
                        let Some(waiting) = waiting else {
                            let _ = send(&mut socket, &ToConnector::Error { message: format!("no task {task} is waiting for a result") }).await;
                            continue;
                        };
                        let reason = reason.unwrap_or_else(|| "no reason given".into());
                        let _ = waiting.send(match status {
                            ResultStatus::Sent => Outcome::Sent { id },
                            ResultStatus::Delivered => Outcome::Delivered { id },
                            ResultStatus::Failed => Outcome::Failed { reason },
                            ResultStatus::Retry => Outcome::Retry { reason, after: retry_after_secs.map(Duration::from_secs) },
                        });
                    }
                    Ok(FromConnector::Hello { .. }) => {
                        let _ = send(&mut socket, &ToConnector::Error { message: "already said hello".into() }).await;
                    }
                    Err(e) => {
                        bad += 1;
                        let _ = send(&mut socket, &ToConnector::Error { message: format!("not a valid message: {e}") }).await;
                        if bad >= 10 {
                            return close(socket, 1008, "too many invalid messages").await;
                        }
                    }
                }
            }
        }
    }
    let mut live = app
        .connectors
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if live.get(&slot).is_some_and(|t| t.same_channel(&tx)) {
        live.remove(&slot);
    }
    tracing::info!(connector = %connector.name, "delivery connector disconnected");
}
