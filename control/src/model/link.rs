//! Short client links, `/j/<code>`.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::Collection;

/// A link that lets the client into one interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The code (10 random letters of 55: about 58 bits).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction.
    pub interaction: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which the link no longer opens.
    pub expires_at: i64,
    /// The device that opened it first (a cookie); others are refused.
    pub device: Option<String>,
    /// Unix ms of the first opening.
    pub opened_at: Option<i64>,
}
record!(Link, Collection::Links);
super::fields!(Link {
    INTERACTION: "interaction"
});
