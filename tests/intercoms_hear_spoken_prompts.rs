//! Spoken prompts to intercoms (issue 18): `POST /api/devices/{id}/commands` with
//! `{"type": "say", "text": …}` has vchat synthesize the text through Yandex
//! SpeechKit's v1 API — here a local stand-in that checks each request as SpeechKit
//! documents it (Api-Key auth, a URL-encoded form of text, lang, voice, format=lpcm,
//! sampleRateHertz, folderId) and answers a 440 Hz tone — and stream it to the panel as
//! 20 ms frames in the panel's codec at its own rate. The same text is synthesized
//! once; a busy SpeechKit (429) is retried; a refusal is said with SpeechKit's reason.
//! An Opus panel hears the prompt as 20 ms Opus packets of the 48 kHz synthesis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth};

const KEY: &str = "AQVN-test-api-key";
const FOLDER: &str = "b1g-test-folder";

#[derive(Default)]
struct StandIn {
    requests: AtomicU64,
    busy_once: std::sync::atomic::AtomicBool,
}

/// SpeechKit v1 `tts:synthesize`, as its documentation describes the request.
async fn synthesize(
    axum::extract::State(s): axum::extract::State<Arc<StandIn>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let error = |status: StatusCode, code: &str, message: &str| {
        (
            status,
            axum::Json(json!({"error_code": code, "error_message": message})),
        )
            .into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Api-Key {KEY}"))
    {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unknown api key");
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "form expected");
    }
    let form: std::collections::HashMap<String, String> = match serde_urlencoded::from_str(&body) {
        Ok(f) => f,
        Err(_) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "bad form"),
    };
    let field = |k: &str| form.get(k).map(String::as_str);
    let text = field("text").unwrap_or("");
    if text.is_empty() || text.chars().count() > 5000 {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "text is 1 to 5000 characters",
        );
    }
    if field("lang") != Some("ru-RU")
        || field("voice") != Some("alena")
        || field("format") != Some("lpcm")
        || field("folderId") != Some(FOLDER)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("unexpected fields {form:?}"),
        );
    }
    let Some(rate) = field("sampleRateHertz")
        .and_then(|r| r.parse::<u32>().ok())
        .filter(|r| [8000, 16000, 48000].contains(r))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "sampleRateHertz is 8000, 16000 or 48000",
        );
    };
    if text == "busy" && !s.busy_once.swap(true, Ordering::SeqCst) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "try later",
        );
    }
    if text == "refuse" {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Too long text for synthesis",
        );
    }
    // 0.6 s of a 440 Hz tone, raw s16le mono: what format=lpcm answers.
    let n = rate as usize * 6 / 10;
    let pcm: Vec<u8> = (0..n)
        .flat_map(|i| {
            ((12_000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin())
                as i16)
                .to_le_bytes()
        })
        .collect();
    pcm.into_response()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The strongest frequency of `pcm` (8 kHz) between 100 and 3,000 Hz, in 10 Hz steps.
fn dominant(pcm: &[f32]) -> f64 {
    dominant_at(pcm, 8000.0)
}

/// The same at `rate`.
fn dominant_at(pcm: &[f32], rate: f64) -> f64 {
    (10..300)
        .map(|f| f as f64 * 10.0)
        .max_by(|&a, &b| {
            power(pcm, a, rate)
                .partial_cmp(&power(pcm, b, rate))
                .unwrap()
        })
        .unwrap()
}

fn power(pcm: &[f32], f: f64, rate: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &v) in pcm.iter().enumerate() {
        let p = 2.0 * std::f64::consts::PI * f * i as f64 / rate;
        re += v as f64 * p.cos();
        im += v as f64 * p.sin();
    }
    re * re + im * im
}

/// Answers the next `play` with `result`, then collects audio frames until 300 ms
/// pass without one: (the play message, the frames, when the first and last came).
async fn hear(door: &mut Socket) -> anyhow::Result<(Value, Vec<Vec<u8>>, Duration)> {
    let play = loop {
        match tokio::time::timeout(Duration::from_secs(10), door.next())
            .await?
            .context("ended")??
        {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "play" {
                    break v;
                }
            }
            Message::Binary(_) => anyhow::bail!("audio before play"),
            _ => {}
        }
    };
    door.send(Message::text(
        json!({"type": "result", "id": play["id"], "ok": true}).to_string(),
    ))
    .await?;
    let mut frames = Vec::new();
    let (mut first, mut last) = (None, Instant::now());
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(300), door.next()).await
    {
        if let Message::Binary(b) = frame? {
            first.get_or_insert_with(Instant::now);
            last = Instant::now();
            frames.push(b.to_vec());
        }
    }
    Ok((play, frames, first.map_or(Duration::ZERO, |f| last - f)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_is_spoken_to_the_panel_in_its_codec() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let stand_in = Arc::new(StandIn::default());
    let app = axum::Router::new()
        .route("/speech/v1/tts:synthesize", axum::routing::post(synthesize))
        .with_state(stand_in.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start_with(&[
        ("VCHAT_SPEECH_YANDEX_URL", url.as_str()),
        ("VCHAT_SPEECH_API_KEY", KEY),
        ("VCHAT_SPEECH_FOLDER_ID", FOLDER),
    ])
    .await?;
    let api = Api::new(&server.base);
    let boot = Auth::Bearer(server.api_token.clone());
    let d = api
        .expect(
            &boot,
            "POST",
            "/api/devices",
            Some(&json!({"device": "gate-1"})),
            201,
        )
        .await?;
    let id = d["id"].as_str().unwrap().to_owned();
    let (mut door, _) =
        tokio_tungstenite::connect_async(format!("{}/intercom", server.base.replace("http", "ws")))
            .await?;
    door.send(Message::text(
        json!({"type": "hello", "version": 1, "device": "gate-1", "secret": d["secret"], "firmware": "1", "model": "m", "codecs": ["PCMU"]})
            .to_string(),
    ))
    .await?;
    let welcome = door.next().await.context("welcome")??;
    assert!(welcome.to_text()?.contains("\"welcome\""), "{welcome:?}");

    let path = format!("/api/devices/{id}/commands");
    // A command sent while the test plays the panel; its answer comes when it does.
    let command = |body: Value| {
        let (api, auth, path) = (Api::new(&server.base), boot.clone(), path.clone());
        tokio::spawn(async move { api.call(&auth, "POST", &path, Some(&body)).await })
    };
    let say = |text: &str| command(json!({"type": "say", "text": text}));

    let answer = say("Дверь открыта");
    let (play, frames, spread) = hear(&mut door).await?;
    assert_eq!(
        (play["text"].as_str(), play.get("prompt")),
        (Some("Дверь открыта"), None),
        "{play}"
    );
    let reply = answer.await??;
    assert_eq!(
        (reply.status, reply.json.clone()),
        (200, json!({"ok": true}))
    );
    // 0.6 s at 8 kHz is 30 frames of 160 µ-law bytes, paced 20 ms apart.
    assert_eq!(frames.len(), 30);
    let mut pcm = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let (h, payload) =
            vchat_intercom::frame::AudioHeader::parse(f).map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(
            (h.codec, h.call, h.ts, payload.len()),
            (vchat_intercom::frame::Codec::Pcmu, 0, i as u32 * 160, 160)
        );
        assert_eq!(
            h.flags & 1 == 1,
            i == 0,
            "the talk-spurt flag on the first frame only"
        );
        pcm.extend(
            payload
                .iter()
                .map(|&c| vchat_intercom::g711::ulaw_to_linear(c) as f32 / 32768.0),
        );
    }
    assert!(
        spread >= Duration::from_millis(500),
        "frames came over {spread:?}, not at once"
    );
    let f = dominant(&pcm);
    assert!((430.0..=450.0).contains(&f), "the panel hears {f} Hz");
    assert_eq!(stand_in.requests.load(Ordering::SeqCst), 1);

    // The same text again: from the cache.
    let again = say("Дверь открыта");
    let (_, frames, _) = hear(&mut door).await?;
    assert_eq!((again.await??.status, frames.len()), (200, 30));
    assert_eq!(
        stand_in.requests.load(Ordering::SeqCst),
        1,
        "synthesized once"
    );

    // A busy SpeechKit is retried; a refusal is said with its reason.
    let busy = say("busy");
    let (_, frames, _) = hear(&mut door).await?;
    assert_eq!((busy.await??.status, frames.len()), (200, 30));
    assert_eq!(
        stand_in.requests.load(Ordering::SeqCst),
        3,
        "one 429, then the retry"
    );
    let refused = say("refuse").await??;
    assert_eq!(refused.status, 409);
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap_or("")
            .contains("Too long text for synthesis"),
        "{}",
        refused.json
    );

    // A prompt the panel has: no synthesis, no audio. An empty text: refused.
    let prompt = command(json!({"type": "play", "prompt": "door_open"}));
    let (play, frames, _) = hear(&mut door).await?;
    assert_eq!(
        (play["prompt"].as_str(), frames.len()),
        (Some("door_open"), 0)
    );
    assert_eq!(prompt.await??.status, 200);
    let empty = api
        .call(
            &boot,
            "POST",
            &path,
            Some(&json!({"type": "say", "text": "  "})),
        )
        .await?;
    assert_eq!(empty.status, 400, "{}", empty.json);

    // An Opus panel hears it too: synthesized at 48 kHz, one Opus packet per 20 ms.
    let d2 = api
        .expect(
            &boot,
            "POST",
            "/api/devices",
            Some(&json!({"device": "gate-2"})),
            201,
        )
        .await?;
    let (mut opus_door, _) =
        tokio_tungstenite::connect_async(format!("{}/intercom", server.base.replace("http", "ws")))
            .await?;
    opus_door.send(Message::text(
        json!({"type": "hello", "version": 1, "device": "gate-2", "secret": d2["secret"], "firmware": "1", "model": "m", "codecs": ["opus"]})
            .to_string(),
    ))
    .await?;
    let welcome = opus_door.next().await.context("welcome")??;
    assert!(welcome.to_text()?.contains("\"opus\""), "{welcome:?}");
    let path2 = format!("/api/devices/{}/commands", d2["id"].as_str().unwrap());
    let spoken = {
        let (api, auth) = (Api::new(&server.base), boot.clone());
        tokio::spawn(async move {
            api.call(
                &auth,
                "POST",
                &path2,
                Some(&json!({"type": "say", "text": "Дверь открыта"})),
            )
            .await
        })
    };
    let (_, frames, _) = hear(&mut opus_door).await?;
    assert_eq!(spoken.await??.status, 200);
    assert_eq!(frames.len(), 30, "0.6 s in 20 ms packets");
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono)?;
    let mut pcm = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let (h, payload) =
            vchat_intercom::frame::AudioHeader::parse(f).map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(
            (h.codec, h.ts),
            (vchat_intercom::frame::Codec::Opus, i as u32 * 960)
        );
        let mut out = [0i16; 960];
        let n = decoder.decode(payload, &mut out, false)?;
        pcm.extend(out[..n].iter().map(|&s| s as f32 / 32768.0));
    }
    // Past the codec's start-up: the tone.
    let f = dominant_at(&pcm[4800..], 48_000.0);
    assert!((430.0..=450.0).contains(&f), "the Opus panel hears {f} Hz");
    server.stop().await
}
