//! A publisher sends three simulcast layers (VP8, 180, 360 and 720 lines); each
//! subscriber gets one, the best the room's cap allows, switched at the new layer's
//! keyframe and rewritten into one stream: sequence numbers on by one, the RTP clock
//! on by the time that passed, picture ids on by one, no gap a decoder would see. The
//! recorder gets the best layer sent and follows it when the top one stops.

use std::time::Duration;

use vchat_sfu::testkit::{Offerer, Publish, TestNet};
use vchat_sfu::{Command, RoomId};

const RIDS: &[&str] = &["l", "m", "h"];
const HEIGHTS: [u16; 3] = [180, 360, 720];

/// A VP8 packet holding a whole frame: descriptor (15-bit picture id, TL0PICIDX),
/// the frame tag and, for a keyframe, its size; byte 16 names the layer.
fn vp8(picture_id: u16, key: bool, layer: usize) -> Vec<u8> {
    let mut p = vec![
        0x90,
        0xc0,
        0x80 | (picture_id >> 8) as u8,
        picture_id as u8,
        (picture_id & 0xff) as u8,
    ];
    let (w, h) = (HEIGHTS[layer] * 16 / 9, HEIGHTS[layer]);
    if key {
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
    } else {
        p.extend_from_slice(&[0x11, 0x02, 0x00, 0x00, 0x00, 0x00]);
    }
    p.extend_from_slice(&w.to_le_bytes());
    p.extend_from_slice(&h.to_le_bytes());
    p.push(0);
    p.push(layer as u8);
    p.extend_from_slice(&[0u8; 200]);
    p
}

struct Publisher {
    frame: u32,
    /// Keyframe requests already answered.
    answered: usize,
}

impl Publisher {
    /// One frame on each of `layers`: a keyframe every 3 s or when asked for.
    fn frame(&mut self, net: &mut TestNet, client: usize, layers: &[usize]) {
        let now = net.now;
        let asked: Vec<Option<String>> =
            net.clients[client].keyframe_rids[self.answered..].to_vec();
        self.answered = net.clients[client].keyframe_rids.len();
        for &l in layers {
            let rid = RIDS[l];
            let key = self.frame.is_multiple_of(90)
                || asked.iter().any(|r| r.as_deref().is_none_or(|r| r == rid));
            // Each layer has its own clock base and picture ids, as browsers send them.
            let ts = [1_000u32, 500_000, 9_000_000][l].wrapping_add(self.frame * 3000);
            let picture_id = ([100u16, 7_000, 20_000][l] + self.frame as u16) & 0x7fff;
            net.clients[client].send_layer(rid, &vp8(picture_id, key, l), ts, true, now);
        }
        self.frame += 1;
        net.progress(Duration::from_millis(33));
    }
}

fn cap(net: &mut TestNet, max_height: Option<u16>) {
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::SetVideoCap {
            room: RoomId::new("r").unwrap(),
            max_height,
        },
    );
}

/// The layer of the newest video packets bob got.
fn layer_now(net: &TestNet, bob: usize) -> Option<u8> {
    net.clients[bob]
        .received
        .values()
        .filter_map(|r| r.log.last())
        .map(|(_, _, _, head, _)| head[16])
        .next()
}

/// Alice publishes three layers; Bob only receives. Both connected.
fn simulcast_call() -> (TestNet, usize, usize, Publisher) {
    let mut net = TestNet::new();
    let alice = net.join_as(
        "r",
        "alice",
        Offerer {
            simulcast: Some(RIDS),
            ..Offerer::new(Publish::audio_video())
        },
    );
    let bob = net.join(
        "r",
        "bob",
        Publish {
            audio: false,
            video: false,
            h264: false,
        },
    );
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    let publisher = Publisher {
        frame: 0,
        answered: 0,
    };
    (net, alice, bob, publisher)
}

#[test]
fn each_subscriber_gets_the_best_layer_under_the_cap_as_one_stream() {
    let (mut net, alice, bob, mut publisher) = simulcast_call();
    let all = [0, 1, 2];
    for _ in 0..60 {
        publisher.frame(&mut net, alice, &all);
    }
    assert_eq!(layer_now(&net, bob), Some(2), "no cap: the top layer");
    // Until every layer is heard, the first ones heard may be taken for a moment:
    // count the switches the caps make from here.
    let settled: usize = net.clients[bob]
        .received
        .values()
        .map(|r| r.log.len())
        .sum();

    // The cap applies within a second, at the lower layer's keyframe.
    let mut timeline = Vec::new();
    for (max, want) in [
        (Some(480), 1usize),
        (None, 2),
        (Some(200), 0),
        (Some(1080), 2),
    ] {
        cap(&mut net, max);
        let start = net.now;
        let mut took = None;
        for _ in 0..60 {
            publisher.frame(&mut net, alice, &all);
            if took.is_none() && layer_now(&net, bob) == Some(want as u8) {
                took = Some(net.now - start);
            }
        }
        let took = took.unwrap_or_else(|| panic!("cap {max:?}: layer {want} never came"));
        println!(
            "cap {max:?}: layer {want} ({} lines) after {took:?}",
            HEIGHTS[want]
        );
        assert!(took <= Duration::from_secs(1), "cap {max:?} took {took:?}");
        assert_eq!(layer_now(&net, bob), Some(want as u8));
        timeline.push(took);
    }

    // One stream for bob's decoder across the four switches.
    let log: Vec<_> = net.clients[bob]
        .received
        .values()
        .flat_map(|r| r.log.iter().cloned())
        .collect();
    assert!(log.len() > 250, "{} packets", log.len());
    let mut worst_gap = Duration::ZERO;
    for w in log.windows(2) {
        let ((s0, t0, _, h0, a0), (s1, t1, _, h1, a1)) = (&w[0], &w[1]);
        assert_eq!(*s1, s0 + 1, "sequence numbers go on by one");
        let dt = t1.wrapping_sub(*t0);
        assert!(
            (1..=6000).contains(&dt),
            "the clock goes on by a frame: {dt}"
        );
        let pid = |h: &[u8]| (u16::from(h[2] & 0x7f) << 8) | u16::from(h[3]);
        assert_eq!(pid(h1), (pid(h0) + 1) & 0x7fff, "picture ids go on by one");
        worst_gap = worst_gap.max(*a1 - *a0);
    }
    let switches = log[settled - 1..]
        .windows(2)
        .filter(|w| w[0].3[16] != w[1].3[16])
        .count();
    println!(
        "{} packets, {switches} switches, worst gap between frames {worst_gap:?}",
        log.len()
    );
    assert_eq!(switches, 4);
    assert!(worst_gap < Duration::from_millis(500));
    assert!(net.engine.take_stats().layer_switches >= 4);
}

#[test]
fn the_recording_takes_the_best_layer_and_follows_it_down() {
    let mut net = TestNet::new();
    let alice = net.join_as(
        "r",
        "alice",
        Offerer {
            simulcast: Some(RIDS),
            ..Offerer::new(Publish::audio_video())
        },
    );
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("r").unwrap(),
            on: true,
        },
    );
    let mut publisher = Publisher {
        frame: 0,
        answered: 0,
    };
    for _ in 0..60 {
        publisher.frame(&mut net, alice, &[0, 1, 2]);
    }
    // The publisher's uplink cannot carry the top layer any more: it stops sending it.
    for _ in 0..90 {
        publisher.frame(&mut net, alice, &[0, 1]);
    }
    let now = net.now;
    net.engine.handle_command(
        now,
        Command::Record {
            room: RoomId::new("r").unwrap(),
            on: false,
        },
    );
    net.exchange();
    let mut packets = Vec::new();
    for batch in net
        .taps
        .iter()
        .filter(|b| b.kind == vchat_sfu::TrackKind::Video)
    {
        for (i, p) in batch.packets.iter().enumerate() {
            packets.push((p.seq, p.rtp_ts, batch.payload(i)[16]));
        }
    }
    let layers: Vec<u8> = packets.iter().map(|p| p.2).collect();
    let first_m = layers
        .iter()
        .position(|l| *l == 1)
        .expect("the recording moved to 360 lines");
    assert!(
        layers[..first_m].iter().all(|l| *l == 2),
        "720 lines first: {layers:?}"
    );
    assert!(layers[first_m..].iter().all(|l| *l == 1));
    for w in packets.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "one stream in the capture");
        assert!(w[1].1 > w[0].1, "its clock goes on");
    }
    // The top layer is taken as stopped once it lags the others (not after a whole
    // second of nothing): the file's picture holds still for little more than that.
    let held =
        Duration::from_micros((packets[first_m].1 - packets[first_m - 1].1) * 1_000_000 / 90_000);
    println!(
        "recorded {} video packets: {} of 720 lines, then {} of 360; the picture held {held:?} at the switch",
        packets.len(),
        first_m,
        packets.len() - first_m
    );
    assert!(held <= Duration::from_millis(700), "{held:?}");
}

#[test]
fn after_an_outage_the_picture_comes_back_at_the_first_keyframe_of_any_layer() {
    let (mut net, alice, bob, mut publisher) = simulcast_call();
    for _ in 0..60 {
        publisher.frame(&mut net, alice, &[0, 1, 2]);
    }
    assert_eq!(layer_now(&net, bob), Some(2));
    // The publisher's path is gone for 2 s (every layer falls idle), then all its
    // layers come back in one frame, with no keyframe until one is asked for.
    net.progress(Duration::from_secs(2));
    publisher.frame = 100;
    let received = |net: &TestNet| -> usize {
        net.clients[bob]
            .received
            .values()
            .map(|r| r.log.len())
            .sum()
    };
    let before = received(&net);
    let back_at = net.now;
    let (mut picture, mut top) = (None, None);
    for _ in 0..30 {
        publisher.frame(&mut net, alice, &[0, 1, 2]);
        if picture.is_none() && received(&net) > before {
            picture = Some(net.now - back_at);
        }
        if top.is_none() && layer_now(&net, bob) == Some(2) && received(&net) > before {
            top = Some(net.now - back_at);
        }
    }
    println!("after the outage: a picture after {picture:?}, 720 lines after {top:?}");
    let picture = picture.expect("the picture came back");
    let top = top.expect("720 lines came back");
    assert!(picture <= Duration::from_millis(150), "{picture:?}");
    assert!(top <= Duration::from_millis(400), "{top:?}");
}
