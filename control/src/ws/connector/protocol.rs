//! A delivery connector's session as a state machine, without I/O
//! (docs/connectors.md): `hello` with token and key first, within the hello timeout;
//! then tasks go out and results come in, under a budget of invalid messages.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::delivery::connectors::Task;
use crate::domain::delivery::outcome::Outcome;
use crate::model::Connector;
use crate::ws::close::{self, Close};
use crate::ws::conn::{Action, Protocol};

/// Largest message a connector may send.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Time to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Invalid messages after which the socket is closed.
pub const BAD_MESSAGE_LIMIT: u32 = 10;

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

/// What the glue does for the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Find the connector of `token` and check `key`; answer with
    /// [`Input::Authenticated`], [`Input::Unknown`] or [`Input::StoreFailed`].
    Authenticate {
        /// The token.
        token: String,
        /// The key.
        key: String,
    },
    /// Hand a task's result to the delivery waiting for it; answer
    /// [`Input::NobodyWaits`] when none does.
    Result {
        /// The task.
        task: String,
        /// What the connector reported.
        outcome: Outcome,
    },
}

/// What arrives besides the connector's messages.
#[derive(Debug)]
pub enum Input {
    /// The credentials are right: this is the connector.
    Authenticated(Connector),
    /// Unknown token or wrong key.
    Unknown,
    /// The store could not be asked.
    StoreFailed,
    /// A task for the connector.
    Task(Task),
    /// No delivery waits for this task's result.
    NobodyWaits(String),
    /// A newer connection of the same connector took its tasks over.
    Replaced,
}

#[derive(Debug)]
enum Stage {
    AwaitingHello { deadline: Instant },
    Checking,
    Live,
    Closed,
}

/// One connector's session.
#[derive(Debug)]
pub struct ConnectorProtocol {
    stage: Stage,
    bad: u32,
}

type Actions = Vec<Action<Effect>>;

fn send(message: &ToConnector<'_>) -> Action<Effect> {
    Action::Send(serde_json::to_string(message).expect("messages serialize"))
}

fn close(code: u16, reason: &'static str) -> Action<Effect> {
    Action::Close(Close::new(code, reason))
}

impl ConnectorProtocol {
    /// A session opened at `now`.
    pub fn new(now: Instant) -> ConnectorProtocol {
        ConnectorProtocol {
            stage: Stage::AwaitingHello {
                deadline: now + HELLO_TIMEOUT,
            },
            bad: 0,
        }
    }

    fn end(&mut self, action: Action<Effect>) -> Actions {
        self.stage = Stage::Closed;
        vec![action]
    }
}

impl Protocol for ConnectorProtocol {
    type Input = Input;
    type Effect = Effect;

    fn on_open(&mut self, _now: Instant) -> Actions {
        Vec::new()
    }

    fn on_text(&mut self, _now: Instant, text: &str) -> Actions {
        match self.stage {
            Stage::AwaitingHello { .. } => match serde_json::from_str::<FromConnector>(text) {
                Ok(FromConnector::Hello { token, key }) => {
                    self.stage = Stage::Checking;
                    vec![Action::Effect(Effect::Authenticate { token, key })]
                }
                _ => self.end(close(
                    close::PROTOCOL,
                    "the first message must be hello with token and key",
                )),
            },
            Stage::Live => match serde_json::from_str::<FromConnector>(text) {
                Ok(FromConnector::Result {
                    task,
                    status,
                    reason,
                    id,
                    retry_after_secs,
                }) => {
                    let reason = reason.unwrap_or_else(|| "no reason given".into());
                    let outcome = match status {
                        ResultStatus::Sent => Outcome::Sent { id },
                        ResultStatus::Delivered => Outcome::Delivered { id },
                        ResultStatus::Failed => Outcome::Failed { reason },
                        ResultStatus::Retry => Outcome::Retry {
                            reason,
                            after: retry_after_secs.map(Duration::from_secs),
                        },
                    };
                    vec![Action::Effect(Effect::Result { task, outcome })]
                }
                Ok(FromConnector::Hello { .. }) => vec![send(&ToConnector::Error {
                    message: "already said hello".into(),
                })],
                Err(e) => {
                    self.bad += 1;
                    let error = send(&ToConnector::Error {
                        message: format!("not a valid message: {e}"),
                    });
                    if self.bad >= BAD_MESSAGE_LIMIT {
                        self.stage = Stage::Closed;
                        return vec![error, close(close::POLICY, "too many invalid messages")];
                    }
                    vec![error]
                }
            },
            Stage::Checking | Stage::Closed => Vec::new(),
        }
    }

    fn on_input(&mut self, _now: Instant, input: Input) -> Actions {
        match (&self.stage, input) {
            (Stage::Checking, Input::Authenticated(c)) => {
                self.stage = Stage::Live;
                vec![send(&ToConnector::Welcome {
                    connector: &c.id,
                    name: &c.name,
                    tenant: &c.tenant,
                })]
            }
            (Stage::Checking, Input::Unknown) => {
                self.end(close(close::UNAUTHORIZED, "unknown token or wrong key"))
            }
            (Stage::Checking, Input::StoreFailed) => {
                self.end(close(close::INTERNAL, "storage unavailable"))
            }
            (Stage::Live, Input::Task(task)) => vec![send(&ToConnector::Task(&task))],
            (Stage::Live, Input::NobodyWaits(task)) => vec![send(&ToConnector::Error {
                message: format!("no task {task} is waiting for a result"),
            })],
            (Stage::Live, Input::Replaced) => self.end(close(
                close::REPLACED,
                "replaced by a newer connection of this connector",
            )),
            _ => Vec::new(),
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Actions {
        match self.stage {
            Stage::AwaitingHello { deadline } if now >= deadline => {
                self.end(close(close::TIMEOUT, "no hello in time"))
            }
            _ => Vec::new(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.stage {
            Stage::AwaitingHello { deadline } => Some(deadline),
            _ => None,
        }
    }

    fn binary(&self) -> Close {
        Close::new(close::UNSUPPORTED_DATA, "send JSON text messages")
    }

    fn idle(&self) -> Close {
        Close::new(close::TIMEOUT, "no sign of life from the connector")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector() -> Connector {
        Connector {
            id: "c1".into(),
            tenant: "t".into(),
            name: "whatsapp".into(),
            token_digest: "d".into(),
            key_digest: "k".into(),
            created_at: 0,
        }
    }

    fn live(now: Instant) -> ConnectorProtocol {
        let mut p = ConnectorProtocol::new(now);
        assert_eq!(
            p.on_text(now, r#"{"type":"hello","token":"t","key":"k"}"#),
            vec![Action::Effect(Effect::Authenticate {
                token: "t".into(),
                key: "k".into()
            })]
        );
        let out = p.on_input(now, Input::Authenticated(connector()));
        assert_eq!(
            out,
            vec![Action::Send(
                r#"{"type":"welcome","connector":"c1","name":"whatsapp","tenant":"t"}"#.into()
            )]
        );
        p
    }

    #[test]
    fn hello_comes_first_in_time_with_right_credentials() {
        let t0 = Instant::now();
        let mut p = ConnectorProtocol::new(t0);
        assert_eq!(
            p.on_timeout(t0 + HELLO_TIMEOUT),
            vec![close(close::TIMEOUT, "no hello in time")]
        );
        let mut p = ConnectorProtocol::new(t0);
        assert_eq!(
            p.on_text(t0, r#"{"type":"result","task":"x","status":"sent"}"#),
            vec![close(
                close::PROTOCOL,
                "the first message must be hello with token and key"
            )]
        );
        let mut p = ConnectorProtocol::new(t0);
        p.on_text(t0, r#"{"type":"hello","token":"t","key":"wrong"}"#);
        assert_eq!(
            p.on_input(t0, Input::Unknown),
            vec![close(close::UNAUTHORIZED, "unknown token or wrong key")]
        );
    }

    #[test]
    fn tasks_go_out_and_results_come_in() {
        let t0 = Instant::now();
        let mut p = live(t0);
        let task = Task {
            task: "k1".into(),
            interaction: "i".into(),
            to: serde_json::json!({ "phone": "+7999" }),
            text: "join".into(),
            link: "https://x/j/abc".into(),
        };
        let out = p.on_input(t0, Input::Task(task));
        assert!(
            matches!(&out[..], [Action::Send(t)] if t.starts_with(r#"{"type":"task","task":"k1""#)),
            "{out:?}"
        );
        assert_eq!(
            p.on_text(
                t0,
                r#"{"type":"result","task":"k1","status":"retry","retry_after_secs":5}"#
            ),
            vec![Action::Effect(Effect::Result {
                task: "k1".into(),
                outcome: Outcome::Retry {
                    reason: "no reason given".into(),
                    after: Some(Duration::from_secs(5))
                }
            })]
        );
        let out = p.on_input(t0, Input::NobodyWaits("zz".into()));
        assert!(matches!(&out[..], [Action::Send(t)] if t.contains("no task zz")));
    }

    #[test]
    fn ten_invalid_messages_close_the_socket() {
        let t0 = Instant::now();
        let mut p = live(t0);
        for _ in 1..BAD_MESSAGE_LIMIT {
            let out = p.on_text(t0, "{}");
            assert_eq!(out.len(), 1, "an error message only");
        }
        let out = p.on_text(t0, "{}");
        assert_eq!(
            out.last(),
            Some(&close(close::POLICY, "too many invalid messages"))
        );
    }
}
