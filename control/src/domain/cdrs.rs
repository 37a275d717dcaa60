//! Call detail records for people: `GET /api/cdrs` (filters, paging) and one call's.
//! Agents see their own calls' CDRs; supervisors and admins those of their scope.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::auth::Caller;
use crate::domain::fields::Millis;
use crate::domain::interactions::Interactions;
use crate::domain::paging::{Page, Paging};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::cdr::Disposition;
use crate::model::{Cdr, Role};
use crate::store::Filter;

service!(
    /// Reading CDRs.
    Cdrs
);

/// `GET /api/cdrs?from=&to=&agent=&disposition=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CdrQuery {
    /// Ended at or after (Unix ms).
    #[serde(default, deserialize_with = "Millis::in_query")]
    pub from: Option<Millis>,
    /// Ended before (Unix ms).
    #[serde(default, deserialize_with = "Millis::in_query")]
    pub to: Option<Millis>,
    /// Only this agent's (supervisors and admins).
    pub agent: Option<String>,
    /// Only this outcome.
    pub disposition: Option<Disposition>,
}

impl Cdrs {
    /// CDRs, newest end first.
    pub async fn list(
        &self,
        caller: &Caller,
        q: CdrQuery,
        paging: Paging,
    ) -> DomainResult<Page<Cdr>> {
        let mut filter = Filter::<Cdr>::all().tenants(caller.scope.clone());
        if !caller.is(Role::Supervisor) {
            filter = filter.eq(Cdr::AGENT, caller.user.as_str());
        } else if let Some(agent) = &q.agent {
            filter = filter.eq(Cdr::AGENT, agent.as_str());
        }
        if let Some(d) = q.disposition {
            filter = filter.eq(Cdr::DISPOSITION, d.as_str());
        }
        if let Some(from) = q.from {
            filter = filter.at_least(Cdr::ENDED_AT, from.0);
        }
        if let Some(to) = q.to {
            filter = filter.below(Cdr::ENDED_AT, to.0);
        }
        let total = self.0.store.count(&filter).await?;
        let items = self
            .0
            .store
            .find(
                &filter
                    .by_desc(Cdr::ENDED_AT)
                    .page(paging.offset, paging.limit),
            )
            .await?;
        Ok(paging.of(items, total))
    }

    /// The CDR of one interaction ("not found" until the call has ended and it is
    /// written).
    pub async fn of_interaction(&self, caller: &Caller, id: &str) -> DomainResult<Cdr> {
        let i = Interactions::from(self.0.clone())
            .visible(caller, id)
            .await?;
        self.0.store.get::<Cdr>(&i.id).await?.ok_or_else(|| {
            DomainError::not_found("CDR (the call has not ended, or it is being written)")
        })
    }
}
