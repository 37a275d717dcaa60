//! The OpenAPI 3.1 document of the REST API, served at `/api/openapi.json`.
//!
//! Derived, not written: every route is registered through `utoipa_axum`'s router
//! together with its `#[utoipa::path]` (so no route goes undocumented, and no
//! documented route is missing), bodies and answers are the handlers' own types, and
//! the rules of the values are those of `domain::fields` — one definition that both
//! checks a request and states the rule here. This module adds what the types do not
//! say: the error answers of each kind of operation, operation ids from method and
//! path, the links from creating operations to the ones that use what they made, and
//! the limits that come from the configuration.
//!
//! schemathesis (`tests/api/schemathesis.sh`, run by `.ci/test`) fuzzes a live server
//! against it, with the checks that valid requests are accepted and invalid ones
//! refused.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::IntoResponses;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

use crate::config::Config;

fn error_response(status: u16) -> RefOr<Response> {
    let description = match status {
        400 => "The request is wrong; the message says how.",
        401 => "No or bad credentials.",
        403 => "Known caller, not allowed (role).",
        404 => "No such thing, or not one the caller may see.",
        405 => "Method not allowed.",
        408 => "The request took too long.",
        409 => "Not possible in the current state.",
        410 => "Gone (an expired or used link).",
        413 => "Too large.",
        415 => "Unsupported media type.",
        416 => "The range is outside the file.",
        429 => "Too many requests; see Retry-After.",
        500 => "The server could not reach a store of its own.",
        503 => "The server is shutting down.",
        507 => "The server could not store the file.",
        _ => "Error.",
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Error"))))
                .build(),
        )
        .build()
        .into()
}

/// A set of error answers an operation may give, as `responses(...)` takes it.
macro_rules! errors {
    ($($(#[$doc:meta])* $name:ident: [$($status:literal),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                [$($status),*].into_iter().map(|s: u16| (s.to_string(), error_response(s))).collect()
            }
        }
    )*};
}

errors! {
    /// An authenticated read.
    Authed: [400, 401, 403, 404, 405, 408, 413, 415];
    /// An authenticated change that the current state may refuse.
    AuthedStateful: [400, 401, 403, 404, 405, 408, 409, 413, 415];
    /// Creating an interaction (refused while the server drains).
    Creating: [400, 401, 403, 404, 405, 408, 409, 413, 415, 503];
    /// Logging in.
    LoggingIn: [400, 401, 405, 413, 415, 429];
    /// Logging out.
    LoggingOut: [405];
    /// Opening a client link (its consent checked).
    Opening: [400, 404, 405, 408, 409, 410, 413, 415];
    /// Reading what a client link shows.
    Reading: [404, 405, 410];
    /// A bare room.
    Room: [400, 401, 405, 408, 413, 415, 503];
    /// Uploading a file.
    Uploading: [400, 401, 403, 404, 405, 408, 409, 413, 507];
    /// Downloading a chat file.
    Downloading: [401, 404, 405];
    /// Downloading a recording.
    Recording: [401, 404, 405, 409, 416, 500];
}

/// A body that may be left out (`Option<T>` in the handler) is either absent or a
/// `T`: utoipa states it as "`T` or `null`", which the server does not take.
fn optional_body_is_not_null(operation: &mut Value) {
    let body = &mut operation["requestBody"];
    if body.is_null() || body["required"] == json!(true) {
        return;
    }
    let Some(content) = body["content"].as_object_mut() else {
        return;
    };
    for media in content.values_mut() {
        let schema = &mut media["schema"];
        let Some(choices) = schema["oneOf"].as_array() else {
            continue;
        };
        let not_null: Vec<&Value> = choices
            .iter()
            .filter(|c| c["type"] != json!("null"))
            .collect();
        if let [only] = not_null[..] {
            *schema = only.clone();
        }
    }
}

/// `operationId`s from method and path (`get /api/interactions/{id}` →
/// `getInteractionsId`), links from the operations that create things to the ones
/// that use them (so fuzzers, and readers, can follow them), and the limits the
/// configuration sets.
pub fn finish(doc: utoipa::openapi::OpenApi, config: &Config) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the document serializes");
    doc["info"] = json!({
        "title": "vchat",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "REST API of vchat. Authenticate with the session cookie from POST /api/login, or `Authorization: Bearer <API token>`. Errors are JSON `{error, message}`. JSON bodies are at most 64 KiB (413 beyond); files stream. WebSockets (not described here): /ws (signaling, docs/signaling.md) and /api/connectors/ws (delivery connectors, docs/connectors.md). Events: docs/events.md.",
    });
    doc["components"]["securitySchemes"] = json!({
        "session": { "type": "apiKey", "in": "cookie", "name": "vchat_session" },
        "bearer": { "type": "http", "scheme": "bearer" },
    });
    doc["security"] = json!([{ "session": [] }, { "bearer": [] }]);
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().expect("path item").iter_mut() {
            if !operation.is_object() {
                continue;
            }
            let mut id = method.clone();
            for part in path
                .split(['/', '.', '_'])
                .filter(|p| !p.is_empty() && *p != "api")
            {
                let part = part.trim_matches(['{', '}']);
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    id.push(first.to_ascii_uppercase());
                    id.extend(chars);
                }
            }
            operation["operationId"] = json!(id);
            optional_body_is_not_null(operation);
        }
    }
    let link = |op: &str, param: &str, from: &str| json!({ "operationId": op, "parameters": { param: format!("$response.body#/{from}") } });
    let interaction_ops = [
        "getInteractionsId",
        "patchInteractionsId",
        "postInteractionsIdEnd",
        "postInteractionsIdCancel",
        "postInteractionsIdJoin",
        "postInteractionsIdSend",
        "getInteractionsIdEvents",
        "getInteractionsIdMessages",
        "postInteractionsIdMessages",
        "postInteractionsIdGeo",
        "postInteractionsIdFiles",
        "getInteractionsIdCdr",
        "getInteractionsIdRecording",
    ];
    let mut links = serde_json::Map::new();
    for op in interaction_ops {
        links.insert(op.to_string(), link(op, "id", "id"));
    }
    links.insert(
        "postLinksCode".into(),
        link("postLinksCode", "code", "link"),
    );
    links.insert("getJCode".into(), link("getJCode", "code", "link"));
    doc["paths"]["/api/interactions"]["post"]["responses"]["201"]["links"] = Value::Object(links);
    let ops = |names: &[&str]| -> Value {
        Value::Object(
            names
                .iter()
                .map(|op| (op.to_string(), link(op, "id", "id")))
                .collect(),
        )
    };
    doc["paths"]["/api/users"]["post"]["responses"]["201"]["links"] =
        ops(&["getUsersId", "patchUsersId", "deleteUsersId"]);
    doc["paths"]["/api/tenants"]["post"]["responses"]["201"]["links"] =
        ops(&["getTenantsId", "patchTenantsId"]);
    doc["paths"]["/api/connectors"]["post"]["responses"]["201"]["links"] =
        ops(&["deleteConnectorsId"]);
    doc["paths"]["/api/interactions/{id}/files"]["post"]["responses"]["201"]["links"] =
        ops(&["getFilesId"]);
    doc["paths"]["/api/interactions/{id}/recording"]["get"]["responses"]["200"]["links"] =
        ops(&["getRecordingsIdFile"]);
    // Limits of the configuration.
    let schemas = &mut doc["components"]["schemas"];
    // A tagged enum's variants refuse unknown fields as its structs do; utoipa says so
    // for structs only.
    if let Some(Value::Array(variants)) =
        schemas.get_mut("Command").and_then(|c| c.get_mut("oneOf"))
    {
        for variant in variants {
            variant["additionalProperties"] = json!(false);
        }
    }
    if let Some(p) = schemas.get_mut("CreateRoom") {
        p["properties"]["participants"]["maxItems"] = json!(config.rooms.max_participants);
        p["properties"]["participants"]["minItems"] = json!(1);
        p["properties"]["ttl_secs"]["minimum"] = json!(60);
        p["properties"]["ttl_secs"]["maximum"] = json!(config.rooms.token_ttl_secs);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        crate::http::document(&Config::default())
    }

    #[test]
    fn links_name_operations_that_exist() {
        let doc = document();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op["operationId"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
        let text = doc.to_string();
        for part in text.split("\"operationId\":\"").skip(1) {
            let id: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(ids.contains(&id), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
    }

    /// utoipa keeps one schema per name: two types of one name would leave one of them
    /// described by the other's rules.
    #[test]
    fn each_value_type_is_described_by_its_own_rule() {
        use crate::domain::fields::*;
        use utoipa::ToSchema;
        fn check<T: ToSchema>(doc: &Value) {
            let name = T::name();
            let own = serde_json::to_value(T::schema()).unwrap();
            assert_eq!(doc["components"]["schemas"][name.as_ref()], own, "{name}");
        }
        let doc = document();
        check::<LoginName>(&doc);
        check::<Phone>(&doc);
        check::<TelegramChat>(&doc);
        check::<HttpUrl>(&doc);
        check::<Password>(&doc);
        check::<Channel>(&doc);
        check::<Channels>(&doc);
        check::<Text<100>>(&doc);
        check::<Text<200>>(&doc);
        check::<Latitude>(&doc);
        check::<Millis>(&doc);
        check::<SendChannels>(&doc);
    }

    #[test]
    fn a_body_that_may_be_left_out_is_not_null() {
        let doc = document();
        let body = &doc["paths"]["/api/interactions/{id}/end"]["post"]["requestBody"];
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            json!("#/components/schemas/EndRequest")
        );
        assert_ne!(body["required"], json!(true));
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(schemas.contains_key(&name), "{name}");
        }
    }
}
