//! The MQTT payloads are a contract (docs/events.md): every event kind keeps its bytes.
//!
//! `tests/fixtures/mqtt_payloads.jsonl` holds what a real broker (Debian's mosquitto)
//! delivered for every kind, recorded from the server before its events became typed
//! (`VCHAT_RECORD_MQTT_SAMPLE=1` records it again). Two promises are checked:
//! - each recorded payload, read as the server's event type and written again, comes
//!   out byte for byte as it was recorded;
//! - the same scenario run against today's server publishes the same payloads, once
//!   the values that differ from run to run (ids, times, durations) are masked.
//!
//! The scenario makes every kind happen: link delivery over SMSC, Telegram and a custom
//! connector (stand-ins checking requests as the providers document them), a recorded
//! call with webrtc-rs media that goes quiet and comes back, chat, a file, positions
//! with and without an address, scheduled, expired and cancelled interactions, a call
//! without media whose recording fails, and a call a restart closes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::api::{Api, Auth, Org, signal_join};
use vchat_tests::{RtcClient, TestServer, VideoCodec, stream_media};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mqtt_payloads.jsonl");

/// Every kind the server publishes (docs/events.md).
const KINDS: &[&str] = &[
    "interaction.created",
    "interaction.updated",
    "interaction.waiting",
    "interaction.connected",
    "interaction.ended",
    "interaction.expired",
    "interaction.failed",
    "interaction.cancelled",
    "link.opened",
    "consent.given",
    "client.checked",
    "client.state",
    "participant.joined",
    "participant.left",
    "media.inactive",
    "media.active",
    "chat.message",
    "file.uploaded",
    "geo.position",
    "geo.address",
    "delivery.queued",
    "delivery.skipped",
    "delivery.retrying",
    "delivery.sent",
    "delivery.delivered",
    "delivery.failed",
    "recording.started",
    "recording.ready",
    "recording.failed",
    "cdr.written",
    "survey.answered",
];

#[test]
fn recorded_payloads_come_out_of_the_event_type_byte_for_byte() {
    let sample = std::fs::read_to_string(SAMPLE).expect("the recorded sample");
    let mut kinds = BTreeSet::new();
    for (n, line) in sample.lines().enumerate() {
        let event: vchat_control::model::Event =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        let again = serde_json::to_string(&event).expect("events serialize");
        assert_eq!(again, line, "line {} changed", n + 1);
        let kind: Value = serde_json::from_str(line).unwrap();
        kinds.insert(kind["kind"].as_str().unwrap().to_string());
    }
    let missing: Vec<_> = KINDS.iter().filter(|k| !kinds.contains(**k)).collect();
    assert!(missing.is_empty(), "the sample lacks {missing:?}");
    println!(
        "{} recorded payloads of {} kinds round-trip byte for byte",
        sample.lines().count(),
        kinds.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_publishes_the_recorded_payloads() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let published = run_scenario().await?;
    let record = std::env::var("VCHAT_RECORD_MQTT_SAMPLE").is_ok_and(|v| v == "1");
    if record {
        let mut text = published.join("\n");
        text.push('\n');
        std::fs::write(SAMPLE, text)?;
        println!("recorded {} payloads into {SAMPLE}", published.len());
        return Ok(());
    }
    let recorded = std::fs::read_to_string(SAMPLE).context("the recorded sample")?;
    let shapes = |lines: &mut dyn Iterator<Item = &str>| -> BTreeMap<String, BTreeSet<String>> {
        let mut by_kind: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in lines {
            let v: Value = serde_json::from_str(line).expect("JSON payload");
            let kind = v["kind"].as_str().unwrap_or_default().to_string();
            by_kind
                .entry(kind)
                .or_default()
                .insert(masked(&v).to_string());
        }
        by_kind
    };
    let before = shapes(&mut recorded.lines());
    let now = shapes(&mut published.iter().map(String::as_str));
    for kind in KINDS {
        assert_eq!(
            now.get(*kind),
            before.get(*kind),
            "{kind}: today's payloads (left) differ from the recorded ones (right)"
        );
    }
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    println!(
        "{} payloads of {} kinds published as recorded",
        published.len(),
        now.len()
    );
    Ok(())
}

/// A payload with the values that change from run to run replaced by their kind.
fn masked(v: &Value) -> Value {
    fn walk(v: &Value, key: &str, numbers_vary: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), walk(v, k, numbers_vary)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| walk(v, key, numbers_vary)).collect()),
            Value::String(s) if is_id(s) => json!("<id>"),
            Value::String(s) if s.strip_prefix("agent-").is_some_and(is_id_lower) => {
                json!("agent-<id>")
            }
            Value::String(s) if key == "reason" && s.contains("127.0.0.1:") => {
                json!("<reason naming a local address>")
            }
            Value::Number(n) if n.is_f64() => json!("<number>"),
            Value::Number(n)
                if numbers_vary || n.as_i64().is_some_and(|n| n > 1_000_000_000_000) =>
            {
                json!("<number>")
            }
            Value::Number(_) if key == "quiet_secs" => json!("<number>"),
            other => other.clone(),
        }
    }
    // Recording sizes and lengths, and CDR times, depend on how the run went.
    let kind = v["kind"].as_str().unwrap_or_default();
    walk(v, "", matches!(kind, "recording.ready" | "cdr.written"))
}

fn is_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn is_id_lower(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

// ---- the providers' stand-ins ----------------------------------------------------

const SMSC_LOGIN: &str = "vchat-test";
const SMSC_PASSWORD: &str = "smsc-secret-password";
const BOT_TOKEN: &str = "123456:telegram-secret-token";
/// SMSC answers this number with 429 once, then accepts.
const BUSY_PHONE: &str = "+79990000001";
/// SMSC refuses this number (documented error 7: cannot deliver to it).
const BAD_PHONE: &str = "+79990000002";

#[derive(Default)]
struct Seen {
    sms: HashMap<String, u32>,
}

async fn smsc_send(
    State(seen): State<Arc<Mutex<Seen>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    assert_eq!(form.get("login").map(String::as_str), Some(SMSC_LOGIN));
    assert_eq!(form.get("psw").map(String::as_str), Some(SMSC_PASSWORD));
    assert_eq!(form.get("fmt").map(String::as_str), Some("3"));
    let phones = form.get("phones").cloned().unwrap_or_default();
    let n = {
        let mut s = seen.lock().unwrap();
        let n = s.sms.entry(phones.clone()).or_default();
        *n += 1;
        *n
    };
    if phones == BUSY_PHONE.trim_start_matches('+') && n == 1 {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "busy").into_response();
        r.headers_mut().insert("retry-after", 1.into());
        return r;
    }
    if phones == BAD_PHONE.trim_start_matches('+') {
        return Json(json!({ "error": "documented error 7", "error_code": 7 })).into_response();
    }
    Json(json!({ "id": 42, "cnt": 1 })).into_response()
}

async fn telegram_send(Json(body): Json<Value>) -> Response {
    assert!(body["text"].as_str().unwrap_or_default().contains("/j/"));
    Json(json!({ "ok": true, "result": { "message_id": 777, "chat": { "id": body["chat_id"] } } }))
        .into_response()
}

async fn reverse(Query(q): Query<HashMap<String, String>>) -> Response {
    let lat: f64 = q["lat"].parse().unwrap();
    if lat < -80.0 {
        return Json(json!({ "error": "Unable to geocode" })).into_response();
    }
    if lat < -70.0 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    Json(json!({
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
        "display_name": "Red Square, Moscow",
        "address": { "road": "Red Square", "city": "Moscow", "country": "Russia" },
    }))
    .into_response()
}

async fn stand_ins() -> anyhow::Result<String> {
    let app = axum::Router::new()
        .route("/sys/send.php", axum::routing::post(smsc_send))
        .route("/{bot}/sendMessage", axum::routing::post(telegram_send))
        .route("/reverse", axum::routing::get(reverse))
        .with_state(Arc::new(Mutex::new(Seen::default())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

// ---- the broker --------------------------------------------------------------------

/// A `mosquitto_sub` on `vchat/#`, once it is subscribed; and the broker it listens
/// to, if this test had to start one.
struct Subscriber {
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    _sub: tokio::process::Child,
    _broker: Option<(tokio::process::Child, tempfile::TempDir)>,
}

impl Subscriber {
    async fn start() -> anyhow::Result<Subscriber> {
        let (port, broker) = match std::env::var("VCHAT_TEST_MQTT_PORT") {
            Ok(port) => (port.parse()?, None),
            Err(_) => {
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
                    .context("mosquitto is not installed")?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                (port, Some((child, dir)))
            }
        };
        let port_s = port.to_string();
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
            .context("mosquitto_sub (mosquitto-clients)")?;
        let mut lines = BufReader::new(sub.stdout.take().context("stdout")?).lines();
        let probe = format!("vchat/probe-{}/ready", std::process::id());
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let _ = tokio::process::Command::new("mosquitto_pub")
                    .args(["-h", "127.0.0.1", "-p", &port_s, "-t", &probe, "-m", "{}"])
                    .status()
                    .await;
                if let Ok(Ok(Some(line))) =
                    tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
                    && line.starts_with(&probe)
                {
                    return;
                }
            }
        })
        .await
        .context("mosquitto_sub never subscribed")?;
        // Read all along, so the pipe never fills while the scenario runs.
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let into = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                into.lock().unwrap().push(line);
            }
        });
        Ok(Subscriber {
            lines: seen,
            port,
            _sub: sub,
            _broker: broker,
        })
    }

    /// Payloads of `tenants`, once nothing more has come for `quiet`.
    async fn drain(&mut self, tenants: &[String], quiet: Duration) -> Vec<String> {
        let mut count = usize::MAX;
        while count != self.lines.lock().unwrap().len() {
            count = self.lines.lock().unwrap().len();
            tokio::time::sleep(quiet).await;
        }
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter_map(|line| line.split_once(' '))
            .filter(|(topic, _)| {
                tenants
                    .iter()
                    .any(|t| topic.starts_with(&format!("vchat/{t}/")))
            })
            .map(|(_, payload)| payload.to_string())
            .collect()
    }
}

// ---- the scenario ------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

async fn events(api: &Api, auth: &Auth, id: &str) -> anyhow::Result<Vec<Value>> {
    let e = api
        .expect(
            auth,
            "GET",
            &format!("/api/interactions/{id}/events"),
            None,
            200,
        )
        .await?;
    Ok(e.as_array().cloned().unwrap_or_default())
}

async fn wait_kind(api: &Api, auth: &Auth, id: &str, kind: &str, n: usize) -> anyhow::Result<()> {
    for _ in 0..150 {
        let count = events(api, auth, id)
            .await?
            .iter()
            .filter(|e| e["kind"] == kind)
            .count();
        if count >= n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "{id}: no {kind} (x{n}) in 15 s: {:?}",
        events(api, auth, id).await?
    )
}

async fn post(
    api: &Api,
    auth: &Auth,
    path: &str,
    body: Value,
    status: u16,
) -> anyhow::Result<Value> {
    api.expect(auth, "POST", path, Some(&body), status).await
}

/// Runs the scenario; every payload the broker delivered for its tenants.
async fn run_scenario() -> anyhow::Result<Vec<String>> {
    let mut sub = Subscriber::start().await?;
    let providers = stand_ins().await?;
    let url = format!("mqtt://127.0.0.1:{}", sub.port);
    let client_id = format!("vchat-sample-{}", std::process::id());
    let mut server = TestServer::start_with(&[
        ("VCHAT_EVENTS_MQTT_URL", &url),
        ("VCHAT_EVENTS_MQTT_CLIENT_ID", &client_id),
        ("VCHAT_PUBLIC_URL", "https://vchat.example.com"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_DELIVERY_SMSC_BASE_URL", &providers),
        ("VCHAT_DELIVERY_SMSC_LOGIN", SMSC_LOGIN),
        ("VCHAT_DELIVERY_SMSC_PASSWORD", SMSC_PASSWORD),
        ("VCHAT_DELIVERY_TELEGRAM_BASE_URL", &providers),
        ("VCHAT_DELIVERY_TELEGRAM_BOT_TOKEN", BOT_TOKEN),
        ("VCHAT_DELIVERY_BACKOFF_MS", "50"),
        ("VCHAT_DELIVERY_MAX_BACKOFF_MS", "1000"),
        ("VCHAT_DELIVERY_MAX_ATTEMPTS", "2"),
        ("VCHAT_GEO_NOMINATIM_URL", &providers),
        ("VCHAT_GEO_MIN_INTERVAL_MS", "0"),
        ("VCHAT_INTERACTIONS_MEDIA_INACTIVE_SECS", "1"),
        ("VCHAT_INTERACTIONS_LINK_TTL_SECS", "3"),
        ("VCHAT_INTERACTIONS_CDR_GRACE_MS", "200"),
        ("VCHAT_RECORDINGS_MERGE_GRACE_MS", "200"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let tenants = vec![org.tenants["A"].clone(), org.tenants["A1"].clone()];
    let agent = org.as_("agentA");
    let admin = org.as_("adminA");

    // 1. A recorded call with media: delivery (skip, retry, send), link, joins, chat,
    //    a file, a position with an address, a quiet spell, a change, the end.
    let call = api
        .open_call(
            agent,
            &json!({ "client": { "name": "Sample", "phone": BUSY_PHONE }, "fields": { "case": "S-1" } }),
        )
        .await?;
    let id = call.id.clone();
    post(
        &api,
        agent,
        &format!("/api/interactions/{id}/send"),
        json!({ "channels": ["telegram", "sms"] }),
        202,
    )
    .await?;
    wait_kind(&api, agent, &id, "delivery.sent", 1).await?;
    let client_auth = Auth::Bearer(call.client_token.clone());
    post(
        &api,
        &client_auth,
        &format!("/api/interactions/{id}/client-check"),
        json!({ "camera": "granted", "microphone": "granted", "cameras": 2, "front_camera": true, "back_camera": true, "mic_level": 0.25, "audio_output": true, "network": null }),
        204,
    )
    .await?;
    post(
        &api,
        &client_auth,
        &format!("/api/interactions/{id}/client-state"),
        json!({ "state": "connecting" }),
        204,
    )
    .await?;
    let client = RtcClient::join(&server, &call.client_token, "client", VideoCodec::Vp8).await?;
    let agent_rtc = RtcClient::join(&server, &call.staff_token, "agent", VideoCodec::Vp8).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream_media(&[&client, &agent_rtc], 0, 60).await?;
    post(
        &api,
        agent,
        &format!("/api/interactions/{id}/messages"),
        json!({ "text": "hello" }),
        201,
    )
    .await?;
    let upload = reqwest::Client::new()
        .post(format!(
            "{}/api/interactions/{id}/files?name=photo.jpg",
            server.base
        ))
        .bearer_auth(&call.client_token)
        .header("content-type", "image/jpeg")
        .body(vec![7u8; 1234])
        .send()
        .await?;
    assert_eq!(upload.status(), 201);
    post(
        &api,
        &client_auth,
        &format!("/api/interactions/{id}/geo"),
        json!({ "lat": 55.7539, "lon": 37.6208, "accuracy": 12.5 }),
        201,
    )
    .await?;
    wait_kind(&api, agent, &id, "geo.address", 1).await?;
    // Quiet: the agent goes on, the client stops for two seconds.
    for round in 0..100u16 {
        agent_rtc.send_rtp(60 + round).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_kind(&api, agent, &id, "media.inactive", 1).await?;
    stream_media(&[&client, &agent_rtc], 160, 30).await?;
    wait_kind(&api, agent, &id, "media.active", 1).await?;
    api.expect(
        agent,
        "PATCH",
        &format!("/api/interactions/{id}"),
        Some(&json!({ "fields": { "case": "S-2" }, "max_quality": "medium" })),
        200,
    )
    .await?;
    stream_media(&[&client, &agent_rtc], 190, 50).await?;
    post(
        &api,
        agent,
        &format!("/api/interactions/{id}/end"),
        json!({ "reason": "done" }),
        200,
    )
    .await?;
    let _ = client.close().await;
    let _ = agent_rtc.close().await;
    wait_kind(&api, agent, &id, "recording.ready", 1).await?;
    wait_kind(&api, agent, &id, "cdr.written", 1).await?;
    post(
        &api,
        &client_auth,
        &format!("/api/interactions/{id}/survey"),
        json!({ "score": 5, "comment": "Quick and clear" }),
        204,
    )
    .await?;
    wait_kind(&api, agent, &id, "survey.answered", 1).await?;

    // 2. A call without media: Telegram, a connector's delivered, positions without an
    //    address; its recording fails.
    let (i2, token2) = api
        .open_link(
            agent,
            &json!({ "client": { "name": "Quiet", "telegram_chat": "123456789" } }),
        )
        .await?;
    let id2 = i2["id"].as_str().unwrap().to_string();
    post(
        &api,
        agent,
        &format!("/api/interactions/{id2}/send"),
        json!({ "channels": ["telegram"] }),
        202,
    )
    .await?;
    wait_kind(&api, agent, &id2, "delivery.sent", 1).await?;
    let c = post(
        &api,
        admin,
        "/api/connectors",
        json!({ "name": "whatsapp" }),
        201,
    )
    .await?;
    let ws_url = format!(
        "{}/api/connectors/ws",
        server.base.replace("http://", "ws://")
    );
    let (mut conn, _) = tokio_tungstenite::connect_async(&ws_url).await?;
    conn.send(Message::text(
        json!({ "type": "hello", "token": c["token"], "key": c["key"] }).to_string(),
    ))
    .await?;
    let welcome = conn.next().await.context("welcome")??;
    assert!(welcome.to_text()?.contains("welcome"), "{welcome:?}");
    post(
        &api,
        agent,
        &format!("/api/interactions/{id2}/send"),
        json!({ "channels": ["connector:whatsapp"] }),
        202,
    )
    .await?;
    let task: Value = loop {
        if let Message::Text(t) = conn.next().await.context("task")?? {
            break serde_json::from_str(&t)?;
        }
    };
    conn.send(Message::text(
        json!({ "type": "result", "task": task["task"], "status": "delivered", "id": "wa-1" })
            .to_string(),
    ))
    .await?;
    wait_kind(&api, agent, &id2, "delivery.delivered", 1).await?;
    let client_ws = signal_join(&server.base, &token2).await?;
    wait_kind(&api, agent, &id2, "interaction.connected", 1).await?;
    let auth2 = Auth::Bearer(token2.clone());
    post(
        &api,
        &auth2,
        &format!("/api/interactions/{id2}/geo"),
        json!({ "lat": -85.0, "lon": 10.0, "accuracy": 30.0 }),
        201,
    )
    .await?;
    wait_kind(&api, agent, &id2, "geo.address", 1).await?;
    post(
        &api,
        &auth2,
        &format!("/api/interactions/{id2}/geo"),
        json!({ "lat": -75.0, "lon": 10.0, "accuracy": 30.0, "at": now_ms() - 5000 }),
        201,
    )
    .await?;
    wait_kind(&api, agent, &id2, "geo.address", 2).await?;
    post(
        &api,
        agent,
        &format!("/api/interactions/{id2}/end"),
        json!({}),
        200,
    )
    .await?;
    drop(client_ws);
    wait_kind(&api, agent, &id2, "recording.failed", 1).await?;

    // 3. Cancelled, with a delivery that fails on its only channel.
    let i3 = post(
        &api,
        agent,
        "/api/interactions",
        json!({ "client": { "phone": BAD_PHONE } }),
        201,
    )
    .await?;
    let id3 = i3["id"].as_str().unwrap().to_string();
    post(
        &api,
        agent,
        &format!("/api/interactions/{id3}/send"),
        json!({ "channels": ["sms"] }),
        202,
    )
    .await?;
    for _ in 0..100 {
        let done = events(&api, agent, &id3)
            .await?
            .iter()
            .any(|e| e["kind"] == "delivery.failed" && e["data"]["final"] == true);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    post(
        &api,
        agent,
        &format!("/api/interactions/{id3}/cancel"),
        json!({ "reason": "not needed" }),
        200,
    )
    .await?;

    // 4. Scheduled: waits at its time, expires unanswered (the link lives 3 s).
    let at = now_ms() + 1500;
    let i4 = post(&api, agent, "/api/interactions", json!({ "client": { "name": "Later" }, "scheduled_at": at, "recording": false, "video": "one_way" }), 201).await?;
    let id4 = i4["id"].as_str().unwrap().to_string();
    wait_kind(&api, agent, &id4, "interaction.expired", 1).await?;

    // 5. A connected call a restart closes (a branch's, by its supervisor for an agent).
    let i5 = post(&api, org.as_("supA1"), "/api/interactions", json!({ "client": { "name": "Restart" }, "recording": false, "agent": org.users["agentA1"] }), 201).await?;
    let id5 = i5["id"].as_str().unwrap().to_string();
    let opened = api
        .consent(i5["link"].as_str().unwrap(), &Auth::None)
        .await?;
    let ws5 = signal_join(&server.base, opened["token"].as_str().unwrap()).await?;
    let sup = org.as_("supA1");
    wait_kind(&api, sup, &id5, "interaction.connected", 1).await?;
    tokio::time::sleep(Duration::from_millis(1200)).await; // one heartbeat after the connect
    drop(ws5);
    server.restart().await?;
    let api = Api::new(&server.base);
    wait_kind(&api, sup, &id5, "interaction.failed", 1).await?;
    wait_kind(&api, sup, &id5, "cdr.written", 1).await?;

    let published = sub.drain(&tenants, Duration::from_secs(2)).await;
    server.stop().await?;
    let kinds: BTreeSet<String> = published
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|v| v["kind"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<_> = KINDS.iter().filter(|k| !kinds.contains(**k)).collect();
    anyhow::ensure!(missing.is_empty(), "the scenario published no {missing:?}");
    Ok(published)
}
