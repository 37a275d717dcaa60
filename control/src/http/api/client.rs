//! What the client's page reports with its join token: the device check, its
//! connection's phases and the survey after the call.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::client::{ClientReports, ClientStateInput, SurveyAnswer};
use crate::domain::events::kind::DeviceCheck;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiJson, Participant};
use crate::http::openapi::AuthedStateful;
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checked))
        .routes(routes!(phase))
        .routes(routes!(survey))
}

/// The client's device check (the agent sees it as `client.checked`).
#[utoipa::path(post, path = "/api/interactions/{id}/client-check", params(("id" = crate::http::IdParam, Path)), request_body = DeviceCheck, responses((status = 204, description = "Recorded."), AuthedStateful))]
async fn checked(
    State(reports): State<ClientReports>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiJson(check): ApiJson<DeviceCheck>,
) -> ApiResult<StatusCode> {
    reports.checked(&p, &id, check).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The client's page connects, is connected, reconnects or left (`client.state`).
#[utoipa::path(post, path = "/api/interactions/{id}/client-state", params(("id" = crate::http::IdParam, Path)), request_body = ClientStateInput, responses((status = 204, description = "Recorded."), AuthedStateful))]
async fn phase(
    State(reports): State<ClientReports>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ClientStateInput>,
) -> ApiResult<StatusCode> {
    reports.phase(&p, &id, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The client's survey, once, after the call ended (`survey.answered`, in the CDR).
#[utoipa::path(post, path = "/api/interactions/{id}/survey", params(("id" = crate::http::IdParam, Path)), request_body = SurveyAnswer, responses((status = 204, description = "Recorded."), AuthedStateful))]
async fn survey(
    State(reports): State<ClientReports>,
    Participant(p): Participant,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SurveyAnswer>,
) -> ApiResult<StatusCode> {
    reports.survey(&p, &id, input).await?;
    Ok(StatusCode::NO_CONTENT)
}
