//! Link delivery against local stand-ins of SMSC and the Telegram Bot API that check
//! each request as the providers document it and answer with their documented bodies:
//! success, every SMSC error code, 429 with a retry-after, fallback to the next
//! channel; and a custom connector process that logs in, gets tasks and reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org};

const SMSC_LOGIN: &str = "vchat-test";
const SMSC_PASSWORD: &str = "smsc-secret-password";
const BOT_TOKEN: &str = "123456:telegram-secret-token";

/// What the stand-ins saw and how they answer.
#[derive(Default)]
struct Providers {
    sms: Vec<HashMap<String, String>>,
    telegram: Vec<Value>,
    /// Answers still to give per phone / chat (front first); empty: success.
    script: HashMap<String, Vec<Scripted>>,
}

#[derive(Clone)]
enum Scripted {
    SmscError(i64),
    Http(u16, Option<u64>),
    Telegram(u16, &'static str, Option<u64>),
}

type Shared = Arc<Mutex<Providers>>;

async fn smsc_send(
    State(p): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    // Checked as SMSC documents send.php.
    assert_eq!(
        headers["content-type"], "application/x-www-form-urlencoded",
        "SMSC takes a form"
    );
    assert_eq!(form.get("login").map(String::as_str), Some(SMSC_LOGIN));
    assert_eq!(form.get("psw").map(String::as_str), Some(SMSC_PASSWORD));
    assert_eq!(
        form.get("fmt").map(String::as_str),
        Some("3"),
        "JSON answers"
    );
    assert_eq!(form.get("charset").map(String::as_str), Some("utf-8"));
    let phones = form.get("phones").cloned().unwrap_or_default();
    assert!(
        phones.bytes().all(|b| b.is_ascii_digit()) && phones.len() >= 10,
        "{phones}"
    );
    let mes = form.get("mes").cloned().unwrap_or_default();
    assert!(mes.contains("/j/") && mes.chars().count() <= 1000, "{mes}");
    let next = {
        let mut p = p.lock().unwrap();
        p.sms.push(form.clone());
        p.script
            .get_mut(&phones)
            .and_then(|s| (!s.is_empty()).then(|| s.remove(0)))
    };
    match next {
        None => Json(json!({ "id": 42, "cnt": 1 })).into_response(),
        Some(Scripted::SmscError(code)) => {
            Json(json!({ "error": format!("documented error {code}"), "error_code": code }))
                .into_response()
        }
        Some(Scripted::Http(status, retry)) => {
            let mut r = (StatusCode::from_u16(status).unwrap(), "busy").into_response();
            if let Some(s) = retry {
                r.headers_mut().insert("retry-after", s.into());
            }
            r
        }
        Some(Scripted::Telegram(..)) => unreachable!(),
    }
}

async fn telegram_send(
    State(p): State<Shared>,
    Path(bot): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    // Checked as the Bot API documents sendMessage.
    assert_eq!(bot, format!("bot{BOT_TOKEN}"));
    assert!(
        body["chat_id"].is_i64() || body["chat_id"].is_string(),
        "{body}"
    );
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("/j/"), "{body}");
    let button = &body["reply_markup"]["inline_keyboard"][0][0];
    assert!(
        button["url"]
            .as_str()
            .unwrap()
            .starts_with("https://vchat.example.com/j/"),
        "{body}"
    );
    // The tenant's language (Russian by default) picks the template and the button.
    assert_eq!(button["text"], "Подключиться к видеозвонку");
    let chat = body["chat_id"].to_string();
    let next = {
        let mut p = p.lock().unwrap();
        p.telegram.push(body.clone());
        p.script
            .get_mut(&chat)
            .and_then(|s| (!s.is_empty()).then(|| s.remove(0)))
    };
    match next {
        None => Json(json!({ "ok": true, "result": { "message_id": 777, "chat": { "id": body["chat_id"] }, "text": text } })).into_response(),
        Some(Scripted::Telegram(code, description, retry_after)) => {
            let mut answer = json!({ "ok": false, "error_code": code, "description": description });
            if let Some(s) = retry_after {
                answer["parameters"] = json!({ "retry_after": s });
            }
            (StatusCode::from_u16(code).unwrap(), Json(answer)).into_response()
        }
        Some(_) => unreachable!(),
    }
}

async fn stand_ins() -> anyhow::Result<(String, Shared)> {
    let shared: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/sys/send.php", axum::routing::post(smsc_send))
        .route("/{bot}/sendMessage", axum::routing::post(telegram_send))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, shared))
}

/// The delivery events of an interaction, once its delivery has finished.
async fn delivery(api: &Api, auth: &Auth, id: &str) -> anyhow::Result<Vec<Value>> {
    for _ in 0..100 {
        let events = api
            .expect(
                auth,
                "GET",
                &format!("/api/interactions/{id}/events"),
                None,
                200,
            )
            .await?;
        let d: Vec<Value> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("delivery."))
            .cloned()
            .collect();
        let done = d.iter().any(|e| {
            e["kind"] == "delivery.sent"
                || e["kind"] == "delivery.delivered"
                || (e["kind"] == "delivery.failed" && e["data"]["final"] == true)
        });
        if done {
            return Ok(d);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("delivery of {id} did not finish")
}

fn steps(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["kind"].as_str().unwrap().trim_start_matches("delivery."),
                e["data"]["channel"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_go_out_by_sms_telegram_and_connectors_with_retries_and_fallback()
-> anyhow::Result<()> {
    vchat_tests::init_logging();
    let (providers, seen) = stand_ins().await?;
    let server = TestServer::start_with(&[
        ("VCHAT_PUBLIC_URL", "https://vchat.example.com"),
        ("VCHAT_DELIVERY_SMSC_BASE_URL", &providers),
        ("VCHAT_DELIVERY_SMSC_LOGIN", SMSC_LOGIN),
        ("VCHAT_DELIVERY_SMSC_PASSWORD", SMSC_PASSWORD),
        ("VCHAT_DELIVERY_TELEGRAM_BASE_URL", &providers),
        ("VCHAT_DELIVERY_TELEGRAM_BOT_TOKEN", BOT_TOKEN),
        ("VCHAT_DELIVERY_BACKOFF_MS", "50"),
        ("VCHAT_DELIVERY_MAX_BACKOFF_MS", "1500"),
        ("VCHAT_DELIVERY_CONNECTOR_TIMEOUT_SECS", "3"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let create = |client: Value| {
        let api = api.clone();
        let agent = agent.clone();
        async move {
            let i = api
                .expect(
                    &agent,
                    "POST",
                    "/api/interactions",
                    Some(&json!({ "client": client })),
                    201,
                )
                .await?;
            anyhow::Ok(i["id"].as_str().unwrap().to_string())
        }
    };
    let send = |id: String, channels: Option<Value>| {
        let api = api.clone();
        let agent = agent.clone();
        async move {
            let body = channels.map(|c| json!({ "channels": c }));
            let r = api
                .expect(
                    &agent,
                    "POST",
                    &format!("/api/interactions/{id}/send"),
                    body.as_ref(),
                    202,
                )
                .await?;
            anyhow::Ok(r)
        }
    };

    // 1. SMS, first try.
    let id = create(json!({ "name": "Ivan", "phone": "+79990000001" })).await?;
    send(id.clone(), Some(json!(["sms"]))).await?;
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(steps(&d), ["queued:-", "sent:sms"]);
    assert_eq!(d[1]["data"]["provider_id"], "42");
    let form = seen.lock().unwrap().sms.last().cloned().unwrap();
    assert_eq!(form["phones"], "79990000001");
    assert!(
        form["mes"].starts_with("Company A: ссылка на видеозвонок https://vchat.example.com/j/"),
        "{}",
        form["mes"]
    );

    // 2. Every documented SMSC error: 4 and 9 are retried (then succeed), the others
    //    end the channel with the documented reason.
    for code in 1..=9i64 {
        let phone = format!("+7999000010{code}");
        seen.lock()
            .unwrap()
            .script
            .insert(phone[1..].to_string(), vec![Scripted::SmscError(code)]);
        let id = create(json!({ "name": "E", "phone": phone })).await?;
        send(id.clone(), Some(json!(["sms"]))).await?;
        let d = delivery(&api, agent, &id).await?;
        if code == 4 || code == 9 {
            assert_eq!(
                steps(&d),
                ["queued:-", "retrying:sms", "sent:sms"],
                "code {code}"
            );
            assert!(
                d[1]["data"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("error {code}:")),
                "{}",
                d[1]
            );
        } else {
            assert_eq!(
                steps(&d),
                ["queued:-", "failed:sms", "failed:-"],
                "code {code}"
            );
            let reason = d[1]["data"]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with(&format!("SMSC error {code}: ")),
                "{reason}"
            );
            assert_eq!(d[2]["data"]["final"], true);
        }
    }

    // 3. 429 with Retry-After (SMSC over HTTP) and Telegram's retry_after: the wait
    //    the provider asked for is kept.
    seen.lock().unwrap().script.insert(
        "79990000201".into(),
        vec![Scripted::Http(429, Some(1)), Scripted::Http(503, None)],
    );
    let id = create(json!({ "name": "R", "phone": "+79990000201" })).await?;
    send(id.clone(), Some(json!(["sms"]))).await?;
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(
        steps(&d),
        ["queued:-", "retrying:sms", "retrying:sms", "sent:sms"]
    );
    assert_eq!(d[1]["data"]["wait_ms"], 1000, "Retry-After: 1");
    assert_eq!(
        d[2]["data"]["wait_ms"], 100,
        "backoff doubled after the first retry"
    );
    seen.lock().unwrap().script.insert(
        "1429".into(),
        vec![Scripted::Telegram(
            429,
            "Too Many Requests: retry after 1",
            Some(1),
        )],
    );
    let id = create(json!({ "name": "T", "telegram_chat": "1429" })).await?;
    send(id.clone(), Some(json!(["telegram"]))).await?;
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(
        steps(&d),
        ["queued:-", "retrying:telegram", "sent:telegram"]
    );
    assert_eq!(d[1]["data"]["wait_ms"], 1000);
    assert_eq!(d[2]["data"]["provider_id"], "777");

    // 4. Fallback: SMS refuses the number, Telegram delivers (the tenant's chain).
    api.expect(
        org.as_("adminA"),
        "PATCH",
        &format!("/api/tenants/{}", org.tenants["A"]),
        Some(&json!({ "delivery_chain": ["sms", "telegram"] })),
        200,
    )
    .await?;
    seen.lock()
        .unwrap()
        .script
        .insert("79990000307".into(), vec![Scripted::SmscError(7)]);
    let id =
        create(json!({ "name": "F", "phone": "+79990000307", "telegram_chat": "1001" })).await?;
    let started = send(id.clone(), None).await?;
    assert_eq!(started["channels"], json!(["sms", "telegram"]));
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(steps(&d), ["queued:-", "failed:sms", "sent:telegram"]);
    // Blocked bot: final for Telegram.
    seen.lock().unwrap().script.insert(
        "1403".into(),
        vec![Scripted::Telegram(
            403,
            "Forbidden: bot was blocked by the user",
            None,
        )],
    );
    let id = create(json!({ "name": "B", "telegram_chat": "1403" })).await?;
    send(id.clone(), None).await?;
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(
        steps(&d),
        ["queued:-", "skipped:sms", "failed:telegram", "failed:-"]
    );
    assert!(
        d[2]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("bot was blocked")
    );

    // 5. A custom connector: logs in, gets the task, reports delivered.
    let admin = org.as_("adminA");
    let c = api
        .expect(
            admin,
            "POST",
            "/api/connectors",
            Some(&json!({ "name": "whatsapp" })),
            201,
        )
        .await?;
    let ws_url = format!(
        "{}/api/connectors/ws",
        server.base.replace("http://", "ws://")
    );
    // A wrong key is refused with a reason.
    let (mut bad, _) = tokio_tungstenite::connect_async(&ws_url).await?;
    bad.send(Message::text(
        json!({ "type": "hello", "token": c["token"], "key": "wrong" }).to_string(),
    ))
    .await?;
    match bad.next().await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 4401),
        other => panic!("expected close 4401, got {other:?}"),
    }
    let (mut conn, _) = tokio_tungstenite::connect_async(&ws_url).await?;
    conn.send(Message::text(
        json!({ "type": "hello", "token": c["token"], "key": c["key"] }).to_string(),
    ))
    .await?;
    let welcome: Value = match conn.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t)?,
        other => panic!("{other:?}"),
    };
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["name"], "whatsapp");
    let listed = api
        .expect(admin, "GET", "/api/connectors", None, 200)
        .await?;
    assert_eq!(listed[0]["connected"], true);
    // A branch's interaction uses its company's connector.
    let branch_agent = org.as_("agentA1");
    let i = api
        .expect(
            branch_agent,
            "POST",
            "/api/interactions",
            Some(&json!({ "client": { "name": "W", "phone": "+79990000401" } })),
            201,
        )
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    api.expect(
        branch_agent,
        "POST",
        &format!("/api/interactions/{id}/send"),
        Some(&json!({ "channels": ["connector:whatsapp"] })),
        202,
    )
    .await?;
    let task: Value = match tokio::time::timeout(Duration::from_secs(5), conn.next()).await? {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t)?,
        other => panic!("{other:?}"),
    };
    assert_eq!(task["type"], "task");
    assert_eq!(task["interaction"], id.as_str());
    assert_eq!(task["to"]["phone"], "+79990000401");
    assert!(
        task["link"]
            .as_str()
            .unwrap()
            .starts_with("https://vchat.example.com/j/")
    );
    // Junk gets an error message, not a crash; then the real result.
    conn.send(Message::text("{\"type\":\"result\"}")).await?;
    let err: Value = match conn.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t)?,
        other => panic!("{other:?}"),
    };
    assert_eq!(err["type"], "error");
    conn.send(Message::text(
        json!({ "type": "result", "task": task["task"], "status": "delivered", "id": "wa-1" })
            .to_string(),
    ))
    .await?;
    let d = delivery(&api, branch_agent, &id).await?;
    assert_eq!(steps(&d), ["queued:-", "delivered:connector:whatsapp"]);
    assert_eq!(d[1]["data"]["provider_id"], "wa-1");
    // Gone: the chain moves on.
    drop(conn);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = create(json!({ "name": "G", "phone": "+79990000501" })).await?;
    send(id.clone(), Some(json!(["connector:whatsapp", "sms"]))).await?;
    let d = delivery(&api, agent, &id).await?;
    assert_eq!(
        steps(&d),
        ["queued:-", "failed:connector:whatsapp", "sent:sms"]
    );
    assert!(
        d[1]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("not connected")
    );

    // Bad requests.
    for body in [
        json!({ "channels": ["pigeon"] }),
        json!({ "channels": [] }),
        json!({ "channels": "sms" }),
    ] {
        let r = api
            .call(
                agent,
                "POST",
                &format!("/api/interactions/{id}/send"),
                Some(&body),
            )
            .await?;
        assert_eq!(r.status, 400, "{body}");
    }
    // Secrets never reach the history.
    let all = api
        .expect(
            org.as_("supA"),
            "GET",
            "/api/interactions?limit=200",
            None,
            200,
        )
        .await?;
    for i in all["items"].as_array().unwrap() {
        let events = api
            .expect(
                org.as_("supA"),
                "GET",
                &format!("/api/interactions/{}/events", i["id"].as_str().unwrap()),
                None,
                200,
            )
            .await?;
        let text = events.to_string();
        assert!(!text.contains(SMSC_PASSWORD) && !text.contains(BOT_TOKEN));
    }
    let (sms, tg) = {
        let p = seen.lock().unwrap();
        (p.sms.len(), p.telegram.len())
    };
    println!("stand-ins saw {sms} SMSC requests and {tg} Telegram requests");
    server.stop().await
}
