//! Who may do what, cell by cell: every role of three tenants (a company, its branch,
//! another company) against every endpoint of the API, allowed cells and denied ones
//! alike. Outside their scope callers get 404 (ids do not leak), inside it without the
//! role 403, without credentials 401.
//!
//! The table and its checks are in `common/matrix.rs`; here they run over HTTP against
//! a running server, and in `router_holds_the_authorization_matrix_in_process.rs` in
//! process.

use serde_json::json;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_authorization_matrix_holds() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server =
        TestServer::start_with(&[("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await?;
    let api = Api::new(&server.base);
    vchat_tests::matrix::every_cell_holds(&api, &server.api_token).await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rate_limited_and_sessions_end_at_logout() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api = Api::new(&server.base);
    let boot = Auth::Bearer(server.api_token.clone());
    api.expect(
        &boot,
        "POST",
        "/api/users",
        Some(&json!({ "login": "ops", "name": "Ops", "role": "admin", "password": PASSWORD })),
        201,
    )
    .await?;
    let session = api.login("ops", PASSWORD).await?;
    let Auth::Cookie(cookie) = &session else {
        unreachable!()
    };
    let me = api.expect(&session, "GET", "/api/me", None, 200).await?;
    assert_eq!(me["role"], "admin");
    let reply = api
        .call(
            &Auth::None,
            "POST",
            "/api/login",
            Some(&json!({ "login": "ops", "password": PASSWORD })),
        )
        .await?;
    let set_cookie = reply.headers["set-cookie"].to_str()?.to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    // Wrong passwords and unknown logins look the same.
    for (login, password) in [("ops", "wrong password!"), ("nobody", PASSWORD)] {
        let r = api
            .call(
                &Auth::None,
                "POST",
                "/api/login",
                Some(&json!({ "login": login, "password": password })),
            )
            .await?;
        assert_eq!(r.status, 401);
        assert_eq!(r.json["error"], "bad-credentials");
    }
    // 2 logins + 2 failures so far; the 11th attempt in the minute waits.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = api
            .call(
                &Auth::None,
                "POST",
                "/api/login",
                Some(&json!({ "login": "ops", "password": "wrong password!" })),
            )
            .await?;
        statuses.push(r.status);
    }
    assert!(statuses.iter().take(6).all(|s| *s == 401), "{statuses:?}");
    let limited = api
        .call(
            &Auth::None,
            "POST",
            "/api/login",
            Some(&json!({ "login": "ops", "password": PASSWORD })),
        )
        .await?;
    assert_eq!(limited.status, 429, "{statuses:?}");
    let retry: u64 = limited.headers["retry-after"].to_str()?.parse()?;
    assert!((1..=60).contains(&retry), "{retry}");

    // Logout ends the session on the server, not just in the browser.
    let r = api.call(&session, "POST", "/api/logout", None).await?;
    assert_eq!(r.status, 204);
    api.expect(&Auth::Cookie(cookie.clone()), "GET", "/api/me", None, 401)
        .await?;
    server.stop().await
}
