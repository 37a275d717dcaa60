//! Screenshots and stills: JPEGs the pages make of a call's video (a decoded frame, a
//! still from the client's camera, a drawing on one), stored as call files. The server
//! writes their EXIF — the capture time and, when the client shared a position, GPS
//! latitude, longitude and accuracy — with `little_exif`, so every picture carries its
//! evidence whoever made it. The page's own metadata is dropped.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use little_exif::exif_tag::ExifTag;
use little_exif::filetype::FileExtension;
use little_exif::metadata::Metadata;
use little_exif::rational::uR64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::chat::{Chat, Participant, open};
use crate::domain::events::kind::Screenshot as Taken;
use crate::domain::events::{EventKind, NewEvent};
use crate::domain::files::Files;
use crate::domain::interactions::CLIENT_PARTICIPANT;
use crate::domain::{DomainError, DomainResult, service};
use crate::model::event::Kind;
use crate::model::{Event, FileMeta, Interaction};
use crate::store::Filter;
use crate::store::ids::{is_id, now_ms, utc};

/// The largest screenshot accepted (a 4K JPEG is a few megabytes).
pub const MAX_BYTES: u64 = 32 * 1024 * 1024;

service!(
    /// Screenshots of calls.
    Screenshots
);

/// What a screenshot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The client's video as the agent's page decoded it.
    ClientVideo,
    /// A still from the client's camera, taken on the client's device.
    ClientCamera,
    /// The agent's camera, as the client's page decoded it.
    AgentVideo,
    /// The agent's shared screen, as the client's page decoded it.
    AgentScreen,
    /// A screenshot the agent drew on.
    Annotated,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::ClientVideo => "client-video",
            Source::ClientCamera => "client-camera",
            Source::AgentVideo => "agent-video",
            Source::AgentScreen => "agent-screen",
            Source::Annotated => "annotated",
        }
    }
}

/// How the page made the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A decoded video frame drawn on a canvas.
    Frame,
    /// `ImageCapture.takePhoto` on the camera's track.
    ImageCapture,
    /// The camera's preview drawn on a canvas (browsers without `ImageCapture`).
    Canvas,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Frame => "frame",
            Method::ImageCapture => "image-capture",
            Method::Canvas => "canvas",
        }
    }
}

/// `POST /api/interactions/{id}/screenshots?source=…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotQuery {
    /// What it shows.
    #[param(inline)]
    pub source: Source,
    /// How it was made (default `frame`).
    #[serde(default)]
    #[param(inline)]
    pub method: Option<Method>,
    /// The screenshot it was drawn on (`annotated` only).
    #[serde(default)]
    pub of: Option<String>,
    /// Put it into the chat as well (default no).
    #[serde(default)]
    pub send: Option<bool>,
}

/// A stored screenshot.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredScreenshot {
    /// The file (`GET /api/files/{file}`).
    pub file: FileMeta,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// What it shows.
    pub source: Source,
    /// Unix ms it was stored (its EXIF capture time).
    pub taken_at: i64,
    /// The position written into its EXIF, if the client shared one.
    #[schema(value_type = Option<Object>)]
    pub position: Option<serde_json::Value>,
}

/// A client's shared position, as its event keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Degrees north.
    pub lat: f64,
    /// Degrees east.
    pub lon: f64,
    /// Metres.
    pub accuracy: f64,
    /// Unix ms it was measured.
    pub at: i64,
}

impl Screenshots {
    /// Stores a JPEG from someone in call `id`, with EXIF written here.
    pub async fn take<S, E>(
        &self,
        who: &Participant,
        id: &str,
        q: ScreenshotQuery,
        body: S,
    ) -> DomainResult<StoredScreenshot>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let chat = Chat::from(self.0.clone());
        let (interaction, author) = chat.in_call(who, id).await?;
        open(&interaction)?;
        let allowed = match (&author.id[..], q.source) {
            (
                CLIENT_PARTICIPANT,
                Source::ClientCamera | Source::AgentVideo | Source::AgentScreen,
            ) => true,
            (CLIENT_PARTICIPANT, _) => false,
            (_, Source::ClientVideo | Source::ClientCamera | Source::Annotated) => true,
            _ => false,
        };
        if !allowed {
            return Err(DomainError::invalid(format!(
                "source {} is not one this participant takes",
                q.source.as_str()
            )));
        }
        let of = match (q.source, q.of) {
            (Source::Annotated, Some(of)) => Some(self.original(&interaction, &of).await?),
            (Source::Annotated, None) => {
                return Err(DomainError::invalid("of: the screenshot drawn on"));
            }
            (_, Some(_)) => return Err(DomainError::invalid("of is for annotated screenshots")),
            (_, None) => None,
        };
        let mut jpeg = read_all(body, MAX_BYTES).await?;
        let (width, height) = jpeg_size(&jpeg).map_err(DomainError::invalid)?;
        let taken_at = now_ms();
        let place = self.last_place(&interaction).await?;
        write_exif(&mut jpeg, taken_at, place.as_ref())
            .map_err(|e| DomainError::invalid(format!("the JPEG cannot carry EXIF: {e}")))?;
        let name = format!("screenshot-{}.jpg", file_time(taken_at));
        let files = Files::from(self.0.clone());
        let (meta, path) = files
            .store_bytes(&interaction, &author.id, &name, "image/jpeg", &jpeg)
            .await?;
        let sent = q.send.unwrap_or(false);
        let event = NewEvent::about(
            &interaction.tenant,
            &interaction.id,
            &author.id,
            EventKind::ScreenshotTaken(Taken {
                file: meta.id.clone(),
                source: q.source.as_str().into(),
                method: q.method.unwrap_or(Method::Frame).as_str().into(),
                width,
                height,
                of,
                located: place.is_some(),
                sent,
            }),
        );
        let mut batch = crate::store::Batch::new();
        batch.insert(&meta);
        let stored = if sent {
            chat.post(
                &interaction,
                &author,
                name,
                Some(meta.id.clone()),
                batch,
                vec![event],
            )
            .await
            .map(|_| ())
        } else {
            self.0
                .events
                .commit(batch, vec![event])
                .await
                .map(|_| ())
                .map_err(Into::into)
        };
        if let Err(e) = stored {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(StoredScreenshot {
            file: meta,
            width,
            height,
            source: q.source,
            taken_at,
            position: place.map(|p| {
                serde_json::json!({ "lat": p.lat, "lon": p.lon, "accuracy": p.accuracy, "at": p.at })
            }),
        })
    }

    /// The screenshot `of` names, when it is one of this call's.
    async fn original(&self, i: &Interaction, of: &str) -> DomainResult<String> {
        let meta = if is_id(of) {
            self.0.store.get::<FileMeta>(of).await?
        } else {
            None
        };
        match meta {
            Some(m) if m.interaction == i.id && m.content_type == "image/jpeg" => Ok(m.id),
            _ => Err(DomainError::invalid("of is not a screenshot of this call")),
        }
    }

    /// The client's last shared position in this call.
    async fn last_place(&self, i: &Interaction) -> DomainResult<Option<Place>> {
        let events = self
            .0
            .store
            .find::<Event>(
                &Filter::all()
                    .tenants(vec![i.tenant.clone()])
                    .eq(Event::INTERACTION, i.id.as_str())
                    .eq(Event::KIND, "geo.position")
                    .page(0, 10_000),
            )
            .await?;
        Ok(events
            .iter()
            .filter(|e| e.actor == CLIENT_PARTICIPANT)
            .filter_map(|e| match &e.what {
                Kind::Known(EventKind::GeoPosition(g)) => Some((e.at, g)),
                _ => None,
            })
            .max_by_key(|(at, _)| *at)
            .map(|(_, g)| Place {
                lat: g.lat,
                lon: g.lon,
                accuracy: g.accuracy,
                at: g.at,
            }))
    }
}

async fn read_all<S, E>(mut body: S, max: u64) -> DomainResult<Vec<u8>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = Vec::new();
    loop {
        let chunk =
            match tokio::time::timeout(std::time::Duration::from_secs(30), body.next()).await {
                Err(_) => return Err(DomainError::Stalled),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(DomainError::invalid(format!("the upload broke off: {e}")));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
        if (out.len() + chunk.len()) as u64 > max {
            return Err(DomainError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The width and height of a baseline or progressive JPEG, from its frame header.
pub fn jpeg_size(b: &[u8]) -> Result<(u32, u32), &'static str> {
    const NOT: &str = "the body is not a JPEG image (send image/jpeg bytes)";
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return Err(NOT);
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return Err(NOT);
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            i += 2;
            continue;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if len < 2 || i + 2 + len > b.len() {
            return Err(NOT);
        }
        let frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if frame {
            if len < 7 {
                return Err(NOT);
            }
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            if w == 0 || h == 0 {
                return Err("the JPEG has no size");
            }
            return Ok((w, h));
        }
        if marker == 0xDA || marker == 0xD9 {
            return Err(NOT);
        }
        i += 2 + len;
    }
    Err(NOT)
}

/// Degrees as EXIF's degrees, minutes and seconds (to 1/10 000 s).
fn dms(value: f64) -> Vec<uR64> {
    let v = value.abs();
    let degrees = v.floor();
    let minutes = ((v - degrees) * 60.0).floor();
    let seconds = ((v - degrees) * 60.0 - minutes) * 60.0;
    vec![
        uR64 {
            nominator: degrees as u32,
            denominator: 1,
        },
        uR64 {
            nominator: minutes as u32,
            denominator: 1,
        },
        uR64 {
            nominator: (seconds * 10_000.0).round() as u32,
            denominator: 10_000,
        },
    ]
}

fn file_time(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Replaces the JPEG's metadata with ours: the capture time (UTC) and the position.
pub fn write_exif(jpeg: &mut Vec<u8>, taken_at: i64, place: Option<&Place>) -> std::io::Result<()> {
    Metadata::clear_metadata(jpeg, FileExtension::JPEG)?;
    let t = utc(taken_at);
    let stamp = format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let mut m = Metadata::new();
    m.set_tag(ExifTag::Software("vchat".into()));
    m.set_tag(ExifTag::DateTimeOriginal(stamp.clone()));
    m.set_tag(ExifTag::CreateDate(stamp));
    m.set_tag(ExifTag::OffsetTimeOriginal("+00:00".into()));
    m.set_tag(ExifTag::SubSecTimeOriginal(format!(
        "{:03}",
        taken_at.rem_euclid(1000)
    )));
    if let Some(p) = place {
        let at = utc(p.at);
        m.set_tag(ExifTag::GPSVersionID(vec![2, 3, 0, 0]));
        m.set_tag(ExifTag::GPSLatitudeRef(
            if p.lat < 0.0 { "S" } else { "N" }.into(),
        ));
        m.set_tag(ExifTag::GPSLatitude(dms(p.lat)));
        m.set_tag(ExifTag::GPSLongitudeRef(
            if p.lon < 0.0 { "W" } else { "E" }.into(),
        ));
        m.set_tag(ExifTag::GPSLongitude(dms(p.lon)));
        m.set_tag(ExifTag::GPSHPositioningError(vec![uR64 {
            nominator: (p.accuracy * 100.0).round() as u32,
            denominator: 100,
        }]));
        m.set_tag(ExifTag::GPSMapDatum("WGS-84".into()));
        m.set_tag(ExifTag::GPSDateStamp(format!(
            "{:04}:{:02}:{:02}",
            at.year(),
            at.month() as u8,
            at.day()
        )));
        m.set_tag(ExifTag::GPSTimeStamp(vec![
            uR64 {
                nominator: at.hour() as u32,
                denominator: 1,
            },
            uR64 {
                nominator: at.minute() as u32,
                denominator: 1,
            },
            uR64 {
                nominator: at.second() as u32,
                denominator: 1,
            },
        ]));
    }
    m.write_to_vec(jpeg, FileExtension::JPEG)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest JPEG with a frame header: SOI, SOF0 (3 x 2, one component), EOI.
    fn tiny(w: u16, h: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8];
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&[1, 1, 0x11, 0, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn jpeg_sizes_come_from_the_frame_header() {
        assert_eq!(jpeg_size(&tiny(1920, 1080)), Ok((1920, 1080)));
        assert!(jpeg_size(b"\x89PNG\r\n\x1a\n").is_err());
        assert!(
            jpeg_size(&[0xFF, 0xD8, 0xFF, 0xC0, 0, 40]).is_err(),
            "cut short"
        );
        assert!(jpeg_size(&tiny(0, 10)).is_err());
    }

    #[test]
    fn positions_become_degrees_minutes_seconds() {
        let v = dms(-55.755814);
        assert_eq!((v[0].nominator, v[1].nominator), (55, 45));
        let seconds = v[2].nominator as f64 / v[2].denominator as f64;
        assert!((seconds - 20.9304).abs() < 0.001, "{seconds}");
        assert_eq!(file_time(0), "19700101-000000");
    }
}
