//! What a browser's SDP offer says it sends, and what the SFU's answer took, read
//! straight from the text.
//!
//! str0m reports media (`Event::MediaAdded`) only once DTLS is up; reading the offer
//! lets the SFU offer a new participant's tracks to the others while that participant
//! is still connecting, which shortens everyone's wait for the first frame. Only the
//! m-lines the SFU's own answer accepted are announced: an m-line it refused (no
//! codec in common, say) never carries media, and announcing it would leave the
//! others waiting for a track that cannot come.
//!
//! Port 0 does not always mean "disabled": under max-bundle (RFC 8843 §6) every m-line
//! after the first has port 0 and `a=bundle-only`, and is as live as the first. An
//! m-line is disabled only when its port is 0 and it is neither `bundle-only` nor named
//! in the `a=group:BUNDLE` line — the rule str0m applies itself.

use str0m::media::Mid;

use crate::message::TrackKind;

/// One audio or video m-line of an SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaLine {
    mid: Mid,
    kind: TrackKind,
    port_zero: bool,
    bundle_only: bool,
    direction: Direction,
}

/// The direction attribute of an m-line (RFC 8866 §6.7; sendrecv when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// An SDP's audio and video m-lines, and the mids of its BUNDLE group.
fn media_lines(sdp: &str) -> (Vec<MediaLine>, Vec<Mid>) {
    let mut lines = Vec::new();
    let mut bundle = Vec::new();
    let mut current: Option<(Option<TrackKind>, bool)> = None;
    let mut mid: Option<Mid> = None;
    let mut bundle_only = false;
    let mut direction = Direction::SendRecv;
    let mut finish = |current: Option<(Option<TrackKind>, bool)>,
                      mid: Option<Mid>,
                      bundle_only: bool,
                      direction: Direction| {
        if let (Some((Some(kind), port_zero)), Some(mid)) = (current, mid) {
            lines.push(MediaLine {
                mid,
                kind,
                port_zero,
                bundle_only,
                direction,
            });
        }
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            finish(current.take(), mid.take(), bundle_only, direction);
            let mut fields = media.split_whitespace();
            let kind = match fields.next() {
                Some("audio") => Some(TrackKind::Audio),
                Some("video") => Some(TrackKind::Video),
                _ => None,
            };
            current = Some((kind, fields.next() == Some("0")));
            bundle_only = false;
            direction = Direction::SendRecv;
        } else if let Some(group) = line.strip_prefix("a=group:BUNDLE") {
            bundle.extend(group.split_whitespace().map(Mid::from));
        } else if current.is_none() {
            // Session-level attributes other than the group do not concern m-lines.
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(Mid::from(value.trim()));
        } else {
            match line {
                "a=bundle-only" => bundle_only = true,
                "a=sendrecv" => direction = Direction::SendRecv,
                "a=sendonly" => direction = Direction::SendOnly,
                "a=recvonly" => direction = Direction::RecvOnly,
                "a=inactive" => direction = Direction::Inactive,
                _ => {}
            }
        }
    }
    finish(current, mid, bundle_only, direction);
    (lines, bundle)
}

impl MediaLine {
    fn enabled(&self, bundle: &[Mid]) -> bool {
        !self.port_zero || self.bundle_only || bundle.contains(&self.mid)
    }
}

/// Each audio or video m-line of the browser's `offer`: its mid, its kind, and whether
/// media will flow from the browser on it — the offer enables it and sends on it
/// (`sendonly` or `sendrecv`), and the SFU's `answer` enables it and receives on it.
pub(crate) fn browser_tracks(offer: &str, answer: &str) -> Vec<(Mid, TrackKind, bool)> {
    let (offered, offer_bundle) = media_lines(offer);
    let (answered, answer_bundle) = media_lines(answer);
    offered
        .into_iter()
        .map(|line| {
            let offered = line.enabled(&offer_bundle) && line.direction.sends();
            let accepted = answered
                .iter()
                .any(|a| a.mid == line.mid && a.enabled(&answer_bundle) && a.direction.receives());
            (line.mid, line.kind, offered && accepted)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    fn tracks(offer: &str, answer: &str) -> Vec<(String, TrackKind, bool)> {
        browser_tracks(offer, answer)
            .into_iter()
            .map(|(m, k, s)| (m.to_string(), k, s))
            .collect()
    }

    /// An answer that receives on every mid listed.
    fn receiving(mids: &[(&str, &str)]) -> String {
        let mut sdp = HEAD.to_string();
        for (kind, mid) in mids {
            sdp.push_str(&format!(
                "m={kind} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{mid}\r\na=recvonly\r\n"
            ));
        }
        sdp
    }

    #[test]
    fn directions_and_disabled_lines_are_read() {
        let offer = format!(
            "{HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendonly\r\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:4\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:5\r\n"
        );
        let answer = receiving(&[
            ("audio", "0"),
            ("video", "1"),
            ("video", "2"),
            ("video", "3"),
            ("audio", "5"),
        ]);
        assert_eq!(
            tracks(&offer, &answer),
            vec![
                ("0".into(), TrackKind::Audio, true),
                ("1".into(), TrackKind::Video, true),
                ("2".into(), TrackKind::Video, false),
                ("3".into(), TrackKind::Video, false),
                ("5".into(), TrackKind::Audio, true),
            ]
        );
        assert!(browser_tracks("garbage\nm=video\n", "").is_empty());
    }

    /// RFC 8843 §6: a max-bundle offerer (Firefox, GStreamer's webrtcbin, ...) gives
    /// every m-line after the first port 0 and `a=bundle-only`; they all carry media.
    #[test]
    fn bundle_only_lines_with_port_zero_are_live() {
        let offer = format!(
            "{HEAD}a=group:BUNDLE 0 1 2\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=mid:1\r\na=sendonly\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendonly\r\n"
        );
        let answer = receiving(&[
            ("audio", "0"),
            ("video", "1"),
            ("video", "2"),
            ("video", "3"),
        ]);
        assert_eq!(
            tracks(&offer, &answer),
            vec![
                ("0".into(), TrackKind::Audio, true),
                ("1".into(), TrackKind::Video, true),
                ("2".into(), TrackKind::Video, true),
                // Port 0, not bundle-only, not in the group: rejected by the offerer.
                ("3".into(), TrackKind::Video, false),
            ]
        );
    }

    #[test]
    fn lines_the_answer_refused_are_not_sending() {
        let offer = format!(
            "{HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 9\r\na=mid:0\r\na=sendonly\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 45\r\na=mid:2\r\na=sendonly\r\n"
        );
        // The SFU took the VP8 line, disabled the G.722 one and left the AV1 one idle.
        let answer = format!(
            "{HEAD}a=group:BUNDLE 1 2\r\n\
             m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=inactive\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 45\r\na=mid:2\r\na=inactive\r\n"
        );
        assert_eq!(
            tracks(&offer, &answer),
            vec![
                ("0".into(), TrackKind::Audio, false),
                ("1".into(), TrackKind::Video, true),
                ("2".into(), TrackKind::Video, false),
            ]
        );
        // No answer at all: nothing was accepted.
        assert!(browser_tracks(&offer, "").iter().all(|(_, _, s)| !s));
    }
}
