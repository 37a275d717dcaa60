//! People who log in, their sessions and their integration tokens.

use serde::{Deserialize, Serialize};

use super::record;
use crate::store::{Collection, Record};

/// What a user may do. The client and the intercom are not users: they hold join
/// tokens for one call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Handles their own interactions.
    Agent,
    /// Sees and manages every interaction of their tenant and its branches.
    Supervisor,
    /// Manages tenants, users and settings of their tenant and its branches.
    Admin,
}

impl Role {
    /// The name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// A person who logs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Login name, unique across the installation (kept lower-case).
    pub login: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled user cannot log in; their sessions and tokens stop working.
    #[serde(default)]
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
}

super::fields!(User {
    ROLE: "role",
    LOGIN: "login"
});

impl Record for User {
    const COLLECTION: Collection = Collection::Users;
    const FIELDS: &'static [&'static str] = User::INDEXED;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant(&self) -> &str {
        &self.tenant
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.login.clone())
    }
}

/// A login session; the cookie holds a secret whose SHA-256 is the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub id: String,
    /// The user's tenant.
    pub tenant: String,
    /// The user.
    pub user: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}
record!(Session, Collection::Sessions);
super::fields!(Session {
    USER: "user",
    EXPIRES_AT: "expires_at"
});

/// What an API token is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// The HTTP API, as its user (tokens made before scopes existed are these).
    #[default]
    Api,
    /// Intercoms' `hello` only (`GET /intercom`): a fleet's management system logs
    /// its tenant's panels in with it; refused by the API.
    Intercom,
}

/// An API token for integrations; acts as its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// SHA-256 of the token.
    pub id: String,
    /// The user's tenant.
    pub tenant: String,
    /// The user it acts as.
    pub user: String,
    /// What it is for.
    pub label: String,
    /// Unix ms.
    pub created_at: i64,
    /// What it may be used for.
    #[serde(default)]
    pub scope: TokenScope,
}
record!(ApiToken, Collection::ApiTokens);
super::fields!(ApiToken { USER: "user" });
