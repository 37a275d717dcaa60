//! Recordings: one per recorded call, its state and what the merge made.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::Collection;

/// Where a recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// The call is being captured.
    Recording,
    /// The call ended; the file is being made.
    Merging,
    /// The file is in the store.
    Ready,
    /// No file could be made (`reason` says why).
    Failed,
}

/// A call's recording. Its id is the interaction's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recording {
    /// Id (the interaction's).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction.
    pub interaction: String,
    /// The call's agent (who, besides supervisors, may download it).
    pub agent: String,
    /// State.
    pub state: RecordingState,
    /// Why it failed.
    pub reason: Option<String>,
    /// Storage key of the file.
    pub key: Option<String>,
    /// `video/webm` (or `audio/webm` without video).
    pub content_type: Option<String>,
    /// Length, ms.
    pub duration_ms: Option<i64>,
    /// Bytes.
    pub size: Option<u64>,
    /// SHA-256 of the file, hex.
    pub sha256: Option<String>,
    /// Capture segments merged: client audio, agent audio, client video.
    #[schema(value_type = Option<Vec<u32>>)]
    pub segments: Option<[u32; 3]>,
    /// Video frames copied, and dropped (lost packets, before a keyframe).
    #[schema(value_type = Option<Vec<u64>>)]
    pub video_frames: Option<(u64, u64)>,
    /// How the stereo track was made: `passthrough` (the parties' own Opus packets as
    /// two streams) or `reencoded` (decoded and encoded again).
    pub audio: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms the file was ready.
    pub ready_at: Option<i64>,
}

impl Recording {
    /// The recording of interaction `id` (of `tenant`, handled by `agent`) as its
    /// capture starts at `created_at`: nothing made yet.
    pub fn started(id: &str, tenant: &str, agent: &str, created_at: i64) -> Recording {
        Recording {
            id: id.to_string(),
            tenant: tenant.to_string(),
            interaction: id.to_string(),
            agent: agent.to_string(),
            state: RecordingState::Recording,
            reason: None,
            key: None,
            content_type: None,
            duration_ms: None,
            size: None,
            sha256: None,
            segments: None,
            video_frames: None,
            audio: None,
            created_at,
            ready_at: None,
        }
    }
}
record!(Recording, Collection::Recordings);
super::fields!(Recording {
    INTERACTION: "interaction",
    STATE: "state"
});
