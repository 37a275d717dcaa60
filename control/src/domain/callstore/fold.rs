//! Folding one call's events into its CDR: a pure function, so every rule is tested
//! without a server.

use std::collections::BTreeMap;

use crate::domain::events::EventKind;
use crate::model::cdr::{Consent, Disposition, Party, Presence, mask};
use crate::model::event::Kind;
use crate::model::{Cdr, Event, Interaction, State};

/// The CDR of `interaction` (in a final state) from its events, in any order and
/// with duplicates: they are deduplicated by id and ordered by time, then id.
pub fn fold(interaction: &Interaction, events: &[Event], now: i64) -> Cdr {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    let ended_at = interaction
        .ended_at
        .or_else(|| events.last().map(|e| e.at))
        .unwrap_or(interaction.updated_at);

    let mut parties: BTreeMap<String, Party> = BTreeMap::new();
    let mut link_opened_at = None;
    let mut client_user_agent = None;
    let mut link_sent_at = None;
    let mut link_channel = None;
    let (mut messages, mut files, mut file_bytes, mut screenshots, mut inactive) =
        (0, 0, 0u64, 0, 0);
    let mut geolocation = None;
    let mut positions: Vec<serde_json::Value> = Vec::new();
    let mut screenshot_files = Vec::new();
    let mut survey_score = None;
    let mut shared_files = Vec::new();
    let mut survey_comment = None;
    let mut consent = None;
    let mut device_check = None;
    let mut recording_id = None;
    for e in &events {
        match &e.what {
            Kind::Known(EventKind::ParticipantJoined(p) | EventKind::ParticipantLeft(p)) => {
                let joined = matches!(e.what, Kind::Known(EventKind::ParticipantJoined(_)));
                let party = parties
                    .entry(p.participant.clone())
                    .or_insert_with(|| Party {
                        participant: p.participant.clone(),
                        role: p.role.clone(),
                        presence: Vec::new(),
                    });
                let open = party.presence.last().is_some_and(|p| p.left_at == i64::MAX);
                if joined {
                    if !open {
                        party.presence.push(Presence {
                            joined_at: e.at,
                            left_at: i64::MAX,
                        });
                    }
                } else if open && let Some(p) = party.presence.last_mut() {
                    p.left_at = e.at;
                }
            }
            Kind::Known(EventKind::LinkOpened { user_agent }) => {
                link_opened_at.get_or_insert(e.at);
                if client_user_agent.is_none() {
                    client_user_agent = user_agent.clone();
                }
            }
            Kind::Known(EventKind::DeliverySent(d) | EventKind::DeliveryDelivered(d))
                if link_sent_at.is_none() =>
            {
                link_sent_at = Some(e.at);
                link_channel = Some(d.channel.clone());
            }
            Kind::Known(EventKind::ChatMessage { file: None, .. }) => messages += 1,
            Kind::Known(EventKind::FileUploaded { file, size }) => {
                files += 1;
                file_bytes += size;
                shared_files.push(crate::model::cdr::SharedFile {
                    file: file.clone(),
                    size: *size,
                    by: e.actor.clone(),
                    at: e.at,
                });
            }
            Kind::Known(EventKind::GeoPosition(g)) => {
                let mut p = serde_json::to_value(g).expect("positions serialize");
                p["by"] = e.actor.clone().into();
                positions.push(p);
                if e.actor == "client" {
                    geolocation = Some(serde_json::to_value(g).expect("positions serialize"));
                }
            }
            Kind::Known(EventKind::GeoAddress(a)) => {
                let same = |g: &serde_json::Value| g["lat"] == a.lat && g["lon"] == a.lon;
                if let Some(g) = geolocation.as_mut().filter(|g| same(g)) {
                    g["address"] = a.display_name.clone().into();
                }
                if let Some(p) = positions.iter_mut().rev().find(|p| same(p)) {
                    p["address"] = a.display_name.clone().into();
                }
            }
            Kind::Known(EventKind::ScreenshotTaken(s)) => {
                screenshots += 1;
                screenshot_files.push(crate::model::cdr::CdrScreenshot {
                    file: s.file.clone(),
                    source: s.source.clone(),
                    method: s.method.clone(),
                    width: s.width,
                    height: s.height,
                    by: e.actor.clone(),
                    at: e.at,
                    located: s.located,
                });
            }
            Kind::Known(EventKind::MediaInactive { .. }) => inactive += 1,
            Kind::Known(EventKind::RecordingReady { recording, .. }) => {
                recording_id = Some(recording.clone());
            }
            Kind::Known(EventKind::SurveyAnswered { score, comment }) => {
                survey_score = Some(*score);
                survey_comment = comment.clone();
            }
            Kind::Known(EventKind::ConsentGiven {
                version,
                user_agent,
                ..
            }) => {
                consent.get_or_insert(Consent {
                    at: e.at,
                    version: version.clone(),
                    user_agent: user_agent.clone(),
                });
            }
            Kind::Known(EventKind::ClientChecked(check)) => {
                device_check = serde_json::to_value(check).ok();
            }
            _ => {}
        }
    }
    // Whoever never left was there until the end; nobody counts past the end.
    for party in parties.values_mut() {
        for p in &mut party.presence {
            p.left_at = p.left_at.min(ended_at).max(p.joined_at);
        }
    }

    // Sweep the joins and leaves: time with two or more present is talk time.
    let mut edges: Vec<(i64, i32)> = parties
        .values()
        .flat_map(|p| p.presence.iter())
        .flat_map(|p| [(p.joined_at, 1), (p.left_at, -1)])
        .collect();
    edges.sort_by_key(|&(t, d)| (t, d)); // leaves before joins at the same instant
    let (mut present, mut talk_ms, mut last) = (0, 0i64, 0i64);
    let mut answered_at = None;
    for (t, d) in edges {
        if present >= 2 {
            talk_ms += t - last;
        }
        present += d;
        if present >= 2 && answered_at.is_none() {
            answered_at = Some(t);
        }
        last = t;
    }
    let started_at = parties
        .values()
        .flat_map(|p| p.presence.first())
        .map(|p| p.joined_at)
        .min();
    let secs = |ms: i64| ms.max(0) as f64 / 1000.0;
    let duration_secs = started_at.map_or(0.0, |s| secs(ended_at - s));
    let wait_secs = started_at.map_or(0.0, |s| secs(answered_at.unwrap_or(ended_at) - s));
    let disposition = match interaction.state {
        State::Cancelled => Disposition::Cancelled,
        State::Expired => Disposition::Expired,
        State::Failed => Disposition::Failed,
        _ if answered_at.is_some() => Disposition::Answered,
        _ => Disposition::NoAnswer,
    };
    Cdr {
        id: interaction.id.clone(),
        tenant: interaction.tenant.clone(),
        interaction: interaction.id.clone(),
        room: interaction.room.clone(),
        kind: match interaction.kind {
            crate::model::interaction::Kind::Client => "assist",
            crate::model::interaction::Kind::Intercom => "intercom",
        }
        .into(),
        intercom: interaction.intercom.clone(),
        agent: interaction.agent.clone(),
        client_name: interaction.client.name.clone(),
        client_phone: interaction.client.phone.as_deref().map(mask),
        client_telegram: interaction.client.telegram_chat.as_deref().map(mask),
        link_channel,
        link_sent_at,
        link_opened_at,
        created_at: interaction.created_at,
        started_at,
        answered_at,
        ended_at,
        duration_secs,
        talk_secs: secs(talk_ms),
        wait_secs,
        disposition,
        final_state: interaction.state.as_str().into(),
        end_reason: interaction.end_reason.clone(),
        ended_by: interaction.ended_by.clone(),
        parties: parties.into_values().collect(),
        video: interaction.video,
        max_quality: interaction.max_quality,
        recording: interaction.recording,
        recording_id,
        messages,
        files,
        shared_files,
        file_bytes,
        screenshots,
        screenshot_files,
        geolocation,
        positions,
        survey_score,
        survey_comment,
        consent,
        device_check,
        client_user_agent,
        media_inactive: inactive,
        events: u32::try_from(events.len()).unwrap_or(u32::MAX),
        written_at: now,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::interaction::{ClientContact, Quality, VideoMode};

    fn interaction(state: State, ended_at: i64) -> Interaction {
        Interaction {
            kind: Default::default(),
            intercom: None,
            camera: Default::default(),
            language: None,
            id: "I".into(),
            tenant: "T".into(),
            agent: "U".into(),
            client: ClientContact {
                name: "Ivan".into(),
                phone: Some("+79991234567".into()),
                telegram_chat: None,
            },
            fields: Default::default(),
            scheduled_at: None,
            video: VideoMode::TwoWay,
            max_quality: Quality::P720,
            recording: true,
            state,
            room: "I".into(),
            link: "code".into(),
            link_expires_at: 0,
            created_at: 0,
            updated_at: ended_at,
            connected_at: None,
            ended_at: Some(ended_at),
            end_reason: Some("ended by agent".into()),
            ended_by: Some("U".into()),
            cdr_at: None,
            surveyed_at: None,
            notes: String::new(),
        }
    }

    /// An event as the log holds it (read as the event type reads it).
    fn ev(id: &str, at: i64, kind: &str, data: serde_json::Value) -> Event {
        serde_json::from_value(json!({
            "id": id, "tenant": "T", "kind": kind, "interaction": "I", "at": at,
            "actor": "x", "data": data,
        }))
        .expect("an event")
    }

    fn join(id: &str, at: i64, who: &str) -> Event {
        let role = if who == "client" { "client" } else { "agent" };
        ev(
            id,
            at,
            "participant.joined",
            json!({ "participant": who, "role": role }),
        )
    }

    fn leave(id: &str, at: i64, who: &str) -> Event {
        let role = if who == "client" { "client" } else { "agent" };
        ev(
            id,
            at,
            "participant.left",
            json!({ "participant": who, "role": role }),
        )
    }

    #[test]
    fn join_leave_rejoin_end_gives_talk_wait_and_duration() {
        // client 1000..3000, 4000..end; agent 2000..end; end 6000.
        let events = vec![
            join("01", 1000, "client"),
            join("02", 2000, "agent-u"),
            leave("03", 3000, "client"),
            join("04", 4000, "client"),
            ev(
                "05",
                6000,
                "interaction.ended",
                json!({ "from": "connected", "to": "ended", "reason": null }),
            ),
            leave("06", 6050, "client"),
            leave("07", 6060, "agent-u"),
        ];
        let cdr = fold(&interaction(State::Ended, 6000), &events, 7000);
        assert_eq!(cdr.started_at, Some(1000));
        assert_eq!(cdr.answered_at, Some(2000));
        assert_eq!(cdr.duration_secs, 5.0);
        assert_eq!(cdr.talk_secs, 3.0, "2000..3000 and 4000..6000");
        assert_eq!(cdr.wait_secs, 1.0);
        assert_eq!(cdr.disposition, Disposition::Answered);
        assert_eq!(cdr.client_phone.as_deref(), Some("+799****4567"));
        let client = cdr.parties.iter().find(|p| p.role == "client").unwrap();
        assert_eq!(
            client.presence,
            [
                Presence {
                    joined_at: 1000,
                    left_at: 3000
                },
                Presence {
                    joined_at: 4000,
                    left_at: 6000
                },
            ],
            "clipped at the end"
        );
    }

    #[test]
    fn duplicates_and_disorder_do_not_change_the_result() {
        let ordered = vec![
            join("01", 1000, "client"),
            join("02", 2000, "agent-u"),
            ev(
                "03",
                2500,
                "chat.message",
                json!({ "message": "M1", "file": null }),
            ),
            ev(
                "04",
                2600,
                "file.uploaded",
                json!({ "file": "F", "size": 10 }),
            ),
            ev(
                "05",
                2600,
                "chat.message",
                json!({ "message": "M2", "file": "F" }),
            ),
            leave("06", 5000, "agent-u"),
        ];
        let mut messy = ordered.clone();
        messy.reverse();
        messy.extend(ordered.iter().cloned());
        let a = fold(&interaction(State::Ended, 5000), &ordered, 1);
        let b = fold(&interaction(State::Ended, 5000), &messy, 1);
        assert_eq!(a, b);
        assert_eq!(a.events, 6);
        assert_eq!((a.messages, a.files, a.file_bytes), (1, 1, 10));
        assert_eq!(a.talk_secs, 3.0);
    }

    #[test]
    fn nobody_together_is_no_answer_and_failures_keep_their_reason() {
        let events = vec![join("01", 1000, "client"), leave("02", 4000, "client")];
        let cdr = fold(&interaction(State::Ended, 5000), &events, 1);
        assert_eq!(cdr.disposition, Disposition::NoAnswer);
        assert_eq!(cdr.talk_secs, 0.0);
        assert_eq!(cdr.wait_secs, 4.0);
        let mut failed = interaction(State::Failed, 5000);
        failed.end_reason = Some("server restart".into());
        let events = vec![join("01", 1000, "client"), join("02", 1500, "agent-u")];
        let cdr = fold(&failed, &events, 1);
        assert_eq!(cdr.disposition, Disposition::Failed);
        assert_eq!(cdr.end_reason.as_deref(), Some("server restart"));
        assert_eq!(cdr.talk_secs, 3.5, "open presences end with the call");
        let cdr = fold(&interaction(State::Expired, 9000), &[], 1);
        assert_eq!(
            (cdr.disposition, cdr.duration_secs, cdr.started_at),
            (Disposition::Expired, 0.0, None)
        );
    }
}
