//! Reverse geocoding against a Nominatim-compatible endpoint:
//! `GET <base>/reverse?lat=&lon=&format=jsonv2&zoom=18&addressdetails=1&accept-language=`.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::GeoConfig;
use crate::domain::cache::Bounded;

/// An address found for a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// The whole address in one line.
    pub display_name: String,
    /// Its parts (house_number, road, city, postcode, country, ...).
    pub address: serde_json::Value,
    /// OSM's licence line, which must be shown with the data.
    pub licence: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    display_name: Option<String>,
    address: Option<serde_json::Value>,
    licence: Option<String>,
    error: Option<String>,
}

/// Rounded position → what the service said there.
type Cache = Bounded<(i64, i64), Option<Address>>;

/// The geocoder: one request at a time, spaced, with a cache in front.
pub struct Geocoder {
    next_slot: tokio::sync::Mutex<Instant>,
    cache: Mutex<Cache>,
    /// Requests sent upstream.
    pub upstream_requests: std::sync::atomic::AtomicU64,
}

impl Default for Geocoder {
    fn default() -> Self {
        Geocoder {
            next_slot: tokio::sync::Mutex::new(Instant::now()),
            cache: Mutex::default(),
            upstream_requests: Default::default(),
        }
    }
}

/// ~1 m: nearer positions share a cache entry.
fn key(lat: f64, lon: f64) -> (i64, i64) {
    ((lat * 1e5).round() as i64, (lon * 1e5).round() as i64)
}

impl Geocoder {
    /// The address at a position: `Ok(None)` when the service has none there.
    pub async fn reverse(
        &self,
        http: &reqwest::Client,
        config: &GeoConfig,
        lat: f64,
        lon: f64,
    ) -> Result<Option<Address>, String> {
        let k = key(lat, lon);
        if let Some(hit) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&k) {
            return Ok(hit.clone());
        }
        let Some(base) = &config.nominatim_url else {
            return Err("reverse geocoding is off (geo.nominatim_url)".into());
        };
        {
            // Holding the slot while waiting serialises every caller behind it.
            let mut slot = self.next_slot.lock().await;
            tokio::time::sleep_until(*slot).await;
            *slot = Instant::now() + Duration::from_millis(config.min_interval_ms);
        }
        // Another caller may have filled the cache meanwhile.
        if let Some(hit) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&k) {
            return Ok(hit.clone());
        }
        self.upstream_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = format!("{}/reverse", base.trim_end_matches('/'));
        let response = http
            .get(&url)
            .query(&[
                ("lat", format!("{lat:.7}")),
                ("lon", format!("{lon:.7}")),
                ("format", "jsonv2".into()),
                ("zoom", "18".into()),
                ("addressdetails", "1".into()),
                ("accept-language", config.language.clone()),
            ])
            .header(reqwest::header::USER_AGENT, &config.user_agent)
            .send()
            .await
            .map_err(|e| format!("geocoder unreachable: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            // 403/429 mean the policy was broken or the service is busy: not cached.
            return Err(format!("geocoder answered HTTP {status}"));
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| format!("geocoder answer is not its JSON: {e}"))?;
        let found = match (answer.error, answer.display_name) {
            (Some(_), _) | (None, None) => None,
            (None, Some(display_name)) => Some(Address {
                display_name,
                address: answer.address.unwrap_or(serde_json::Value::Null),
                licence: answer.licence,
            }),
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            k,
            found.clone(),
            config.cache_entries,
        );
        Ok(found)
    }
}
