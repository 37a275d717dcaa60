//! The connected delivery connectors: a customer's process connects to
//! `/api/connectors/ws` (the socket protocol is `ws::connector`, documented in
//! docs/connectors.md), says who it is, receives delivery tasks and answers each with a
//! result. This registry hands tasks to the connected ones and waits for the results.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::outcome::Outcome;
use crate::store::ids::new_id;

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

/// Connected connectors and the tasks waiting for their results.
#[derive(Default)]
pub struct Registry {
    live: Mutex<HashMap<(String, String), mpsc::Sender<Task>>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

impl Registry {
    /// Connector `name` of `tenant` is connected now: tasks for it go to `tx`. A new
    /// connection of the same connector replaces the old one.
    pub fn connected(&self, tenant: &str, name: &str, tx: mpsc::Sender<Task>) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((tenant.to_string(), name.to_string()), tx);
    }

    /// The connection that owned `tx` closed (a newer one may have taken over).
    pub fn disconnected(&self, tenant: &str, name: &str, tx: &mpsc::Sender<Task>) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (tenant.to_string(), name.to_string());
        if live.get(&slot).is_some_and(|t| t.same_channel(tx)) {
            live.remove(&slot);
        }
    }

    /// The result of task `task` came: hands it to the delivery waiting for it.
    /// `false` when no delivery waits for that task.
    pub fn result(&self, task: &str, outcome: Outcome) -> bool {
        let waiting = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(task);
        match waiting {
            Some(waiting) => {
                let _ = waiting.send(outcome);
                true
            }
            None => false,
        }
    }

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
