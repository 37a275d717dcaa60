//! `POST /api/rooms`: a room and a join token for each participant.
//!
//! Kept small until interactions arrive: the caller names the participants (or takes
//! two), and gets back signed tokens and the links that join with them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vchat_sfu::{ParticipantId, RoomId};

use super::ApiError;
use crate::app::App;
use crate::auth::bearer_matches;
use crate::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};

/// Longest display name kept.
const MAX_NAME: usize = 100;

/// The request body (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// A room id of the caller's choosing; default: random.
    #[serde(default)]
    pub room: Option<String>,
    /// Who will join; default: two participants.
    #[serde(default)]
    pub participants: Option<Vec<NewParticipant>>,
    /// Seconds the tokens stay valid; default `rooms.token_ttl_secs`.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// One participant to make a token for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewParticipant {
    /// Id; default: random.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
}

/// The response body.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomCreated {
    /// The room id.
    pub room: String,
    /// When the tokens expire, Unix seconds.
    pub expires_at: u64,
    /// A token and link per participant.
    pub participants: Vec<Invitation>,
}

/// One participant's way in.
#[derive(Debug, Serialize, Deserialize)]
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

/// Creates a room.
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_matches(&headers, app.api_token.expose()) {
        return ApiError::unauthorized().into_response();
    }
    if app.is_draining() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down",
        )
        .into_response();
    }
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        CreateRoom::default()
    } else {
        match serde_json::from_slice::<CreateRoom>(&body) {
            Ok(request) => request,
            Err(e) => {
                return ApiError::bad_request(format!("body is not a valid room request: {e}"))
                    .into_response();
            }
        }
    };
    match build(&app, request) {
        Ok(created) => {
            app.metrics.rooms_created.inc();
            (StatusCode::CREATED, Json(created)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn build(app: &App, request: CreateRoom) -> Result<RoomCreated, ApiError> {
    let room = match request.room {
        Some(id) => RoomId::new(&id).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => RoomId::new(&random_id()).expect("random ids are valid"),
    };
    let max = app.config.rooms.max_participants;
    let participants = request.participants.unwrap_or_else(|| {
        (1..=2)
            .map(|i| NewParticipant {
                id: None,
                name: format!("Participant {i}"),
            })
            .collect()
    });
    if participants.is_empty() || participants.len() > max {
        return Err(ApiError::bad_request(format!(
            "give 1 to {max} participants"
        )));
    }
    let ttl = request.ttl_secs.unwrap_or(app.config.rooms.token_ttl_secs);
    if !(60..=app.config.rooms.token_ttl_secs).contains(&ttl) {
        return Err(ApiError::bad_request(format!(
            "ttl_secs must be between 60 and {}",
            app.config.rooms.token_ttl_secs
        )));
    }
    let now = unix_now();
    let base = &app.public_base;
    let mut seen = Vec::new();
    let mut invitations = Vec::new();
    for p in participants {
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(ApiError::bad_request(format!(
                "participant names are 1 to {MAX_NAME} printable characters"
            )));
        }
        let id = match p.id {
            Some(id) => {
                ParticipantId::new(&id).map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            None => ParticipantId::new(&random_id()).expect("random ids are valid"),
        };
        if seen.contains(&id) {
            return Err(ApiError::bad_request(format!(
                "participant id {id} appears twice"
            )));
        }
        seen.push(id.clone());
        let claims = JoinClaims {
            room: room.to_string(),
            sub: id.to_string(),
            name: name.to_string(),
            aud: JOIN_AUDIENCE.into(),
            iat: now,
            exp: now + ttl,
        };
        let token = app.signer.sign(&claims);
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
