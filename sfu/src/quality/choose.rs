//! Which simulcast layer one subscriber gets of one track, from its share of the
//! bandwidth estimate.
//!
//! Down at once: as soon as the share is below what the current layer needs, the next
//! layer that fits is chosen (none fits: the video pauses). Up only with headroom held:
//! a higher layer is chosen once the share has stayed above its need times
//! [`UP_HEADROOM`] for [`UP_HOLD`] — a link that just recovered, or an estimate that
//! probes, does not make the picture flap.

use std::time::{Duration, Instant};

/// How much more than a layer's need the share must be before going up to it.
pub(crate) const UP_HEADROOM: f64 = 1.15;
/// How long the share must allow a higher layer before it is chosen.
pub(crate) const UP_HOLD: Duration = Duration::from_millis(1500);

/// What a layer costs and shows, as the publisher sends it now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LayerInfo {
    /// Its bitrate, bit/s (measured; a default until it is).
    pub(crate) bitrate: u64,
    /// Its height, from its last keyframe; 0 when not known yet.
    pub(crate) height: u16,
    /// The publisher sends it (packets within the last second).
    pub(crate) active: bool,
}

/// The choice for one subscriber's track, with its hysteresis.
#[derive(Debug, Default, Clone)]
pub(crate) struct Chooser {
    /// The layer chosen, lowest 0; `None`: paused (or nothing chosen yet).
    target: Option<usize>,
    /// Whether a choice was ever made.
    started: bool,
    /// Since when the share allows `up_to`.
    up_since: Option<(Instant, usize)>,
    /// The cap of the last choice.
    cap: Option<u16>,
    /// Which layers were active at the last choice, one bit each.
    active: u8,
}

/// Whether `layer` may be forwarded under the cap (`None`: no cap). A layer whose height
/// is not known yet passes only if it is the lowest: a cap is never broken by a guess.
fn under_cap(layers: &[LayerInfo], index: usize, cap: Option<u16>) -> bool {
    match cap {
        None => true,
        Some(cap) => {
            let h = layers[index].height;
            if h == 0 { index == 0 } else { h <= cap }
        }
    }
}

impl Chooser {
    /// The layer chosen (`None`: paused).
    pub(crate) fn target(&self) -> Option<usize> {
        self.target
    }

    /// Chooses again with `share` bit/s for this track (`None`: no estimate, take the
    /// best allowed), the layers lowest first, and the cap. Returns the new choice when
    /// it changed.
    pub(crate) fn update(
        &mut self,
        now: Instant,
        share: Option<u64>,
        layers: &[LayerInfo],
        cap: Option<u16>,
    ) -> Option<Option<usize>> {
        // Under the cap; where no layer is (a screen shared larger than the cap, say),
        // the lowest one sent: an SFU cannot scale, and no picture is worse.
        let any_under = (0..layers.len()).any(|i| layers[i].active && under_cap(layers, i, cap));
        let lowest = (0..layers.len()).find(|i| layers[*i].active);
        let allowed = |i: usize| {
            layers[i].active && (under_cap(layers, i, cap) || (!any_under && Some(i) == lowest))
        };
        let best_allowed = (0..layers.len()).rev().find(|i| allowed(*i));
        let fitting = |factor: f64| match share {
            None => best_allowed,
            Some(share) => (0..layers.len())
                .rev()
                .find(|i| allowed(*i) && (layers[*i].bitrate as f64) * factor <= share as f64),
        };
        let fits_now = fitting(1.0);
        let cap_before = self.cap;
        self.cap = cap;
        let active = layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.active)
            .fold(0u8, |m, (i, _)| m | (1 << i.min(7)));
        // A new cap or a layer that starts or stops is no news about the link: the
        // choice follows at once.
        let cap_changed = cap != cap_before || active != self.active;
        self.active = active;
        let wanted = match self.target {
            // First choice, no estimate to hold against, or a new cap (not news about
            // the link): what fits, now.
            _ if !self.started || share.is_none() || cap_changed => fits_now,
            // The current layer is gone or above the cap now: move at once.
            Some(current) if !allowed(current) => fits_now,
            Some(current) if fits_now.is_none_or(|f| f < current) => fits_now,
            current => {
                let up = fitting(UP_HEADROOM);
                match (up, current) {
                    (Some(up), current) if current.is_none_or(|c| up > c) => match self.up_since {
                        Some((since, to)) if to == up => {
                            if now.duration_since(since) >= UP_HOLD {
                                Some(up)
                            } else {
                                current
                            }
                        }
                        _ => {
                            self.up_since = Some((now, up));
                            current
                        }
                    },
                    _ => {
                        self.up_since = None;
                        current
                    }
                }
            }
        };
        // Started once something was chosen: until then (no layer heard yet) the first
        // layer heard is taken at once.
        self.started |= wanted.is_some();
        // Nothing is sent at all (the camera is off, the publisher reconnects): not a
        // bandwidth pause, so what comes back is taken at once.
        if best_allowed.is_none() {
            self.started = false;
        }
        if wanted == self.target {
            return None;
        }
        self.up_since = None;
        self.target = wanted;
        Some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> [LayerInfo; 3] {
        [
            LayerInfo {
                bitrate: 150_000,
                height: 180,
                active: true,
            },
            LayerInfo {
                bitrate: 500_000,
                height: 360,
                active: true,
            },
            LayerInfo {
                bitrate: 1_500_000,
                height: 720,
                active: true,
            },
        ]
    }

    #[test]
    fn down_at_once_up_after_the_hold_with_headroom() {
        let t0 = Instant::now();
        let l = layers();
        let mut c = Chooser::default();
        assert_eq!(c.update(t0, Some(2_500_000), &l, None), Some(Some(2)));
        // The link falls: down in the same pass.
        assert_eq!(c.update(t0, Some(400_000), &l, None), Some(Some(0)));
        // Enough for the middle layer, but not with headroom: stays.
        let ms = Duration::from_millis;
        assert_eq!(c.update(t0 + ms(100), Some(550_000), &l, None), None);
        assert_eq!(c.update(t0 + ms(5000), Some(550_000), &l, None), None);
        // Headroom for the top layer: only after the hold.
        assert_eq!(c.update(t0 + ms(6000), Some(2_500_000), &l, None), None);
        assert_eq!(c.update(t0 + ms(7000), Some(2_500_000), &l, None), None);
        assert_eq!(
            c.update(t0 + ms(7600), Some(2_500_000), &l, None),
            Some(Some(2))
        );
        // A dip during a hold restarts it.
        c.update(t0 + ms(8000), Some(400_000), &l, None);
        c.update(t0 + ms(8100), Some(2_500_000), &l, None);
        c.update(t0 + ms(8200), Some(400_000), &l, None);
        assert_eq!(c.update(t0 + ms(9000), Some(2_500_000), &l, None), None);
        assert_eq!(c.target(), Some(0));
    }

    #[test]
    fn nothing_fits_pauses_and_recovery_resumes() {
        let t0 = Instant::now();
        let l = layers();
        let mut c = Chooser::default();
        c.update(t0, Some(1_000_000), &l, None);
        assert_eq!(c.update(t0, Some(100_000), &l, None), Some(None));
        assert_eq!(c.target(), None);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(c.update(later, Some(300_000), &l, None), None);
        assert_eq!(
            c.update(later + UP_HOLD, Some(300_000), &l, None),
            Some(Some(0))
        );
    }

    #[test]
    fn the_cap_is_never_broken_and_applies_at_once() {
        let t0 = Instant::now();
        let mut l = layers();
        let mut c = Chooser::default();
        assert_eq!(c.update(t0, None, &l, Some(480)), Some(Some(1)));
        assert_eq!(c.update(t0, None, &l, None), Some(Some(2)));
        assert_eq!(c.update(t0, None, &l, Some(200)), Some(Some(0)));
        // Heights not known yet: only the lowest passes a cap.
        for layer in &mut l {
            layer.height = 0;
        }
        let mut fresh = Chooser::default();
        assert_eq!(fresh.update(t0, None, &l, Some(1080)), Some(Some(0)));
    }

    #[test]
    fn a_track_taller_than_the_cap_with_no_lower_layer_still_shows() {
        let t0 = Instant::now();
        let screen = [LayerInfo {
            bitrate: 800_000,
            height: 900,
            active: true,
        }];
        let mut c = Chooser::default();
        assert_eq!(c.update(t0, None, &screen, Some(720)), Some(Some(0)));
        // With layers to choose from, the cap holds.
        let mut l = layers();
        l[0].height = 540;
        l[1].height = 720;
        l[2].height = 1080;
        let mut c = Chooser::default();
        assert_eq!(c.update(t0, None, &l, Some(720)), Some(Some(1)));
    }

    #[test]
    fn a_layer_the_publisher_stops_is_left_at_once() {
        let t0 = Instant::now();
        let mut l = layers();
        let mut c = Chooser::default();
        c.update(t0, Some(3_000_000), &l, None);
        l[2].active = false;
        assert_eq!(c.update(t0, Some(3_000_000), &l, None), Some(Some(1)));
    }
}
