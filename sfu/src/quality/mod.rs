//! What each subscriber gets: the simulcast layer its link can carry, under the
//! call's cap, and who is speaking.
//!
//! - `choose` — one subscriber's layer for one track, from its share of the bandwidth
//!   estimate, with hysteresis (pure: time and numbers in, a choice out).
//! - `codec` — keyframes, frame sizes and VP8 picture ids, read from payloads.
//! - `speaker` — the room's active speaker from RFC 6464 audio levels.
//!
//! The engine runs them: layer bitrates are measured per packet (a counter), choices
//! are made on each new estimate and every [`QUALITY_TICK`], switches happen at the new
//! layer's keyframe, rewritten by `crate::forward` into one continuous stream.

pub(crate) mod choose;
pub(crate) mod codec;
pub(crate) mod speaker;

use std::time::Duration;

pub(crate) use choose::{Chooser, LayerInfo};
pub(crate) use speaker::SpeakerMeter;

/// Most layers of one track (browsers send three).
pub(crate) const MAX_LAYERS: usize = 4;
/// How often layer bitrates are measured and every subscriber's choice is checked.
pub(crate) const QUALITY_TICK: Duration = Duration::from_millis(200);
/// A layer with no packet for this long is taken as stopped by its publisher.
pub(crate) const LAYER_IDLE: Duration = Duration::from_millis(1000);
/// A layer this far behind its track's freshest layer is taken as stopped sooner:
/// the track goes on, this layer does not (a browser drops its top layer when its
/// uplink narrows), so its subscribers and the recorder move down without waiting
/// `LAYER_IDLE`. Layers of one frame are sent together, so even a one-frame-a-second
/// screen keeps its layers within milliseconds of each other.
pub(crate) const LAYER_LAGGING: Duration = Duration::from_millis(400);
/// Kept aside from a subscriber's estimate for each audio track it receives until
/// that track's bitrate is measured, bit/s (Opus speech at browsers' defaults).
pub(crate) const AUDIO_RESERVE: u64 = 40_000;
/// What a track without simulcast is taken to need, at most, bit/s: below this no
/// video is worth sending.
pub(crate) const SINGLE_LAYER_NEED: u64 = 120_000;
/// How often a chosen layer's keyframe is asked for again while it does not come.
pub(crate) const SWITCH_KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// The estimate str0m starts from for a new subscriber, bit/s: enough for a middle
/// layer, so a call starts sharp where the link allows and probes up from there.
pub(crate) const INITIAL_ESTIMATE: u64 = 1_000_000;

/// What a layer is taken to cost before it is measured: what the SDK asks browsers
/// for (150 kbit/s, 500 kbit/s, 1.5 Mbit/s from the lowest), or 300 kbit/s for a
/// track without simulcast (a publisher that adapts its one stream to its own link).
pub(crate) fn default_bitrate(index: usize, layers: usize) -> u64 {
    if layers <= 1 {
        return 300_000;
    }
    match layers - 1 - index {
        0 => 1_500_000,
        1 => 500_000,
        _ => 150_000,
    }
}

/// Smoothed bitrate from `bytes` over `elapsed`.
pub(crate) fn smooth(previous: u64, bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return previous;
    }
    let now = (bytes * 8) as f64 / secs;
    if previous == 0 {
        return now as u64;
    }
    (previous as f64 * 0.7 + now * 0.3) as u64
}
