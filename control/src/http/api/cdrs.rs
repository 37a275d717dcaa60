//! Call detail records: `GET /api/cdrs` and `GET /api/interactions/{id}/cdr`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::cdrs::{CdrQuery, Cdrs};
use crate::domain::paging::Page;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Caller, Paging, PagingParams};
use crate::http::openapi::Authed;
use crate::model::Cdr;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(of_interaction))
}

/// CDRs, newest end first.
#[utoipa::path(get, path = "/api/cdrs", params(CdrQuery, PagingParams), responses((status = 200, description = "Done.", body = Page<Cdr>), Authed))]
async fn list(
    State(cdrs): State<Cdrs>,
    Caller(c): Caller,
    ApiQuery(q): ApiQuery<CdrQuery>,
    Paging(p): Paging,
) -> ApiResult<Json<Page<Cdr>>> {
    Ok(Json(cdrs.list(&c, q, p).await?))
}

/// The call's CDR, once written.
#[utoipa::path(get, path = "/api/interactions/{id}/cdr", params(("id" = crate::http::IdParam, Path)), responses((status = 200, description = "Done.", body = Cdr), Authed))]
async fn of_interaction(
    State(cdrs): State<Cdrs>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Cdr>> {
    Ok(Json(cdrs.of_interaction(&c, &id).await?))
}
