//! The JSON control messages of `docs/intercom.md`, both ways.
//!
//! A device's text frame is read by [`DeviceMessage::parse`]: one JSON object with a
//! known `type`, its required fields present, and every limit of the protocol held
//! (ids, sizes, enumerations). What fails gets a [`MessageError`] that says why, and
//! names the request's `id` where it had one, for the `error` frame. Unknown fields
//! are ignored: adding an optional field does not need a new version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The longest request id.
pub const MAX_ID_BYTES: usize = 64;
/// The longest device id.
pub const MAX_DEVICE_BYTES: usize = 64;
/// Status keys per message.
pub const MAX_STATUS_KEYS: usize = 32;
/// The longest status value (and key).
pub const MAX_STATUS_VALUE_BYTES: usize = 256;
/// The longest log line.
pub const MAX_LOG_BYTES: usize = 4096;
/// The longest text frame vchat reads.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// The longest binary frame vchat reads (the header and 60 ms of 16 kHz L16).
pub const MAX_FRAME_BYTES: usize = 12 + 3840;
/// Calls one connection may have up at once.
pub const MAX_CALLS: usize = 4;

/// Device → vchat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceMessage {
    /// Opens the session.
    Hello(Hello),
    /// What the device reports about itself.
    Status(Status),
    /// Someone rang.
    Ring(Ring),
    /// Answered at the device's side.
    Answered(CallRef),
    /// The device ended a call.
    Hangup(Hangup),
    /// A relay changed.
    DoorState(DoorState),
    /// A device log line.
    Log(Log),
    /// The answer to a command.
    Result(CommandResult),
    /// Liveness.
    Ping(Liveness),
    /// The answer to vchat's ping.
    Pong(Liveness),
}

/// `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version (1).
    pub version: u32,
    /// The device id.
    pub device: String,
    /// The device's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Or an API token with the `intercom` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Firmware version.
    pub firmware: String,
    /// Hardware model.
    pub model: String,
    /// Codecs, preferred first.
    pub codecs: Vec<String>,
    /// The tenant, when the id is not unique across tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl std::fmt::Display for Hello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.device, self.model, self.firmware)
    }
}

/// A status value: text, number or yes/no.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusValue {
    /// Yes/no.
    Bool(bool),
    /// A number (as the device wrote it: an integer stays one).
    Number(serde_json::Number),
    /// Text.
    Text(String),
}

/// `status`: any of the known keys, and others as key/value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Status {
    /// Every key but `type`.
    #[serde(flatten)]
    pub values: BTreeMap<String, StatusValue>,
}

/// How the visitor's call reaches the flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// A SIP call.
    Sip,
    /// An analog handset.
    Analog,
    /// A call within a cluster of panels.
    Cluster,
}

impl CallKind {
    /// Every kind.
    pub const ALL: [CallKind; 3] = [CallKind::Sip, CallKind::Analog, CallKind::Cluster];

    /// The name in messages and metrics.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Sip => "sip",
            CallKind::Analog => "analog",
            CallKind::Cluster => "cluster",
        }
    }
}

/// `ring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ring {
    /// The device's call number (also in audio frames).
    pub call: u32,
    /// How the call is made.
    pub kind: CallKind,
    /// The flat rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    /// Or an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The codec of this call, when not the session's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

/// A message about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRef {
    /// The call.
    pub call: u32,
}

/// `hangup`, either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hangup {
    /// The call.
    pub call: u32,
    /// Why (`caller`, `busy`, `no_answer`, `failed`, `timeout`, `agent`, `rejected`,
    /// `shutdown` or other text).
    pub reason: String,
}

/// A relay's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorPosition {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// `door_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoorState {
    /// The relay.
    pub relay: u32,
    /// Its position.
    pub state: DoorPosition,
    /// The `open_door` this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// Its level.
    pub level: LogLevel,
    /// The line.
    pub text: String,
    /// When the device wrote it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command's id.
    pub id: String,
    /// Whether it was done.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `ping` / `pong`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Liveness {
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// vchat → device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The session is open.
    Welcome(Welcome),
    /// The ring became an interaction.
    Ringing {
        /// The call.
        call: u32,
        /// The interaction's id.
        interaction: String,
    },
    /// An agent answered.
    Answered {
        /// The call.
        call: u32,
        /// The agent's display name.
        by: String,
    },
    /// vchat ended the call.
    Hangup(Hangup),
    /// Open a relay.
    OpenDoor {
        /// The command.
        id: String,
        /// The relay.
        relay: u32,
    },
    /// Play synthesized speech or a named prompt.
    Play {
        /// The command.
        id: String,
        /// The call it plays into.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u32>,
        /// Text vchat synthesizes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// A prompt the device has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        /// The voice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
    },
    /// Reboot.
    Reboot {
        /// The command.
        id: String,
    },
    /// A configuration push.
    Config {
        /// The command.
        id: String,
        /// The settings.
        values: serde_json::Map<String, serde_json::Value>,
    },
    /// What vchat refused, and why.
    Error {
        /// `bad_message`, `bad_audio`, `no_call`.
        code: String,
        /// In words.
        reason: String,
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Liveness.
    Ping(Liveness),
    /// The answer to a ping.
    Pong(Liveness),
}

/// `welcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The session id.
    pub session: String,
    /// The codec of this device's calls.
    pub codec: String,
    /// How often to ping.
    pub ping_secs: u32,
    /// What vchat reads.
    pub limits: Limits,
}

/// The limits in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The longest binary frame.
    pub max_frame_bytes: usize,
    /// The longest text frame.
    pub max_text_bytes: usize,
}

impl ServerMessage {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages serialize")
    }
}

/// Why a text frame was refused (`bad_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// The request's id, where the frame had a readable one.
    pub id: Option<String>,
    /// In words, for the device's developer.
    pub reason: String,
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

const DEVICE_TYPES: &[&str] = &[
    "hello",
    "status",
    "ring",
    "answered",
    "hangup",
    "door_state",
    "log",
    "result",
    "ping",
    "pong",
];

impl DeviceMessage {
    /// Reads and checks one text frame.
    pub fn parse(text: &str) -> Result<DeviceMessage, MessageError> {
        let fail = |id: Option<String>, reason: String| MessageError { id, reason };
        if text.len() > MAX_TEXT_BYTES {
            return Err(fail(
                None,
                format!(
                    "a text frame is at most {MAX_TEXT_BYTES} bytes; this one is {}",
                    text.len()
                ),
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| fail(None, format!("not JSON: {e}")))?;
        let Some(object) = value.as_object() else {
            return Err(fail(None, "a message is a JSON object".into()));
        };
        let id = object
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|s| s.len() <= MAX_ID_BYTES)
            .map(str::to_owned);
        let kind = match object.get("type") {
            Some(serde_json::Value::String(t)) => t.as_str(),
            Some(_) => return Err(fail(id, "`type` is a string".into())),
            None => return Err(fail(id, "a message has a `type`".into())),
        };
        if !DEVICE_TYPES.contains(&kind) {
            let known = DEVICE_TYPES.join(", ");
            return Err(fail(
                id,
                format!("unknown message type `{kind}` (known: {known})"),
            ));
        }
        let kind = kind.to_owned();
        let message: DeviceMessage =
            serde_json::from_value(value).map_err(|e| fail(id.clone(), format!("{kind}: {e}")))?;
        message
            .check()
            .map_err(|reason| fail(id, format!("{kind}: {reason}")))?;
        Ok(message)
    }

    /// The JSON text frame (the simulator's side).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("device messages serialize")
    }

    fn check(&self) -> Result<(), String> {
        fn id(id: Option<&String>) -> Result<(), String> {
            match id {
                Some(id) if id.is_empty() || id.len() > MAX_ID_BYTES => {
                    Err(format!("`id` is 1 to {MAX_ID_BYTES} bytes"))
                }
                _ => Ok(()),
            }
        }
        match self {
            DeviceMessage::Hello(h) => {
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
                if h.device.is_empty()
                    || h.device.len() > MAX_DEVICE_BYTES
                    || !h.device.chars().all(valid)
                {
                    return Err(format!(
                        "`device` is 1 to {MAX_DEVICE_BYTES} of A-Z a-z 0-9 . _ -"
                    ));
                }
                match (&h.secret, &h.token) {
                    (Some(_), Some(_)) => return Err("give `secret` or `token`, not both".into()),
                    (None, None) => return Err("`secret` or `token` is required".into()),
                    _ => {}
                }
                if h.codecs.is_empty() || h.codecs.len() > 8 {
                    return Err("`codecs` lists 1 to 8 codecs".into());
                }
                for text in [&h.firmware, &h.model] {
                    if text.len() > MAX_STATUS_VALUE_BYTES {
                        return Err(format!(
                            "`firmware` and `model` are at most {MAX_STATUS_VALUE_BYTES} bytes"
                        ));
                    }
                }
                Ok(())
            }
            DeviceMessage::Status(s) => s.check(),
            DeviceMessage::Ring(r) => match (&r.flat, &r.address) {
                (None, None) => Err("`flat` or `address` is required".into()),
                (Some(t), _) | (None, Some(t))
                    if t.is_empty() || t.len() > MAX_STATUS_VALUE_BYTES =>
                {
                    Err(format!(
                        "`flat` and `address` are 1 to {MAX_STATUS_VALUE_BYTES} bytes"
                    ))
                }
                _ => Ok(()),
            },
            DeviceMessage::Hangup(h) if h.reason.len() > MAX_STATUS_VALUE_BYTES => Err(format!(
                "`reason` is at most {MAX_STATUS_VALUE_BYTES} bytes"
            )),
            DeviceMessage::DoorState(d) => id(d.id.as_ref()),
            DeviceMessage::Log(l) if l.text.len() > MAX_LOG_BYTES => Err(format!(
                "`text` is at most {MAX_LOG_BYTES} bytes; this one is {}",
                l.text.len()
            )),
            DeviceMessage::Result(r) => id(Some(&r.id)),
            DeviceMessage::Ping(l) | DeviceMessage::Pong(l) => id(l.id.as_ref()),
            _ => Ok(()),
        }
    }
}

impl Status {
    fn check(&self) -> Result<(), String> {
        if self.values.len() > MAX_STATUS_KEYS {
            return Err(format!(
                "at most {MAX_STATUS_KEYS} keys; this one has {}",
                self.values.len()
            ));
        }
        for (key, value) in &self.values {
            if key.len() > MAX_STATUS_VALUE_BYTES {
                return Err(format!("keys are at most {MAX_STATUS_VALUE_BYTES} bytes"));
            }
            let ok = match (key.as_str(), value) {
                ("online", StatusValue::Bool(_)) => true,
                ("online", _) => return Err("`online` is true or false".into()),
                ("door", StatusValue::Text(t)) if t == "open" || t == "closed" => true,
                ("door", _) => return Err("`door` is \"open\" or \"closed\"".into()),
                ("sip", StatusValue::Text(t))
                    if matches!(t.as_str(), "registered" | "unregistered" | "failed") =>
                {
                    true
                }
                ("sip", _) => {
                    return Err("`sip` is \"registered\", \"unregistered\" or \"failed\"".into());
                }
                ("temperature", StatusValue::Number(_)) => true,
                ("temperature", _) => return Err("`temperature` is a number (°C)".into()),
                (_, StatusValue::Text(t)) => t.len() <= MAX_STATUS_VALUE_BYTES,
                (_, StatusValue::Number(_)) => true,
                (_, StatusValue::Bool(_)) => true,
            };
            if !ok {
                return Err(format!(
                    "`{key}`: values are at most {MAX_STATUS_VALUE_BYTES} bytes"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        DeviceMessage::parse(text).unwrap_err().reason
    }

    #[test]
    fn a_hello_reads_with_its_fields() {
        let m = DeviceMessage::parse(
            r#"{"type":"hello","version":1,"device":"door-1","secret":"s","firmware":"2.1","model":"BAS-IP AV-07","codecs":["PCMU","opus"],"extra":1}"#,
        )
        .unwrap();
        let DeviceMessage::Hello(h) = m else {
            panic!("{m:?}")
        };
        assert_eq!(h.device, "door-1");
        assert_eq!(h.codecs, ["PCMU", "opus"]);
    }

    #[test]
    fn status_keeps_known_and_other_keys() {
        let m = DeviceMessage::parse(r#"{"type":"status","online":true,"door":"closed","sip":"registered","temperature":-3.5,"uptime":1200,"lte":"weak"}"#).unwrap();
        let DeviceMessage::Status(s) = m else {
            panic!()
        };
        assert_eq!(s.values.len(), 6);
        assert_eq!(
            s.values["temperature"],
            StatusValue::Number(serde_json::Number::from_f64(-3.5).unwrap())
        );
        assert_eq!(s.values["uptime"], StatusValue::Number(1200.into()));
        assert_eq!(s.values["lte"], StatusValue::Text("weak".into()));
        assert!(reason(r#"{"type":"status","door":"ajar"}"#).contains("`door` is"));
    }

    #[test]
    fn bad_frames_say_why_and_keep_the_id() {
        assert!(reason("nope").starts_with("not JSON"));
        assert!(reason("[1]").contains("JSON object"));
        assert!(reason(r#"{"id":"x"}"#).contains("has a `type`"));
        let e = DeviceMessage::parse(r#"{"type":"dance","id":"r1"}"#).unwrap_err();
        assert_eq!(e.id.as_deref(), Some("r1"));
        assert!(
            e.reason.contains("unknown message type `dance`"),
            "{}",
            e.reason
        );
        assert!(reason(r#"{"type":"ring","call":1,"kind":"sip"}"#).contains("`flat` or `address`"));
        assert!(
            reason(r#"{"type":"ring","call":1,"kind":"pigeon","flat":"12"}"#)
                .starts_with("ring: unknown variant `pigeon`")
        );
        assert!(reason(r#"{"type":"hello","version":1,"device":"a b","secret":"s","firmware":"","model":"","codecs":["PCMU"]}"#).contains("`device` is"));
        assert!(reason(r#"{"type":"hello","version":1,"device":"a","firmware":"","model":"","codecs":["PCMU"]}"#).contains("`secret` or `token`"));
        let long = format!(
            r#"{{"type":"log","level":"info","text":"{}"}}"#,
            "x".repeat(5000)
        );
        assert!(reason(&long).contains("at most 4096 bytes"));
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let m = ServerMessage::OpenDoor {
            id: "c1".into(),
            relay: 1,
        };
        assert_eq!(m.to_json(), r#"{"type":"open_door","id":"c1","relay":1}"#);
        let e = ServerMessage::Error {
            code: "no_call".into(),
            reason: "r".into(),
            id: None,
        };
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","code":"no_call","reason":"r"}"#
        );
        let back: ServerMessage = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(back, m);
    }
}
