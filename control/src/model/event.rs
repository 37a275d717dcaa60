//! The event log: every lifecycle change, appended, never edited.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::Collection;

/// One thing that happened. Published in-process and to MQTT as
/// `vchat/<tenant>/<kind>` with this JSON (docs/events.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Id; time-ordered, and the key consumers deduplicate by.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// What happened, `<subject>.<verb>` (`interaction.created`, ...).
    pub kind: String,
    /// The interaction it concerns, if any.
    pub interaction: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// Who caused it: a user id, `client`, `system`.
    pub actor: String,
    /// Details, by kind.
    #[serde(default)]
    pub data: serde_json::Value,
}
record!(Event, Collection::Events);
