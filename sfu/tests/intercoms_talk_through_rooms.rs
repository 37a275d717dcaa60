//! An intercom's call as a virtual participant of the engine: its G.711 passes
//! through to the browsers and theirs to it, byte for byte, with losses concealed both
//! ways and a mix only while two browsers speak at once; an L16 panel is transcoded to
//! and from the room's Opus at its own 16 kHz.

use std::time::Duration;

use str0m::format::Codec;
use str0m::media::MediaKind;
use vchat_intercom::g711::Law;
use vchat_sfu::bridge::BridgeCodec;
use vchat_sfu::bridge::link::LinkFrame;
use vchat_sfu::testkit::{Publish, TestNet};
use vchat_sfu::{Command, ParticipantId, RoomId, SessionId};

const PANEL: SessionId = SessionId(9_000);

/// 20 ms of a `hz` tone at 8 kHz in µ-law, its first byte the frame's number.
fn frame(hz: f64, n: u64) -> [u8; 160] {
    let mut pcm = [0i16; 160];
    for (i, s) in pcm.iter_mut().enumerate() {
        let t = (n * 160 + i as u64) as f64 / 8000.0;
        *s = (6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
    }
    let mut out = [0u8; 160];
    Law::Ulaw.encode(&pcm, &mut out);
    out[0] = n as u8;
    out
}

fn audio_only() -> Publish {
    Publish {
        audio: true,
        video: false,
        ..Publish::audio_video()
    }
}

/// A room with the panel in it, then `browsers` that publish audio, all connected.
fn room_with_panel(browsers: &[&str]) -> TestNet {
    room_with(BridgeCodec::G711(Law::Ulaw), browsers)
}

fn room_with(codec: BridgeCodec, browsers: &[&str]) -> TestNet {
    let mut net = TestNet::new();
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Bridge {
            session: PANEL,
            room: RoomId::new("door-1").unwrap(),
            participant: ParticipantId::new("intercom-d1").unwrap(),
            name: "Door 1".into(),
            codec,
        },
    );
    for b in browsers {
        net.join("door-1", b, audio_only());
    }
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    // Everyone's tracks negotiated (the panel's audio is an m-line of each browser).
    net.run_until(Duration::from_secs(2), |_| false);
    net
}

/// 20 ms of a call: the panel says its frame `n` (unless `panel_quiet`), the browser
/// its own, and the 20 ms pass; what reached the panel meanwhile.
fn talk(net: &mut TestNet, n: u64, panel_quiet: bool) -> Vec<LinkFrame> {
    let now = net.now;
    if !panel_quiet {
        net.engine.handle_bridge_frame(
            now,
            PANEL,
            &LinkFrame::new(n as u16, (n * 160) as u32, now, &frame(1000.0, n)),
        );
    }
    assert!(net.clients[0].send_rtp(false, &frame(400.0, n), now));
    let mut heard = Vec::new();
    for _ in 0..20 {
        net.progress(Duration::from_millis(1));
        heard.extend(to_device(net));
    }
    heard
}

fn to_device(net: &mut TestNet) -> Vec<LinkFrame> {
    let mut out = Vec::new();
    while let Some((session, frame)) = net.engine.poll_bridge_output() {
        assert_eq!(session, PANEL);
        out.push(frame);
    }
    out
}

#[test]
fn a_panel_and_a_browser_hear_each_other_in_g711_untouched() {
    let mut net = room_with_panel(&["agent"]);
    let mut heard = Vec::new();
    for n in 0..150u64 {
        heard.extend(talk(&mut net, n, false));
    }
    // The browser took PCMU (it offered Opus first): the room speaks the panel's law.
    let agent = &net.clients[0];
    let (_, got) = agent
        .received
        .iter()
        .find(|(mid, _)| {
            agent
                .rtc
                .media(**mid)
                .is_some_and(|m| m.kind() == MediaKind::Audio)
        })
        .expect("the panel's audio reached the browser");
    assert_eq!(got.codec, Some(Codec::PCMU));
    // Every frame after the jitter buffer's fill, in order, as the panel sent it.
    assert!(got.packets >= 145, "{} packets", got.packets);
    let first = got.log[0].3[0] as u64;
    for (i, (_, _, _, head, _)) in got.log.iter().enumerate() {
        assert_eq!(
            &head[..],
            &frame(1000.0, first + i as u64)[..24],
            "packet {i}"
        );
    }
    assert!(got.log[0].2, "a talk-spurt starts with the marker bit");
    // The panel heard the browser's packets as they were.
    assert!(heard.len() >= 145, "{} frames", heard.len());
    for (i, f) in heard.iter().enumerate() {
        assert_eq!(
            f.payload(),
            &frame(400.0, f.payload()[0] as u64)[..],
            "frame {i}"
        );
        assert_eq!(f.seq, i as u16);
    }
    let stats = net.engine.take_stats();
    assert_eq!(stats.bridges, 1);
    assert_eq!(stats.bridge.mixed, 0);
    assert_eq!(stats.bridge.concealed_in, 0);
    assert_eq!(stats.bridge.late, 0);
}

#[test]
fn lost_audio_is_made_up_both_ways() {
    let mut net = room_with_panel(&["agent"]);
    let mut heard = Vec::new();
    for n in 0..100u64 {
        let now = net.now;
        // The panel's frames 40 and 41 are lost on the way.
        if n != 40 && n != 41 {
            net.engine.handle_bridge_frame(
                now,
                PANEL,
                &LinkFrame::new(n as u16, (n * 160) as u32, now, &frame(1000.0, n)),
            );
        }
        // The browser's packet 60 is lost.
        if n == 60 {
            net.clients[0].lose_rtp(false, 1);
        } else {
            assert!(net.clients[0].send_rtp(false, &frame(400.0, n), now));
        }
        for _ in 0..20 {
            net.progress(Duration::from_millis(1));
            heard.extend(to_device(&mut net));
        }
    }
    let stats = net.engine.take_stats();
    assert_eq!(stats.bridge.concealed_in, 2, "{:?}", stats.bridge);
    assert_eq!(stats.bridge.concealed_out, 1, "{:?}", stats.bridge);
    // The browser got a continuous stream: no gap in its sequence numbers.
    let agent = &net.clients[0];
    let got = agent.received.values().next().expect("audio");
    for pair in got.log.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1);
    }
    // The panel got one frame per 20 ms, the made-up one in the lost one's place.
    assert_eq!(heard.len(), 100, "{} frames", heard.len());
    // Before the loss and after the join (which is smoothed) the frames are the
    // browser's own.
    assert_eq!(heard[59].payload(), frame(400.0, 59));
    assert_ne!(heard[60].payload(), frame(400.0, 60));
    assert_ne!(
        heard[61].payload(),
        frame(400.0, 61),
        "the join is smoothed"
    );
    assert_eq!(heard[62].payload(), frame(400.0, 62));
    // The made-up frame goes on with the tone: close to what was lost.
    let (mut made_up, mut lost) = ([0i16; 160], [0i16; 160]);
    Law::Ulaw.decode(heard[60].payload(), &mut made_up);
    Law::Ulaw.decode(&frame(400.0, 60), &mut lost);
    let err: f64 = made_up
        .iter()
        .zip(&lost)
        .skip(40)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum();
    let sig: f64 = lost.iter().skip(40).map(|a| f64::from(*a).powi(2)).sum();
    assert!(
        10.0 * (sig / err).log10() > 10.0,
        "SNR {:.1} dB",
        10.0 * (sig / err).log10()
    );
}

#[test]
fn a_recorded_call_taps_the_panel_with_its_pauses_in_place() {
    let mut net = room_with_panel(&["agent"]);
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("door-1").unwrap(),
            on: true,
        },
    );
    // A second of the panel's tone, a second of its silence (it sends nothing), a
    // second of tone again; the browser speaks throughout.
    for n in 0..150u64 {
        talk(&mut net, n, (50..100).contains(&n));
    }
    net.run_until(Duration::from_millis(1500), |_| false);
    let panel: Vec<_> = net
        .taps
        .iter()
        .filter(|b| b.participant.as_str() == "intercom-d1")
        .collect();
    assert!(!panel.is_empty(), "the panel's track is tapped");
    assert!(
        panel
            .iter()
            .all(|b| b.codec == "pcmu" && b.clock_rate == 8000 && b.mid == "intercom"),
        "{:?}",
        panel
            .iter()
            .map(|b| (&b.codec, b.clock_rate, &b.mid))
            .collect::<Vec<_>>()
    );
    let packets: Vec<_> = panel.iter().flat_map(|b| b.packets.iter()).collect();
    // One sequence, one packet per slot sent; the RTP time runs on through the
    // silence, so the recording puts the second talk-spurt a second after the first.
    for pair in packets.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    let jumps: Vec<u64> = packets
        .windows(2)
        .map(|p| p[1].rtp_ts - p[0].rtp_ts)
        .filter(|d| *d != 160)
        .collect();
    assert_eq!(jumps.len(), 1, "one pause: {jumps:?}");
    // (The second talk-spurt may start a few slots later than the first did: the
    // jitter buffer fills again before it plays.)
    let span = packets.last().unwrap().rtp_ts - packets[0].rtp_ts;
    let three_seconds = 149 * 160..=155 * 160;
    assert!(
        three_seconds.contains(&span),
        "{span} samples from the first packet to the last, for 3 s"
    );
    // What the panel said, as it said it (its first byte numbers the frame).
    let first = panel[0].payload(0)[0];
    assert_eq!(panel[0].payload(0), &frame(1000.0, u64::from(first))[..]);
    // The browser's PCMU is tapped too: the recorder decodes both.
    assert!(
        net.taps
            .iter()
            .any(|b| b.participant.as_str() == "agent" && b.codec == "pcmu")
    );
    // The browser's jitter buffer sees the same timing.
    let agent = &net.clients[0];
    let got = agent.received.values().next().expect("audio");
    let span = got.log.last().unwrap().1.wrapping_sub(got.log[0].1);
    assert!(
        three_seconds.contains(&u64::from(span)),
        "the browser: {span}"
    );
}

#[test]
fn two_browsers_speaking_reach_the_panel_as_one_mix() {
    let mut net = room_with_panel(&["agent", "concierge"]);
    let mut heard = Vec::new();
    for _ in 0..50 {
        let now = net.now;
        assert!(net.clients[0].send_rtp(false, &[Law::Ulaw.silence(); 160], now));
        // Silence from one and a constant from the other: the mix is their sum.
        assert!(net.clients[1].send_rtp(false, &[0x9f; 160], now));
        for _ in 0..20 {
            net.progress(Duration::from_millis(1));
            heard.extend(to_device(&mut net));
        }
    }
    let stats = net.engine.take_stats();
    assert!(stats.bridge.mixed >= 45, "{:?}", stats.bridge);
    // One frame per tick, not one per browser packet.
    assert!((48..=52).contains(&heard.len()), "{} frames", heard.len());
    let mut pcm = [0i16; 1];
    Law::Ulaw.decode(&[0x9f], &mut pcm);
    let mut want = [0u8; 1];
    Law::Ulaw.encode(&pcm, &mut want);
    let last = heard.last().expect("a frame");
    assert!(
        last.payload().iter().all(|b| *b == want[0]),
        "{:?}",
        &last.payload()[..8]
    );
    // Each browser hears the panel's room as ever: the other browser, in PCMU.
    for c in &net.clients {
        assert!(c.received.values().any(|r| r.codec == Some(Codec::PCMU)));
    }
}

/// The strongest frequency of `pcm` at `rate`, 100–4,000 Hz in 10 Hz steps.
fn dominant(pcm: &[i16], rate: f64) -> f64 {
    let mut best = (0.0, 0.0);
    for hz in (100..4000).step_by(10) {
        let hz = hz as f64;
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
        let (mut q1, mut q2) = (0f64, 0f64);
        for s in pcm {
            let q0 = coeff * q1 - q2 + f64::from(*s);
            q2 = q1;
            q1 = q0;
        }
        let power = q1 * q1 + q2 * q2 - coeff * q1 * q2;
        if power > best.1 {
            best = (hz, power);
        }
    }
    best.0
}

#[test]
fn an_l16_panel_is_transcoded_to_and_from_the_rooms_opus() {
    let mut net = room_with(BridgeCodec::L16 { complexity: 0 }, &["agent"]);
    let mut browser = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
        .expect("an encoder");
    let mut heard = Vec::new();
    let mut packet = [0u8; 1500];
    for n in 0..100u64 {
        let now = net.now;
        // The panel: 20 ms of 1 kHz at 16 kHz, little-endian.
        let mut l16 = Vec::with_capacity(640);
        for i in 0..320u64 {
            let t = (n * 320 + i) as f64 / 16_000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
            l16.extend_from_slice(&s.to_le_bytes());
        }
        net.engine.handle_bridge_frame(
            now,
            PANEL,
            &LinkFrame::new(n as u16, (n * 320) as u32, now, &l16),
        );
        // The browser: 20 ms of 440 Hz in Opus at 48 kHz.
        let pcm: Vec<i16> = (0..960u64)
            .map(|i| {
                let t = (n * 960 + i) as f64 / 48_000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        let len = browser.encode(&pcm, &mut packet).expect("encoded");
        assert!(net.clients[0].send_rtp(false, &packet[..len], now));
        for _ in 0..20 {
            net.progress(Duration::from_millis(1));
            heard.extend(to_device(&mut net));
        }
    }
    // The browser got Opus (the room was not put on G.711), one packet per slot.
    let agent = &net.clients[0];
    let (_, got) = agent
        .received
        .iter()
        .find(|(mid, _)| {
            agent
                .rtc
                .media(**mid)
                .is_some_and(|m| m.kind() == MediaKind::Audio)
        })
        .expect("the panel's audio reached the browser");
    assert_eq!(got.codec, Some(Codec::Opus));
    assert!(got.packets >= 95, "{} packets", got.packets);
    // ...that decodes to the panel's 1 kHz.
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("a decoder");
    let mut out = [0i16; 960];
    let n = decoder
        .decode(&got.last_payload, &mut out, false)
        .expect("the room's Opus decodes");
    assert_eq!(n, 960);
    let hz = dominant(&out, 48_000.0);
    assert!((hz - 1000.0).abs() <= 20.0, "the browser hears {hz} Hz");
    // The panel got L16 at 16 kHz, 20 ms a frame, of the browser's 440 Hz.
    assert!(heard.len() >= 95, "{} frames", heard.len());
    assert!(heard.iter().all(|f| f.payload().len() == 640));
    let pcm: Vec<i16> = heard[heard.len() - 10..]
        .iter()
        .flat_map(|f| {
            f.payload()
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>()
        })
        .collect();
    let hz = dominant(&pcm, 16_000.0);
    assert!((hz - 440.0).abs() <= 10.0, "the panel hears {hz} Hz");
    assert_eq!(net.engine.take_stats().bridge.wrong_codec, 0);
}

#[test]
fn an_opus_panel_passes_through_the_rooms_opus_untouched() {
    let mut net = room_with(BridgeCodec::Opus { complexity: 0 }, &["agent"]);
    let tone = |hz: f64, n: u64| -> Vec<u8> {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .expect("an encoder");
        let pcm: Vec<i16> = (0..960u64)
            .map(|i| {
                let t = (n * 960 + i) as f64 / 48_000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect();
        let mut out = [0u8; 1500];
        let len = enc.encode(&pcm, &mut out).expect("encoded");
        out[..len].to_vec()
    };
    let mut heard = Vec::new();
    let (mut sent_by_panel, mut sent_by_browser) = (Vec::new(), Vec::new());
    for n in 0..50u64 {
        let now = net.now;
        let panel = tone(1000.0, n);
        net.engine.handle_bridge_frame(
            now,
            PANEL,
            &LinkFrame::new(n as u16, (n * 960) as u32, now, &panel),
        );
        sent_by_panel.push(panel);
        let browser = tone(440.0, n);
        assert!(net.clients[0].send_rtp(false, &browser, now));
        sent_by_browser.push(browser);
        for _ in 0..20 {
            net.progress(Duration::from_millis(1));
            heard.extend(to_device(&mut net));
        }
    }
    // The browser got the panel's Opus packets as they were, in order, with no delay
    // of the bridge's own (no jitter buffer: the browser's takes the jitter).
    let agent = &net.clients[0];
    let got = agent
        .received
        .values()
        .find(|r| r.codec == Some(Codec::Opus))
        .expect("the panel's Opus reached the browser");
    assert_eq!(got.packets, 50);
    assert_eq!(got.last_payload, *sent_by_panel.last().unwrap());
    // On the panel's clock: 960 (20 ms at 48 kHz) from one packet to the next.
    for pair in got.log.windows(2) {
        assert_eq!(pair[1].1.wrapping_sub(pair[0].1), 960);
    }
    // The panel got the browser's packets as they were.
    assert_eq!(heard.len(), 50);
    for (f, sent) in heard.iter().zip(&sent_by_browser) {
        assert_eq!(f.payload(), &sent[..]);
    }
    let stats = net.engine.take_stats().bridge;
    assert_eq!(
        (stats.concealed_in, stats.mixed, stats.wrong_codec),
        (0, 0, 0)
    );
}
