//! WebSocket close codes the server uses, named once for every socket kind
//! (4000-4999 are the application's).

/// Normal end (the participant left).
pub const NORMAL: u16 = 1000;
/// The server is going away (shutting down).
pub const GOING_AWAY: u16 = 1001;
/// A binary frame where the protocol is JSON text.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Too many messages, or other abuse.
pub const POLICY: u16 = 1008;
/// A message over the size limit.
pub const TOO_BIG: u16 = 1009;
/// The server hit a bug, or its storage failed.
pub const INTERNAL: u16 = 1011;
/// The server is draining: try again later (on another node).
pub const TRY_AGAIN_LATER: u16 = 1013;
/// A message that breaks the protocol (not JSON, not a known type, out of order).
pub const PROTOCOL: u16 = 4400;
/// The credentials are missing, forged or expired.
pub const UNAUTHORIZED: u16 = 4401;
/// The room is full.
pub const ROOM_FULL: u16 = 4403;
/// Nothing in time: no first message, media never connected, no sign of life.
pub const TIMEOUT: u16 = 4408;
/// The same participant joined from another session.
pub const REPLACED: u16 = 4409;

/// How a socket ends: a close code and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The code.
    pub code: u16,
    /// The reason, for people.
    pub reason: &'static str,
}

impl Close {
    /// A close with `code` and `reason`.
    pub const fn new(code: u16, reason: &'static str) -> Close {
        Close { code, reason }
    }
}

/// The metrics label of a close code.
pub fn label(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "shutdown",
        UNSUPPORTED_DATA => "binary",
        POLICY => "rate",
        TOO_BIG => "too_big",
        INTERNAL => "internal",
        TRY_AGAIN_LATER => "draining",
        PROTOCOL => "protocol",
        UNAUTHORIZED => "token",
        ROOM_FULL => "room_full",
        TIMEOUT => "timeout",
        REPLACED => "replaced",
        _ => "other",
    }
}
