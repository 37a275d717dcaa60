//! A fleet's management system logs its tenant's panels in with one intercom token
//! instead of each panel's secret (docs/intercom.md, Authentication): admins make such
//! tokens (`POST /api/tokens` with `scope: intercom`), agents may not; the token opens
//! `hello` for the devices of its tenant and those below it, not another tenant's, and
//! it is no credential for the HTTP API; an ordinary API token is no credential for
//! `hello`. Every refusal is the same 4401.

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org};
use vchat_tests::panel::{add_device, connect};

fn hello_with_token(device: &str, token: &str) -> Message {
    Message::text(
        json!({"type": "hello", "version": 1, "device": device, "token": token,
               "firmware": "4.2.0", "model": "AV-07T", "codecs": ["PCMU"]})
        .to_string(),
    )
}

/// What `hello` with `token` gets: `welcome`, or the close code and reason.
async fn hello(server: &TestServer, device: &str, token: &str) -> anyhow::Result<String> {
    let mut socket = connect(server).await?;
    socket.send(hello_with_token(device, token)).await?;
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text)?;
                if v["type"] == "welcome" {
                    return Ok("welcome".into());
                }
            }
            Message::Close(Some(frame)) => {
                return Ok(format!("{} {}", u16::from(frame.code), frame.reason));
            }
            _ => {}
        }
    }
    anyhow::bail!("the socket ended without a welcome or a close")
}

async fn token(api: &Api, who: &Auth, scope: Option<&str>, want: u16) -> anyhow::Result<Value> {
    let mut body = json!({"label": "fleet manager"});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    api.expect(who, "POST", "/api/tokens", Some(&body), want)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_tokens_log_their_tenants_panels_in_and_nothing_else() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start().await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    add_device(&api, &org, "lenina-5-2", "Lenina 5, entrance 2").await?;

    // Admins make intercom tokens; agents may not; the default scope is the API.
    let fleet = token(&api, org.as_("adminA"), Some("intercom"), 201).await?;
    assert_eq!(fleet["scope"], "intercom");
    let fleet = fleet["token"].as_str().context("token")?.to_owned();
    token(&api, org.as_("agentA"), Some("intercom"), 403).await?;
    let plain = token(&api, org.as_("adminA"), None, 201).await?;
    assert_eq!(plain["scope"], "api");
    let plain = plain["token"].as_str().context("token")?.to_owned();
    let other = token(&api, org.as_("adminB"), Some("intercom"), 201).await?;
    let other = other["token"].as_str().context("token")?.to_owned();
    let bad = api
        .call(
            org.as_("adminA"),
            "POST",
            "/api/tokens",
            Some(&json!({"label": "x", "scope": "everything"})),
        )
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.json);

    // The fleet token logs the panel in.
    assert_eq!(hello(&server, "lenina-5-2", &fleet).await?, "welcome");
    // Not another tenant's token, not an API token, not a made-up one.
    let refused = "4401 authentication failed";
    assert_eq!(hello(&server, "lenina-5-2", &other).await?, refused);
    assert_eq!(hello(&server, "lenina-5-2", &plain).await?, refused);
    assert_eq!(
        hello(&server, "lenina-5-2", "vct_not-a-token").await?,
        refused
    );
    // Nor for a device the tenant does not have.
    assert_eq!(hello(&server, "no-such-panel", &fleet).await?, refused);

    // The fleet token is no key to the API; the plain one is.
    api.expect(
        &Auth::Bearer(fleet.clone()),
        "GET",
        "/api/devices",
        None,
        401,
    )
    .await?;
    api.expect(&Auth::Bearer(plain), "GET", "/api/devices", None, 200)
        .await?;
    server.stop().await
}
