//! Tenants: a company and its branches. Admins manage the tenants of their scope;
//! supervisors read them; everyone reads their own.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::auth::Caller;
use crate::domain::fields::{
    Channel, Channels, Color, FieldKey, HttpUrl, LongText, OptionalText, Text, capped,
};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::Role;
use crate::model::tenant::{Branding, CustomField, Language, Survey, Tenant};
use crate::store::Filter;
use crate::store::ids::{new_id, now_ms};

service!(
    /// Tenants and their settings.
    Tenants
);

/// A tenant's branding, as a request gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BrandingInput)]
pub struct BrandingInput {
    /// The company name clients see (empty: the tenant's name).
    #[serde(default)]
    pub company_name: OptionalText<200>,
    /// The logo's URL.
    #[serde(default)]
    pub logo_url: Option<HttpUrl>,
    /// The consent text clients accept before connecting.
    #[serde(default)]
    pub consent_text: Option<LongText<10000>>,
    /// Where the client's page goes after the call.
    #[serde(default)]
    pub redirect_url: Option<HttpUrl>,
    /// The brand colour of buttons and links.
    #[serde(default)]
    pub color: Option<Color>,
}

impl From<BrandingInput> for Branding {
    fn from(b: BrandingInput) -> Branding {
        Branding {
            company_name: b.company_name.into_string(),
            logo_url: b.logo_url.map(HttpUrl::into_string),
            consent_text: b.consent_text.map(LongText::into_string),
            redirect_url: b.redirect_url.map(HttpUrl::into_string),
            color: b.color.map(Color::into_string),
        }
    }
}

/// The survey after a call, as a request gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SurveyInput)]
pub struct SurveyInput {
    /// Ask at all (default yes).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The question (default: the page's own).
    #[serde(default)]
    pub question: Option<Text<200>>,
    /// Offer a comment box (default yes).
    #[serde(default = "yes")]
    pub comment: bool,
}

fn yes() -> bool {
    true
}

impl From<SurveyInput> for Survey {
    fn from(s: SurveyInput) -> Survey {
        Survey {
            enabled: s.enabled,
            question: s.question.map(Text::into_string),
            comment: s.comment,
        }
    }
}

/// A custom interaction field, as a request gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldInput {
    /// Key in the interaction's `fields`.
    pub key: FieldKey,
    /// Label shown to agents.
    pub label: Text<100>,
    /// Whether agents must fill it in.
    #[serde(default)]
    pub required: bool,
}

capped!(
    /// At most 50 custom fields (keys unique).
    CustomFieldInputs,
    CustomFieldInput,
    50
);

fn custom_fields(fields: CustomFieldInputs) -> DomainResult<Vec<CustomField>> {
    let fields = fields.into_vec();
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].iter().any(|g| g.key == f.key) {
            return Err(DomainError::invalid(format!(
                "custom field {} appears twice",
                f.key
            )));
        }
    }
    Ok(fields
        .into_iter()
        .map(|f| CustomField {
            key: f.key.into_string(),
            label: f.label.into_string(),
            required: f.required,
        })
        .collect())
}

fn chain(channels: Channels) -> Vec<String> {
    channels
        .into_vec()
        .into_iter()
        .map(Channel::into_string)
        .collect()
}

/// `POST /api/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The parent (in the caller's scope).
    pub parent: String,
    /// Name.
    pub name: Text<200>,
    /// Branding.
    #[serde(default, deserialize_with = "crate::domain::fields::object")]
    pub branding: BrandingInput,
    /// Custom interaction fields (keys unique).
    #[serde(default)]
    pub custom_fields: CustomFieldInputs,
    /// Link delivery channels in order.
    #[serde(default)]
    pub delivery_chain: Channels,
    /// The language of clients' pages and messages (default Russian).
    #[serde(default)]
    pub language: Option<Language>,
    /// The survey after a call (default: a score from 1 to 5 and a comment).
    #[serde(default)]
    pub survey: Option<SurveyInput>,
    /// Whether clients share their position when the call connects (default no).
    #[serde(default)]
    pub geolocation_on_connect: Option<bool>,
}

/// `PATCH /api/tenants/{id}`: the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Name.
    pub name: Option<Text<200>>,
    /// Branding (replaced whole).
    #[serde(default, deserialize_with = "crate::domain::fields::object_opt")]
    pub branding: Option<BrandingInput>,
    /// Custom fields (replaced whole; keys unique).
    pub custom_fields: Option<CustomFieldInputs>,
    /// Link delivery channels in order (replaced whole).
    pub delivery_chain: Option<Channels>,
    /// The language of clients' pages and messages.
    pub language: Option<Language>,
    /// The survey after a call (replaced whole).
    pub survey: Option<SurveyInput>,
    /// Whether clients share their position when the call connects.
    pub geolocation_on_connect: Option<bool>,
}

impl Tenants {
    /// The tenants of the caller's scope (supervisors and admins).
    pub async fn list(&self, caller: &Caller) -> DomainResult<Vec<Tenant>> {
        caller.require(Role::Supervisor)?;
        Ok(self
            .0
            .store
            .find::<Tenant>(&Filter::all().tenants(caller.scope.clone()).page(0, 10_000))
            .await?)
    }

    /// One tenant: the caller's own, or (supervisors and admins) one of their scope.
    pub async fn get(&self, caller: &Caller, id: &str) -> DomainResult<Tenant> {
        if !caller.sees(id) || (id != caller.tenant && !caller.is(Role::Supervisor)) {
            return Err(DomainError::not_found("tenant"));
        }
        self.0
            .store
            .get::<Tenant>(id)
            .await?
            .ok_or_else(|| DomainError::not_found("tenant"))
    }

    /// Makes a branch under a tenant of the caller's scope (admins).
    pub async fn create(&self, caller: &Caller, request: NewTenant) -> DomainResult<Tenant> {
        if !caller.sees(&request.parent) {
            return Err(DomainError::not_found("parent tenant"));
        }
        caller.require(Role::Admin)?;
        let tenant = Tenant {
            id: new_id(),
            parent: Some(request.parent),
            name: request.name.into_string(),
            branding: request.branding.into(),
            custom_fields: custom_fields(request.custom_fields)?,
            delivery_chain: chain(request.delivery_chain),
            language: request.language.unwrap_or_default(),
            survey: request.survey.map(Into::into).unwrap_or_default(),
            geolocation_on_connect: request.geolocation_on_connect.unwrap_or(false),
            created_at: now_ms(),
        };
        self.0.store.insert(&tenant).await?;
        self.0.auth.tenants_changed();
        Ok(tenant)
    }

    /// Changes a tenant of the caller's scope (admins).
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        patch: TenantPatch,
    ) -> DomainResult<Tenant> {
        if !caller.sees(id) {
            return Err(DomainError::not_found("tenant"));
        }
        caller.require(Role::Admin)?;
        let name = patch.name.map(Text::into_string);
        let branding: Option<Branding> = patch.branding.map(Into::into);
        let fields = patch.custom_fields.map(custom_fields).transpose()?;
        let delivery_chain = patch.delivery_chain.map(chain);
        let (language, survey) = (patch.language, patch.survey.map(Survey::from));
        let geolocation_on_connect = patch.geolocation_on_connect;
        let updated = self
            .0
            .store
            .update::<Tenant, _, DomainError, _>(id, move |t| {
                if let Some(name) = &name {
                    t.name = name.clone();
                }
                if let Some(b) = &branding {
                    t.branding = b.clone();
                }
                if let Some(f) = &fields {
                    t.custom_fields = f.clone();
                }
                if let Some(c) = &delivery_chain {
                    t.delivery_chain = c.clone();
                }
                if let Some(l) = language {
                    t.language = l;
                }
                if let Some(s) = &survey {
                    t.survey = s.clone();
                }
                if let Some(g) = geolocation_on_connect {
                    t.geolocation_on_connect = g;
                }
                Ok(t.clone())
            })
            .await?
            .ok_or_else(|| DomainError::not_found("tenant"))??;
        self.0.auth.tenants_changed();
        Ok(updated)
    }
}

#[cfg(test)]
mod branding_tests {
    use super::TenantPatch;

    #[test]
    fn branding_is_an_object_not_an_array_of_its_fields() {
        assert!(serde_json::from_str::<TenantPatch>(r#"{"branding": []}"#).is_err());
        assert!(serde_json::from_str::<TenantPatch>(r#"{"branding": ["Acme"]}"#).is_err());
        let p: TenantPatch =
            serde_json::from_str(r#"{"branding": {"company_name": "Acme"}}"#).unwrap();
        assert_eq!(p.branding.unwrap().company_name.into_string(), "Acme");
        assert!(
            serde_json::from_str::<TenantPatch>(r#"{"branding": null}"#)
                .unwrap()
                .branding
                .is_none()
        );
        assert!(
            serde_json::from_str::<TenantPatch>(r#"{"branding": {"colour": "red"}}"#).is_err(),
            "unknown fields still refused"
        );
    }
}
