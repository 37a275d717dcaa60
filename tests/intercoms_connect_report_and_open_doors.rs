//! Door panels on `GET /intercom` (docs/intercom.md): an admin adds one and gets its
//! secret once; the device logs in with it (a wrong one closes with 4401), reports
//! status and log lines that the devices API shows, rings, answers and hangs up with
//! the `rtc_*` metrics moving by exactly one each, opens a door on an agent's command,
//! gets an error frame for a bad frame and stays, is replaced by its own newer
//! connection (4409, a reconnect) and is closed when removed.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Org};
use vchat_tests::panel::{add_device, connect, next_close, next_json, send};

/// Every `rtc_*` and intercom sample of `/metrics`, by series.
async fn metrics(server: &TestServer) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("rtc_") || l.starts_with("vchat_intercom_"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect())
}

/// Waits until `check` holds for the device as the API lists it.
async fn device_until(
    api: &Api,
    org: &Org,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    for _ in 0..100 {
        let d = api
            .expect(
                org.as_("supA"),
                "GET",
                &format!("/api/devices/{id}"),
                None,
                200,
            )
            .await?;
        if check(&d) {
            return Ok(d);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the device never got there")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intercom_connects_reports_rings_and_opens_the_door() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start().await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;

    // Exported at 0 from start-up.
    let start = metrics(&server).await?;
    for name in [
        "rtc_intercom_status_info",
        "rtc_intercom_reconnects_total",
        "rtc_started_sip_calls",
        "rtc_speak_sip_calls",
        "rtc_failed_sip_calls",
        "rtc_sip_calls_duration_count",
        "rtc_started_analog_calls",
        "rtc_speak_analog_calls",
        "rtc_failed_analog_calls",
        "rtc_analog_calls_duration_count",
        "rtc_started_cluster_calls",
        "rtc_speak_cluster_calls",
        "rtc_failed_cluster_calls",
        "rtc_cluster_call_duration_count",
        "vchat_intercom_refused_total{reason=\"auth_failed\"}",
    ] {
        assert_eq!(start.get(name), Some(&0.0), "{name} at start-up: {start:?}");
    }

    // An admin adds the device; agents may not; ids are unique.
    let added = add_device(&api, &org, "lenina-5-2", "Lenina 5, entrance 2").await?;
    let (id, secret) = (
        added["id"].as_str().unwrap().to_owned(),
        added["secret"].as_str().unwrap().to_owned(),
    );
    api.expect(
        org.as_("agentA"),
        "POST",
        "/api/devices",
        Some(&json!({"device": "x"})),
        403,
    )
    .await?;
    let dup = api
        .call(
            org.as_("adminB"),
            "POST",
            "/api/devices",
            Some(&json!({"device": "lenina-5-2"})),
        )
        .await?;
    assert_eq!(dup.status, 409, "{}", dup.json);
    let bad = api
        .call(
            org.as_("adminA"),
            "POST",
            "/api/devices",
            Some(&json!({"device": "no spaces"})),
        )
        .await?;
    assert_eq!(bad.status, 400, "{}", bad.json);
    api.expect(
        org.as_("supB"),
        "GET",
        &format!("/api/devices/{id}"),
        None,
        404,
    )
    .await?;

    // A wrong secret closes with 4401, and is counted.
    let mut wrong = connect(&server).await?;
    wrong
        .send(vchat_tests::panel::hello(
            "lenina-5-2",
            "not-the-secret",
            &["PCMA", "PCMU"],
        ))
        .await?;
    assert_eq!(
        next_close(&mut wrong).await?,
        (4401, "authentication failed".into())
    );

    // The right one is welcomed with the device's first codec.
    let mut door = connect(&server).await?;
    door.send(vchat_tests::panel::hello(
        "lenina-5-2",
        &secret,
        &["PCMA", "PCMU"],
    ))
    .await?;
    let welcome = next_json(&mut door).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["codec"], "PCMA");
    assert_eq!(welcome["ping_secs"], 15);
    send(&mut door, json!({"type": "status", "online": true, "door": "closed", "sip": "registered", "temperature": -4.5, "lte_rssi": -71})).await?;
    for i in 0..3 {
        send(&mut door, json!({"type": "log", "level": "warn", "text": format!("relay {i} bounce"), "at": "2026-12-06T10:00:00Z"})).await?;
    }
    send(
        &mut door,
        json!({"type": "log", "level": "info", "text": "SIP registered"}),
    )
    .await?;
    let d = device_until(&api, &org, &id, |d| d["status"]["lte_rssi"] == -71).await?;
    assert_eq!(d["online"], true);
    assert_eq!(
        (d["firmware"].as_str(), d["model"].as_str()),
        (Some("4.2.0"), Some("AV-07T"))
    );
    assert_eq!(d["status"]["temperature"], -4.5);
    assert_eq!(d["codecs"], json!(["PCMA", "PCMU"]));
    let mut texts = Vec::new();
    for _ in 0..100 {
        let logs = api
            .expect(
                org.as_("supA"),
                "GET",
                &format!("/api/devices/{id}/logs?q=BOUNCE"),
                None,
                200,
            )
            .await?;
        texts = logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["text"].as_str().unwrap().to_owned())
            .collect();
        if texts.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        texts,
        ["relay 2 bounce", "relay 1 bounce", "relay 0 bounce"],
        "newest first, searched"
    );

    // A bad frame gets an error frame; the session stays.
    send(&mut door, json!({"type": "teleport"})).await?;
    let err = next_json(&mut door).await?;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("bad_message")),
        "{err}"
    );
    door.send(Message::binary(vec![
        0x10, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9,
    ]))
    .await?;
    let err = next_json(&mut door).await?;
    assert_eq!(err["code"], "bad_audio", "{err}");

    // An agent opens the door: the device gets open_door and answers door_state.
    let opener = {
        let (api, auth, path) = (
            Api::new(&server.base),
            org.as_("agentA").clone(),
            format!("/api/devices/{id}/commands"),
        );
        tokio::spawn(async move {
            api.call(&auth, "POST", &path, Some(&json!({"type": "open_door"})))
                .await
        })
    };
    let open = next_json(&mut door).await?;
    assert_eq!(
        (open["type"].as_str(), open["relay"].as_u64()),
        (Some("open_door"), Some(1)),
        "{open}"
    );
    send(
        &mut door,
        json!({"type": "door_state", "relay": 1, "state": "open", "id": open["id"]}),
    )
    .await?;
    let answer = opener.await??;
    assert_eq!(
        (answer.status, answer.json.clone()),
        (200, json!({"ok": true, "door": "open"}))
    );
    api.expect(
        org.as_("agentA"),
        "POST",
        &format!("/api/devices/{id}/commands"),
        Some(&json!({"type": "reboot"})),
        403,
    )
    .await?;

    // Calls: a SIP call rings, is answered at the device, talks, and the caller hangs up.
    send(
        &mut door,
        json!({"type": "ring", "call": 1, "kind": "sip", "flat": "42"}),
    )
    .await?;
    // The ring rings the tenant's agents (tests/intercom_rings_reach_agents_…).
    assert_eq!(next_json(&mut door).await?["type"], "ringing");
    send(&mut door, json!({"type": "answered", "call": 1})).await?;
    let mut frame = vec![0x11, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1];
    frame.extend([0xd5u8; 160]);
    door.send(Message::binary(frame)).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(
        &mut door,
        json!({"type": "hangup", "call": 1, "reason": "caller"}),
    )
    .await?;
    // An analog call rings, then the device's connection drops: a failed call.
    send(
        &mut door,
        json!({"type": "ring", "call": 2, "kind": "analog", "flat": "7"}),
    )
    .await?;
    assert_eq!(next_json(&mut door).await?["type"], "ringing");
    send(&mut door, json!({"type": "ping", "id": "sync"})).await?;
    assert_eq!(
        next_json(&mut door).await?,
        json!({"type": "pong", "id": "sync"})
    );
    drop(door);
    device_until(&api, &org, &id, |d| d["online"] == false).await?;

    // It comes back (a reconnect), and a newer connection of it replaces that one.
    let mut again = connect(&server).await?;
    again
        .send(vchat_tests::panel::hello(
            "lenina-5-2",
            &secret,
            &["PCMA", "PCMU"],
        ))
        .await?;
    assert_eq!(next_json(&mut again).await?["type"], "welcome");
    let mut newer = connect(&server).await?;
    newer
        .send(vchat_tests::panel::hello(
            "lenina-5-2",
            &secret,
            &["PCMA", "PCMU"],
        ))
        .await?;
    assert_eq!(next_json(&mut newer).await?["type"], "welcome");
    assert_eq!(next_close(&mut again).await?.0, 4409);
    let d = device_until(&api, &org, &id, |d| d["connections"] == 3).await?;
    assert_eq!(
        (d["online"].as_bool(), d["reconnects"].as_u64()),
        (Some(true), Some(2))
    );

    let m = metrics(&server).await?;
    let moved =
        |name: &str| m.get(name).copied().unwrap_or(-1.0) - start.get(name).copied().unwrap_or(0.0);
    for (name, by) in [
        ("rtc_intercom_status_info", 1.0),
        ("rtc_intercom_reconnects_total", 2.0),
        ("rtc_started_sip_calls", 1.0),
        ("rtc_speak_sip_calls", 1.0),
        ("rtc_failed_sip_calls", 0.0),
        ("rtc_sip_calls_duration_count", 1.0),
        ("rtc_started_analog_calls", 1.0),
        ("rtc_speak_analog_calls", 0.0),
        ("rtc_failed_analog_calls", 1.0),
        ("rtc_analog_calls_duration_count", 0.0),
        ("rtc_started_cluster_calls", 0.0),
        ("vchat_intercom_refused_total{reason=\"auth_failed\"}", 1.0),
        ("vchat_intercom_refused_total{reason=\"bad_message\"}", 1.0),
        ("vchat_intercom_refused_total{reason=\"bad_audio\"}", 1.0),
    ] {
        assert_eq!(moved(name), by, "{name}");
    }
    assert!(
        m["rtc_sip_calls_duration_sum"] >= 1.0,
        "the SIP call talked for over a second"
    );

    // Offline devices cannot take commands; a removed device is closed.
    api.expect(
        org.as_("adminA"),
        "DELETE",
        &format!("/api/devices/{id}"),
        None,
        204,
    )
    .await?;
    assert_eq!(
        next_close(&mut newer).await?,
        (4401, "this device was removed".into())
    );
    api.expect(
        org.as_("adminA"),
        "GET",
        &format!("/api/devices/{id}"),
        None,
        404,
    )
    .await?;
    let gone = api
        .call(
            org.as_("adminA"),
            "POST",
            "/api/devices",
            Some(&json!({"device": "spare"})),
        )
        .await?;
    let spare = gone.json["id"].as_str().unwrap();
    let offline = api
        .call(
            org.as_("agentA"),
            "POST",
            &format!("/api/devices/{spare}/commands"),
            Some(&json!({"type": "open_door", "relay": 2})),
        )
        .await?;
    assert_eq!(offline.status, 409);
    assert!(
        offline.json.to_string().contains("offline"),
        "{}",
        offline.json
    );
    server.stop().await
}
