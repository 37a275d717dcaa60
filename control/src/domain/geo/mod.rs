//! Geolocation: positions the client shares, a map link for people, and the address
//! from a Nominatim-compatible `/reverse` endpoint — cached, and at most one request
//! per `geo.min_interval_ms` for the whole process (the public instance's policy is
//! one per second per application, with an identifying User-Agent).

pub mod nominatim;
pub mod preview;

use serde::{Deserialize, Serialize};

/// A position as a browser reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy: f64,
    /// When it was measured (Unix ms); default: when it arrived.
    #[serde(default)]
    pub at: Option<i64>,
}

impl Position {
    /// Refuses positions that are not on Earth.
    pub fn check(&self) -> Result<(), &'static str> {
        if !(self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat)) {
            return Err("lat must be between -90 and 90");
        }
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            return Err("lon must be between -180 and 180");
        }
        if !(self.accuracy.is_finite() && (0.0..=1_000_000.0).contains(&self.accuracy)) {
            return Err("accuracy is 0 to 1000000 metres");
        }
        Ok(())
    }
}

/// A Yandex Maps link with a pin: `pt` takes longitude first.
pub fn yandex_map_url(lat: f64, lon: f64) -> String {
    format!("https://yandex.ru/maps/?pt={lon:.6},{lat:.6}&z=17&l=map")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_links_put_longitude_first() {
        assert_eq!(
            yandex_map_url(55.755814, 37.617635),
            "https://yandex.ru/maps/?pt=37.617635,55.755814&z=17&l=map"
        );
    }

    #[test]
    fn positions_off_the_earth_are_refused() {
        let p = |lat, lon, accuracy| Position {
            lat,
            lon,
            accuracy,
            at: None,
        };
        assert!(p(55.7, 37.6, 20.0).check().is_ok());
        assert!(p(90.1, 0.0, 1.0).check().is_err());
        assert!(p(0.0, -180.5, 1.0).check().is_err());
        assert!(p(f64::NAN, 0.0, 1.0).check().is_err());
        assert!(p(0.0, 0.0, -1.0).check().is_err());
    }
}
