//! Who is calling: a logged-in user (session cookie), an integration (API token), or
//! the installation's bootstrap token. Services ask [`Caller`] what it may do;
//! everything not granted is denied.

use crate::domain::{DomainError, DomainResult};
use crate::model::Role;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vchat_session";

/// The user id the bootstrap token acts as.
pub const BOOTSTRAP: &str = "system";

/// An authenticated staff member (or the bootstrap token, as the root admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id ([`BOOTSTRAP`] for the bootstrap token).
    pub user: String,
    /// Display name.
    pub name: String,
    /// Their tenant.
    pub tenant: String,
    /// Their role.
    pub role: Role,
    /// Their tenant and every tenant below it.
    pub scope: Vec<String>,
}

impl Caller {
    /// Whether records of `tenant` are visible at all. Outside the scope, services
    /// answer "not found", never "forbidden", so ids of other tenants do not leak.
    pub fn sees(&self, tenant: &str) -> bool {
        self.scope.iter().any(|t| t == tenant)
    }

    /// Whether the caller may see a call (interaction, recording, CDR) of `tenant`
    /// handled by `agent`: supervisors and admins of the scope, and that agent.
    pub fn sees_call(&self, tenant: &str, agent: &str) -> bool {
        // A call nobody has taken yet (a ringing intercom) is every agent's.
        self.sees(tenant) && (self.is(Role::Supervisor) || agent == self.user || agent.is_empty())
    }

    /// Whether the caller has at least `role`.
    pub fn is(&self, role: Role) -> bool {
        self.role >= role
    }

    /// `NeedsRole` unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> DomainResult<()> {
        if self.is(role) {
            Ok(())
        } else {
            Err(DomainError::NeedsRole(role))
        }
    }

    /// Whether this is the bootstrap token rather than a person.
    pub fn is_bootstrap(&self) -> bool {
        self.user == BOOTSTRAP
    }
}
