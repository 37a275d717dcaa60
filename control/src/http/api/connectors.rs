//! `/api/connectors`: custom delivery connectors (admins).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::connectors::{ConnectorCreated, ConnectorView, Connectors, NewConnector};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, Caller};
use crate::http::openapi::{Authed, AuthedStateful};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
}

/// Delivery connectors of the caller's scope.
#[utoipa::path(get, path = "/api/connectors", responses((status = 200, description = "Done.", body = Vec<ConnectorView>), Authed))]
async fn list(
    State(c): State<Connectors>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<ConnectorView>>> {
    Ok(Json(c.list(&caller).await?))
}

/// Register a connector (token and key shown once).
#[utoipa::path(post, path = "/api/connectors", request_body = NewConnector, responses((status = 201, description = "Done.", body = ConnectorCreated), AuthedStateful))]
async fn create(
    State(c): State<Connectors>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<NewConnector>,
) -> ApiResult<(StatusCode, Json<ConnectorCreated>)> {
    Ok((StatusCode::CREATED, Json(c.create(&caller, request).await?)))
}

/// Remove a connector.
#[utoipa::path(delete, path = "/api/connectors/{id}", params(("id" = crate::http::IdParam, Path)), responses((status = 204, description = "Done."), Authed))]
async fn delete(
    State(c): State<Connectors>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    c.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
