//! A page's live-events session as a state machine, without I/O (docs/events.md,
//! "Live events for pages"): `hello` first, within the hello timeout, with the
//! client's join token or nothing (staff: the session cookie of the upgrade); then the
//! events the page may see go out, one message each, until the page goes.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ws::close::{self, Close};
use crate::ws::conn::{Action, Protocol};

/// Largest message a page may send.
pub const MAX_MESSAGE: usize = 8 * 1024;
/// Time to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The protocol's version, in `ready`.
pub const VERSION: u32 = 1;

/// What a page says.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum FromPage {
    Hello {
        /// A client's join token; staff send none (their cookie counts).
        #[serde(default)]
        token: Option<String>,
    },
}

/// What the server says to a page.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage<'a> {
    Ready {
        version: u32,
        /// `staff` or `client`.
        audience: &'a str,
    },
    /// Some events were missed (the page was too slow): read the lists again.
    Lagged { missed: u64 },
}

/// What the glue does for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Find who this is (the token, else the upgrade's cookie) and start sending its
    /// events; answer [`Input::Ready`] or [`Input::Refused`].
    Authorize {
        /// A client's join token.
        token: Option<String>,
    },
}

/// What arrives besides the page's messages.
#[derive(Debug)]
pub enum Input {
    /// The page is `audience` (`staff`, `client`); its events follow.
    Ready(&'static str),
    /// No credentials, or bad ones.
    Refused,
    /// An event for the page, as JSON.
    Event(String),
    /// This many events were dropped for a slow page.
    Lagged(u64),
    /// The server stops.
    ShuttingDown,
}

#[derive(Debug)]
enum Stage {
    AwaitingHello { deadline: Instant },
    Checking,
    Live,
    Closed,
}

/// One page's session.
#[derive(Debug)]
pub struct LiveProtocol {
    stage: Stage,
}

type Actions = Vec<Action<Effect>>;

fn send(message: &ToPage<'_>) -> Action<Effect> {
    Action::Send(serde_json::to_string(message).expect("messages serialize"))
}

impl LiveProtocol {
    /// A session opened at `now`.
    pub fn new(now: Instant) -> LiveProtocol {
        LiveProtocol {
            stage: Stage::AwaitingHello {
                deadline: now + HELLO_TIMEOUT,
            },
        }
    }

    fn end(&mut self, code: u16, reason: &'static str) -> Actions {
        self.stage = Stage::Closed;
        vec![Action::Close(Close::new(code, reason))]
    }
}

impl Protocol for LiveProtocol {
    type Input = Input;
    type Effect = Effect;

    fn on_open(&mut self, _now: Instant) -> Actions {
        Vec::new()
    }

    fn on_text(&mut self, _now: Instant, text: &str) -> Actions {
        if !matches!(self.stage, Stage::AwaitingHello { .. }) {
            return self.end(close::PROTOCOL, "nothing is expected after hello");
        }
        match serde_json::from_str::<FromPage>(text) {
            Ok(FromPage::Hello { token }) => {
                self.stage = Stage::Checking;
                vec![Action::Effect(Effect::Authorize { token })]
            }
            Err(_) => self.end(close::PROTOCOL, "the first message is a hello"),
        }
    }

    fn on_input(&mut self, _now: Instant, input: Input) -> Actions {
        match (&self.stage, input) {
            (Stage::Closed, _) => Vec::new(),
            (_, Input::ShuttingDown) => self.end(close::GOING_AWAY, "the server is shutting down"),
            (Stage::Checking, Input::Ready(audience)) => {
                self.stage = Stage::Live;
                vec![send(&ToPage::Ready {
                    version: VERSION,
                    audience,
                })]
            }
            (Stage::Checking, Input::Refused) => self.end(close::UNAUTHORIZED, "sign in again"),
            (Stage::Live, Input::Event(json)) => vec![Action::Send(json)],
            (Stage::Live, Input::Lagged(missed)) => vec![send(&ToPage::Lagged { missed })],
            _ => Vec::new(),
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Actions {
        match self.stage {
            Stage::AwaitingHello { deadline } if now >= deadline => {
                self.end(close::TIMEOUT, "no hello in time")
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
        Close::new(close::UNSUPPORTED_DATA, "messages are JSON text")
    }

    fn idle(&self) -> Close {
        Close::new(close::TIMEOUT, "no sign of life")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(actions: &Actions) -> Vec<serde_json::Value> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(t) => Some(serde_json::from_str(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn hello_then_events() {
        let now = Instant::now();
        let mut p = LiveProtocol::new(now);
        let a = p.on_text(now, r#"{"type":"hello","token":"t"}"#);
        assert_eq!(
            a,
            vec![Action::Effect(Effect::Authorize {
                token: Some("t".into())
            })]
        );
        assert!(
            p.on_input(now, Input::Event("{}".into())).is_empty(),
            "nothing before ready"
        );
        let a = p.on_input(now, Input::Ready("client"));
        assert_eq!(sent(&a)[0]["type"], "ready");
        assert_eq!(
            p.on_input(now, Input::Event("{\"x\":1}".into())),
            vec![Action::Send("{\"x\":1}".into())]
        );
        assert_eq!(sent(&p.on_input(now, Input::Lagged(3)))[0]["missed"], 3);
        let a = p.on_text(now, r#"{"type":"hello"}"#);
        assert!(matches!(a[0], Action::Close(c) if c.code == close::PROTOCOL));
    }

    #[test]
    fn refusals_and_silence_close_with_a_reason() {
        let now = Instant::now();
        let mut p = LiveProtocol::new(now);
        assert!(matches!(p.on_text(now, "nope")[0], Action::Close(c) if c.code == close::PROTOCOL));
        let mut p = LiveProtocol::new(now);
        p.on_text(now, r#"{"type":"hello"}"#);
        assert!(
            matches!(p.on_input(now, Input::Refused)[0], Action::Close(c) if c.code == close::UNAUTHORIZED)
        );
        let mut p = LiveProtocol::new(now);
        assert_eq!(p.poll_timeout(), Some(now + HELLO_TIMEOUT));
        assert!(
            matches!(p.on_timeout(now + HELLO_TIMEOUT)[0], Action::Close(c) if c.code == close::TIMEOUT)
        );
    }
}
