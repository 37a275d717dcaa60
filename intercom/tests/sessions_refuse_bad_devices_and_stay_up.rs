//! A device session answers what the protocol promises: `welcome` after a good
//! `hello`, the documented close codes for what ends a session, an `error` frame for a
//! malformed frame (and the session stays), problems logged once a minute per kind,
//! floods closed after 5 s, silent devices pinged and then dropped.

use std::time::{Duration, Instant};

use vchat_intercom::frame::{AudioHeader, Codec};
use vchat_intercom::message::CallKind;
use vchat_intercom::session::{Event, Output, Problem, Session, close};

const HELLO: &str = r#"{"type":"hello","version":1,"device":"door-7","secret":"s3cret","firmware":"3.2.1","model":"AV-07","codecs":["PCMA","PCMU"]}"#;

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn texts(out: &[Output]) -> Vec<serde_json::Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Text(t) => Some(serde_json::from_str(t).unwrap()),
            _ => None,
        })
        .collect()
}

fn closed(out: &[Output]) -> Option<(u16, String)> {
    out.iter().find_map(|o| match o {
        Output::Close(c, r) => Some((*c, r.clone())),
        _ => None,
    })
}

/// A session through `hello` and `accept`, with its `welcome` drained.
fn open(now: Instant) -> Session {
    let mut s = Session::new(now, 15);
    s.handle_text(now, HELLO);
    let out = drain(&mut s);
    assert!(
        matches!(&out[..], [Output::Event(Event::Hello(h))] if h.device == "door-7" && h.secret.as_deref() == Some("s3cret"))
    );
    s.accept("sess-1");
    let welcome = texts(&drain(&mut s));
    assert_eq!(welcome[0]["type"], "welcome");
    assert_eq!(welcome[0]["codec"], "PCMA", "the device's first choice");
    assert_eq!(welcome[0]["ping_secs"], 15);
    s
}

fn audio(call: u32, seq: u16, codec: Codec, payload: usize) -> Vec<u8> {
    let mut f = Vec::new();
    AudioHeader {
        codec,
        flags: 0,
        seq,
        ts: seq as u32 * 160,
        call,
    }
    .write(&vec![0xd5; payload], &mut f);
    f
}

#[test]
fn a_good_hello_is_welcomed_and_a_bad_one_closed_with_its_code() {
    let t = Instant::now();
    open(t);

    let cases = [
        (
            r#"{"type":"status","online":true}"#,
            close::NOT_HELLO,
            "the first message must be hello",
        ),
        (
            "{",
            close::NOT_HELLO,
            "the first message must be hello: not JSON",
        ),
        (
            &HELLO.replace(r#""version":1"#, r#""version":2"#),
            close::UNSUPPORTED,
            "version 2 is not supported",
        ),
        (
            &HELLO.replace(r#"["PCMA","PCMU"]"#, r#"["G729"]"#),
            close::UNSUPPORTED,
            "no codec in common: G729",
        ),
    ];
    for (first, code, reason) in cases {
        let mut s = Session::new(t, 15);
        s.handle_text(t, first);
        let (c, r) = closed(&drain(&mut s)).unwrap_or_else(|| panic!("{first} closes"));
        assert_eq!(c, code, "{first}");
        assert!(r.contains(reason), "{first}: {r}");
        assert!(s.is_closed());
    }

    let mut s = Session::new(t, 15);
    s.handle_binary(t, &audio(1, 0, Codec::Pcmu, 160));
    assert_eq!(closed(&drain(&mut s)).unwrap().0, close::NOT_HELLO);

    let mut s = Session::new(t, 15);
    s.handle_text(t, HELLO);
    drain(&mut s);
    s.reject();
    assert_eq!(
        closed(&drain(&mut s)),
        Some((close::AUTH_FAILED, "authentication failed".into()))
    );

    let mut s = Session::new(t, 15);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(10)));
    s.handle_timeout(t + Duration::from_secs(9));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t + Duration::from_secs(10));
    assert_eq!(
        closed(&drain(&mut s)),
        Some((close::TIMEOUT, "no hello within 10 s".into()))
    );
}

#[test]
fn messages_sent_before_welcome_are_kept_for_it() {
    let t = Instant::now();
    let mut s = Session::new(t, 15);
    s.handle_text(t, HELLO);
    s.handle_text(t, r#"{"type":"status","online":true,"door":"closed"}"#);
    drain(&mut s);
    s.accept("sess");
    let out = drain(&mut s);
    assert_eq!(texts(&out)[0]["type"], "welcome");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::Message(_)))),
        "{out:?}"
    );
}

#[test]
fn calls_carry_audio_only_once_up_and_in_their_codec() {
    let t = Instant::now();
    let mut s = open(t);
    s.handle_text(t, r#"{"type":"ring","call":3,"kind":"analog","flat":"42"}"#);
    assert!(matches!(
        &drain(&mut s)[..],
        [Output::Event(Event::Message(_))]
    ));

    // Ringing, not up: refused as no_call.
    assert!(s.handle_binary(t, &audio(3, 1, Codec::Pcma, 160)).is_none());
    let out = drain(&mut s);
    assert_eq!(texts(&out)[0]["code"], "no_call");
    assert!(matches!(
        out[1],
        Output::Problem {
            kind: Problem::NoCall,
            log: Some(_)
        }
    ));

    assert!(s.answer(t + Duration::from_secs(4), 3, "Anna"));
    let out = drain(&mut s);
    assert_eq!(
        texts(&out)[0],
        serde_json::json!({"type":"answered","call":3,"by":"Anna"})
    );
    assert_eq!(
        out[1],
        Output::Event(Event::CallUp {
            call: 3,
            kind: CallKind::Analog
        })
    );
    let frame = audio(3, 2, Codec::Pcma, 160);
    let (h, payload) = s
        .handle_binary(t, &frame)
        .expect("audio of an up call passes");
    assert_eq!((h.call, h.seq, payload.len()), (3, 2, 160));
    assert!(drain(&mut s).is_empty(), "no output per audio frame");

    assert!(s.handle_binary(t, &audio(3, 3, Codec::Pcmu, 160)).is_none());
    let err = &texts(&drain(&mut s))[0];
    assert_eq!(err["code"], "bad_audio");
    assert_eq!(err["reason"], "call 3 carries PCMA, not PCMU");

    assert!(s.handle_binary(t, &audio(3, 4, Codec::Pcma, 100)).is_none());
    assert_eq!(
        texts(&drain(&mut s))[0]["reason"],
        "a PCMA payload of 100 bytes is not a multiple of 10 ms up to 60 ms"
    );

    s.handle_text(t, r#"{"type":"ring","call":3,"kind":"sip","flat":"1"}"#);
    assert!(
        texts(&drain(&mut s))[0]["reason"]
            .as_str()
            .unwrap()
            .contains("already up")
    );

    s.handle_text(
        t + Duration::from_secs(64),
        r#"{"type":"hangup","call":3,"reason":"caller"}"#,
    );
    assert_eq!(
        drain(&mut s),
        [Output::Event(Event::CallEnded {
            call: 3,
            kind: CallKind::Analog,
            reason: "caller".into(),
            rang: Duration::from_secs(4),
            talked: Some(Duration::from_secs(60)),
        })]
    );
    assert!(s.calls().is_empty());
}

#[test]
fn malformed_frames_get_errors_and_are_logged_once_a_minute() {
    let t = Instant::now();
    let mut s = open(t);
    let (mut errors, mut logged, mut counted) = (0, 0, 0);
    // 150 bad frames a second for 2 minutes: under the flood limit, so the session stays.
    for i in 0..18_000u64 {
        let now = t + Duration::from_micros(i * 6_667);
        if i % 2 == 0 {
            s.handle_text(now, r#"{"type":"sing"}"#);
        } else {
            s.handle_binary(now, &[0x90, 0, 0, 0]);
        }
        for o in drain(&mut s) {
            match o {
                Output::Text(text) if text.contains(r#""type":"error""#) => errors += 1,
                Output::Problem { log, .. } => {
                    counted += 1;
                    logged += log.is_some() as u32;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(!s.is_closed());
    assert_eq!(
        (errors, counted),
        (18_000, 18_000),
        "every bad frame answered and counted"
    );
    // Two kinds, logged at 0 s, 60 s and 120 s at most.
    assert!((4..=6).contains(&logged), "logged {logged} times");
}

#[test]
fn a_flood_closes_after_five_seconds_and_a_burst_does_not() {
    let t = Instant::now();
    let mut s = open(t);
    s.handle_text(t, r#"{"type":"ring","call":1,"kind":"sip","flat":"1"}"#);
    s.answer(t, 1, "A");
    drain(&mut s);
    // A 3 s burst of 400 frames a second, then normal traffic: stays.
    let mut at = 0u64;
    for i in 0..1200u32 {
        at = i as u64 * 2_500;
        s.handle_binary(
            t + Duration::from_micros(at),
            &audio(1, i as u16, Codec::Pcma, 160),
        );
    }
    for i in 0..500u32 {
        at += 20_000;
        s.handle_binary(
            t + Duration::from_micros(at),
            &audio(1, i as u16, Codec::Pcma, 160),
        );
    }
    assert!(closed(&drain(&mut s)).is_none());
    // 500 frames a second, sustained: closed with 1008 within the sixth second.
    let start = at;
    for i in 0..4000u32 {
        at = start + i as u64 * 2_000;
        s.handle_binary(
            t + Duration::from_micros(at),
            &audio(1, i as u16, Codec::Pcma, 160),
        );
        if s.is_closed() {
            break;
        }
    }
    let (code, reason) = closed(&drain(&mut s)).expect("a flood closes");
    assert_eq!(code, close::FLOOD, "{reason}");
    let after = (at - start) as f64 / 1e6;
    assert!((5.0..=6.5).contains(&after), "closed after {after:.1} s");
}

#[test]
fn a_silent_device_is_pinged_then_dropped_and_pings_are_answered() {
    let t = Instant::now();
    let mut s = open(t);
    s.handle_text(t, r#"{"type":"ping","id":"p1"}"#);
    assert_eq!(
        texts(&drain(&mut s))[0],
        serde_json::json!({"type":"pong","id":"p1"})
    );
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(15)));
    s.handle_timeout(t + Duration::from_secs(15));
    assert_eq!(texts(&drain(&mut s))[0]["type"], "ping");
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(45)));
    s.handle_timeout(t + Duration::from_secs(44));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t + Duration::from_secs(45));
    assert_eq!(
        closed(&drain(&mut s)),
        Some((close::TIMEOUT, "nothing heard for 45 s".into()))
    );
}

#[test]
fn a_replaced_or_stopped_session_ends_its_calls() {
    let t = Instant::now();
    let mut s = open(t);
    s.handle_text(
        t,
        r#"{"type":"ring","call":9,"kind":"cluster","address":"block 2"}"#,
    );
    drain(&mut s);
    s.replaced();
    let out = drain(&mut s);
    assert!(matches!(
        &out[0],
        Output::Event(Event::CallEnded { call: 9, kind: CallKind::Cluster, reason, talked: None, .. })
            if reason == "replaced"
    ));
    assert_eq!(closed(&out).unwrap().0, close::REPLACED);
    s.handle_text(t, r#"{"type":"ping"}"#);
    assert!(drain(&mut s).is_empty(), "nothing after close");

    let mut s = open(t);
    s.shutdown();
    assert_eq!(closed(&drain(&mut s)).unwrap().0, close::GOING_AWAY);
}
