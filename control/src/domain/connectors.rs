//! Custom delivery connectors: admins register them (the token and key are shown
//! once), list them with their connection state, and remove them. Connected ones
//! speak the socket protocol of `ws::connector`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::auth::Caller;
use crate::domain::fields::ConnectorName;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Connector, Role};
use crate::store::Filter;
use crate::store::ids::{digest, new_id, now_ms, random_token};

service!(
    /// Registered delivery connectors.
    Connectors
);

/// `POST /api/connectors`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnector {
    /// Name; chains say `connector:<name>`.
    pub name: ConnectorName,
    /// Tenant (default: the caller's).
    pub tenant: Option<String>,
}

/// A registered connector, with its credentials (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectorCreated {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Token: says which connector this is.
    pub token: String,
    /// Key: proves it.
    pub key: String,
}

/// A connector as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Connector)]
pub struct ConnectorView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Whether it is connected now.
    pub connected: bool,
    /// Unix ms.
    pub created_at: i64,
}

impl Connectors {
    /// Registers a connector (admins).
    pub async fn create(
        &self,
        caller: &Caller,
        request: NewConnector,
    ) -> DomainResult<ConnectorCreated> {
        let tenant = request.tenant.unwrap_or_else(|| caller.tenant.clone());
        if !caller.sees(&tenant) {
            return Err(DomainError::not_found("tenant"));
        }
        caller.require(Role::Admin)?;
        let name = request.name.into_string();
        let taken = self
            .0
            .store
            .count::<Connector>(
                &Filter::all()
                    .tenants(vec![tenant.clone()])
                    .eq(Connector::NAME, name.as_str()),
            )
            .await?;
        if taken > 0 {
            return Err(DomainError::conflict(
                "this tenant has a connector of that name",
            ));
        }
        let (token, key) = (format!("vcc_{}", random_token(24)), random_token(32));
        let connector = Connector {
            id: new_id(),
            tenant: tenant.clone(),
            name,
            token_digest: digest(&token),
            key_digest: digest(&key),
            created_at: now_ms(),
        };
        self.0.store.insert(&connector).await?;
        Ok(ConnectorCreated {
            id: connector.id,
            name: connector.name,
            tenant,
            token,
            key,
        })
    }

    /// The connectors of the caller's scope (admins).
    pub async fn list(&self, caller: &Caller) -> DomainResult<Vec<ConnectorView>> {
        caller.require(Role::Admin)?;
        let items = self
            .0
            .store
            .find::<Connector>(&Filter::all().tenants(caller.scope.clone()).page(0, 10_000))
            .await?;
        Ok(items
            .into_iter()
            .map(|c| ConnectorView {
                connected: self.0.connectors.is_connected(&c.tenant, &c.name),
                id: c.id,
                name: c.name,
                tenant: c.tenant,
                created_at: c.created_at,
            })
            .collect())
    }

    /// Removes a connector (admins); a connected one keeps its socket until it closes.
    pub async fn delete(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let c = self
            .0
            .store
            .get::<Connector>(id)
            .await?
            .filter(|c| caller.sees(&c.tenant))
            .ok_or_else(|| DomainError::not_found("connector"))?;
        caller.require(Role::Admin)?;
        self.0.store.delete::<Connector>(&c.id).await?;
        Ok(())
    }

    /// The connector whose token is `token` and key is `key`, if both are right.
    pub async fn authenticate(&self, token: &str, key: &str) -> DomainResult<Option<Connector>> {
        Ok(self
            .0
            .store
            .get_unique::<Connector>(&digest(token))
            .await?
            .filter(|c| {
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    c.key_digest.as_bytes(),
                    digest(key).as_bytes(),
                )
                .is_ok()
            }))
    }
}
