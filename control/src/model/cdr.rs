//! Call detail records: one per call, folded from the call's events.

use serde::{Deserialize, Serialize};

use super::interaction::{Quality, VideoMode};
use super::record;
use crate::store::Collection;

/// How a call turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The client and staff talked.
    Answered,
    /// Somebody came, but never two parties at once.
    NoAnswer,
    /// It failed (server restart, delivery failure, ...).
    Failed,
    /// Called off before it connected.
    Cancelled,
    /// The link ran out before the client came.
    Expired,
}

impl Disposition {
    /// The name in the API and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::NoAnswer => "no_answer",
            Disposition::Failed => "failed",
            Disposition::Cancelled => "cancelled",
            Disposition::Expired => "expired",
        }
    }
}

/// One join of one party: when it came and when it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Presence {
    /// Unix ms.
    pub joined_at: i64,
    /// Unix ms; the call's end when the party never left.
    pub left_at: i64,
}

/// A party of the call and its joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    /// The participant id in the room (`client`, `agent-<user id>`).
    pub participant: String,
    /// `client` or `agent`.
    pub role: String,
    /// Joins, in order.
    pub presence: Vec<Presence>,
}

/// A file shared in a call's chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedFile {
    /// The file's id.
    pub file: String,
    /// Bytes.
    pub size: u64,
    /// Who shared it (`client` or a user id).
    pub by: String,
    /// Unix ms.
    pub at: i64,
}

/// A screenshot of the call (a JPEG with EXIF, `GET /api/files/{file}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CdrScreenshot {
    /// The file's id.
    pub file: String,
    /// What it shows (`client-video`, `client-camera`, `agent-video`, `agent-screen`,
    /// `annotated`).
    pub source: String,
    /// How it was made (`frame`, `image-capture`, `canvas`).
    pub method: String,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Who took it (`client` or a user id).
    pub by: String,
    /// Unix ms.
    pub at: i64,
    /// Whether its EXIF has the client's position.
    pub located: bool,
}

/// The client's consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    /// Unix ms.
    pub at: i64,
    /// The version of the text accepted.
    pub version: String,
    /// The device's User-Agent.
    pub user_agent: Option<String>,
}

/// The CDR of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cdr {
    /// Id: the interaction's id (one CDR per call).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction.
    pub interaction: String,
    /// The room.
    pub room: String,
    /// `assist` (an agent and a client) or `intercom`.
    pub kind: String,
    /// The agent's user id (for an intercom: who answered; empty if nobody did).
    pub agent: String,
    /// For an intercom call: the panel, the flat, ring time, who answered, the door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercom: Option<crate::model::interaction::IntercomCall>,
    /// The client's name.
    pub client_name: String,
    /// The client's phone, masked (`+7999***4567`).
    pub client_phone: Option<String>,
    /// The client's Telegram chat, masked.
    pub client_telegram: Option<String>,
    /// How the link went out (`sms`, `telegram`, a connector), if it was sent.
    pub link_channel: Option<String>,
    /// Unix ms the link was sent (delivery reported it).
    pub link_sent_at: Option<i64>,
    /// Unix ms the link was first opened.
    pub link_opened_at: Option<i64>,
    /// Unix ms the interaction was created.
    pub created_at: i64,
    /// Unix ms somebody first joined.
    pub started_at: Option<i64>,
    /// Unix ms two parties were first present together.
    pub answered_at: Option<i64>,
    /// Unix ms the call ended.
    pub ended_at: i64,
    /// Seconds from the first join to the end (0 without joins).
    pub duration_secs: f64,
    /// Seconds with at least two parties present.
    pub talk_secs: f64,
    /// Seconds from the first join until two parties were present (to the end when
    /// that never happened).
    pub wait_secs: f64,
    /// How it turned out.
    pub disposition: Disposition,
    /// The interaction's final state.
    pub final_state: String,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Who ended it (a user id, `client`, `system`).
    pub ended_by: Option<String>,
    /// Every party and its joins.
    pub parties: Vec<Party>,
    /// Video mode.
    pub video: VideoMode,
    /// Quality cap.
    pub max_quality: Quality,
    /// Whether recording was on.
    pub recording: bool,
    /// The recording, once there is one.
    pub recording_id: Option<String>,
    /// Chat messages.
    pub messages: u32,
    /// Files shared.
    pub files: u32,
    /// Bytes of files shared.
    pub file_bytes: u64,
    /// The files shared, in order (`GET /api/files/{file}`).
    #[serde(default)]
    pub shared_files: Vec<SharedFile>,
    /// Screenshots taken.
    pub screenshots: u32,
    /// The screenshots, in order.
    #[serde(default)]
    pub screenshot_files: Vec<CdrScreenshot>,
    /// The client's last reported position.
    #[schema(value_type = Option<Object>)]
    pub geolocation: Option<serde_json::Value>,
    /// Every position shared in the call, in order (`lat`, `lon`, `accuracy`, `at`,
    /// `by`, and `address` once found).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub positions: Vec<serde_json::Value>,
    /// The client's survey score (1 to 5).
    pub survey_score: Option<u8>,
    /// The client's survey comment.
    #[serde(default)]
    pub survey_comment: Option<String>,
    /// When and to what the client consented.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// The client's last device check.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub device_check: Option<serde_json::Value>,
    /// The client's browser, from the link opening.
    pub client_user_agent: Option<String>,
    /// Times a party's media went quiet (`media.inactive`).
    pub media_inactive: u32,
    /// Events folded (deduplicated).
    pub events: u32,
    /// Unix ms the CDR was written.
    pub written_at: i64,
}
record!(Cdr, Collection::Cdrs);
super::fields!(Cdr {
    INTERACTION: "interaction",
    ENDED_AT: "ended_at",
    AGENT: "agent",
    DISPOSITION: "disposition",
});

/// `+79991234567` → `+799****4567`: enough to recognise, not enough to dial.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_head = 4.min(chars.len() / 3);
    let keep_tail = 4.min(chars.len() / 3);
    let hidden = chars.len() - keep_head - keep_tail;
    chars[..keep_head]
        .iter()
        .chain(std::iter::repeat_n(&'*', hidden))
        .chain(&chars[chars.len() - keep_tail..])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("+79991234567"), "+799****4567");
        assert_eq!(mask("123456789"), "123***789");
        assert_eq!(mask("12345"), "*****");
    }
}
