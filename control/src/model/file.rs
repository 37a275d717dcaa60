//! Uploaded files: metadata here, bytes in the file store under the id.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::Collection;

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileMeta {
    /// Id, also the storage key (server-made; never the user's name).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction.
    pub interaction: String,
    /// The name the uploader gave, as metadata only.
    pub name: String,
    /// Declared media type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// Unix ms.
    pub at: i64,
}
record!(FileMeta, Collection::Files);
super::fields!(FileMeta {
    INTERACTION: "interaction"
});
