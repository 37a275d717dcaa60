//! Custom delivery connectors: admins register them (`POST /api/connectors` gives the
//! token and key once), list them with their connection state, and remove them.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{ApiError, parse_json, respond};
use crate::app::App;
use crate::auth::caller::authenticate;
use crate::delivery::valid_connector_name;
use crate::model::{Connector, Role};
use crate::store::Filter;
use crate::store::ids::{digest, new_id, now_ms, random_token};

/// `POST /api/connectors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnector {
    /// Name (`a-z 0-9 _ -`); chains say `connector:<name>`.
    pub name: String,
    /// Tenant (default: the caller's).
    pub tenant: Option<String>,
}

/// A registered connector, with its credentials (shown once).
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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

/// Registers a connector (admins).
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let request: NewConnector = parse_json(&body)?;
            let tenant = request.tenant.unwrap_or_else(|| caller.tenant.clone());
            if !caller.sees(&tenant) {
                return Err(ApiError::not_found("tenant"));
            }
            caller.require(Role::Admin)?;
            if !valid_connector_name(&request.name) {
                return Err(ApiError::bad_request("name is 1 to 40 of a-z, 0-9, _, -"));
            }
            let taken = app
                .store
                .count::<Connector>(
                    &Filter::all()
                        .tenants(vec![tenant.clone()])
                        .eq("name", request.name.as_str()),
                )
                .await?;
            if taken > 0 {
                return Err(ApiError::conflict(
                    "this tenant has a connector of that name",
                ));
            }
            let (token, key) = (format!("vcc_{}", random_token(24)), random_token(32));
            let connector = Connector {
                id: new_id(),
                tenant: tenant.clone(),
                name: request.name.clone(),
                token_digest: digest(&token),
                key_digest: digest(&key),
                created_at: now_ms(),
            };
            app.store.insert(&connector).await?;
            Ok((
                StatusCode::CREATED,
                Json(ConnectorCreated {
                    id: connector.id,
                    name: connector.name,
                    tenant,
                    token,
                    key,
                }),
            ))
        }
        .await,
    )
}

/// Lists the connectors of the caller's scope (admins).
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            caller.require(Role::Admin)?;
            let items = app
                .store
                .find::<Connector>(&Filter::all().tenants(caller.scope.clone()).page(0, 10_000))
                .await?;
            Ok(Json(
                items
                    .into_iter()
                    .map(|c| ConnectorView {
                        connected: app.connectors.is_connected(&c.tenant, &c.name),
                        id: c.id,
                        name: c.name,
                        tenant: c.tenant,
                        created_at: c.created_at,
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        .await,
    )
}

/// Removes a connector (admins); a connected one keeps its socket until it closes.
pub async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let c = app
                .store
                .get::<Connector>(&id)
                .await?
                .filter(|c| caller.sees(&c.tenant))
                .ok_or_else(|| ApiError::not_found("connector"))?;
            caller.require(Role::Admin)?;
            app.store.delete::<Connector>(&c.id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        .await,
    )
}
