//! MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
//! (RFC 8489 §14.5–14.7), and the long-term credential key (§9.2.2).

use aws_lc_rs::hmac;
use md5::{Digest, Md5};

use super::attr;
use super::message::{HEADER_LEN, Integrity};

/// XORed into the CRC-32 of a FINGERPRINT ("STUN").
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The long-term credential key: MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(username.as_bytes());
    md5.update(b":");
    md5.update(realm.as_bytes());
    md5.update(b":");
    md5.update(password.as_bytes());
    md5.finalize().into()
}

/// The message up to (not including) the attribute at `offset`, with the header's
/// length rewritten to end `tail` bytes after it — what an integrity or fingerprint
/// attribute at `offset` covers.
fn covered(raw: &[u8], offset: usize, tail: usize) -> ([u8; HEADER_LEN], &[u8]) {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&raw[..HEADER_LEN]);
    let len = (offset - HEADER_LEN + tail) as u16;
    header[2..4].copy_from_slice(&len.to_be_bytes());
    (header, &raw[HEADER_LEN..offset])
}

fn hmac(algorithm: hmac::Algorithm, key: &[u8], header: &[u8], body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(algorithm, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(header);
    ctx.update(body);
    ctx.sign()
}

pub(super) fn verify_sha1(raw: &[u8], offset: usize, key: &[u8], value: &[u8]) -> bool {
    if value.len() != 20 {
        return false;
    }
    let (header, body) = covered(raw, offset, 24);
    let tag = hmac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, &header, body);
    aws_lc_rs::constant_time::verify_slices_are_equal(tag.as_ref(), value).is_ok()
}

pub(super) fn verify_sha256(raw: &[u8], offset: usize, key: &[u8], value: &[u8]) -> bool {
    // RFC 8489 §14.6: at least 16 bytes, a multiple of 4, a prefix of the HMAC.
    if value.len() < 16 || value.len() > 32 || !value.len().is_multiple_of(4) {
        return false;
    }
    let (header, body) = covered(raw, offset, 4 + value.len());
    let tag = hmac(hmac::HMAC_SHA256, key, &header, body);
    aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..value.len()], value).is_ok()
}

pub(super) fn verify_fingerprint(raw: &[u8], offset: usize, value: &[u8]) -> bool {
    let Ok(value) = <[u8; 4]>::try_from(value) else {
        return false;
    };
    let (header, body) = covered(raw, offset, 8);
    u32::from_be_bytes(value) == crc(&header, body)
}

fn crc(header: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(body);
    h.finalize() ^ FINGERPRINT_XOR
}

/// Appends MESSAGE-INTEGRITY(-SHA256) over what `out` holds.
pub(super) fn append(out: &mut Vec<u8>, key: &[u8], kind: Integrity) {
    let offset = out.len();
    match kind {
        Integrity::Sha1 => {
            let (header, body) = covered(out, offset, 24);
            let tag = hmac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, &header, body);
            attr::write_raw(out, attr::MESSAGE_INTEGRITY, tag.as_ref());
        }
        Integrity::Sha256 => {
            let (header, body) = covered(out, offset, 36);
            let tag = hmac(hmac::HMAC_SHA256, key, &header, body);
            attr::write_raw(out, attr::MESSAGE_INTEGRITY_SHA256, tag.as_ref());
        }
    }
}

/// Appends FINGERPRINT over what `out` holds.
pub(super) fn append_fingerprint(out: &mut Vec<u8>) {
    let offset = out.len();
    let (header, body) = covered(out, offset, 8);
    let value = crc(&header, body);
    attr::write_raw(out, attr::FINGERPRINT, &value.to_be_bytes());
}
