//! Names of rooms, participants and signaling sessions.

use std::fmt;
use std::sync::Arc;

use crate::error::SfuError;

/// The longest room or participant id we accept. Ids travel in SDP `msid` lines, whose
/// ids may be at most 64 characters (RFC 8830).
pub const MAX_ID_LEN: usize = 64;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses an id: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
            ///
            /// The narrow alphabet keeps ids safe to put into SDP, URLs, metric labels
            /// and log lines without escaping.
            pub fn new(s: &str) -> Result<Self, SfuError> {
                let ok = !s.is_empty()
                    && s.len() <= MAX_ID_LEN
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if ok {
                    Ok(Self(Arc::from(s)))
                } else {
                    Err(SfuError::BadId { what: $what, id: s.chars().take(80).collect() })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.0)
            }
        }
    };
}

name_type!(
    /// The id of a room: every participant who joins the same room id talks to the others.
    RoomId,
    "room"
);
name_type!(
    /// The id of a participant, unique within a room.
    ParticipantId,
    "participant"
);

/// One signaling session (one WebSocket) of a participant. A participant who reconnects
/// gets a new session, which replaces the old one in the room.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_safe_alphabet_only() {
        assert!(RoomId::new("room_1-A").is_ok());
        assert!(RoomId::new(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            " ",
            "a b",
            "a/b",
            "é",
            "a\nb",
            "<script>",
            &"a".repeat(65),
        ] {
            assert!(RoomId::new(bad).is_err(), "{bad:?} must be refused");
            assert!(ParticipantId::new(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
