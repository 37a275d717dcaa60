//! An interaction: one agent's call with one client, from creation to its end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record;
use super::tenant::Language;
use crate::store::Collection;

/// Where an interaction is in its life.
///
/// ```text
/// scheduled ──▶ waiting ──▶ connected ──▶ ended
///     │            │            │
///     ├──▶ cancelled ◀──┤       └──▶ failed
///     └──▶ expired ◀────┘
/// ```
/// `failed` is reachable from every live state (delivery exhausted, server restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waits for its time.
    Scheduled,
    /// The link is out; the client has not joined yet.
    Waiting,
    /// The client joined.
    Connected,
    /// Ended after a connection.
    Ended,
    /// The link ran out before the client came.
    Expired,
    /// Could not happen (delivery failed, the server restarted mid-call, ...).
    Failed,
    /// Called off before it connected.
    Cancelled,
}

impl State {
    /// Every state, for metrics.
    pub const ALL: [State; 7] = [
        State::Scheduled,
        State::Waiting,
        State::Connected,
        State::Ended,
        State::Expired,
        State::Failed,
        State::Cancelled,
    ];

    /// The name in the API and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Waiting => "waiting",
            State::Connected => "connected",
            State::Ended => "ended",
            State::Expired => "expired",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    /// Whether nothing can happen any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Ended | State::Expired | State::Failed | State::Cancelled
        )
    }

    /// Whether `self → to` is a step of the life above.
    pub fn can_go_to(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Scheduled, Waiting)
                | (Waiting, Connected)
                | (Connected, Ended)
                | (Scheduled | Waiting, Cancelled)
                | (Scheduled | Waiting, Expired)
                | (Scheduled | Waiting | Connected, Failed)
        )
    }
}

/// How video flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VideoMode {
    /// The client's camera only.
    OneWay,
    /// Both cameras.
    TwoWay,
}

/// Which camera the client's page opens first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    /// The one facing the person (selfie).
    #[default]
    Front,
    /// The one on the back (to show something).
    Back,
}

/// The highest video quality of the call: the client's camera is opened and sent at
/// most this tall. The names of before (`low`, `medium`, `high`, `hd`) are still read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Quality {
    /// 480 lines (854×480).
    #[serde(rename = "480p", alias = "low", alias = "medium")]
    P480,
    /// 720 lines (1280×720).
    #[serde(rename = "720p", alias = "high")]
    P720,
    /// 1080 lines (1920×1080).
    #[serde(rename = "1080p", alias = "hd")]
    P1080,
    /// 2160 lines (3840×2160).
    #[serde(rename = "4k")]
    P2160,
}

impl Quality {
    /// The most lines of video.
    pub fn height(self) -> u32 {
        match self {
            Quality::P480 => 480,
            Quality::P720 => 720,
            Quality::P1080 => 1080,
            Quality::P2160 => 2160,
        }
    }
}

/// How to reach the client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientContact {
    /// Name as the agent typed it.
    #[serde(default)]
    pub name: String,
    /// Phone in E.164 (`+79991234567`), for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Telegram chat id, for the bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_chat: Option<String>,
}

/// An interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Interaction {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The agent's user id.
    pub agent: String,
    /// The client.
    pub client: ClientContact,
    /// Values of the tenant's custom fields.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// When it is meant to happen (Unix ms); `None`: now.
    pub scheduled_at: Option<i64>,
    /// Video mode.
    pub video: VideoMode,
    /// Quality cap.
    pub max_quality: Quality,
    /// Whether the call is recorded.
    pub recording: bool,
    /// The camera the client's page opens first.
    #[serde(default)]
    pub camera: Camera,
    /// The language of the client's page and messages; `None`: the tenant's.
    #[serde(default)]
    pub language: Option<Language>,
    /// State.
    pub state: State,
    /// The SFU room.
    pub room: String,
    /// The short link's code.
    pub link: String,
    /// Unix ms when the link stops opening.
    pub link_expires_at: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms of `connected`.
    pub connected_at: Option<i64>,
    /// Unix ms of a final state.
    pub ended_at: Option<i64>,
    /// Why it ended (`agent`, `client left`, `server restart`, ...).
    pub end_reason: Option<String>,
    /// Who ended it.
    pub ended_by: Option<String>,
    /// Unix ms the call's CDR was written.
    #[serde(default)]
    pub cdr_at: Option<i64>,
    /// The agent's notes.
    #[serde(default)]
    pub notes: String,
    /// Unix ms the client answered the survey.
    #[serde(default)]
    pub surveyed_at: Option<i64>,
    /// A call with a client by link, or an intercom's ring.
    #[serde(default)]
    pub kind: Kind,
    /// The intercom's side of the call, for kind `intercom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercom: Option<IntercomCall>,
}

/// What kind of call an interaction is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An agent calls a client by a link.
    #[default]
    Client,
    /// A door panel rang; the tenant's agents are rung and one answers (its `agent`
    /// is empty until then).
    Intercom,
}

/// An intercom call: who rang, who answered, the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntercomCall {
    /// The device's record id.
    pub device: String,
    /// The id the device says in `hello`.
    pub device_id: String,
    /// What people call it.
    pub device_name: String,
    /// The device's call number (its `ring`'s `call`).
    pub call: u32,
    /// `sip`, `analog` or `cluster`.
    pub call_kind: String,
    /// The flat or address that was rung.
    pub flat: Option<String>,
    /// Unix ms it rang.
    pub rang_at: i64,
    /// Unix ms an agent answered.
    pub answered_at: Option<i64>,
    /// Who answered (a user id).
    pub answered_by: Option<String>,
    /// Their name.
    pub answered_by_name: Option<String>,
    /// Unix ms the door was first opened from the call.
    pub door_opened_at: Option<i64>,
    /// Who opened it.
    pub door_opened_by: Option<String>,
    /// Times the door was opened from the call.
    #[serde(default)]
    pub doors_opened: u32,
}
record!(Interaction, Collection::Interactions);
super::fields!(Interaction {
    STATE: "state",
    KIND: "kind",
    AGENT: "agent",
    CREATED_AT: "created_at",
    SCHEDULED_AT: "scheduled_at",
    ENDED_AT: "ended_at",
    LINK_EXPIRES_AT: "link_expires_at",
});

/// A refused state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an interaction that is {from} cannot become {to}")]
pub struct BadTransition {
    /// The state it is in.
    pub from: &'static str,
    /// The state asked for.
    pub to: &'static str,
}

impl Interaction {
    /// Moves to `to` at `now` (Unix ms), if the life allows it.
    pub fn go_to(&mut self, to: State, now: i64) -> Result<State, BadTransition> {
        let from = self.state;
        if !from.can_go_to(to) {
            return Err(BadTransition {
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        self.state = to;
        self.updated_at = now;
        if to == State::Connected {
            self.connected_at = Some(now);
        }
        if to.is_final() {
            self.ended_at = Some(now);
        }
        Ok(from)
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn the_life_allows_only_its_steps() {
        let allowed = [
            (Scheduled, Waiting),
            (Waiting, Connected),
            (Connected, Ended),
            (Scheduled, Cancelled),
            (Waiting, Cancelled),
            (Scheduled, Expired),
            (Waiting, Expired),
            (Scheduled, Failed),
            (Waiting, Failed),
            (Connected, Failed),
        ];
        for from in State::ALL {
            for to in State::ALL {
                assert_eq!(
                    from.can_go_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        for s in State::ALL {
            if s.is_final() {
                assert!(
                    State::ALL.iter().all(|t| !s.can_go_to(*t)),
                    "{s:?} is final"
                );
            }
        }
    }
}
