//! Lip sync within one party: its audio and video carry separate RTP clocks, and
//! arrive with separate delays (a video frame is paced out over many packets, the
//! sender's audio and video take different paths through its encoder). Its RTCP
//! sender reports tie each RTP clock to the sender's one wall clock (NTP), so a video
//! frame goes where the audio captured at the same moment is — not where it arrived.

/// A sender report: the sender's NTP time of an RTP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// 64-bit NTP format (seconds since 1900 and a 32-bit fraction).
    pub ntp: u64,
    /// The RTP timestamp (32 bits, as sent; extended here).
    pub rtp_ts: u64,
}

/// Microseconds of a 64-bit NTP timestamp (since 1900).
pub fn ntp_us(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64;
    let frac = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
    secs * 1_000_000 + frac as i64
}

/// The 64-bit RTP timestamp nearest `near` whose low 32 bits are `ts`.
pub fn extend_near(ts: u64, near: u64) -> u64 {
    let low = ts & 0xffff_ffff;
    let base = near & !0xffff_ffff;
    [base.wrapping_sub(1 << 32), base, base + (1 << 32)]
        .into_iter()
        .map(|b| b.wrapping_add(low))
        .min_by_key(|c| c.abs_diff(near))
        .unwrap_or(low)
}

/// The sender's wall clock (µs) at RTP time `ts` (extended) of a track at
/// `clock_rate`, by `report`.
pub fn sender_us(report: Report, ts: u64, clock_rate: u32) -> i64 {
    let sr_ts = extend_near(report.rtp_ts, ts);
    let ticks = ts as i128 - sr_ts as i128;
    ntp_us(report.ntp) + (ticks * 1_000_000 / i128::from(clock_rate.max(1))) as i64
}

/// One track's first media and first sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackClock {
    /// Where its first frame is on the timeline (µs).
    pub placed_us: i64,
    /// That frame's RTP timestamp (extended).
    pub rtp_ts: u64,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Its first sender report.
    pub report: Option<Report>,
}

/// The most a sender report may move video from where it arrived: further means the
/// sender's clocks are not to be trusted.
pub const MAX_SYNC_SHIFT_US: i64 = 1_000_000;

/// Where the video's first frame goes so that it lines up with the same party's
/// audio, by the sender reports of both — `None` without them, or when they disagree
/// with where the video arrived by more than [`MAX_SYNC_SHIFT_US`].
pub fn place_video(audio: &TrackClock, video: &TrackClock) -> Option<i64> {
    let (a, v) = (audio.report?, video.report?);
    let audio_sender = sender_us(a, audio.rtp_ts, audio.clock_rate);
    let video_sender = sender_us(v, video.rtp_ts, video.clock_rate);
    let synced = audio.placed_us + (video_sender - audio_sender);
    ((synced - video.placed_us).abs() <= MAX_SYNC_SHIFT_US).then_some(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NTP of a time in µs since 1900.
    fn ntp(us: u64) -> u64 {
        ((us / 1_000_000) << 32) | (((us % 1_000_000) << 32) / 1_000_000)
    }

    #[test]
    fn video_that_arrives_late_goes_where_its_audio_is() {
        // The sender captures audio and video at the same moment T (its clock
        // 3_900_000_000 s + 0.5 s); audio RTP 1000 at 48 kHz, video RTP 4_294_960_000
        // at 90 kHz (just before the wrap). The audio arrives and is placed at 2.000 s;
        // the video arrives 180 ms later.
        let t = 3_900_000_000_500_000u64;
        let audio = TrackClock {
            placed_us: 2_000_000,
            rtp_ts: (1 << 32) + 1000,
            clock_rate: 48_000,
            // A report 1 s later: RTP 1000 + 48000 (as sent: 32 bits).
            report: Some(Report {
                ntp: ntp(t + 1_000_000),
                rtp_ts: 49_000,
            }),
        };
        let video = TrackClock {
            placed_us: 2_180_000,
            rtp_ts: (1 << 32) + 4_294_960_000,
            clock_rate: 90_000,
            // A report 2 s later: 180000 ticks on, past the 32-bit wrap.
            report: Some(Report {
                ntp: ntp(t + 2_000_000),
                rtp_ts: (4_294_960_000u64 + 180_000) & 0xffff_ffff,
            }),
        };
        assert_eq!(place_video(&audio, &video), Some(2_000_000));
        // Without reports, or with reports that disagree wildly, arrival stands.
        let bare = TrackClock {
            report: None,
            ..video
        };
        assert_eq!(place_video(&audio, &bare), None);
        let wild = TrackClock {
            report: Some(Report {
                ntp: ntp(t + 60_000_000),
                rtp_ts: video.report.unwrap().rtp_ts,
            }),
            ..video
        };
        assert_eq!(place_video(&audio, &wild), None);
        assert_eq!(extend_near(5, (3 << 32) - 10), (3 << 32) + 5);
        assert_eq!(extend_near(0xffff_fff0, (3 << 32) + 5), (3 << 32) - 16);
    }
}
