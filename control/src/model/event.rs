//! The event log: every lifecycle change, appended, never edited.

use serde::{Deserialize, Serialize};

use super::record;
use crate::domain::events::EventKind;
use crate::store::Collection;

/// One thing that happened. Published in-process and to MQTT as
/// `vchat/<tenant>/<kind>`; its JSON (docs/events.md) is
/// `{"id", "tenant", "kind", "interaction", "at", "actor", "data"}`, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Id; time-ordered, and the key consumers deduplicate by.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The interaction it concerns, if any.
    pub interaction: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// Who caused it: a user id, `client`, `system`.
    pub actor: String,
    /// What happened, with its details (`kind` and `data` on the wire).
    pub what: Kind,
}
record!(Event, Collection::Events);
super::fields!(Event {
    INTERACTION: "interaction",
    KIND: "kind",
    AT: "at"
});

impl utoipa::PartialSchema for Event {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .property("id", text())
            .property("tenant", text())
            .property(
                "kind",
                text().description(Some("`<subject>.<verb>` (docs/events.md)")),
            )
            .property(
                "interaction",
                ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ])),
            )
            .property("at", ObjectBuilder::new().schema_type(Type::Integer))
            .property("actor", text())
            .property(
                "data",
                ObjectBuilder::new().description(Some("Details, by kind")),
            )
            .required("id")
            .required("tenant")
            .required("kind")
            .required("interaction")
            .required("at")
            .required("actor")
            .required("data")
            .into()
    }
}

impl utoipa::ToSchema for Event {}

/// An event's kind and data: one of the kinds this server makes, or — read from the log
/// or a newer node — one it does not know, kept as it came.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A kind of docs/events.md.
    Known(EventKind),
    /// Any other `kind` with its `data`.
    Other {
        /// `<subject>.<verb>`.
        kind: String,
        /// Details.
        data: serde_json::Value,
    },
}

impl From<EventKind> for Kind {
    fn from(k: EventKind) -> Kind {
        Kind::Known(k)
    }
}

impl Event {
    /// The kind's name, `<subject>.<verb>`.
    pub fn kind(&self) -> String {
        match &self.what {
            Kind::Known(k) => Wire::tagged(k).0,
            Kind::Other { kind, .. } => kind.clone(),
        }
    }

    /// The known kind, if it is one.
    pub fn known(&self) -> Option<&EventKind> {
        match &self.what {
            Kind::Known(k) => Some(k),
            Kind::Other { .. } => None,
        }
    }
}

/// The wire form, in field order.
#[derive(Serialize, Deserialize)]
struct Wire {
    id: String,
    tenant: String,
    kind: String,
    interaction: Option<String>,
    at: i64,
    actor: String,
    #[serde(default)]
    data: serde_json::Value,
}

impl Wire {
    /// `(kind, data)` of a known kind, from its adjacently tagged JSON.
    fn tagged(k: &EventKind) -> (String, serde_json::Value) {
        let serde_json::Value::Object(mut tagged) =
            serde_json::to_value(k).expect("event kinds serialize")
        else {
            unreachable!("an adjacently tagged enum serializes to an object");
        };
        let kind = match tagged.remove("kind") {
            Some(serde_json::Value::String(k)) => k,
            _ => unreachable!("every kind has its name"),
        };
        (kind, tagged.remove("data").unwrap_or_default())
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, data) = match &self.what {
            Kind::Known(k) => Wire::tagged(k),
            Kind::Other { kind, data } => (kind.clone(), data.clone()),
        };
        Wire {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            kind,
            interaction: self.interaction.clone(),
            at: self.at,
            actor: self.actor.clone(),
            data,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        let w = Wire::deserialize(d)?;
        let tagged = serde_json::json!({ "kind": w.kind, "data": w.data });
        let what = match serde_json::from_value::<EventKind>(tagged) {
            Ok(k) => Kind::Known(k),
            Err(_) => Kind::Other {
                kind: w.kind,
                data: w.data,
            },
        };
        Ok(Event {
            id: w.id,
            tenant: w.tenant,
            interaction: w.interaction,
            at: w.at,
            actor: w.actor,
            what,
        })
    }
}
