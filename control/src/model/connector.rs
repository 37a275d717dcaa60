//! Custom delivery connectors a tenant's admins registered.

use serde::{Deserialize, Serialize};

use crate::store::{Collection, Record};

/// A connector: a customer's process that delivers links over its own channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Name; delivery chains name it as `connector:<name>`.
    pub name: String,
    /// SHA-256 of its token (the unique key it is found by).
    pub token_digest: String,
    /// SHA-256 of its key.
    pub key_digest: String,
    /// Unix ms.
    pub created_at: i64,
}

super::fields!(Connector { NAME: "name" });

impl Record for Connector {
    const COLLECTION: Collection = Collection::Connectors;
    const FIELDS: &'static [&'static str] = Connector::INDEXED;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.token_digest.clone())
    }
}
