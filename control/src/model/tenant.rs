//! Tenants (domains): a company and its branches, as a tree.

use serde::{Deserialize, Serialize};

use crate::store::{Collection, Record};

/// The tenant every installation starts with; the first admin belongs to it.
pub const ROOT: &str = "root";

/// A domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Id ([`ROOT`] for the top one).
    pub id: String,
    /// The parent; `None` only for the root.
    pub parent: Option<String>,
    /// Display name.
    pub name: String,
    /// What the client sees.
    #[serde(default)]
    pub branding: Branding,
    /// Extra fields agents fill in per interaction (a case number, ...).
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    /// Link delivery channels in order (`sms`, `telegram`, `connector:<name>`);
    /// empty: `delivery.chain`.
    #[serde(default)]
    pub delivery_chain: Vec<String>,
    /// The language of clients' pages and messages (an interaction may say another).
    #[serde(default)]
    pub language: Language,
    /// The survey clients get after a call.
    #[serde(default)]
    pub survey: Survey,
    /// Whether the client's page shares its position when the call connects (the
    /// browser still asks the client; a refusal is shown to the agent).
    #[serde(default)]
    pub geolocation_on_connect: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// A language of the pages and messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Russian.
    #[default]
    Ru,
    /// English.
    En,
}

impl Language {
    /// The code (`ru`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::En => "en",
        }
    }
}

/// What clients are asked after a call: a score from 1 to 5 and, if wanted, a comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Survey {
    /// Ask at all.
    pub enabled: bool,
    /// The question; `None`: the page's own ("How was the call?").
    pub question: Option<String>,
    /// Offer a comment box.
    pub comment: bool,
}

impl Default for Survey {
    fn default() -> Survey {
        Survey {
            enabled: true,
            question: None,
            comment: true,
        }
    }
}

super::fields!(Tenant { PARENT: "parent" });

impl Record for Tenant {
    const COLLECTION: Collection = Collection::Tenants;
    const FIELDS: &'static [&'static str] = Tenant::INDEXED;
    fn id(&self) -> &str {
        &self.id
    }
    /// A tenant belongs to itself, so scoping by tenant finds it.
    fn tenant(&self) -> &str {
        &self.id
    }
}

/// A tenant's look on the client's page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Company name shown to the client.
    #[serde(default)]
    pub company_name: String,
    /// Logo URL (https).
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Consent text the client accepts before the camera starts.
    #[serde(default)]
    pub consent_text: Option<String>,
    /// Where the client's page goes after the call.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// The brand colour of buttons and links (`#RRGGBB`).
    #[serde(default)]
    pub color: Option<String>,
}

/// A per-tenant interaction field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// Key in `fields` (letters, digits, `_`).
    pub key: String,
    /// Label for people.
    pub label: String,
    /// Whether an interaction must have it.
    #[serde(default)]
    pub required: bool,
}

/// Ids of `tenant` and every tenant below it, given all tenants.
pub fn subtree(all: &[Tenant], tenant: &str) -> Vec<String> {
    let mut out = vec![tenant.to_string()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        out.extend(
            all.iter()
                .filter(|t| t.parent.as_deref() == Some(parent.as_str()))
                .map(|t| t.id.clone()),
        );
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, parent: Option<&str>) -> Tenant {
        Tenant {
            id: id.into(),
            parent: parent.map(Into::into),
            name: id.into(),
            branding: Branding::default(),
            custom_fields: vec![],
            delivery_chain: vec![],
            language: Default::default(),
            survey: Default::default(),
            geolocation_on_connect: false,
            created_at: 0,
        }
    }

    #[test]
    fn subtree_holds_the_tenant_and_its_descendants_only() {
        let all = [
            t(ROOT, None),
            t("a", Some(ROOT)),
            t("a1", Some("a")),
            t("a11", Some("a1")),
            t("b", Some(ROOT)),
        ];
        assert_eq!(subtree(&all, "a"), vec!["a", "a1", "a11"]);
        assert_eq!(subtree(&all, "b"), vec!["b"]);
        assert_eq!(subtree(&all, ROOT).len(), 5);
    }
}
