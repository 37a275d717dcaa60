//! The jitter buffer plays each frame once, in order, in its slot; conceals what is
//! lost; drops late and duplicate frames and counts them; keeps its delay within
//! 20–120 ms, as low as the arrival jitter allows.

use std::time::{Duration, Instant};

use vchat_intercom::jitter::{JitterBuffer, Pushed, Tick};

/// A small deterministic generator (no seeds from the process).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 20 ms µ-law frame whose first bytes say its number.
fn frame(n: u32) -> Vec<u8> {
    let mut f = vec![(n % 251) as u8; 160];
    f[..4].copy_from_slice(&n.to_le_bytes());
    f
}

struct Run {
    played: Vec<u32>,
    concealed: u64,
    late: u64,
    /// Mean ms from a frame's send time to its playout tick.
    mean_delay_ms: f64,
    max_target_ms: u128,
    final_target_ms: u128,
    /// When the last frame played.
    last_play_ms: f64,
    /// Ms from send to playout of the last frame played.
    last_delay_ms: f64,
    /// Slots skipped to shrink the delay.
    skipped: u64,
}

/// Sends `frames` 20 ms frames; `arrival(n)` is frame n's network delay in ms, or
/// `None` when it is lost. Ticks every 20 ms, 7 ms out of phase with the sender.
fn run(frames: u32, mut arrival: impl FnMut(u32) -> Option<f64>) -> Run {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(8000, 1, 0xff);
    let mut events: Vec<(f64, u32)> = (0..frames)
        .filter_map(|n| arrival(n).map(|d| (n as f64 * 20.0 + d, n)))
        .collect();
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut played = Vec::new();
    let mut delays = Vec::new();
    let (mut max_target, mut e, mut last_play) = (0, 0, 0.0);
    let end = frames as f64 * 20.0 + 400.0;
    let mut tick = 7.0;
    while tick < end {
        while e < events.len() && events[e].0 <= tick {
            let (at, n) = events[e];
            let now = t0 + Duration::from_micros((at * 1000.0) as u64);
            jb.push(now, n as u16, n * 160, &frame(n));
            e += 1;
        }
        let now = t0 + Duration::from_micros((tick * 1000.0) as u64);
        let t = jb.tick(now);
        if let Tick::Play(data) = t {
            let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            played.push(n);
            last_play = tick;
            delays.push(tick - n as f64 * 20.0);
        }
        max_target = max_target.max(jb.target().as_millis());
        tick += 20.0;
    }
    let s = jb.stats();
    Run {
        played,
        concealed: s.concealed,
        late: s.late,
        mean_delay_ms: delays.iter().sum::<f64>() / delays.len().max(1) as f64,
        max_target_ms: max_target,
        final_target_ms: jb.target().as_millis(),
        last_play_ms: last_play,
        last_delay_ms: delays.last().copied().unwrap_or(0.0),
        skipped: s.skipped,
    }
}

#[test]
fn a_steady_stream_plays_whole_at_the_lowest_delay() {
    let r = run(1000, |_| Some(5.0));
    // The buffer starts at 40 ms, finds 20 ms enough and, 2 s later, skips one slot
    // to get there: every other frame plays, in order.
    assert_eq!(r.skipped, 1, "one slot skipped to shrink");
    assert_eq!(r.played.len(), 999, "every other frame played");
    assert!(
        r.played.windows(2).all(|w| w[1] > w[0] && w[1] <= w[0] + 2),
        "in order, none twice"
    );
    assert_eq!((r.concealed, r.late), (0, 0));
    assert_eq!(r.final_target_ms, 20);
    // At the lowest delay: 5 ms on the way and 2 ms to the tick, nothing held longer.
    assert!(
        r.last_delay_ms < 30.0,
        "{:.1} ms at the end",
        r.last_delay_ms
    );
    assert!(
        r.mean_delay_ms < 60.0,
        "mouth-to-buffer-out {:.1} ms",
        r.mean_delay_ms
    );
}

#[test]
fn jitter_grows_the_target_and_late_frames_stay_rare() {
    let mut rng = Lcg(17);
    // 0–60 ms of uniform jitter on a 10 ms base.
    let r = run(3000, |_| Some(10.0 + rng.next() * 60.0));
    let late = r.late as f64 / 3000.0;
    println!(
        "jitter 0–60 ms: target {} ms, late {:.2} %, concealed {}, mean delay {:.1} ms",
        r.final_target_ms,
        late * 100.0,
        r.concealed,
        r.mean_delay_ms
    );
    assert!(
        (60..=100).contains(&r.final_target_ms),
        "target {} ms",
        r.final_target_ms
    );
    assert!(late < 0.01, "late {:.2} %", late * 100.0);
    assert!(
        r.played.windows(2).all(|w| w[1] > w[0]),
        "in order, none twice"
    );
}

#[test]
fn stalls_are_capped_at_120_ms_and_the_rest_of_a_burst_plays() {
    // TCP: every 2 s the link stalls 300 ms, then what was held arrives at once.
    let r = run(2000, |n| {
        let sent = n as f64 * 20.0;
        let phase = sent % 2000.0;
        Some(if (1000.0..1300.0).contains(&phase) {
            1300.0 - phase + 2.0
        } else {
            2.0
        })
    });
    println!(
        "stalls: max target {} ms, late {}, concealed {}, played {}",
        r.max_target_ms,
        r.late,
        r.concealed,
        r.played.len()
    );
    assert!(r.max_target_ms <= 120);
    let bad: Vec<_> = r.played.windows(2).filter(|w| w[1] <= w[0]).collect();
    assert!(bad.is_empty(), "out of order: {bad:?}");
    assert!(r.played.len() > 1800, "played {}", r.played.len());
}

#[test]
fn losses_are_concealed_once_each() {
    let mut rng = Lcg(5);
    let r = run(2000, |_| (rng.next() >= 0.05).then_some(8.0));
    let lost = 2000 - r.played.len() as u64;
    println!(
        "5 % loss: played {}, concealed {}",
        r.played.len(),
        r.concealed
    );
    assert!((60..=140).contains(&lost), "lost {lost}");
    assert!(
        r.concealed >= lost - 5 && r.concealed <= lost + 5,
        "concealed {} for {lost} lost",
        r.concealed
    );
}

#[test]
fn duplicates_and_late_frames_are_dropped_and_counted() {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    let mut jb = JitterBuffer::new(8000, 1, 0xff);
    assert_eq!(jb.push(ms(0), 10, 1600, &frame(0)), Pushed::Accepted);
    assert_eq!(jb.push(ms(1), 10, 1600, &frame(0)), Pushed::Duplicate);
    assert_eq!(jb.push(ms(20), 11, 1760, &frame(1)), Pushed::Accepted);
    assert!(matches!(jb.tick(ms(21)), Tick::Play(_)));
    assert!(matches!(jb.tick(ms(41)), Tick::Play(_)));
    // Frame 12 is missing at its tick: concealed. When it comes, it is late.
    assert_eq!(jb.push(ms(40), 13, 2080, &frame(3)), Pushed::Accepted);
    assert_eq!(jb.tick(ms(61)), Tick::Conceal);
    assert_eq!(jb.push(ms(62), 12, 1920, &frame(2)), Pushed::Late);
    assert!(matches!(jb.tick(ms(81)), Tick::Play(d) if d[0] == 3 && d[5] == 3));
    let s = jb.stats();
    assert_eq!((s.duplicate, s.late, s.concealed, s.played), (1, 1, 1, 3));
}

#[test]
fn short_and_long_frames_fill_their_slots() {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    // L16 at 16 kHz: 10 ms frames (320 bytes) fill half a slot each; a 60 ms frame
    // (1920 bytes) fills three.
    let mut jb = JitterBuffer::new(16000, 2, 0);
    jb.push(ms(0), 1, 0, &[1; 320]);
    jb.push(ms(10), 2, 160, &[2; 320]);
    jb.push(ms(20), 3, 320, &[3; 1920]);
    let Tick::Play(first) = jb.tick(ms(21)) else {
        panic!("plays")
    };
    assert_eq!(first.len(), 640);
    assert!(first[..320].iter().all(|&b| b == 1) && first[320..].iter().all(|&b| b == 2));
    for at in [41, 61, 81] {
        let Tick::Play(d) = jb.tick(ms(at)) else {
            panic!("plays at {at}")
        };
        assert!(d.iter().all(|&b| b == 3));
    }
    assert_eq!(
        jb.tick(ms(250)),
        Tick::Idle,
        "the buffer goes idle between talk-spurts"
    );
}

#[test]
fn sequence_and_timestamp_wrap_and_jumps_restart() {
    let t0 = Instant::now();
    let ms = |m: u64| t0 + Duration::from_millis(m);
    let mut jb = JitterBuffer::new(8000, 1, 0xff);
    let mut played = 0;
    for i in 0..10u32 {
        let seq = 65530u16.wrapping_add(i as u16);
        let ts = (u32::MAX - 800).wrapping_add(i * 160);
        assert_eq!(
            jb.push(ms(i as u64 * 20), seq, ts, &frame(i)),
            Pushed::Accepted,
            "frame {i}"
        );
        if matches!(jb.tick(ms(i as u64 * 20 + 1)), Tick::Play(_)) {
            played += 1;
        }
    }
    assert!(played >= 8, "played {played} across the wrap");
    // The device restarted its clock: a jump of an hour.
    assert_eq!(
        jb.push(ms(220), 20, 1_000_000_000, &frame(20)),
        Pushed::Restarted
    );
    assert_eq!(jb.stats().restarts, 1);
}

#[test]
fn a_fast_device_clock_does_not_grow_the_delay() {
    // The device's 20 ms are 19.9 ms of ours (0.5 % fast): without shrinking, a frame
    // would pile up every 4 s.
    let r = run(6000, |n| Some(5.0 - n as f64 * 0.1));
    let last = *r.played.last().unwrap() as f64;
    let last_delay = r.last_play_ms - last * 19.9;
    let s = 6000 - r.played.len();
    println!("fast clock: {s} slots skipped or lost of 6000, delay at the end {last_delay:.1} ms");
    assert!(r.played.len() > 5900);
    // At most the target (40 ms: drift leaves a little spread), a slot of hysteresis
    // before shrinking, and the network.
    assert!(last_delay < 80.0, "delay at the end {last_delay:.0} ms");
}
