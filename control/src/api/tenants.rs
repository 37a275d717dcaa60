//! Tenants: a company and its branches. Admins manage the tenants of their scope;
//! supervisors read them; everyone reads their own.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{ApiError, check_text, parse_json, respond};
use crate::app::App;
use crate::auth::caller::authenticate;
use crate::model::Role;
use crate::model::tenant::{Branding, CustomField, Tenant};
use crate::store::Filter;
use crate::store::ids::{new_id, now_ms};

/// `POST /api/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The parent (in the caller's scope).
    pub parent: String,
    /// Name.
    pub name: String,
    /// Branding.
    #[serde(default)]
    pub branding: Branding,
    /// Custom interaction fields.
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    /// Link delivery channels in order.
    #[serde(default)]
    pub delivery_chain: Vec<String>,
}

/// `PATCH /api/tenants/{id}`: the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Name.
    pub name: Option<String>,
    /// Branding (replaced whole).
    pub branding: Option<Branding>,
    /// Custom fields (replaced whole).
    pub custom_fields: Option<Vec<CustomField>>,
    /// Link delivery channels in order (replaced whole).
    pub delivery_chain: Option<Vec<String>>,
}

fn check_branding(b: &Branding) -> Result<(), ApiError> {
    if !b.company_name.is_empty() {
        check_text("branding.company_name", &b.company_name, 200)?;
    }
    for (field, url) in [
        ("branding.logo_url", &b.logo_url),
        ("branding.redirect_url", &b.redirect_url),
    ] {
        if let Some(url) = url
            && (!url.starts_with("https://") && !url.starts_with("http://")
                || url.len() > 2000
                || url.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(ApiError::bad_request(format!(
                "{field} must be an http(s) URL"
            )));
        }
    }
    if let Some(text) = &b.consent_text
        && text.chars().count() > 10_000
    {
        return Err(ApiError::bad_request(
            "branding.consent_text is at most 10000 characters",
        ));
    }
    Ok(())
}

fn check_fields(fields: &[CustomField]) -> Result<(), ApiError> {
    if fields.len() > 50 {
        return Err(ApiError::bad_request("at most 50 custom fields"));
    }
    for (i, f) in fields.iter().enumerate() {
        if f.key.is_empty()
            || f.key.len() > 40
            || !f
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ApiError::bad_request(format!(
                "custom_fields[{i}].key is 1 to 40 letters, digits or _"
            )));
        }
        check_text(&format!("custom_fields[{i}].label"), &f.label, 100)?;
        if fields[..i].iter().any(|g| g.key == f.key) {
            return Err(ApiError::bad_request(format!(
                "custom field {} appears twice",
                f.key
            )));
        }
    }
    Ok(())
}

/// Lists the tenants of the caller's scope (supervisors and admins).
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            caller.require(Role::Supervisor)?;
            let items = app
                .store
                .find::<Tenant>(&Filter::all().tenants(caller.scope.clone()).page(0, 10_000))
                .await?;
            Ok(Json(items))
        }
        .await,
    )
}

/// One tenant of the caller's scope.
pub async fn get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            if !caller.sees(&id) || (id != caller.tenant && !caller.is(Role::Supervisor)) {
                return Err(ApiError::not_found("tenant"));
            }
            let t = app
                .store
                .get::<Tenant>(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
            Ok(Json(t))
        }
        .await,
    )
}

/// Makes a branch under a tenant of the caller's scope (admins).
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let request: NewTenant = parse_json(&body)?;
            if !caller.sees(&request.parent) {
                return Err(ApiError::not_found("parent tenant"));
            }
            caller.require(Role::Admin)?;
            check_text("name", &request.name, 200)?;
            check_branding(&request.branding)?;
            check_fields(&request.custom_fields)?;
            crate::delivery::check_chain("delivery_chain", &request.delivery_chain)?;
            let tenant = Tenant {
                id: new_id(),
                parent: Some(request.parent),
                name: request.name.trim().to_string(),
                branding: request.branding,
                custom_fields: request.custom_fields,
                delivery_chain: request.delivery_chain,
                created_at: now_ms(),
            };
            app.store.insert(&tenant).await?;
            Ok((StatusCode::CREATED, Json(tenant)))
        }
        .await,
    )
}

/// Changes a tenant of the caller's scope (admins).
pub async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            if !caller.sees(&id) {
                return Err(ApiError::not_found("tenant"));
            }
            caller.require(Role::Admin)?;
            let patch: TenantPatch = parse_json(&body)?;
            if let Some(name) = &patch.name {
                check_text("name", name, 200)?;
            }
            if let Some(b) = &patch.branding {
                check_branding(b)?;
            }
            if let Some(f) = &patch.custom_fields {
                check_fields(f)?;
            }
            if let Some(c) = &patch.delivery_chain {
                crate::delivery::check_chain("delivery_chain", c)?;
            }
            let updated = app
                .store
                .update::<Tenant, _, ApiError, _>(&id, move |t| {
                    if let Some(name) = &patch.name {
                        t.name = name.trim().to_string();
                    }
                    if let Some(b) = &patch.branding {
                        t.branding = b.clone();
                    }
                    if let Some(f) = &patch.custom_fields {
                        t.custom_fields = f.clone();
                    }
                    if let Some(c) = &patch.delivery_chain {
                        t.delivery_chain = c.clone();
                    }
                    Ok(t.clone())
                })
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))??;
            Ok(Json(updated))
        }
        .await,
    )
}
