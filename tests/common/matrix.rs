//! The authorization matrix, cell by cell: every role of three tenants (a company, its branch,
//! another company) against every endpoint of the API, allowed cells and denied ones
//! alike. Outside their scope callers get 404 (ids do not leak), inside it without the
//! role 403, without credentials 401.
//!
//! One table, two ways to reach the router: over HTTP to a running server
//! (`tests/api_holds_the_authorization_matrix.rs`) and in this process with `oneshot`
//! (`tests/router_holds_the_authorization_matrix_in_process.rs`).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api::{Api, Auth, Org, PASSWORD};

const ACTORS: [&str; 9] = [
    "adminA", "supA", "agentA", "agentA2", "supA1", "agentA1", "adminB", "supB", "agentB",
];

struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Allowed, with the success status.
    allow: (&'static [&'static str], u16),
    /// In scope but not permitted: 403.
    forbid: &'static [&'static str],
    /// Not called: allowed, but the call would change what later cells see (the
    /// lifecycle test covers these).
    skip: &'static [&'static str],
}

/// Builds the organisation with `bootstrap` (the bootstrap API token), then checks
/// every cell, the lists' scope, assignment, API tokens, disabling and deleting.
pub async fn every_cell_holds(api: &Api, bootstrap: &str) -> anyhow::Result<()> {
    let org = Org::create(api, bootstrap).await?;
    let t = |n: &str| org.tenants[n].clone();
    let u = |n: &str| org.users[n].clone();

    let mut interactions = HashMap::new();
    for owner in ["agentA", "agentA1", "agentB"] {
        let i = api
            .expect(
                org.as_(owner),
                "POST",
                "/api/interactions",
                Some(&json!({ "client": { "name": "Client" } })),
                201,
            )
            .await?;
        interactions.insert(owner, i["id"].as_str().unwrap().to_string());
    }
    let i_a = interactions["agentA"].clone();
    let i_a1 = interactions["agentA1"].clone();
    let i_b = interactions["agentB"].clone();

    // Readers of each interaction.
    const SEE_A: &[&str] = &["adminA", "supA", "agentA"];
    const SEE_A1: &[&str] = &["adminA", "supA", "supA1", "agentA1"];
    const SEE_B: &[&str] = &["adminB", "supB", "agentB"];
    let mut cases = Vec::new();
    for (id, see) in [(&i_a, SEE_A), (&i_a1, SEE_A1), (&i_b, SEE_B)] {
        for (method, suffix, body, ok) in [
            ("GET", "", None, 200),
            ("GET", "/events", None, 200),
            ("GET", "/messages", None, 200),
            ("POST", "/join", None, 200),
            ("PATCH", "", Some(json!({ "recording": true })), 200),
        ] {
            cases.push(Case {
                method,
                path: format!("/api/interactions/{id}{suffix}"),
                body,
                allow: (see, ok),
                forbid: &[],
                skip: &[],
            });
        }
        // What the call's client reports: staff who see the call are refused (403),
        // the others told it does not exist (404).
        for (suffix, body) in [
            ("/client-state", json!({ "state": "connecting" })),
            (
                "/client-check",
                json!({ "camera": "granted", "microphone": "granted", "cameras": 1, "front_camera": true, "back_camera": false, "mic_level": 0.1, "audio_output": true }),
            ),
            ("/survey", json!({ "score": 5 })),
        ] {
            cases.push(Case {
                method: "POST",
                path: format!("/api/interactions/{id}{suffix}"),
                body: Some(body),
                allow: (&[], 0),
                forbid: see,
                skip: &[],
            });
        }
        // Denied cells only: these would change state.
        for (method, suffix, body) in [
            ("POST", "/end", None),
            ("POST", "/cancel", None),
            ("POST", "/messages", Some(json!({ "text": "hi" }))),
        ] {
            cases.push(Case {
                method,
                path: format!("/api/interactions/{id}{suffix}"),
                body,
                allow: (&[], 0),
                forbid: &[],
                skip: see,
            });
        }
    }
    cases.extend([
        Case { method: "GET", path: "/api/tenants".into(), body: None,
            allow: (&["adminA", "supA", "supA1", "adminB", "supB"], 200),
            forbid: &["agentA", "agentA2", "agentA1", "agentB"], skip: &[] },
        Case { method: "GET", path: format!("/api/tenants/{}", t("A")), body: None,
            allow: (&["adminA", "supA", "agentA", "agentA2"], 200), forbid: &[], skip: &[] },
        Case { method: "GET", path: format!("/api/tenants/{}", t("A1")), body: None,
            allow: (&["adminA", "supA", "supA1", "agentA1"], 200), forbid: &[], skip: &[] },
        Case { method: "GET", path: format!("/api/tenants/{}", t("B")), body: None,
            allow: (&["adminB", "supB", "agentB"], 200), forbid: &[], skip: &[] },
        Case { method: "PATCH", path: format!("/api/tenants/{}", t("A")), body: Some(json!({ "name": "Company A" })),
            allow: (&["adminA"], 200), forbid: &["supA", "agentA", "agentA2"], skip: &[] },
        Case { method: "PATCH", path: format!("/api/tenants/{}", t("A1")), body: Some(json!({ "name": "Company A1" })),
            allow: (&["adminA"], 200), forbid: &["supA", "agentA", "agentA2", "supA1", "agentA1"], skip: &[] },
        Case { method: "PATCH", path: format!("/api/tenants/{}", t("B")), body: Some(json!({ "name": "Company B" })),
            allow: (&["adminB"], 200), forbid: &["supB", "agentB"], skip: &[] },
        Case { method: "POST", path: "/api/tenants".into(), body: Some(json!({ "parent": t("A1"), "name": "Sub-branch" })),
            allow: (&["adminA"], 201), forbid: &["supA", "agentA", "agentA2", "supA1", "agentA1"], skip: &[] },
        Case { method: "GET", path: "/api/users".into(), body: None,
            allow: (&["adminA", "supA", "supA1", "adminB", "supB"], 200),
            forbid: &["agentA", "agentA2", "agentA1", "agentB"], skip: &[] },
        Case { method: "GET", path: format!("/api/users/{}", u("agentA")), body: None,
            allow: (&["adminA", "supA", "agentA"], 200), forbid: &[], skip: &[] },
        Case { method: "GET", path: format!("/api/users/{}", u("agentA1")), body: None,
            allow: (&["adminA", "supA", "supA1", "agentA1"], 200), forbid: &[], skip: &[] },
        Case { method: "PATCH", path: format!("/api/users/{}", u("agentA")), body: Some(json!({ "name": "agentA" })),
            allow: (&["adminA", "agentA"], 200), forbid: &["supA"], skip: &[] },
        Case { method: "PATCH", path: format!("/api/users/{}", u("agentA")), body: Some(json!({ "role": "agent" })),
            allow: (&["adminA"], 200), forbid: &["supA", "agentA"], skip: &[] },
        Case { method: "PATCH", path: format!("/api/users/{}", u("agentA1")), body: Some(json!({ "disabled": false })),
            allow: (&["adminA"], 200), forbid: &["supA", "supA1", "agentA1"], skip: &[] },
        Case { method: "DELETE", path: format!("/api/users/{}", u("agentA2")), body: None,
            allow: (&[], 0), forbid: &["supA", "agentA2"], skip: &["adminA"] },
        Case { method: "DELETE", path: format!("/api/users/{}", u("supB")), body: None,
            allow: (&[], 0), forbid: &["supB"], skip: &["adminB"] },
        Case { method: "POST", path: "/api/users".into(), body: Some(json!({ "tenant": t("A1"), "login": "LOGIN", "name": "New", "role": "agent", "password": PASSWORD })),
            allow: (&["adminA"], 201), forbid: &["supA", "agentA", "agentA2", "supA1", "agentA1"], skip: &[] },
    ]);

    let mut allowed_cells = 0;
    let mut denied_cells = 0;
    for case in &cases {
        for actor in ACTORS.into_iter().filter(|a| !case.skip.contains(a)) {
            let expected = if case.allow.0.contains(&actor) {
                case.allow.1
            } else if case.forbid.contains(&actor) {
                403
            } else {
                404
            };
            let body = case.body.as_ref().map(|b| {
                // Unique logins per creating actor.
                let text = b
                    .to_string()
                    .replace("LOGIN", &format!("new-{}", actor.to_lowercase()));
                serde_json::from_str::<Value>(&text).unwrap()
            });
            let r = api
                .call(org.as_(actor), case.method, &case.path, body.as_ref())
                .await?;
            assert_eq!(
                r.status, expected,
                "{actor} {} {}: {}",
                case.method, case.path, r.json
            );
            if expected >= 400 {
                assert!(
                    r.json["error"].is_string() && r.json["message"].is_string(),
                    "{}",
                    r.json
                );
                denied_cells += 1;
            } else {
                allowed_cells += 1;
            }
        }
        for anon in [
            Auth::None,
            Auth::Cookie("vchat_session=forged".into()),
            Auth::Bearer("vct_forged".into()),
        ] {
            let r = api
                .call(&anon, case.method, &case.path, case.body.as_ref())
                .await?;
            assert_eq!(r.status, 401, "{anon:?} {} {}", case.method, case.path);
            denied_cells += 1;
        }
    }
    println!(
        "authorization matrix: {} endpoints x {} identities: {allowed_cells} allowed and {denied_cells} denied cells checked",
        cases.len(),
        ACTORS.len() + 3
    );

    // Lists hold only the scope.
    let users_a1 = api
        .expect(org.as_("supA1"), "GET", "/api/users?limit=200", None, 200)
        .await?;
    for user in users_a1["items"].as_array().unwrap() {
        assert_eq!(user["tenant"], t("A1").as_str(), "{user}");
        assert!(user.get("password_hash").is_none());
    }
    let tenants_b = api
        .expect(org.as_("adminB"), "GET", "/api/tenants", None, 200)
        .await?;
    assert_eq!(tenants_b.as_array().unwrap().len(), 1);
    let list_b = api
        .expect(org.as_("supB"), "GET", "/api/interactions", None, 200)
        .await?;
    assert_eq!(list_b["total"], 1);
    assert_eq!(list_b["items"][0]["id"], i_b.as_str());

    // Assigning work to someone out of scope, and creating interactions for others
    // as an agent, are refused.
    let r = api
        .call(
            org.as_("supA"),
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "x" }, "agent": u("agentB") })),
        )
        .await?;
    assert_eq!(r.status, 400, "{}", r.json);
    let r = api
        .call(
            org.as_("agentA"),
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "x" }, "agent": u("agentA2") })),
        )
        .await?;
    assert_eq!(r.status, 403);
    api.expect(
        org.as_("supA"),
        "POST",
        "/api/interactions",
        Some(&json!({ "client": { "name": "x" }, "agent": u("agentA1") })),
        201,
    )
    .await?;

    // API tokens act as their user, nothing more.
    let token = api
        .expect(
            org.as_("agentA"),
            "POST",
            "/api/tokens",
            Some(&json!({ "label": "CRM" })),
            201,
        )
        .await?;
    let bearer = Auth::Bearer(token["token"].as_str().unwrap().to_string());
    api.expect(
        &bearer,
        "GET",
        &format!("/api/interactions/{i_a}"),
        None,
        200,
    )
    .await?;
    api.expect(
        &bearer,
        "GET",
        &format!("/api/interactions/{i_b}"),
        None,
        404,
    )
    .await?;
    api.expect(&bearer, "GET", "/api/users", None, 403).await?;
    api.expect(
        &Auth::None,
        "POST",
        "/api/tokens",
        Some(&json!({ "label": "x" })),
        401,
    )
    .await?;

    // Disabling a user ends their sessions and tokens at once; deleting works for admins.
    api.expect(
        org.as_("adminA"),
        "PATCH",
        &format!("/api/users/{}", u("agentA")),
        Some(&json!({ "disabled": true })),
        200,
    )
    .await?;
    api.expect(org.as_("agentA"), "GET", "/api/me", None, 401)
        .await?;
    api.expect(
        &bearer,
        "GET",
        &format!("/api/interactions/{i_a}"),
        None,
        401,
    )
    .await?;
    let r = api
        .call(
            &Auth::None,
            "POST",
            "/api/login",
            Some(&json!({ "login": "agenta", "password": PASSWORD })),
        )
        .await?;
    assert_eq!(r.status, 401);
    api.expect(
        org.as_("adminA"),
        "DELETE",
        &format!("/api/users/{}", u("agentA2")),
        None,
        204,
    )
    .await?;
    api.expect(org.as_("agentA2"), "GET", "/api/me", None, 401)
        .await?;
    let r = api
        .call(
            org.as_("adminA"),
            "DELETE",
            &format!("/api/users/{}", u("adminA")),
            None,
        )
        .await?;
    assert_eq!(r.status, 400, "nobody deletes themselves");
    Ok(())
}
