//! What a browser's SDP offer says it sends, read straight from the text.
//!
//! str0m reports media (`Event::MediaAdded`) only once DTLS is up; reading the offer
//! lets the SFU offer a new participant's tracks to the others while that participant
//! is still connecting, which shortens everyone's wait for the first frame.

use str0m::media::Mid;

use crate::message::TrackKind;

/// Each audio or video m-line of `sdp`: its mid, its kind, and whether the offerer
/// sends on it (`sendonly` or `sendrecv`, and not disabled with port 0).
pub(crate) fn browser_tracks(sdp: &str) -> Vec<(Mid, TrackKind, bool)> {
    let mut tracks = Vec::new();
    let mut current: Option<(TrackKind, bool)> = None;
    let mut mid: Option<Mid> = None;
    let mut sending = true;
    let mut finish = |current: Option<(TrackKind, bool)>, mid: Option<Mid>, sending: bool| {
        if let (Some((kind, enabled)), Some(mid)) = (current, mid) {
            tracks.push((mid, kind, enabled && sending));
        }
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            finish(current.take(), mid.take(), sending);
            let mut fields = media.split_whitespace();
            let kind = match fields.next() {
                Some("audio") => Some(TrackKind::Audio),
                Some("video") => Some(TrackKind::Video),
                _ => None,
            };
            let enabled = fields.next() != Some("0");
            current = kind.map(|k| (k, enabled));
            // Without a direction attribute an m-line is sendrecv (RFC 8866 §6.7).
            sending = true;
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(Mid::from(value.trim()));
        } else if matches!(line, "a=recvonly" | "a=inactive") {
            sending = false;
        }
    }
    finish(current, mid, sending);
    tracks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_disabled_lines_are_read() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\n\
                   m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendonly\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:4\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:5\r\n";
        let tracks = browser_tracks(sdp);
        let got: Vec<(String, TrackKind, bool)> = tracks
            .into_iter()
            .map(|(m, k, s)| (m.to_string(), k, s))
            .collect();
        assert_eq!(
            got,
            vec![
                ("0".into(), TrackKind::Audio, true),
                ("1".into(), TrackKind::Video, true),
                ("2".into(), TrackKind::Video, false),
                ("3".into(), TrackKind::Video, false),
                ("5".into(), TrackKind::Audio, true),
            ]
        );
        assert!(browser_tracks("garbage\nm=video\n").is_empty());
    }
}
