//! Intercoms (door panels) an admin added, with what they last reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{Collection, Record};

/// A door panel that connects to `GET /intercom` (docs/intercom.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Record id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The id the device says in `hello` (unique across tenants: the key it is found
    /// by).
    pub device: String,
    /// What people call it ("Lenina 5, entrance 2").
    pub name: String,
    /// SHA-256 of its secret (a random 32-character token, so a digest is enough and
    /// a reconnect storm costs no password hashing).
    pub secret_digest: String,
    /// Unix ms.
    pub created_at: i64,
    /// Firmware, from its last `hello`.
    #[serde(default)]
    pub firmware: Option<String>,
    /// Model, from its last `hello`.
    #[serde(default)]
    pub model: Option<String>,
    /// Codecs it named, preferred first.
    #[serde(default)]
    pub codecs: Vec<String>,
    /// When it last connected or reported, Unix ms.
    #[serde(default)]
    pub last_seen_at: Option<i64>,
    /// Its last status, key by key (docs/intercom.md `status`).
    #[serde(default)]
    pub status: BTreeMap<String, serde_json::Value>,
    /// Sessions it opened.
    #[serde(default)]
    pub connections: u64,
}

super::fields!(Device {
    DEVICE: "device",
    NAME: "name"
});

impl Record for Device {
    const COLLECTION: Collection = Collection::Devices;
    const FIELDS: &'static [&'static str] = Device::INDEXED;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.device.clone())
    }
}
