//! Long-term credentials (RFC 8489 §9.2): static users, TURN REST credentials over a
//! shared secret, stateless nonces with an expiry, and a limit on 401 answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::proto::integrity::long_term_key;

/// Who may allocate.
#[derive(Clone, Default)]
pub struct Credentials {
    realm: String,
    /// Shared secrets, newest first: a rotated-out secret keeps working until the
    /// credentials it signed expire.
    secrets: Vec<Vec<u8>>,
    /// username → long-term key.
    users: HashMap<String, [u8; 16]>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("realm", &self.realm)
            .field("secrets", &self.secrets.len())
            .field("users", &self.users.len())
            .finish()
    }
}

/// How a username was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A known user: check the integrity with this key.
    Key([u8; 16]),
    /// A REST username whose expiry has passed.
    Expired,
    /// Nobody by that name.
    Unknown,
}

impl Credentials {
    /// Credentials for `realm`.
    pub fn new(realm: impl Into<String>) -> Credentials {
        Credentials {
            realm: realm.into(),
            ..Credentials::default()
        }
    }

    /// Accepts TURN REST usernames signed with `secret`.
    pub fn with_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(secret.as_ref().to_vec());
        self
    }

    /// Adds a static user.
    pub fn with_user(mut self, name: &str, password: &str) -> Self {
        let key = long_term_key(name, &self.realm, password);
        self.users.insert(name.to_owned(), key);
        self
    }

    /// The realm sent in every challenge.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Finds the key for `username` at `unix_now` (seconds).
    pub fn lookup(&self, username: &str, unix_now: u64) -> Lookup {
        if let Some(key) = self.users.get(username) {
            return Lookup::Key(*key);
        }
        if self.secrets.is_empty() {
            return Lookup::Unknown;
        }
        // `<expiry>:<user>`; coturn also accepts a bare expiry.
        let expiry = username
            .split(':')
            .next()
            .and_then(|e| e.parse::<u64>().ok());
        let Some(expiry) = expiry else {
            return Lookup::Unknown;
        };
        if expiry <= unix_now {
            return Lookup::Expired;
        }
        // Any secret could have signed it; the integrity check tells which. The first
        // (current) one is what clients get today.
        let password = rest_password(&self.secrets[0], username);
        Lookup::Key(long_term_key(username, &self.realm, &password))
    }

    /// Keys of the older secrets for `username`, tried after the first fails.
    pub fn older_keys<'a>(&'a self, username: &'a str) -> impl Iterator<Item = [u8; 16]> + 'a {
        self.secrets
            .iter()
            .skip(1)
            .map(move |s| long_term_key(username, &self.realm, &rest_password(s, username)))
    }
}

/// The TURN REST password: base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    STANDARD.encode(hmac::sign(&key, username.as_bytes()).as_ref())
}

/// Fresh REST credentials for `user`, valid `ttl` from `unix_now`.
pub fn rest_credentials(
    secret: &[u8],
    user: &str,
    unix_now: u64,
    ttl: Duration,
) -> (String, String) {
    let username = format!("{}:{user}", unix_now + ttl.as_secs());
    let password = rest_password(secret, &username);
    (username, password)
}

/// Stateless nonces: `<expiry, 8 hex>` + a 16-hex MAC over it and the client's IP, so
/// a server keeps no per-client state before it authenticates anyone, and a nonce
/// lifted from one client is useless from another address.
pub struct Nonces {
    key: hmac::Key,
    lifetime: Duration,
}

/// A nonce's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, for this client, not expired.
    Fresh,
    /// Ours, expired: answer 438 with a new one.
    Stale,
    /// Not ours, or for another client: challenge again (401).
    Invalid,
}

impl Nonces {
    /// Nonces signed with a random key, living `lifetime`.
    pub fn new(lifetime: Duration) -> Nonces {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            lifetime,
        }
    }

    fn mac(&self, expiry: u32, client: IpAddr) -> u64 {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&expiry.to_be_bytes());
        match client {
            IpAddr::V4(a) => ctx.update(&a.octets()),
            IpAddr::V6(a) => ctx.update(&a.octets()),
        }
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(first)
    }

    /// A nonce for `client`, written into `out` (24 ASCII characters).
    pub fn issue(&self, unix_now: u64, client: IpAddr, out: &mut [u8; 24]) {
        let expiry = (unix_now + self.lifetime.as_secs()) as u32;
        let mac = self.mac(expiry, client);
        hex(&expiry.to_be_bytes(), &mut out[..8]);
        hex(&mac.to_be_bytes(), &mut out[8..]);
    }

    /// Checks a nonce a client sent back.
    pub fn check(&self, nonce: &str, unix_now: u64, client: IpAddr) -> NonceCheck {
        let b = nonce.as_bytes();
        if b.len() != 24 {
            return NonceCheck::Invalid;
        }
        let (Some(expiry), Some(mac)) = (unhex(&b[..8]), unhex(&b[8..])) else {
            return NonceCheck::Invalid;
        };
        let expiry = expiry as u32;
        if self.mac(expiry, client) != mac {
            return NonceCheck::Invalid;
        }
        if u64::from(expiry) <= unix_now {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }
}

fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
}

fn unhex(s: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = v << 4 | u64::from(d);
    }
    Some(v)
}

/// A token bucket per source IP for 401 answers: a client that keeps guessing
/// passwords, or spoofs sources to make us send challenges, gets silence. Bounded: the
/// table is cleared when it grows past `MAX_TRACKED` (an attacker spraying sources
/// then only resets buckets, never grows memory).
pub struct ChallengeLimiter {
    per_second: f64,
    burst: f64,
    buckets: HashMap<IpAddr, (f64, u64)>,
}

const MAX_TRACKED: usize = 65_536;

impl ChallengeLimiter {
    /// `per_second` answers on average, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> ChallengeLimiter {
        ChallengeLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Whether a 401 may go to `ip` at `now_ms`.
    pub fn allow(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&ip) {
            self.buckets.clear();
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.burst, now_ms));
        let refill = (now_ms.saturating_sub(*at)) as f64 / 1000.0 * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets buckets untouched for a minute (called from the relay's sweep).
    pub fn sweep(&mut self, now_ms: u64) {
        self.buckets
            .retain(|_, (_, at)| now_ms.saturating_sub(*at) < 60_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_password_matches_coturn() {
        // Computed independently: `printf %s 1600000000:alice | openssl dgst -sha1
        // -hmac north -binary | base64`.
        assert_eq!(
            rest_password(b"north", "1600000000:alice"),
            "gq98pTOhhHaAu0we9aV79kOVVv0="
        );
    }

    #[test]
    fn rest_usernames_expire_and_static_users_do_not() {
        let c = Credentials::new("vchat")
            .with_secret("s3cret")
            .with_user("op", "pw");
        assert!(matches!(c.lookup("2000:alice", 1000), Lookup::Key(_)));
        assert_eq!(c.lookup("1000:alice", 1000), Lookup::Expired);
        assert_eq!(c.lookup("alice", 1000), Lookup::Unknown);
        assert_eq!(
            c.lookup("op", u64::MAX),
            Lookup::Key(long_term_key("op", "vchat", "pw"))
        );
        let (user, pass) = rest_credentials(b"s3cret", "bob", 1000, Duration::from_secs(60));
        assert_eq!(
            c.lookup(&user, 1000),
            Lookup::Key(long_term_key(&user, "vchat", &pass))
        );
    }

    #[test]
    fn nonces_are_bound_to_the_client_and_expire() {
        let n = Nonces::new(Duration::from_secs(600));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut nonce = [0u8; 24];
        n.issue(1000, a, &mut nonce);
        let s = std::str::from_utf8(&nonce).unwrap();
        assert_eq!(n.check(s, 1000, a), NonceCheck::Fresh);
        assert_eq!(n.check(s, 1600, a), NonceCheck::Stale);
        assert_eq!(
            n.check(s, 1000, "192.0.2.2".parse().unwrap()),
            NonceCheck::Invalid
        );
        assert_eq!(
            n.check("not a nonce at all......", 1000, a),
            NonceCheck::Invalid
        );
        assert_eq!(n.check("", 1000, a), NonceCheck::Invalid);
    }

    #[test]
    fn challenges_are_rate_limited_per_source() {
        let mut l = ChallengeLimiter::new(10, 20);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!((0..100).filter(|_| l.allow(a, 0)).count(), 20);
        assert!(l.allow("192.0.2.9".parse().unwrap(), 0));
        assert_eq!((0..100).filter(|_| l.allow(a, 1000)).count(), 10);
    }
}
