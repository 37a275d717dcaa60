//! Bare rooms: a room and a join token for each participant, for the bootstrap token
//! (integrations and tests that need no interaction). The caller names the
//! participants (or takes two), and gets back signed tokens and the links that join
//! with them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vchat_sfu::{ParticipantId, RoomId};

use crate::domain::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::domain::{DomainError, DomainResult, service};

service!(
    /// Bare rooms.
    Rooms
);

/// Longest display name kept.
const MAX_NAME: usize = 100;

/// `POST /api/rooms` (every field optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// A room id of the caller's choosing; default: random.
    #[serde(default)]
    pub room: Option<String>,
    /// Who will join (ids unique); default: two participants.
    #[serde(default)]
    pub participants: Option<Vec<NewParticipant>>,
    /// Seconds the tokens stay valid; default `rooms.token_ttl_secs`.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// One participant to make a token for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParticipant {
    /// Id; default: random.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name, 1 to 100 printable characters.
    pub name: String,
}

/// A room made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomCreated {
    /// The room id.
    pub room: String,
    /// When the tokens expire, Unix seconds.
    pub expires_at: u64,
    /// A token and link per participant.
    pub participants: Vec<Invitation>,
}

/// One participant's way in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    /// Participant id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The join token.
    pub token: String,
    /// A link that opens the room page and joins with the token.
    pub join_url: String,
}

/// 16 random characters of `a-z0-9`: 82 bits, unguessable.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

impl Rooms {
    /// Makes a room and its participants' tokens.
    pub fn create(&self, request: CreateRoom) -> DomainResult<RoomCreated> {
        self.0.refuse_if_draining()?;
        let room = match request.room {
            Some(id) => RoomId::new(&id).map_err(|e| DomainError::invalid(e.to_string()))?,
            None => RoomId::new(&random_id()).expect("random ids are valid"),
        };
        let max = self.0.config.rooms.max_participants;
        let participants = request.participants.unwrap_or_else(|| {
            (1..=2)
                .map(|i| NewParticipant {
                    id: None,
                    name: format!("Participant {i}"),
                })
                .collect()
        });
        if participants.is_empty() || participants.len() > max {
            return Err(DomainError::invalid(format!(
                "give 1 to {max} participants"
            )));
        }
        let max_ttl = self.0.config.rooms.token_ttl_secs;
        let ttl = request.ttl_secs.unwrap_or(max_ttl);
        if !(60..=max_ttl).contains(&ttl) {
            return Err(DomainError::invalid(format!(
                "ttl_secs must be between 60 and {max_ttl}"
            )));
        }
        let now = unix_now();
        let base = &self.0.public_base;
        let mut seen = Vec::new();
        let mut invitations = Vec::new();
        for p in participants {
            let name = p.name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_NAME
                || name.chars().any(char::is_control)
            {
                return Err(DomainError::invalid(format!(
                    "participant names are 1 to {MAX_NAME} printable characters"
                )));
            }
            let id = match p.id {
                Some(id) => {
                    ParticipantId::new(&id).map_err(|e| DomainError::invalid(e.to_string()))?
                }
                None => ParticipantId::new(&random_id()).expect("random ids are valid"),
            };
            if seen.contains(&id) {
                return Err(DomainError::invalid(format!(
                    "participant id {id} appears twice"
                )));
            }
            seen.push(id.clone());
            let token = self.0.signer.sign(&JoinClaims {
                room: room.to_string(),
                sub: id.to_string(),
                name: name.to_string(),
                aud: JOIN_AUDIENCE.into(),
                iat: now,
                exp: now + ttl,
            });
            // The token rides in the fragment: browsers never send it to servers or in
            // Referer headers.
            let join_url = format!("{base}/room/#token={token}");
            invitations.push(Invitation {
                id: id.to_string(),
                name: name.to_string(),
                token,
                join_url,
            });
        }
        Ok(RoomCreated {
            room: room.to_string(),
            expires_at: now + ttl,
            participants: invitations,
        })
    }
}
