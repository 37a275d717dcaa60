//! Call detail records: `GET /api/cdrs` (filters, paging) and
//! `GET /api/interactions/{id}/cdr`. Agents see their own calls' CDRs; supervisors
//! and admins those of their scope.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::interactions::visible;
use super::{ApiError, Page, Paging, parse_query, respond};
use crate::app::App;
use crate::auth::caller::authenticate;
use crate::model::Cdr;
use crate::model::Role;
use crate::model::cdr::Disposition;
use crate::store::{Cond, Filter, Order, Value};

/// `GET /api/cdrs?from=&to=&agent=&disposition=&offset=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdrQuery {
    /// Ended at or after (Unix ms).
    pub from: Option<i64>,
    /// Ended before (Unix ms).
    pub to: Option<i64>,
    /// Only this agent's.
    pub agent: Option<String>,
    /// Only this outcome.
    pub disposition: Option<Disposition>,
    /// Records to skip.
    #[serde(default)]
    pub offset: u64,
    /// Records to return.
    #[serde(default = "super::default_limit")]
    pub limit: u64,
}

/// CDRs, newest end first.
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let q: CdrQuery = parse_query(&uri)?;
            let paging = Paging {
                offset: q.offset,
                limit: q.limit,
            }
            .checked()?;
            let mut filter = Filter::all().tenants(caller.scope.clone());
            if !caller.is(Role::Supervisor) {
                filter = filter.eq("agent", caller.user.as_str());
            } else if let Some(agent) = &q.agent {
                filter = filter.eq("agent", agent.as_str());
            }
            if let Some(d) = q.disposition {
                let name = serde_json::to_value(d)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                filter = filter.eq("disposition", name);
            }
            if let Some(from) = q.from {
                filter = filter.and(Cond::Gte("ended_at", Value::Int(from)));
            }
            if let Some(to) = q.to {
                filter = filter.and(Cond::Lt("ended_at", Value::Int(to)));
            }
            let total = app.store.count::<Cdr>(&filter).await?;
            let items = app
                .store
                .find::<Cdr>(
                    &filter
                        .order(Order::Desc("ended_at"))
                        .page(paging.offset, paging.limit),
                )
                .await?;
            Ok(Json(Page {
                items,
                total,
                offset: paging.offset,
                limit: paging.limit,
            }))
        }
        .await,
    )
}

/// The CDR of one interaction (404 until the call has ended and it is written).
pub async fn of_interaction(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = authenticate(&app, &headers).await?;
            let i = visible(&app, &caller, &id).await?;
            let cdr = app.store.get::<Cdr>(&i.id).await?.ok_or_else(|| {
                ApiError::not_found("CDR (the call has not ended, or it is being written)")
            })?;
            Ok(Json(cdr))
        }
        .await,
    )
}
