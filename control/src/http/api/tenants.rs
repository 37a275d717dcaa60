//! `/api/tenants`: a company and its branches.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::tenants::{NewTenant, TenantPatch, Tenants};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, Caller};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::model::Tenant;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update))
}

/// Tenants of the caller's scope.
#[utoipa::path(get, path = "/api/tenants", responses((status = 200, description = "Done.", body = Vec<Tenant>), Authed))]
async fn list(State(t): State<Tenants>, Caller(c): Caller) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(t.list(&c).await?))
}

/// Make a branch.
#[utoipa::path(post, path = "/api/tenants", request_body = NewTenant, responses((status = 201, description = "Done.", body = Tenant), AuthedStateful))]
async fn create(
    State(t): State<Tenants>,
    Caller(c): Caller,
    ApiJson(request): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    Ok((StatusCode::CREATED, Json(t.create(&c, request).await?)))
}

/// One tenant.
#[utoipa::path(get, path = "/api/tenants/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Tenant), Authed))]
async fn get(
    State(t): State<Tenants>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(t.get(&c, &id).await?))
}

/// Change a tenant.
#[utoipa::path(patch, path = "/api/tenants/{id}", params(("id" = crate::http::IdParam, Path)), request_body = TenantPatch, responses((status = 200, description = "Done.", body = Tenant), Authed))]
async fn update(
    State(t): State<Tenants>,
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(t.update(&c, &id, patch).await?))
}
