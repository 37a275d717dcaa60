//! Bad door panels (docs/intercom.md, issue 18 item 4): malformed frames, audio in a
//! wrong codec or for no call, a flood, a storm of wrong secrets from one address and a
//! reconnect storm of one device — the node stays up, a good panel's call and commands
//! go on meanwhile, and each case is counted in `vchat_intercom_refused_total`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth};
use vchat_tests::panel::{Socket, connect, next_close, next_json};

async fn refused(server: &TestServer, reason: &str) -> anyhow::Result<f64> {
    server
        .metric(&format!(
            "vchat_intercom_refused_total{{reason=\"{reason}\"}}"
        ))
        .await
}

fn pcmu(call: u32, seq: u16) -> Message {
    let mut f = vec![0x10, 0x00];
    f.extend(seq.to_be_bytes());
    f.extend((seq as u32 * 160).to_be_bytes());
    f.extend(call.to_be_bytes());
    f.extend([0xffu8; 160]);
    Message::binary(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_panels_are_refused_and_counted_while_a_good_one_talks() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start().await?;
    let api = Api::new(&server.base);
    let boot = Auth::Bearer(server.api_token.clone());
    let mut secrets = std::collections::HashMap::new();
    let mut ids = std::collections::HashMap::new();
    for device in ["good", "noisy", "flood", "storm"] {
        let d = api
            .expect(
                &boot,
                "POST",
                "/api/devices",
                Some(&json!({"device": device})),
                201,
            )
            .await?;
        secrets.insert(device, d["secret"].as_str().unwrap().to_owned());
        ids.insert(device, d["id"].as_str().unwrap().to_owned());
    }

    // The good panel rings, answers and streams 20 ms frames throughout.
    let mut good = vchat_tests::panel::login(&server, "good", &secrets["good"], &["PCMU"]).await?;
    good.send(Message::text(
        json!({"type": "ring", "call": 1, "kind": "sip", "flat": "3"}).to_string(),
    ))
    .await?;
    good.send(Message::text(
        json!({"type": "answered", "call": 1}).to_string(),
    ))
    .await?;
    let good_task = tokio::spawn(async move {
        let mut seq = 0u16;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let until = Instant::now() + Duration::from_secs(9);
        while Instant::now() < until {
            tick.tick().await;
            good.send(pcmu(1, seq)).await?;
            seq += 1;
        }
        // Still answered: a ping comes back.
        good.send(Message::text(
            json!({"type": "ping", "id": "alive"}).to_string(),
        ))
        .await?;
        // The ring's `ringing` came first.
        let mut pong = next_json(&mut good).await?;
        if pong["type"] == "ringing" {
            pong = next_json(&mut good).await?;
        }
        anyhow::ensure!(pong == json!({"type": "pong", "id": "alive"}), "{pong}");
        good.send(Message::text(
            json!({"type": "hangup", "call": 1, "reason": "caller"}).to_string(),
        ))
        .await?;
        anyhow::Ok((good, seq))
    });

    // Malformed and misdirected frames: one error frame each, the session stays.
    let mut noisy =
        vchat_tests::panel::login(&server, "noisy", &secrets["noisy"], &["PCMU"]).await?;
    let bad_texts = [
        "not json",
        "[]",
        r#"{"type":"x"}"#,
        r#"{"type":"ring","call":"one"}"#,
        r#"{"type":"status","door":5}"#,
    ];
    for text in bad_texts {
        noisy.send(Message::text(text)).await?;
        assert_eq!(
            next_json(&mut noisy).await?["code"],
            "bad_message",
            "{text}"
        );
    }
    noisy.send(Message::binary(vec![0x77; 40])).await?;
    assert_eq!(next_json(&mut noisy).await?["code"], "bad_audio");
    noisy.send(pcmu(9, 0)).await?;
    assert_eq!(next_json(&mut noisy).await?["code"], "no_call");
    noisy
        .send(Message::text(
            json!({"type": "ring", "call": 4, "kind": "analog", "flat": "1"}).to_string(),
        ))
        .await?;
    assert_eq!(next_json(&mut noisy).await?["type"], "ringing");
    noisy
        .send(Message::text(
            json!({"type": "answered", "call": 4}).to_string(),
        ))
        .await?;
    let mut alaw = vec![0x11, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
    alaw.extend([0xd5; 160]);
    noisy.send(Message::binary(alaw)).await?;
    let wrong_codec = next_json(&mut noisy).await?;
    assert_eq!(
        (wrong_codec["code"].as_str(), wrong_codec["reason"].as_str()),
        (Some("bad_audio"), Some("call 4 carries PCMU, not PCMA"))
    );
    noisy
        .send(Message::text(
            json!({"type": "ping", "id": "still"}).to_string(),
        ))
        .await?;
    assert_eq!(
        next_json(&mut noisy).await?["id"],
        "still",
        "the noisy panel's session goes on"
    );

    // A frame over the limit closes with 1009.
    let mut big = vchat_tests::panel::login(&server, "noisy", &secrets["noisy"], &["PCMU"]).await?;
    big.send(Message::binary(vec![0x10; 20_000])).await?;
    assert_eq!(next_close_code(&mut big).await?, 1009);
    assert_eq!(
        next_close_code(&mut noisy).await?,
        4409,
        "the second login replaced the first"
    );

    // A flood: 600 frames a second is closed within the sixth second.
    let mut flood =
        vchat_tests::panel::login(&server, "flood", &secrets["flood"], &["PCMU"]).await?;
    let started = Instant::now();
    let closed = loop {
        for _ in 0..6 {
            if flood
                .send(Message::text(r#"{"type":"pong"}"#))
                .await
                .is_err()
            {
                break;
            }
        }
        tokio::select! {
            frame = flood.next() => match frame {
                Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
                Some(Ok(_)) => {}
                _ => break 0,
            },
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(12),
            "the flood was never closed"
        );
    };
    assert_eq!(closed, 1008);
    let took = started.elapsed().as_secs_f64();
    assert!((4.5..9.0).contains(&took), "closed after {took:.1} s");

    // Wrong secrets from one address: each is refused; past 10 a minute, at once.
    for _ in 0..15 {
        let mut s = connect(&server).await?;
        s.send(Message::text(
            json!({"type": "hello", "version": 1, "device": "storm", "secret": "guess",
                                     "firmware": "1", "model": "m", "codecs": ["PCMU"]})
            .to_string(),
        ))
        .await?;
        assert_eq!(next_close_code(&mut s).await?, 4401);
    }
    // The same address is refused even with the right secret until the minute passes.
    let mut s = connect(&server).await?;
    s.send(Message::text(
        json!({"type": "hello", "version": 1, "device": "storm", "secret": secrets["storm"],
                                 "firmware": "1", "model": "m", "codecs": ["PCMU"]})
        .to_string(),
    ))
    .await?;
    assert_eq!(next_close_code(&mut s).await?, 4401);

    let (good, sent) = good_task.await??;
    assert!(
        sent > 300,
        "the good panel streamed {sent} frames meanwhile"
    );
    assert_eq!(
        server
            .metric("vchat_intercom_refused_total{reason=\"auth_failed\"}")
            .await?,
        16.0
    );
    assert_eq!(
        refused(&server, "bad_message").await?,
        bad_texts.len() as f64
    );
    assert_eq!(refused(&server, "bad_audio").await?, 2.0);
    assert_eq!(refused(&server, "no_call").await?, 1.0);
    assert!(refused(&server, "flood").await? >= 5.0);
    assert_eq!(server.metric("rtc_speak_sip_calls").await?, 1.0);
    assert_eq!(server.metric("rtc_failed_sip_calls").await?, 0.0);
    // Still serving.
    api.expect(
        &boot,
        "GET",
        &format!("/api/devices/{}", ids["good"]),
        None,
        200,
    )
    .await?;
    drop(good);
    server.stop().await
}

async fn next_close_code(socket: &mut Socket) -> anyhow::Result<u16> {
    Ok(next_close(socket).await?.0)
}
