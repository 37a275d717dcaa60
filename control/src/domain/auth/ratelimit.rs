//! Login attempts per client address: at most `per_minute` in any minute (a sliding
//! window), the rest answered 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// The limiter.
pub struct LoginLimiter {
    per_minute: usize,
    attempts: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl LoginLimiter {
    /// At most `per_minute` attempts per address.
    pub fn new(per_minute: usize) -> LoginLimiter {
        LoginLimiter {
            per_minute,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip` at `now`; `Err(wait)` when over the limit.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            // Forget addresses whose window passed, so the map cannot grow forever.
            map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let times = map.entry(ip).or_default();
        times.retain(|t| now.duration_since(*t) < WINDOW);
        if times.len() >= self.per_minute {
            let oldest = times[0];
            return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        times.push(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_attempt_in_a_minute_waits() {
        let l = LoginLimiter::new(10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(l.attempt(ip, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = l.attempt(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(l.attempt(other, t0).is_ok(), "per address");
        assert!(
            l.attempt(ip, t0 + Duration::from_secs(61)).is_ok(),
            "window slides"
        );
    }
}
