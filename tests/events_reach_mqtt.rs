//! Every event of a whole interaction reaches a real MQTT broker (Debian's mosquitto),
//! as `vchat/<tenant>/<kind>` at QoS 1, in the order the store's log has them — as
//! `mosquitto_sub` sees them.
//!
//! `.ci/test` starts the broker and names its port in `VCHAT_TEST_MQTT_PORT`; without
//! it, this test starts its own mosquitto.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Org, signal_join};

async fn broker() -> anyhow::Result<(u16, Option<(tokio::process::Child, tempfile::TempDir)>)> {
    if let Ok(port) = std::env::var("VCHAT_TEST_MQTT_PORT") {
        return Ok((port.parse()?, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )?;
    let child = tokio::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok((port, Some((child, dir))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sub_sees_a_whole_interaction_in_order() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let (port, _own_broker) = broker().await?;
    let port_s = port.to_string();

    // The subscriber: topic and payload per line.
    let mut sub = tokio::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-q",
            "1",
            "-v",
            "-t",
            "vchat/#",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("mosquitto_sub (apt-get install mosquitto-clients)")?;
    let mut lines = BufReader::new(sub.stdout.take().context("stdout")?).lines();
    // Wait until it is subscribed: it prints a probe we publish.
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let _ = tokio::process::Command::new("mosquitto_pub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port_s,
                    "-t",
                    "vchat/probe/ready",
                    "-m",
                    "{}",
                ])
                .status()
                .await;
            if let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
                && line.starts_with("vchat/probe/ready")
            {
                return;
            }
        }
    })
    .await;
    ready.context("mosquitto_sub never subscribed")?;

    let url = format!("mqtt://127.0.0.1:{port}");
    let client_id = format!("vchat-test-{}", std::process::id());
    let server = TestServer::start_with(&[
        ("VCHAT_EVENTS_MQTT_URL", &url),
        ("VCHAT_EVENTS_MQTT_CLIENT_ID", &client_id),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");

    // A whole interaction.
    let (i, client_token) = api
        .open_link(
            agent,
            &json!({ "client": { "name": "Mqtt" }, "recording": false }),
        )
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    let client_ws = signal_join(&server.base, &client_token).await?;
    let join = api
        .expect(
            agent,
            "POST",
            &format!("/api/interactions/{id}/join"),
            None,
            200,
        )
        .await?;
    let agent_ws = signal_join(&server.base, join["token"].as_str().unwrap()).await?;
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/messages"),
        Some(&json!({ "text": "hi" })),
        201,
    )
    .await?;
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?;
    drop((client_ws, agent_ws));

    // What the log holds, once both leaves are in.
    let mut logged = Vec::new();
    for _ in 0..50 {
        let events = api
            .expect(
                agent,
                "GET",
                &format!("/api/interactions/{id}/events"),
                None,
                200,
            )
            .await?;
        logged = events.as_array().unwrap().clone();
        if logged
            .iter()
            .filter(|e| e["kind"] == "participant.left")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logged.len() >= 9, "{logged:?}");

    // What the broker delivered, for this interaction.
    let tenant = org.tenants["A"].clone();
    let mut seen: Vec<(String, Value)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < logged.len() && tokio::time::Instant::now() < deadline {
        let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await
        else {
            continue;
        };
        let (topic, payload) = line.split_once(' ').context("topic and payload")?;
        let payload: Value = serde_json::from_str(payload)?;
        if payload["interaction"] == id.as_str() {
            seen.push((topic.to_string(), payload));
        }
    }
    let logged_ids: Vec<&str> = logged.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let seen_ids: Vec<&str> = seen
        .iter()
        .map(|(_, p)| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen_ids, logged_ids,
        "the broker saw every event, in the log's order"
    );
    for (topic, payload) in &seen {
        assert_eq!(
            *topic,
            format!("vchat/{tenant}/{}", payload["kind"].as_str().unwrap())
        );
    }
    let kinds: Vec<&str> = seen
        .iter()
        .map(|(_, p)| p["kind"].as_str().unwrap())
        .collect();
    println!(
        "mosquitto_sub saw {} events: {}",
        kinds.len(),
        kinds.join(", ")
    );
    assert_eq!(kinds[0], "interaction.created");
    assert!(kinds.contains(&"interaction.connected") && kinds.contains(&"interaction.ended"));
    server.stop().await
}
