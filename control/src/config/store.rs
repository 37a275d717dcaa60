//! Where records are kept.

use serde::{Deserialize, Serialize};

use super::Secret;

/// Which store engine keeps the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// SQLite in the data folder (one node).
    Embedded,
    /// MongoDB (several nodes share it; a replica set).
    Mongodb,
}

/// Where records are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` or `mongodb`.
    pub engine: StoreEngine,
    /// `mongodb://host1,host2/?replicaSet=rs0` (credentials may be in it).
    pub mongodb_uri: Option<Secret>,
    /// The database.
    pub mongodb_database: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            engine: StoreEngine::Embedded,
            mongodb_uri: None,
            mongodb_database: "vchat".into(),
        }
    }
}
