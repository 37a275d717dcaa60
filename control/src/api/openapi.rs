//! The OpenAPI 3.1 document of the REST API, served at `/api/openapi.json`.
//!
//! Written here next to the handlers (not generated), and held to them by
//! schemathesis (`tests/api/schemathesis.sh`, run by `.ci/test`): it fuzzes every
//! documented operation of a live server, follows the links from creating operations
//! to the ones that use what they made, and checks every answer's status, content
//! type and body against this document.

use serde_json::{Map, Value, json};

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn object(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn strict(required: &[&str], props: Value) -> Value {
    let mut o = object(required, props);
    o["additionalProperties"] = json!(false);
    o
}

fn page_of(item: &str) -> Value {
    object(
        &["items", "total", "offset", "limit"],
        json!({
            "items": { "type": "array", "items": r(item) },
            "total": { "type": "integer", "minimum": 0 },
            "offset": { "type": "integer", "minimum": 0 },
            "limit": { "type": "integer", "minimum": 1 },
        }),
    )
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn optional_json_body(schema: Value) -> Value {
    json!({ "required": false, "content": { "application/json": { "schema": schema } } })
}

fn id_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 64 } })
}

fn query(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema })
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "offset",
            json!({ "type": "integer", "minimum": 0, "maximum": 1_000_000 }),
        ),
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 200 }),
        ),
    ]
}

/// An operation: its success answers, the error statuses it may give, and the rest.
fn op(summary: &str, ok: &[(u16, Value)], errors: &[u16], extra: Value) -> Value {
    let mut responses = Map::new();
    for (status, schema) in ok {
        let body = if schema.is_null() {
            json!({ "description": "Done." })
        } else {
            json!({ "description": "Done.", "content": { "application/json": { "schema": schema } } })
        };
        responses.insert(status.to_string(), body);
    }
    for status in errors {
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
            429 => "Too many requests; see Retry-After.",
            503 => "The server is shutting down.",
            _ => "Error.",
        };
        responses.insert(
            status.to_string(),
            json!({ "description": description, "content": { "application/json": { "schema": r("Error") } } }),
        );
    }
    let mut o = json!({ "summary": summary, "responses": responses });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            o[k] = v;
        }
    }
    o
}

/// Errors every authenticated JSON operation may give.
const AUTHED: &[u16] = &[400, 401, 403, 404, 405, 408, 413, 415];
const AUTHED_STATEFUL: &[u16] = &[400, 401, 403, 404, 405, 408, 409, 413, 415];

fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let state = json!({ "type": "string", "enum": ["scheduled", "waiting", "connected", "ended", "expired", "failed", "cancelled"] });
    let role = json!({ "type": "string", "enum": ["agent", "supervisor", "admin"] });
    let video = json!({ "type": "string", "enum": ["one_way", "two_way"] });
    let quality = json!({ "type": "string", "enum": ["low", "medium", "high", "hd"] });
    let channels = json!({ "type": "array", "maxItems": 8, "items": { "type": "string" } });
    json!({
        "Error": strict(&["error", "message"], json!({ "error": s("string"), "message": s("string") })),
        "Role": role,
        "State": state,
        "VideoMode": video,
        "Quality": quality,
        "Login": strict(&["login", "password"], json!({ "login": s("string"), "password": s("string") })),
        "User": object(&["id", "tenant", "login", "name", "role", "disabled", "created_at"], json!({
            "id": s("string"), "tenant": s("string"), "login": s("string"), "name": s("string"),
            "role": r("Role"), "disabled": s("boolean"), "created_at": s("integer"),
        })),
        "UserPage": page_of("User"),
        "NewUser": strict(&["login", "name", "role", "password"], json!({
            "tenant": nullable("string"),
            "login": { "type": "string", "pattern": "^[a-z0-9._@-]{3,64}$" },
            "name": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$" },
            "role": r("Role"),
            "password": { "type": "string", "minLength": 10, "maxLength": 256 },
        })),
        "UserPatch": strict(&[], json!({
            "name": nullable("string"), "password": nullable("string"),
            "role": { "oneOf": [r("Role"), { "type": "null" }] }, "disabled": nullable("boolean"),
        })),
        "Me": object(&["id", "name", "tenant", "role", "scope"], json!({
            "id": s("string"), "name": s("string"), "tenant": s("string"), "role": r("Role"),
            "scope": { "type": "array", "items": s("string") },
        })),
        "NewToken": strict(&["label"], json!({ "label": s("string") })),
        "TokenCreated": object(&["token", "label"], json!({ "token": s("string"), "label": s("string") })),
        "Branding": strict(&[], json!({
            "company_name": s("string"), "logo_url": nullable("string"),
            "consent_text": nullable("string"), "redirect_url": nullable("string"),
        })),
        "CustomField": strict(&["key", "label"], json!({ "key": s("string"), "label": s("string"), "required": s("boolean") })),
        "Tenant": object(&["id", "parent", "name", "branding", "custom_fields", "delivery_chain", "created_at"], json!({
            "id": s("string"), "parent": nullable("string"), "name": s("string"), "branding": r("Branding"),
            "custom_fields": { "type": "array", "items": r("CustomField") },
            "delivery_chain": { "type": "array", "items": s("string") }, "created_at": s("integer"),
        })),
        "NewTenant": strict(&["parent", "name"], json!({
            "parent": s("string"), "name": s("string"), "branding": r("Branding"),
            "custom_fields": { "type": "array", "items": r("CustomField") }, "delivery_chain": channels,
        })),
        "TenantPatch": strict(&[], json!({
            "name": nullable("string"), "branding": { "oneOf": [r("Branding"), { "type": "null" }] },
            "custom_fields": { "type": ["array", "null"], "items": r("CustomField") },
            "delivery_chain": { "type": ["array", "null"], "items": s("string") },
        })),
        "ClientContact": strict(&[], json!({
            "name": { "type": "string", "maxLength": 100, "pattern": "^[^\\u0000-\\u001f\\u007f]*$" },
            "phone": { "type": "string", "pattern": "^\\+[0-9]{8,15}$" },
            "telegram_chat": { "type": "string", "pattern": "^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$" },
        })),
        "Interaction": object(&[
            "id", "tenant", "agent", "client", "fields", "scheduled_at", "video", "max_quality", "recording",
            "state", "room", "link", "link_expires_at", "created_at", "updated_at", "connected_at", "ended_at",
            "end_reason", "ended_by", "link_url",
        ], json!({
            "id": s("string"), "tenant": s("string"), "agent": s("string"), "client": r("ClientContact"),
            "fields": { "type": "object", "additionalProperties": s("string") },
            "scheduled_at": nullable("integer"), "video": r("VideoMode"), "max_quality": r("Quality"),
            "recording": s("boolean"), "state": r("State"), "room": s("string"), "link": s("string"),
            "link_expires_at": s("integer"), "created_at": s("integer"), "updated_at": s("integer"),
            "connected_at": nullable("integer"), "ended_at": nullable("integer"),
            "end_reason": nullable("string"), "ended_by": nullable("string"), "cdr_at": nullable("integer"),
            "link_url": s("string"),
        })),
        "InteractionPage": page_of("Interaction"),
        "NewInteraction": strict(&["client"], json!({
            "client": r("ClientContact"),
            "fields": { "type": "object", "description": "Only the tenant's custom fields.", "maxProperties": 0 },
            "scheduled_at": nullable("integer"),
            "video": { "oneOf": [r("VideoMode"), { "type": "null" }] },
            "max_quality": { "oneOf": [r("Quality"), { "type": "null" }] },
            "recording": nullable("boolean"), "agent": nullable("string"),
        })),
        "InteractionPatch": strict(&[], json!({
            "client": { "oneOf": [r("ClientContact"), { "type": "null" }] },
            "fields": { "type": ["object", "null"], "additionalProperties": s("string") },
            "scheduled_at": nullable("integer"),
            "video": { "oneOf": [r("VideoMode"), { "type": "null" }] },
            "max_quality": { "oneOf": [r("Quality"), { "type": "null" }] },
            "recording": nullable("boolean"),
        })),
        "EndRequest": strict(&[], json!({ "reason": nullable("string") })),
        "StaffJoin": object(&["room", "token", "join_url"], json!({ "room": s("string"), "token": s("string"), "join_url": s("string") })),
        "SendRequest": strict(&[], json!({ "channels": { "type": ["array", "null"], "items": s("string") } })),
        "SendStarted": object(&["delivery", "channels"], json!({ "delivery": s("string"), "channels": { "type": "array", "items": s("string") } })),
        "Event": object(&["id", "tenant", "kind", "interaction", "at", "actor", "data"], json!({
            "id": s("string"), "tenant": s("string"), "kind": s("string"), "interaction": nullable("string"),
            "at": s("integer"), "actor": s("string"), "data": {},
        })),
        "ChatMessage": object(&["id", "tenant", "interaction", "at", "from", "name", "text", "file"], json!({
            "id": s("string"), "tenant": s("string"), "interaction": s("string"), "at": s("integer"),
            "from": s("string"), "name": s("string"), "text": s("string"), "file": nullable("string"),
            "geo": { "type": "object" },
        })),
        "NewMessage": strict(&["text"], json!({ "text": s("string") })),
        "Position": strict(&["lat", "lon", "accuracy"], json!({
            "lat": s("number"), "lon": s("number"), "accuracy": s("number"), "at": nullable("integer"),
        })),
        "FileMeta": object(&["id", "tenant", "interaction", "name", "content_type", "size", "sha256", "uploaded_by", "at"], json!({
            "id": s("string"), "tenant": s("string"), "interaction": s("string"), "name": s("string"),
            "content_type": s("string"), "size": s("integer"), "sha256": s("string"), "uploaded_by": s("string"), "at": s("integer"),
        })),
        "Presence": object(&["joined_at", "left_at"], json!({ "joined_at": s("integer"), "left_at": s("integer") })),
        "Party": object(&["participant", "role", "presence"], json!({
            "participant": s("string"), "role": s("string"), "presence": { "type": "array", "items": r("Presence") },
        })),
        "Disposition": { "type": "string", "enum": ["answered", "no_answer", "failed", "cancelled", "expired"] },
        "Cdr": object(&[
            "id", "tenant", "interaction", "room", "kind", "agent", "created_at", "ended_at", "duration_secs",
            "talk_secs", "wait_secs", "disposition", "final_state", "parties", "recording", "messages", "files",
        ], json!({
            "id": s("string"), "tenant": s("string"), "interaction": s("string"), "room": s("string"),
            "kind": s("string"), "agent": s("string"), "client_name": s("string"),
            "client_phone": nullable("string"), "client_telegram": nullable("string"),
            "link_channel": nullable("string"), "link_sent_at": nullable("integer"), "link_opened_at": nullable("integer"),
            "created_at": s("integer"), "started_at": nullable("integer"), "answered_at": nullable("integer"),
            "ended_at": s("integer"), "duration_secs": s("number"), "talk_secs": s("number"), "wait_secs": s("number"),
            "disposition": r("Disposition"), "final_state": s("string"), "end_reason": nullable("string"),
            "ended_by": nullable("string"), "parties": { "type": "array", "items": r("Party") },
            "video": r("VideoMode"), "max_quality": r("Quality"), "recording": s("boolean"),
            "recording_id": nullable("string"), "messages": s("integer"), "files": s("integer"),
            "file_bytes": s("integer"), "screenshots": s("integer"), "geolocation": {},
            "survey_score": nullable("integer"), "client_user_agent": nullable("string"),
            "media_inactive": s("integer"), "events": s("integer"), "written_at": s("integer"),
        })),
        "CdrPage": page_of("Cdr"),
        "Recording": object(&["id", "tenant", "interaction", "agent", "state", "created_at"], json!({
            "id": s("string"), "tenant": s("string"), "interaction": s("string"), "agent": s("string"),
            "state": { "type": "string", "enum": ["recording", "merging", "ready", "failed"] },
            "reason": nullable("string"), "key": nullable("string"), "content_type": nullable("string"),
            "duration_ms": nullable("integer"), "size": nullable("integer"), "sha256": nullable("string"),
            "segments": { "type": ["array", "null"], "items": s("integer") },
            "video_frames": { "type": ["array", "null"], "items": s("integer") },
            "audio": { "type": ["string", "null"], "enum": ["passthrough", "reencoded", null] },
            "created_at": s("integer"), "ready_at": nullable("integer"),
        })),
        "Opened": object(&["interaction", "room", "token", "join_url", "branding"], json!({
            "interaction": s("string"), "room": s("string"), "token": s("string"), "join_url": s("string"), "branding": r("Branding"),
        })),
        "NewConnector": strict(&["name"], json!({ "name": { "type": "string", "pattern": "^[a-z0-9_-]{1,40}$" }, "tenant": nullable("string") })),
        "ConnectorCreated": object(&["id", "name", "tenant", "token", "key"], json!({
            "id": s("string"), "name": s("string"), "tenant": s("string"), "token": s("string"), "key": s("string"),
        })),
        "Connector": object(&["id", "name", "tenant", "connected", "created_at"], json!({
            "id": s("string"), "name": s("string"), "tenant": s("string"), "connected": s("boolean"), "created_at": s("integer"),
        })),
        "CreateRoom": strict(&[], json!({
            "room": nullable("string"),
            "participants": { "type": ["array", "null"], "items": strict(&["name"], json!({ "id": nullable("string"), "name": s("string") })) },
            "ttl_secs": nullable("integer"),
        })),
        "RoomCreated": object(&["room", "expires_at", "participants"], json!({
            "room": s("string"), "expires_at": s("integer"),
            "participants": { "type": "array", "items": object(&["id", "name", "token", "join_url"], json!({
                "id": s("string"), "name": s("string"), "token": s("string"), "join_url": s("string"),
            })) },
        })),
    })
}

/// `operationId`s from method and path (`get /api/interactions/{id}` →
/// `getInteractionsId`), and links from the operations that create things to the ones
/// that use them, so fuzzers (and readers) can follow them.
fn finish(mut doc: Value) -> Value {
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, operation) in item.as_object_mut().expect("path item").iter_mut() {
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
    let user_links: serde_json::Map<String, Value> =
        ["getUsersId", "patchUsersId", "deleteUsersId"]
            .into_iter()
            .map(|op| (op.to_string(), link(op, "id", "id")))
            .collect();
    doc["paths"]["/api/users"]["post"]["responses"]["201"]["links"] = Value::Object(user_links);
    let tenant_links: serde_json::Map<String, Value> = ["getTenantsId", "patchTenantsId"]
        .into_iter()
        .map(|op| (op.to_string(), link(op, "id", "id")))
        .collect();
    doc["paths"]["/api/tenants"]["post"]["responses"]["201"]["links"] = Value::Object(tenant_links);
    doc["paths"]["/api/connectors"]["post"]["responses"]["201"]["links"] =
        json!({ "deleteConnectorsId": link("deleteConnectorsId", "id", "id") });
    doc["paths"]["/api/interactions/{id}/files"]["post"]["responses"]["201"]["links"] =
        json!({ "getFilesId": link("getFilesId", "id", "id") });
    doc
}

/// The document.
pub fn document() -> Value {
    finish(raw_document())
}

fn raw_document() -> Value {
    let i = || vec![id_param("id")];
    let with = |params: Vec<Value>| json!({ "parameters": params });
    let body = |schema: &str| json!({ "requestBody": json_body(r(schema)) });
    let both = |params: Vec<Value>, schema: &str| json!({ "parameters": params, "requestBody": json_body(r(schema)) });
    let both_optional = |params: Vec<Value>, schema: &str| json!({ "parameters": params, "requestBody": optional_json_body(r(schema)) });
    let list_of = |name: &str| json!({ "type": "array", "items": r(name) });
    let public = json!({ "security": [] });
    let mut interactions_query = vec![
        query("state", r("State")),
        query("agent", json!({ "type": "string" })),
        query("from", json!({ "type": "integer" })),
        query("to", json!({ "type": "integer" })),
    ];
    interactions_query.extend(paging());
    let mut cdr_query = vec![
        query("from", json!({ "type": "integer" })),
        query("to", json!({ "type": "integer" })),
        query("agent", json!({ "type": "string" })),
        query("disposition", r("Disposition")),
    ];
    cdr_query.extend(paging());
    let mut users_query = vec![query("role", r("Role"))];
    users_query.extend(paging());
    let mut file_params = i();
    file_params.push(json!({ "name": "name", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 255 } }));
    let html = |status: u16, what: &str| {
        (
            status.to_string(),
            json!({ "description": what, "content": { "text/html": { "schema": { "type": "string" } } } }),
        )
    };

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "vchat",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST API of vchat. Authenticate with the session cookie from POST /api/login, or `Authorization: Bearer <API token>`. Errors are JSON `{error, message}`. WebSockets (not described here): /ws (signaling, docs/signaling.md) and /api/connectors/ws (delivery connectors, docs/connectors.md). Events: docs/events.md.",
        },
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "vchat_session" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
        },
        "security": [{ "session": [] }, { "bearer": [] }],
        "paths": {
            "/api/login": { "post": op("Log in: sets the session cookie", &[(200, r("User"))], &[400, 401, 405, 413, 415, 429], json!({ "security": [], "requestBody": json_body(r("Login")) })) },
            "/api/logout": { "post": op("Log out: ends the session", &[(204, Value::Null)], &[405], public.clone()) },
            "/api/me": { "get": op("The caller", &[(200, r("Me"))], AUTHED, json!({})) },
            "/api/tokens": { "post": op("Make an API token acting as the caller (shown once)", &[(201, r("TokenCreated"))], AUTHED, body("NewToken")) },
            "/api/tenants": {
                "get": op("Tenants of the caller's scope", &[(200, list_of("Tenant"))], AUTHED, json!({})),
                "post": op("Make a branch", &[(201, r("Tenant"))], AUTHED_STATEFUL, body("NewTenant")),
            },
            "/api/tenants/{id}": {
                "get": op("One tenant", &[(200, r("Tenant"))], AUTHED, with(i())),
                "patch": op("Change a tenant", &[(200, r("Tenant"))], AUTHED, both(i(), "TenantPatch")),
            },
            "/api/users": {
                "get": op("Users of the caller's scope", &[(200, r("UserPage"))], AUTHED, with(users_query)),
                "post": op("Make a user", &[(201, r("User"))], AUTHED_STATEFUL, body("NewUser")),
            },
            "/api/users/{id}": {
                "get": op("One user", &[(200, r("User"))], AUTHED, with(i())),
                "patch": op("Change a user", &[(200, r("User"))], AUTHED_STATEFUL, both(i(), "UserPatch")),
                "delete": op("Delete a user", &[(204, Value::Null)], AUTHED, with(i())),
            },
            "/api/interactions": {
                "get": op("Interactions, newest first", &[(200, r("InteractionPage"))], AUTHED, with(interactions_query)),
                "post": op("Create an interaction, its room and its client link", &[(201, r("Interaction"))], &[400, 401, 403, 404, 405, 408, 409, 413, 415, 503], body("NewInteraction")),
            },
            "/api/interactions/{id}": {
                "get": op("One interaction", &[(200, r("Interaction"))], AUTHED, with(i())),
                "patch": op("Change an interaction that has not ended", &[(200, r("Interaction"))], AUTHED_STATEFUL, both(i(), "InteractionPatch")),
            },
            "/api/interactions/{id}/end": { "post": op("End a connected call", &[(200, r("Interaction"))], AUTHED_STATEFUL, both_optional(i(), "EndRequest")) },
            "/api/interactions/{id}/cancel": { "post": op("Call off an interaction that has not connected", &[(200, r("Interaction"))], AUTHED_STATEFUL, both_optional(i(), "EndRequest")) },
            "/api/interactions/{id}/join": { "post": op("A join token for staff", &[(200, r("StaffJoin"))], AUTHED_STATEFUL, with(i())) },
            "/api/interactions/{id}/send": { "post": op("Send the client's link (progress in delivery.* events)", &[(202, r("SendStarted"))], AUTHED_STATEFUL, both_optional(i(), "SendRequest")) },
            "/api/interactions/{id}/events": { "get": op("The interaction's events, oldest first", &[(200, list_of("Event"))], AUTHED, with(i())) },
            "/api/interactions/{id}/messages": {
                "get": op("The chat, oldest first (staff, or the client with its join token)", &[(200, list_of("ChatMessage"))], AUTHED, with(i())),
                "post": op("Add a chat message", &[(201, r("ChatMessage"))], AUTHED_STATEFUL, both(i(), "NewMessage")),
            },
            "/api/interactions/{id}/geo": { "post": op("Share a position", &[(201, r("ChatMessage"))], AUTHED_STATEFUL, both(i(), "Position")) },
            "/api/interactions/{id}/files": { "post": op("Upload a file (the body is the file, up to files.max_bytes)", &[(201, r("FileMeta"))], &[400, 401, 403, 404, 405, 408, 409, 413, 507], json!({
                "parameters": file_params,
                "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
            })) },
            "/api/interactions/{id}/cdr": { "get": op("The call's CDR, once written", &[(200, r("Cdr"))], AUTHED, with(i())) },
            "/api/files/{id}": { "get": {
                "summary": "Download a file",
                "parameters": [id_param("id")],
                "responses": {
                    "200": { "description": "The file.", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "401": { "description": "No or bad credentials.", "content": { "application/json": { "schema": r("Error") } } },
                    "404": { "description": "No such file.", "content": { "application/json": { "schema": r("Error") } } },
                    "405": { "description": "Method not allowed.", "content": { "application/json": { "schema": r("Error") } } },
                },
            } },
            "/api/interactions/{id}/recording": { "get": op("The call's recording and its state", &[(200, r("Recording"))], AUTHED, with(i())) },
            "/api/recordings/{id}/file": { "get": {
                "summary": "Download a recording (Range supported; S3 stores redirect to a short-lived presigned URL)",
                "parameters": [id_param("id"), { "name": "Range", "in": "header", "required": false, "schema": { "type": "string" } }],
                "responses": {
                    "200": { "description": "The file.", "content": { "video/webm": { "schema": { "type": "string", "format": "binary" } }, "audio/webm": { "schema": { "type": "string", "format": "binary" } } } },
                    "206": { "description": "Part of the file.", "content": { "video/webm": { "schema": { "type": "string", "format": "binary" } }, "audio/webm": { "schema": { "type": "string", "format": "binary" } } } },
                    "303": { "description": "A presigned URL of the S3 store." },
                    "401": { "description": "No or bad credentials.", "content": { "application/json": { "schema": r("Error") } } },
                    "404": { "description": "No such recording, or not one the caller may see.", "content": { "application/json": { "schema": r("Error") } } },
                    "405": { "description": "Method not allowed.", "content": { "application/json": { "schema": r("Error") } } },
                    "409": { "description": "Not ready yet (recording or merging) or failed.", "content": { "application/json": { "schema": r("Error") } } },
                    "416": { "description": "The range is outside the file.", "content": { "application/json": { "schema": r("Error") } } },
                },
            } },
            "/api/cdrs": { "get": op("CDRs, newest end first", &[(200, r("CdrPage"))], AUTHED, with(cdr_query)) },
            "/api/links/{code}": { "post": op("Open a client link (JSON; binds it to this device)", &[(200, r("Opened"))], &[404, 405, 410], json!({ "security": [], "parameters": [id_param("code")] })) },
            "/j/{code}": { "get": {
                "summary": "Open a client link in a browser: a redirect into the call",
                "security": [],
                "parameters": [id_param("code")],
                "responses": Value::Object([
                    ("303".to_string(), json!({ "description": "Into the call." })),
                    html(404, "No such link."),
                    html(410, "Expired, over, or opened on another device."),
                    html(500, "Storage unavailable."),
                ].into_iter().collect()),
            } },
            "/api/connectors": {
                "get": op("Delivery connectors of the caller's scope", &[(200, list_of("Connector"))], AUTHED, json!({})),
                "post": op("Register a connector (token and key shown once)", &[(201, r("ConnectorCreated"))], AUTHED_STATEFUL, body("NewConnector")),
            },
            "/api/connectors/{id}": { "delete": op("Remove a connector", &[(204, Value::Null)], AUTHED, with(i())) },
            "/api/rooms": { "post": op("Make a bare room with join tokens (bootstrap token only)", &[(201, r("RoomCreated"))], &[400, 401, 405, 408, 413, 415, 503], json!({ "requestBody": optional_json_body(r("CreateRoom")) })) },
            "/api/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } } } },
            "/healthz": { "get": { "summary": "200 serving, 503 draining", "security": [], "responses": {
                "200": { "description": "Serving.", "content": { "text/plain": { "schema": { "type": "string" } } } },
                "503": { "description": "Draining.", "content": { "text/plain": { "schema": { "type": "string" } } } },
            } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "security": [], "responses": {
                "200": { "description": "Text exposition format.", "content": { "text/plain": { "schema": { "type": "string" } } } },
            } } },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_operations_that_exist() {
        let doc = document();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_string());
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

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "{name}");
        }
    }
}
