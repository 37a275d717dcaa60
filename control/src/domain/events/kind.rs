//! Every kind of event and its data, as one type. Its JSON is the contract of
//! docs/events.md (MQTT payloads and the event log): `{"kind": …, "data": {…}}` with the
//! data's fields in the order written here, byte for byte what the server published
//! before events were typed (`tests/events_keep_their_mqtt_payloads.rs` holds a recorded
//! sample of every kind and checks it round-trips).

use serde::{Deserialize, Serialize};

use crate::model::State;
use crate::model::interaction::VideoMode;

/// What happened, with its details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum EventKind {
    /// An interaction was made.
    #[serde(rename = "interaction.created")]
    InteractionCreated {
        /// Its agent.
        agent: String,
        /// `scheduled` or `waiting`.
        state: State,
        /// When it is meant to happen.
        scheduled_at: Option<i64>,
        /// Whether it is recorded.
        recording: bool,
        /// Its video mode.
        video: VideoMode,
    },
    /// Fields of an interaction changed.
    #[serde(rename = "interaction.updated")]
    InteractionUpdated {
        /// The fields that changed.
        changed: Vec<String>,
    },
    /// A scheduled interaction's time came.
    #[serde(rename = "interaction.waiting")]
    InteractionWaiting(StateChange),
    /// The client joined: the call is on.
    #[serde(rename = "interaction.connected")]
    InteractionConnected(StateChange),
    /// The call ended.
    #[serde(rename = "interaction.ended")]
    InteractionEnded(StateChange),
    /// The link ran out unanswered.
    #[serde(rename = "interaction.expired")]
    InteractionExpired(StateChange),
    /// It could not happen, or a restart cut it.
    #[serde(rename = "interaction.failed")]
    InteractionFailed(StateChange),
    /// Called off before it connected.
    #[serde(rename = "interaction.cancelled")]
    InteractionCancelled(StateChange),
    /// The client link was opened, first on a device.
    #[serde(rename = "link.opened")]
    LinkOpened {
        /// The device's User-Agent.
        user_agent: Option<String>,
    },
    /// Someone joined the room.
    #[serde(rename = "participant.joined")]
    ParticipantJoined(Presence),
    /// Someone left the room.
    #[serde(rename = "participant.left")]
    ParticipantLeft(Presence),
    /// A connected party sends no RTP.
    #[serde(rename = "media.inactive")]
    MediaInactive {
        /// The party.
        participant: String,
        /// Seconds of silence so far.
        quiet_secs: u64,
    },
    /// RTP again after `media.inactive`.
    #[serde(rename = "media.active")]
    MediaActive {
        /// The party.
        participant: String,
    },
    /// A chat message (text, a file, or a position).
    #[serde(rename = "chat.message")]
    ChatMessage {
        /// The message id.
        message: String,
        /// Its file, if it carries one.
        file: Option<String>,
        /// `true` for a shared position (absent otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        geo: Option<bool>,
    },
    /// A file was uploaded into the chat.
    #[serde(rename = "file.uploaded")]
    FileUploaded {
        /// The file id.
        file: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A position was shared.
    #[serde(rename = "geo.position")]
    GeoPosition(GeoPosition),
    /// The address of a shared position (or why there is none).
    #[serde(rename = "geo.address")]
    GeoAddress(GeoAddress),
    /// A screenshot or a still was stored (a JPEG with the capture time, and the
    /// client's last position, in its EXIF).
    #[serde(rename = "screenshot.taken")]
    ScreenshotTaken(Screenshot),
    /// A link delivery started.
    #[serde(rename = "delivery.queued")]
    DeliveryQueued {
        /// The delivery id.
        delivery: String,
        /// The channels it tries, in order.
        channels: Vec<String>,
    },
    /// A channel the client has no address for was skipped.
    #[serde(rename = "delivery.skipped")]
    DeliverySkipped {
        /// The delivery id.
        delivery: String,
        /// The channel.
        channel: String,
        /// Why.
        reason: String,
    },
    /// An attempt failed and is tried again after a wait.
    #[serde(rename = "delivery.retrying")]
    DeliveryRetrying {
        /// The delivery id.
        delivery: String,
        /// The channel.
        channel: String,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        reason: String,
        /// The wait before the next attempt.
        wait_ms: u64,
    },
    /// The provider accepted the message.
    #[serde(rename = "delivery.sent")]
    DeliverySent(DeliveryDone),
    /// The provider confirmed delivery.
    #[serde(rename = "delivery.delivered")]
    DeliveryDelivered(DeliveryDone),
    /// A channel failed (`final`: no channel delivered the link).
    #[serde(rename = "delivery.failed")]
    DeliveryFailed(DeliveryFailed),
    /// A call's recording started.
    #[serde(rename = "recording.started")]
    RecordingStarted {
        /// The recording id (the interaction's).
        recording: String,
    },
    /// A call's recording is merged and stored.
    #[serde(rename = "recording.ready")]
    RecordingReady {
        /// The recording id.
        recording: String,
        /// The file's size.
        size: u64,
        /// Its length.
        duration_ms: i64,
    },
    /// A call's recording could not be made.
    #[serde(rename = "recording.failed")]
    RecordingFailed {
        /// The recording id.
        recording: String,
        /// Why.
        reason: String,
    },
    /// The client accepted the consent text (before anything was captured).
    #[serde(rename = "consent.given")]
    ConsentGiven {
        /// The version of the text accepted (its digest; `none` when there is none).
        version: String,
        /// The text itself, as shown.
        text: Option<String>,
        /// The device's User-Agent.
        user_agent: Option<String>,
    },
    /// The client's page checked its devices and network.
    #[serde(rename = "client.checked")]
    ClientChecked(DeviceCheck),
    /// The client's page connects, is connected, reconnects or left.
    #[serde(rename = "client.state")]
    ClientState {
        /// `connecting`, `connected`, `reconnecting` or `left`.
        state: ClientPhase,
    },
    /// The client answered the survey after the call.
    #[serde(rename = "survey.answered")]
    SurveyAnswered {
        /// 1 to 5.
        score: u8,
        /// What the client wrote, if anything.
        comment: Option<String>,
    },
    /// A call's CDR was written.
    #[serde(rename = "cdr.written")]
    CdrWritten {
        /// `answered`, `no_answer`, ...
        disposition: crate::model::cdr::Disposition,
        /// From the first join to the end.
        duration_secs: f64,
        /// With two or more present.
        talk_secs: f64,
    },
}

/// What the client's page found before connecting (sent to the agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCheck {
    /// Camera permission.
    pub camera: Permission,
    /// Microphone permission.
    pub microphone: Permission,
    /// Cameras found.
    #[schema(minimum = 0, maximum = 16)]
    #[serde(deserialize_with = "crate::domain::fields::whole_u8")]
    pub cameras: u8,
    /// Whether one faces the person.
    pub front_camera: bool,
    /// Whether one is on the back.
    pub back_camera: bool,
    /// The loudest microphone level heard, 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub mic_level: f64,
    /// Whether sound can play (iOS needs a tap first).
    pub audio_output: bool,
    /// How media reached the server: sent again once connected (`null` before).
    #[serde(default)]
    pub network: Option<NetworkPath>,
}

/// A permission's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Allowed.
    Granted,
    /// Refused by the person or the browser.
    Denied,
    /// No such device.
    Unavailable,
}

/// How media can reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPath {
    /// Straight to the media port.
    Direct,
    /// Only through the TURN relay.
    Relay,
    /// Neither answered.
    Failed,
}

/// Where the client's page is in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientPhase {
    /// Connecting for the first time.
    Connecting,
    /// Media flows.
    Connected,
    /// Lost the connection, getting it back by itself.
    Reconnecting,
    /// Left the call.
    Left,
}

/// A state change of an interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state it left.
    pub from: State,
    /// The state it entered.
    pub to: State,
    /// Why (`ended by agent`, `link expired`, `server restart`, ...).
    pub reason: Option<String>,
}

/// A join or a leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The room participant (`client`, `agent-<user id>`).
    pub participant: String,
    /// `client` or `agent`.
    pub role: String,
}

/// A shared position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPosition {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy: f64,
    /// When it was measured (Unix ms).
    pub at: i64,
    /// A Yandex Maps link.
    pub map_url: String,
}

/// The address of a position, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoAddress {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// The address in words, or `null`.
    pub display_name: Option<String>,
    /// Its parts (road, city, ...), when the service found an address.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub address: Option<serde_json::Value>,
    /// The data's licence, when the service found an address.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub licence: Option<Option<String>>,
    /// Why there is no address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The chat message that shared the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A map picture of the place (a file id), when a static-map service is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

/// A stored screenshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screenshot {
    /// The file id (`GET /api/files/{file}`).
    pub file: String,
    /// What it shows: `client-video`, `client-camera` (a still), `agent-video`,
    /// `agent-screen` or `annotated`.
    pub source: String,
    /// How the page made it: `frame` (a decoded video frame), `image-capture`
    /// (`ImageCapture.takePhoto`) or `canvas`.
    pub method: String,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// The screenshot it was drawn on (for `annotated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// Whether its EXIF carries a position.
    pub located: bool,
    /// Whether it went into the chat.
    pub sent: bool,
}

/// A field that is there (even as `null`) is `Some`: absent and `null` stay apart.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A delivery that reached the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDone {
    /// The delivery id.
    pub delivery: String,
    /// The channel.
    pub channel: String,
    /// The attempt that worked.
    pub attempt: u32,
    /// The provider's message id.
    pub provider_id: Option<String>,
}

/// A failed channel, or (`final`) the whole delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFailed {
    /// The delivery id.
    pub delivery: String,
    /// The channel, or `null` when the whole delivery failed.
    pub channel: Option<String>,
    /// The last attempt (absent on the final event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why.
    pub reason: String,
    /// Whether no channel is left.
    #[serde(rename = "final")]
    pub last: bool,
}

impl EventKind {
    /// The state change event of an interaction entering `to`.
    pub fn state_changed(from: State, to: State, reason: Option<String>) -> EventKind {
        let change = StateChange { from, to, reason };
        match to {
            State::Scheduled | State::Waiting => EventKind::InteractionWaiting(change),
            State::Connected => EventKind::InteractionConnected(change),
            State::Ended => EventKind::InteractionEnded(change),
            State::Expired => EventKind::InteractionExpired(change),
            State::Failed => EventKind::InteractionFailed(change),
            State::Cancelled => EventKind::InteractionCancelled(change),
        }
    }

    /// Whether a call's CDR is (re)written after this event: its end, or what comes
    /// after it (the recording's outcome once the merge is done, the client's survey).
    pub fn closes_a_call(&self) -> bool {
        matches!(
            self,
            EventKind::InteractionEnded(_)
                | EventKind::InteractionFailed(_)
                | EventKind::InteractionCancelled(_)
                | EventKind::InteractionExpired(_)
                | EventKind::RecordingReady { .. }
                | EventKind::RecordingFailed { .. }
                | EventKind::SurveyAnswered { .. }
        )
    }
}
