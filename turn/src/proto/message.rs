//! STUN messages (RFC 8489 §5, §6): reading without copying, writing into a buffer.

use std::net::SocketAddr;

use super::attr::{self, Attr};
use super::integrity;

/// The magic cookie of every RFC 5389+ STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 20;

/// A STUN method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 8489.
    Binding,
    /// RFC 8656 §7.
    Allocate,
    /// RFC 8656 §8.
    Refresh,
    /// RFC 8656 §11 (indication).
    Send,
    /// RFC 8656 §11 (indication).
    Data,
    /// RFC 8656 §9.
    CreatePermission,
    /// RFC 8656 §12.
    ChannelBind,
    /// Anything else, by number.
    Other(u16),
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Method::Binding => 0x001,
            Method::Allocate => 0x003,
            Method::Refresh => 0x004,
            Method::Send => 0x006,
            Method::Data => 0x007,
            Method::CreatePermission => 0x008,
            Method::ChannelBind => 0x009,
            Method::Other(c) => c & 0x0fff,
        }
    }

    fn from_code(code: u16) -> Method {
        match code {
            0x001 => Method::Binding,
            0x003 => Method::Allocate,
            0x004 => Method::Refresh,
            0x006 => Method::Send,
            0x007 => Method::Data,
            0x008 => Method::CreatePermission,
            0x009 => Method::ChannelBind,
            other => Method::Other(other),
        }
    }
}

/// A STUN message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Request.
    Request,
    /// Indication.
    Indication,
    /// Success response.
    Success,
    /// Error response.
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0,
            Class::Indication => 1,
            Class::Success => 2,
            Class::Error => 3,
        }
    }
}

/// The message type field: method bits interleaved with the two class bits.
fn encode_type(class: Class, method: Method) -> u16 {
    let m = method.code();
    let c = class.bits();
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn decode_type(t: u16) -> (Class, Method) {
    let m = (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2);
    let c = ((t & 0x0010) >> 4) | ((t & 0x0100) >> 7);
    let class = match c {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (class, Method::from_code(m))
}

/// A 96-bit transaction id.
pub type TransactionId = [u8; 12];

/// Why bytes are not a STUN message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the header, or than the header says.
    #[error("truncated STUN message")]
    Truncated,
    /// The first two bits, the cookie or the length are wrong.
    #[error("not a STUN message")]
    NotStun,
    /// An attribute runs past the end.
    #[error("malformed STUN attribute")]
    BadAttribute,
}

/// A parsed message; attributes are read on demand from the borrowed bytes.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Request, indication or response.
    pub class: Class,
    /// The method.
    pub method: Method,
    /// The transaction id.
    pub transaction: TransactionId,
    raw: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses one whole message; `bytes` must hold exactly it.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let t = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let cookie = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if t & 0xc000 != 0 || cookie != MAGIC_COOKIE || len % 4 != 0 {
            return Err(ParseError::NotStun);
        }
        if bytes.len() != HEADER_LEN + len {
            return Err(ParseError::Truncated);
        }
        // Every attribute must fit, so later lookups never fail on framing.
        let mut at = HEADER_LEN;
        while at < bytes.len() {
            if at + 4 > bytes.len() {
                return Err(ParseError::BadAttribute);
            }
            let alen = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            let next = at + 4 + alen.div_ceil(4) * 4;
            if next > bytes.len() {
                return Err(ParseError::BadAttribute);
            }
            at = next;
        }
        let (class, method) = decode_type(t);
        let mut transaction = [0u8; 12];
        transaction.copy_from_slice(&bytes[8..20]);
        Ok(Message {
            class,
            method,
            transaction,
            raw: bytes,
        })
    }

    /// The whole message as received.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Each attribute: its byte offset, type and value.
    pub fn attributes(&self) -> impl Iterator<Item = (usize, u16, &'a [u8])> + 'a {
        let raw = self.raw;
        let mut at = HEADER_LEN;
        std::iter::from_fn(move || {
            if at + 4 > raw.len() {
                return None;
            }
            let kind = u16::from_be_bytes([raw[at], raw[at + 1]]);
            let len = usize::from(u16::from_be_bytes([raw[at + 2], raw[at + 3]]));
            let value = raw.get(at + 4..at + 4 + len)?;
            let this = at;
            at += 4 + len.div_ceil(4) * 4;
            Some((this, kind, value))
        })
    }

    /// The first attribute of a type, raw.
    pub fn raw_attr(&self, kind: u16) -> Option<&'a [u8]> {
        self.attributes()
            .find(|(_, k, _)| *k == kind)
            .map(|(_, _, v)| v)
    }

    /// The first attribute of a type, decoded; `None` if absent or malformed.
    pub fn attr(&self, kind: u16) -> Option<Attr<'a>> {
        let value = self.raw_attr(kind)?;
        Attr::decode(kind, value, &self.transaction)
    }

    /// Comprehension-required attribute types (0x0000..0x7fff) that `known` does not
    /// name, for a 420 answer.
    pub fn unknown_required(&self, known: &[u16]) -> Vec<u16> {
        self.attributes()
            .map(|(_, k, _)| k)
            .filter(|k| *k < 0x8000 && !known.contains(k))
            .collect()
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, with `key`.
    /// `None` when the message carries neither.
    pub fn check_integrity(&self, key: &[u8]) -> Option<bool> {
        for (offset, kind, value) in self.attributes() {
            match kind {
                attr::MESSAGE_INTEGRITY_SHA256 => {
                    return Some(integrity::verify_sha256(self.raw, offset, key, value));
                }
                attr::MESSAGE_INTEGRITY => {
                    // A SHA-256 integrity after it would be covered by it; RFC 8489
                    // §14.6 has agents use the strongest. Look ahead for one.
                    if let Some((o2, _, v2)) = self
                        .attributes()
                        .find(|(_, k, _)| *k == attr::MESSAGE_INTEGRITY_SHA256)
                    {
                        return Some(integrity::verify_sha256(self.raw, o2, key, v2));
                    }
                    return Some(integrity::verify_sha1(self.raw, offset, key, value));
                }
                _ => {}
            }
        }
        None
    }

    /// Whether a FINGERPRINT, if present, is right. `true` when absent.
    pub fn fingerprint_ok(&self) -> bool {
        match self.attributes().find(|(_, k, _)| *k == attr::FINGERPRINT) {
            Some((offset, _, value)) => integrity::verify_fingerprint(self.raw, offset, value),
            None => true,
        }
    }
}

/// Which integrity attribute a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    Sha1,
    /// MESSAGE-INTEGRITY-SHA256.
    Sha256,
}

/// Writes a message into a reusable buffer.
pub struct Builder<'b> {
    out: &'b mut Vec<u8>,
    transaction: TransactionId,
}

impl<'b> Builder<'b> {
    /// Starts a message in `out` (cleared first).
    pub fn new(
        out: &'b mut Vec<u8>,
        class: Class,
        method: Method,
        transaction: TransactionId,
    ) -> Builder<'b> {
        out.clear();
        out.extend_from_slice(&encode_type(class, method).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&transaction);
        Builder { out, transaction }
    }

    fn set_length(&mut self) {
        let len = (self.out.len() - HEADER_LEN) as u16;
        self.out[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Adds an attribute.
    pub fn attr(mut self, a: Attr<'_>) -> Self {
        a.encode(self.out, &self.transaction);
        self.set_length();
        self
    }

    /// Adds an attribute given raw.
    pub fn raw_attr(self, kind: u16, value: &[u8]) -> Self {
        attr::write_raw(self.out, kind, value);
        let mut s = self;
        s.set_length();
        s
    }

    /// Adds MESSAGE-INTEGRITY(-SHA256) with `key` and, optionally, FINGERPRINT.
    pub fn finish(mut self, integrity: Option<(&[u8], Integrity)>, fingerprint: bool) {
        if let Some((key, kind)) = integrity {
            integrity::append(self.out, key, kind);
        }
        if fingerprint {
            integrity::append_fingerprint(self.out);
        }
        self.set_length();
    }
}

/// A Binding success answer carrying the client's reflexive address.
pub fn binding_success(
    out: &mut Vec<u8>,
    transaction: TransactionId,
    reflexive: SocketAddr,
    software: &str,
) {
    Builder::new(out, Class::Success, Method::Binding, transaction)
        .attr(Attr::XorMappedAddress(reflexive))
        .attr(Attr::Software(software))
        .finish(None, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_field_round_trips_every_class_and_method() {
        for class in [
            Class::Request,
            Class::Indication,
            Class::Success,
            Class::Error,
        ] {
            for method in [
                Method::Binding,
                Method::Allocate,
                Method::Refresh,
                Method::Send,
                Method::Data,
                Method::CreatePermission,
                Method::ChannelBind,
            ] {
                assert_eq!(decode_type(encode_type(class, method)), (class, method));
            }
        }
        assert_eq!(encode_type(Class::Request, Method::Binding), 0x0001);
        assert_eq!(encode_type(Class::Success, Method::Binding), 0x0101);
        assert_eq!(encode_type(Class::Error, Method::Allocate), 0x0113);
        assert_eq!(encode_type(Class::Indication, Method::Send), 0x0016);
        assert_eq!(encode_type(Class::Indication, Method::Data), 0x0017);
    }

    #[test]
    fn framing_errors_are_caught_up_front() {
        let mut out = Vec::new();
        Builder::new(&mut out, Class::Request, Method::Binding, [1; 12])
            .attr(Attr::Software("x"))
            .finish(None, false);
        assert!(Message::parse(&out).is_ok());
        for len in 0..out.len() {
            assert!(Message::parse(&out[..len]).is_err(), "truncation to {len}");
        }
        let mut lying = out.clone();
        lying[3] += 4; // claims more than there is
        assert!(Message::parse(&lying).is_err());
        let mut bad_attr = out.clone();
        bad_attr[HEADER_LEN + 3] = 200; // attribute longer than the message
        assert_eq!(
            Message::parse(&bad_attr).unwrap_err(),
            ParseError::BadAttribute
        );
    }
}
