//! Client links, `/j/<code>`: a link opens until it expires, and only on the device
//! that opened it first. That device keeps a device id (the HTTP layer puts it in a
//! cookie); the same code on another device is refused, so a forwarded SMS does not
//! let a stranger into the call.
//!
//! Looking at a link binds nothing ([`Links::info`]: what a link preview or the page's
//! first load sees); the client binds it by accepting the consent text and connecting
//! ([`Links::open`]), which is put on record before anything is captured.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::fields::Text;
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::interaction::{Camera, Quality, VideoMode};
use crate::model::tenant::{Branding, Language, Survey};
use crate::model::{Interaction, Link, State, Tenant};
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

/// What the client's page shows before anything is captured: who calls, the consent
/// to accept, and how the call is set up. Reading it binds nothing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkInfo {
    /// The interaction.
    pub interaction: String,
    /// Its state.
    pub state: State,
    /// The company the client sees.
    pub company: String,
    /// The logo's URL.
    pub logo_url: Option<String>,
    /// The brand colour (`#RRGGBB`).
    pub color: Option<String>,
    /// The consent text to accept before connecting.
    pub consent_text: Option<String>,
    /// Its version, to send back with the consent (`none` when there is no text).
    pub consent_version: String,
    /// The language of the page.
    pub language: Language,
    /// Video mode.
    pub video: VideoMode,
    /// The camera to open first.
    pub camera: Camera,
    /// The quality cap.
    pub max_quality: Quality,
    /// The survey after the call.
    pub survey: Survey,
    /// Whether the page shares the client's position once the call connects.
    pub geolocation_on_connect: bool,
    /// Where the page goes after the call.
    pub redirect_url: Option<String>,
    /// Whether this device opened the link already (its consent is on record).
    pub opened_here: bool,
    /// When it was meant to happen (Unix ms), for scheduled calls.
    pub scheduled_at: Option<i64>,
    /// Unix ms the link stops opening.
    pub expires_at: i64,
}

/// `POST /api/links/{code}`: the client accepts the consent text and connects.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenLink {
    /// The consent accepted (required on a device that has not opened the link).
    pub consent: Option<ConsentInput>,
}

/// The consent as the page sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// `consent_version` of the text shown.
    pub version: Text<64>,
}

/// The version of a consent text: the start of its SHA-256, or `none`.
pub fn consent_version(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.trim().is_empty() => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes());
            crate::store::ids::hex(&d.as_ref()[..8])
        }
        _ => "none".to_string(),
    }
}

/// A device id: 43 characters (32 random bytes, base64).
pub fn is_device_id(d: &str) -> bool {
    d.len() == 43
}

/// A fresh device id.
pub fn new_device_id() -> String {
    random_token(32)
}

/// A link that opens, with its interaction and tenant.
struct Live {
    link: Link,
    interaction: Interaction,
    tenant: Option<Tenant>,
}

impl Links {
    /// The link `code` as `device` (if it has one) may open it.
    async fn live(&self, code: &str, device: Option<&str>) -> DomainResult<Live> {
        if !is_short_code(code) {
            return Err(DomainError::not_found("link"));
        }
        let link = self
            .0
            .store
            .get::<Link>(code)
            .await?
            .ok_or_else(|| DomainError::not_found("link"))?;
        if link.expires_at <= now_ms() {
            return Err(DomainError::LinkGone);
        }
        if link.device.as_deref().is_some_and(|d| Some(d) != device) {
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
        let tenant = self.0.store.get::<Tenant>(&interaction.tenant).await?;
        Ok(Live {
            link,
            interaction,
            tenant,
        })
    }

    /// What the page of link `code` shows, on `device`; binds nothing (a link
    /// preview that fetches the page leaves the link as it was).
    pub async fn info(&self, code: &str, device: Option<&str>) -> DomainResult<LinkInfo> {
        let Live {
            link,
            interaction: i,
            tenant,
        } = self.live(code, device).await?;
        let tenant = tenant.unwrap_or_else(|| Tenant {
            id: i.tenant.clone(),
            parent: None,
            name: String::new(),
            branding: Branding::default(),
            custom_fields: Vec::new(),
            delivery_chain: Vec::new(),
            language: Language::default(),
            survey: Survey::default(),
            geolocation_on_connect: false,
            created_at: 0,
        });
        let b = tenant.branding;
        let company = if b.company_name.is_empty() {
            tenant.name
        } else {
            b.company_name
        };
        Ok(LinkInfo {
            interaction: i.id,
            state: i.state,
            company,
            consent_version: consent_version(b.consent_text.as_deref()),
            logo_url: b.logo_url,
            color: b.color,
            consent_text: b.consent_text,
            language: i.language.unwrap_or(tenant.language),
            video: i.video,
            camera: i.camera,
            max_quality: i.max_quality,
            survey: tenant.survey,
            geolocation_on_connect: tenant.geolocation_on_connect,
            redirect_url: b.redirect_url,
            opened_here: link.device.is_some(),
            scheduled_at: i.scheduled_at,
            expires_at: link.expires_at,
        })
    }

    /// Opens link `code` on `device` (sent by `user_agent`): on a new device only with
    /// the consent to the text the page showed, which is put on record. Nothing of the
    /// client is captured before this.
    pub async fn open(
        &self,
        code: &str,
        device: &str,
        user_agent: Option<String>,
        request: OpenLink,
    ) -> DomainResult<Opened> {
        let Live {
            link,
            interaction,
            tenant,
        } = self.live(code, Some(device)).await?;
        let consent_text = tenant
            .as_ref()
            .and_then(|t| t.branding.consent_text.clone());
        let version = consent_version(consent_text.as_deref());
        if link.device.is_none() {
            match &request.consent {
                None => {
                    return Err(DomainError::invalid(
                        "consent: the client must accept the consent text first",
                    ));
                }
                Some(c) if c.version.as_str() != version => {
                    return Err(DomainError::conflict(
                        "the consent text changed since the page showed it; show it again",
                    ));
                }
                Some(_) => {}
            }
        }
        let now = now_ms();
        let bound = device.to_string();
        self.0
            .events
            .update::<Link, _, DomainError, _>(code, move |l| match &l.device {
                None => {
                    l.device = Some(bound.clone());
                    l.opened_at = Some(now);
                    let about =
                        |what| NewEvent::about(&l.tenant, &l.interaction, CLIENT_PARTICIPANT, what);
                    let events = vec![
                        about(EventKind::LinkOpened {
                            user_agent: user_agent.clone(),
                        }),
                        about(EventKind::ConsentGiven {
                            version: version.clone(),
                            text: consent_text.clone(),
                            user_agent: user_agent.clone(),
                        }),
                    ];
                    Ok(((), events))
                }
                Some(d) if *d == bound => Ok(((), Vec::new())),
                Some(_) => Err(DomainError::LinkGone),
            })
            .await?
            .ok_or_else(|| DomainError::not_found("link"))??;
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

    /// The language a page about `code` speaks: the link's, else `None`.
    pub async fn language(&self, code: &str) -> Option<Language> {
        if !is_short_code(code) {
            return None;
        }
        let link = self.0.store.get::<Link>(code).await.ok()??;
        let i = self
            .0
            .store
            .get::<Interaction>(&link.interaction)
            .await
            .ok()??;
        if let Some(l) = i.language {
            return Some(l);
        }
        let t = self.0.store.get::<Tenant>(&i.tenant).await.ok()??;
        Some(t.language)
    }
}
