//! Chat messages of an interaction.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::Collection;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatMessage {
    /// Id (time-ordered).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction.
    pub interaction: String,
    /// Unix ms.
    pub at: i64,
    /// `agent`, `client` or a user id.
    pub from: String,
    /// The sender's display name.
    pub name: String,
    /// Text (may be empty when a file is attached).
    pub text: String,
    /// An attached file's id.
    pub file: Option<String>,
    /// A shared position: lat, lon, accuracy, at, map_url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub geo: Option<serde_json::Value>,
}
record!(ChatMessage, Collection::Messages);
super::fields!(ChatMessage {
    INTERACTION: "interaction",
    AT: "at"
});
