//! Record ids and random tokens.
//!
//! Ids are ULID-shaped: 48 bits of Unix milliseconds, then 80 random bits, in
//! Crockford base32 (26 characters). They sort by creation time, so "newest first"
//! and event order need no second key; within one millisecond the random part is
//! incremented instead of redrawn, so ids made by one process never go backwards.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Letters of short link codes: no 0/O, 1/l/I, so a code read aloud or retyped from
/// an SMS survives.
const CODE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// UTC calendar fields of Unix ms.
pub fn utc(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    let ms = u64::try_from(now_ms()).unwrap_or(0) & ((1 << 48) - 1);
    let (ms, random) = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let next = if last.0 >= ms {
            // Same (or an earlier, after a clock step) millisecond: keep order.
            (last.0, last.1.wrapping_add(1) & ((1 << 80) - 1))
        } else {
            let mut bytes = [0u8; 16];
            aws_lc_rs::rand::fill(&mut bytes[6..]).expect("system randomness");
            (ms, u128::from_be_bytes(bytes))
        };
        *last = next;
        next
    };
    let value = (u128::from(ms) << 80) | random;
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// `bytes` random bytes as unpadded base64url: session cookies, API tokens.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A short link code of `len` characters (55 letters each: 10 characters ≈ 58 bits).
pub fn short_code(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 1];
    while out.len() < len {
        aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
        // Rejection sampling keeps every letter equally likely.
        let limit = 256 - 256 % CODE_ALPHABET.len();
        if usize::from(buf[0]) < limit {
            out.push(CODE_ALPHABET[usize::from(buf[0]) % CODE_ALPHABET.len()] as char);
        }
    }
    out
}

/// Whether `code` could be a short link code (checked before any lookup).
pub fn is_short_code(code: &str) -> bool {
    (8..=32).contains(&code.len()) && code.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

/// Whether `id` could be an id made by [`new_id`].
pub fn is_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| CROCKFORD.contains(&b))
}

/// The SHA-256 of `secret` in hex: what is stored of session cookies and API tokens,
/// so a copy of the database does not log anyone in.
pub fn digest(secret: &str) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Lower-case hex of `bytes` (how digests are stored and shown).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_and_are_distinct() {
        let ids: Vec<String> = (0..2000).map(|_| new_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|i| is_id(i)));
    }

    #[test]
    fn short_codes_use_the_unambiguous_alphabet() {
        for _ in 0..100 {
            let c = short_code(10);
            assert!(is_short_code(&c), "{c}");
        }
        assert!(!is_short_code("../x/abcd"));
        assert!(!is_short_code("abc"));
        assert!(!is_short_code("O0O0O0O0O0"));
    }
}
