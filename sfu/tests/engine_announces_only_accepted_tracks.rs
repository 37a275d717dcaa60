//! The SFU announces (`track-added`, and an offer to the others) only the m-lines its
//! own answer accepted. A client whose video is in a codec the SFU does not forward
//! (VP9 here; the SFU takes Opus, VP8 and H.264) gets that m-line refused, and nobody
//! is told of a track that cannot come; its audio is announced as usual.

use std::time::Duration;

use str0m::format::Codec;
use vchat_sfu::testkit::{Offerer, Publish, TestNet};
use vchat_sfu::{PeerSignal, TrackKind};

#[test]
fn a_refused_video_line_is_never_announced() {
    let mut net = TestNet::new();
    let bob = net.join("r", "bob", Publish::audio_video());
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));

    let carol = net.join_as(
        "r",
        "carol",
        Offerer {
            video_codecs: Some(vec![Codec::Vp9]),
            ..Offerer::new(Publish::audio_video())
        },
    );
    assert!(net.run_until(Duration::from_secs(5), |n| n.all_connected()));
    net.run_until(Duration::from_millis(500), |_| false);

    let answer = net.clients[carol]
        .signals
        .iter()
        .find_map(|s| match s {
            PeerSignal::Answer { sdp } => Some(sdp.clone()),
            _ => None,
        })
        .expect("carol got an answer");
    let video_mid = net.clients[carol].video_mid.expect("carol offered video");
    let video_section = answer
        .split("m=")
        .find(|m| m.contains(&format!("a=mid:{video_mid}\r\n")))
        .expect("the answer has carol's video line");
    // Refused as RFC 8843 has it: port 0, and the mid left out of the BUNDLE group.
    let group = answer
        .lines()
        .find(|l| l.starts_with("a=group:BUNDLE"))
        .unwrap_or_default();
    assert!(
        video_section.starts_with("video 0 ")
            && !group.split_whitespace().any(|m| m == video_mid.to_string()),
        "the SFU refuses the VP9 line: {group} / {video_section}"
    );

    let kinds: Vec<TrackKind> = net.clients[bob]
        .signals
        .iter()
        .filter_map(|s| match s {
            PeerSignal::TrackAdded {
                participant, kind, ..
            } if participant.as_str() == "carol" => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![TrackKind::Audio],
        "bob hears of carol's audio only"
    );
}
