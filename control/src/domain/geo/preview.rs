//! The map picture of a shared position: fetched once from the static-map service the
//! template names (`geo.static_map_url`, the Yandex Static API by default) and kept as
//! a file of the call, so pages show it from vchat itself (no third-party image in the
//! page, and it outlives the service's answer).

use std::time::Duration;

use crate::domain::Deps;
use crate::domain::files::Files;
use crate::model::{FileMeta, Interaction};

/// The largest picture taken from the service.
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Fetches and stores the picture; `None` when pictures are off or the service
/// failed (said in the log). The record is for the caller to commit.
pub async fn fetch(deps: &Deps, i: &Interaction, by: &str, lat: f64, lon: f64) -> Option<FileMeta> {
    let url = deps.config.geo.static_map(lat, lon)?;
    let got = async {
        let response = deps
            .http
            .get(&url)
            .header(reqwest::header::USER_AGENT, &deps.config.geo.user_agent)
            .header(reqwest::header::ACCEPT, "image/png, image/jpeg, image/*")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered HTTP {status}"));
        }
        let kind = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let extension = match kind.as_str() {
            "image/png" => "png",
            "image/jpeg" => "jpg",
            "image/webp" => "webp",
            "image/gif" => "gif",
            other => return Err(format!("sent {other:?}, not a picture")),
        };
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_BYTES)
        {
            return Err("sent a picture over 2 MiB".into());
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("broke off: {e}"))?;
        if bytes.is_empty() || bytes.len() > MAX_BYTES {
            return Err("sent no picture, or one over 2 MiB".into());
        }
        Ok((kind, extension, bytes))
    }
    .await;
    let (kind, extension, bytes) = match got {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("static map service {e}");
            return None;
        }
    };
    let files = Files::from(deps.clone());
    match files
        .store_bytes(i, by, &format!("map.{extension}"), &kind, &bytes)
        .await
    {
        Ok((meta, _)) => Some(meta),
        Err(e) => {
            tracing::warn!("cannot keep the map picture: {e}");
            None
        }
    }
}
