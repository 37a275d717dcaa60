//! What the client's page tells the agent and the call's record: its device check, its
//! connection's phases and, after the call, the survey. Only the call's client (its
//! join token) says these; the agent reads them as events.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::chat::{Chat, Participant};
use crate::domain::events::kind::{ClientPhase, DeviceCheck};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::fields::MessageText;
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Interaction, State};
use crate::store::ids::now_ms;

service!(
    /// What the client's page reports.
    ClientReports
);

/// `POST .../client-state`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientStateInput {
    /// Where the page is.
    pub state: ClientPhase,
}

/// `POST .../survey`: the client's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// 1 (bad) to 5 (very good).
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "crate::domain::fields::whole_u8")]
    pub score: u8,
    /// What the client wrote.
    #[serde(default)]
    pub comment: Option<MessageText>,
}

impl ClientReports {
    /// The interaction, when `who` is its client.
    async fn client_of(&self, who: &Participant, id: &str) -> DomainResult<Interaction> {
        // Staff who cannot see the call are told it does not exist; those who can, that
        // this is the client's to say.
        let (i, _) = Chat::from(self.0.clone()).in_call(who, id).await?;
        if !matches!(who, Participant::Client { .. }) {
            return Err(DomainError::Forbidden(
                "only the call's client reports this".into(),
            ));
        }
        Ok(i)
    }

    async fn report(&self, i: &Interaction, what: EventKind) -> DomainResult<()> {
        self.0
            .events
            .publish(NewEvent::about(&i.tenant, &i.id, CLIENT_PARTICIPANT, what))
            .await?;
        Ok(())
    }

    async fn survey_enabled(&self, tenant: &str) -> DomainResult<bool> {
        let tenant = self
            .0
            .store
            .get::<crate::model::Tenant>(tenant)
            .await?
            .ok_or_else(|| DomainError::not_found("tenant"))?;
        Ok(tenant.survey.enabled)
    }

    /// The page's device check, before connecting.
    pub async fn checked(
        &self,
        who: &Participant,
        id: &str,
        check: DeviceCheck,
    ) -> DomainResult<()> {
        if check.cameras > 16 {
            return Err(DomainError::invalid("cameras: at most 16"));
        }
        if !(0.0..=1.0).contains(&check.mic_level) {
            return Err(DomainError::invalid("mic_level: 0 to 1"));
        }
        let i = self.client_of(who, id).await?;
        crate::domain::chat::open(&i)?;
        self.report(&i, EventKind::ClientChecked(check)).await
    }

    /// The page connects, is connected, reconnects or left.
    pub async fn phase(
        &self,
        who: &Participant,
        id: &str,
        input: ClientStateInput,
    ) -> DomainResult<()> {
        let i = self.client_of(who, id).await?;
        if i.state.is_final() && input.state != ClientPhase::Left {
            return Err(DomainError::conflict(format!(
                "the interaction is {}",
                i.state.as_str()
            )));
        }
        self.report(&i, EventKind::ClientState { state: input.state })
            .await
    }

    /// The survey, once, after the call (its CDR is folded again with it).
    pub async fn survey(
        &self,
        who: &Participant,
        id: &str,
        input: SurveyAnswer,
    ) -> DomainResult<()> {
        if !(1..=5).contains(&input.score) {
            return Err(DomainError::invalid("score: 1 to 5"));
        }
        let i = self.client_of(who, id).await?;
        if !self.survey_enabled(&i.tenant).await? {
            return Err(DomainError::conflict("the tenant asks no survey"));
        }
        let (score, comment) = (input.score, input.comment.map(MessageText::into_string));
        self.0
            .events
            .update::<Interaction, _, DomainError, _>(&i.id, move |i| {
                if i.state != State::Ended {
                    return Err(DomainError::conflict(format!(
                        "the survey follows a call that ended; this one is {}",
                        i.state.as_str()
                    )));
                }
                if i.surveyed_at.is_some() {
                    return Err(DomainError::conflict("the survey is answered already"));
                }
                i.surveyed_at = Some(now_ms());
                let event = NewEvent::about(
                    &i.tenant,
                    &i.id,
                    CLIENT_PARTICIPANT,
                    EventKind::SurveyAnswered {
                        score,
                        comment: comment.clone(),
                    },
                );
                Ok(((), vec![event]))
            })
            .await?
            .ok_or_else(|| DomainError::not_found("interaction"))??;
        Ok(())
    }
}
