//! Client links, `/j/<code>`: a link opens until it expires, and only on the device
//! that opened it first. That device keeps a device id (the HTTP layer puts it in a
//! cookie); the same code on another device is refused, so a forwarded SMS does not
//! let a stranger into the call.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::tenant::Branding;
use crate::model::{Interaction, Link, Tenant};
use crate::store::ids::{is_short_code, now_ms, random_token};

service!(
    /// Opening client links.
    Links
);

/// What an opened link gives the client's page.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Opened {
    /// The interaction.
    pub interaction: String,
    /// The room.
    pub room: String,
    /// The client's join token.
    pub token: String,
    /// The page to open.
    pub join_url: String,
    /// The tenant's branding (company, logo, consent text, redirect after the call).
    pub branding: Branding,
}

/// A device id: 43 characters (32 random bytes, base64).
pub fn is_device_id(d: &str) -> bool {
    d.len() == 43
}

/// A fresh device id.
pub fn new_device_id() -> String {
    random_token(32)
}

impl Links {
    /// Opens link `code` on `device` (sent by `user_agent`).
    pub async fn open(
        &self,
        code: &str,
        device: &str,
        user_agent: Option<String>,
    ) -> DomainResult<Opened> {
        if !is_short_code(code) {
            return Err(DomainError::not_found("link"));
        }
        let now = now_ms();
        let link = self
            .0
            .store
            .get::<Link>(code)
            .await?
            .ok_or_else(|| DomainError::not_found("link"))?;
        if link.expires_at <= now {
            return Err(DomainError::LinkGone);
        }
        let interaction = self
            .0
            .store
            .get::<Interaction>(&link.interaction)
            .await?
            .ok_or_else(|| DomainError::not_found("link"))?;
        if interaction.state.is_final() {
            return Err(DomainError::LinkGone);
        }
        let bound = device.to_string();
        self.0
            .events
            .update::<Link, _, DomainError, _>(code, move |l| match &l.device {
                None => {
                    l.device = Some(bound.clone());
                    l.opened_at = Some(now);
                    let event = NewEvent::about(
                        &l.tenant,
                        &l.interaction,
                        CLIENT_PARTICIPANT,
                        EventKind::LinkOpened {
                            user_agent: user_agent.clone(),
                        },
                    );
                    Ok(((), vec![event]))
                }
                Some(d) if *d == bound => Ok(((), Vec::new())),
                Some(_) => Err(DomainError::LinkGone),
            })
            .await?
            .ok_or_else(|| DomainError::not_found("link"))??;
        let tenant = self.0.store.get::<Tenant>(&interaction.tenant).await?;
        let now_s = unix_now();
        let exp = u64::try_from(link.expires_at / 1000)
            .unwrap_or(now_s)
            .max(now_s + 60);
        let name = if interaction.client.name.is_empty() {
            "Client".to_string()
        } else {
            interaction.client.name.clone()
        };
        let token = self.0.signer.sign(&JoinClaims {
            room: interaction.room.clone(),
            sub: CLIENT_PARTICIPANT.into(),
            name,
            aud: JOIN_AUDIENCE.into(),
            iat: now_s,
            exp,
        });
        Ok(Opened {
            join_url: format!("{}/room/#token={token}", self.0.public_base),
            interaction: interaction.id,
            room: interaction.room,
            token,
            branding: tenant.map(|t| t.branding).unwrap_or_default(),
        })
    }
}
