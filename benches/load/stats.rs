//! What the generator measures: counts, loss and latency histograms.

use std::time::Duration;

/// A latency histogram: 1 µs buckets below 1 ms, 10 µs to 100 ms, 1 ms above.
#[derive(Clone)]
pub struct Histogram {
    fine: Vec<u64>,
    mid: Vec<u64>,
    coarse: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            fine: vec![0; 1000],
            mid: vec![0; 10_000],
            coarse: vec![0; 10_000],
            count: 0,
        }
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros() as u64;
        if us < 1000 {
            self.fine[us as usize] += 1;
        } else if us < 100_000 {
            self.mid[(us / 10) as usize] += 1;
        } else {
            self.coarse[((us / 1000) as usize).min(9_999)] += 1;
        }
        self.count += 1;
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.fine.iter_mut().zip(&other.fine) {
            *a += b;
        }
        for (a, b) in self.mid.iter_mut().zip(&other.mid) {
            *a += b;
        }
        for (a, b) in self.coarse.iter_mut().zip(&other.coarse) {
            *a += b;
        }
        self.count += other.count;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..=1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= target {
                return i as f64;
            }
        }
        for (i, n) in self.mid.iter().enumerate() {
            seen += n;
            if seen >= target {
                return (i * 10) as f64;
            }
        }
        for (i, n) in self.coarse.iter().enumerate() {
            seen += n;
            if seen >= target {
                return (i * 1000) as f64;
            }
        }
        100_000_000.0
    }
}

/// Counters of one media thread (or all of them, merged).
#[derive(Clone, Default)]
pub struct Counters {
    /// RTP packets published.
    pub sent: u64,
    /// RTP packets received by subscribers (after the SFU).
    pub received: u64,
    /// Payload bytes received.
    pub received_bytes: u64,
    /// Packets expected by subscribers (from the publishers' packet indices).
    pub expected: u64,
    /// One-way latency publisher → subscriber, per packet.
    pub latency: Histogram,
    /// Join → first complete video keyframe, per subscription.
    pub first_frame: Histogram,
    /// Keyframe requests the publishers got.
    pub keyframe_requests: u64,
    /// Video packets received, by simulcast layer (0: the only one without simulcast).
    pub video_by_layer: [u64; 4],
}

impl Counters {
    /// Adds another thread's counters.
    pub fn merge(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.received += other.received;
        self.received_bytes += other.received_bytes;
        self.expected += other.expected;
        self.latency.merge(&other.latency);
        self.first_frame.merge(&other.first_frame);
        self.keyframe_requests += other.keyframe_requests;
        for (a, b) in self.video_by_layer.iter_mut().zip(other.video_by_layer) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record(Duration::from_micros(us * 100));
        }
        assert_eq!(h.quantile_us(0.5), 5000.0);
        assert_eq!(h.quantile_us(0.99), 9900.0);
        assert_eq!(h.quantile_us(1.0), 10_000.0);
        let mut total = Histogram::default();
        total.merge(&h);
        assert_eq!(total.count(), 100);
    }
}
