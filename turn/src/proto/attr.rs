//! STUN and TURN attributes (RFC 8489 §14, RFC 8656 §18, RFC 6156).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::message::{MAGIC_COOKIE, TransactionId};

/// Attribute type numbers.
pub const MAPPED_ADDRESS: u16 = 0x0001;
pub const USERNAME: u16 = 0x0006;
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
pub const ERROR_CODE: u16 = 0x0009;
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
pub const CHANNEL_NUMBER: u16 = 0x000c;
pub const LIFETIME: u16 = 0x000d;
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
pub const DATA: u16 = 0x0013;
pub const REALM: u16 = 0x0014;
pub const NONCE: u16 = 0x0015;
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
pub const EVEN_PORT: u16 = 0x0018;
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
pub const DONT_FRAGMENT: u16 = 0x001a;
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001c;
pub const PASSWORD_ALGORITHM: u16 = 0x001d;
pub const USERHASH: u16 = 0x001e;
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub const RESERVATION_TOKEN: u16 = 0x0022;
pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
pub const ALTERNATE_DOMAIN: u16 = 0x8003;
pub const SOFTWARE: u16 = 0x8022;
pub const ALTERNATE_SERVER: u16 = 0x8023;
pub const FINGERPRINT: u16 = 0x8028;
pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
pub const ADDRESS_ERROR_CODE: u16 = 0x8001;
pub const ICMP: u16 = 0x8004;

/// Address family codes.
pub const FAMILY_V4: u8 = 0x01;
/// IPv6.
pub const FAMILY_V6: u8 = 0x02;

/// A decoded attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr<'a> {
    MappedAddress(SocketAddr),
    XorMappedAddress(SocketAddr),
    XorPeerAddress(SocketAddr),
    XorRelayedAddress(SocketAddr),
    Username(&'a str),
    Realm(&'a str),
    Nonce(&'a str),
    Software(&'a str),
    /// Code (300..699) and reason.
    ErrorCode(u16, &'a str),
    UnknownAttributes(Vec<u16>),
    ChannelNumber(u16),
    /// Seconds.
    Lifetime(u32),
    Data(&'a [u8]),
    /// `FAMILY_V4` or `FAMILY_V6`.
    RequestedAddressFamily(u8),
    /// Protocol number (17 = UDP).
    RequestedTransport(u8),
    /// The R bit: reserve the next port too.
    EvenPort(bool),
    DontFragment,
    ReservationToken(&'a [u8]),
}

impl<'a> Attr<'a> {
    /// Decodes `value` of attribute `kind`; `None` if malformed or not one of ours.
    pub fn decode(kind: u16, value: &'a [u8], transaction: &TransactionId) -> Option<Attr<'a>> {
        Some(match kind {
            MAPPED_ADDRESS => Attr::MappedAddress(read_address(value, None)?),
            XOR_MAPPED_ADDRESS => Attr::XorMappedAddress(read_address(value, Some(transaction))?),
            XOR_PEER_ADDRESS => Attr::XorPeerAddress(read_address(value, Some(transaction))?),
            XOR_RELAYED_ADDRESS => Attr::XorRelayedAddress(read_address(value, Some(transaction))?),
            USERNAME => Attr::Username(text(value, 513)?),
            REALM => Attr::Realm(text(value, 763)?),
            NONCE => Attr::Nonce(text(value, 763)?),
            SOFTWARE => Attr::Software(text(value, 763)?),
            ERROR_CODE => {
                let [_, _, class, number, reason @ ..] = value else {
                    return None;
                };
                let code = u16::from(class & 0x07) * 100 + u16::from(*number);
                if !(300..700).contains(&code) || *number >= 100 {
                    return None;
                }
                Attr::ErrorCode(code, std::str::from_utf8(reason).ok()?)
            }
            UNKNOWN_ATTRIBUTES => {
                if !value.len().is_multiple_of(2) {
                    return None;
                }
                Attr::UnknownAttributes(
                    value
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                )
            }
            CHANNEL_NUMBER => {
                let [a, b, _, _] = value else { return None };
                Attr::ChannelNumber(u16::from_be_bytes([*a, *b]))
            }
            LIFETIME => Attr::Lifetime(u32::from_be_bytes(value.try_into().ok()?)),
            DATA => Attr::Data(value),
            REQUESTED_ADDRESS_FAMILY => {
                let [family, _, _, _] = value else {
                    return None;
                };
                Attr::RequestedAddressFamily(*family)
            }
            REQUESTED_TRANSPORT => {
                let [protocol, _, _, _] = value else {
                    return None;
                };
                Attr::RequestedTransport(*protocol)
            }
            EVEN_PORT => {
                let [flags] = value else { return None };
                Attr::EvenPort(flags & 0x80 != 0)
            }
            DONT_FRAGMENT => {
                if !value.is_empty() {
                    return None;
                }
                Attr::DontFragment
            }
            RESERVATION_TOKEN => {
                if value.len() != 8 {
                    return None;
                }
                Attr::ReservationToken(value)
            }
            _ => return None,
        })
    }

    /// Appends the attribute (header, value, padding) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, transaction: &TransactionId) {
        match self {
            Attr::MappedAddress(a) => write_address(out, MAPPED_ADDRESS, *a, None),
            Attr::XorMappedAddress(a) => {
                write_address(out, XOR_MAPPED_ADDRESS, *a, Some(transaction))
            }
            Attr::XorPeerAddress(a) => write_address(out, XOR_PEER_ADDRESS, *a, Some(transaction)),
            Attr::XorRelayedAddress(a) => {
                write_address(out, XOR_RELAYED_ADDRESS, *a, Some(transaction))
            }
            Attr::Username(s) => write_raw(out, USERNAME, s.as_bytes()),
            Attr::Realm(s) => write_raw(out, REALM, s.as_bytes()),
            Attr::Nonce(s) => write_raw(out, NONCE, s.as_bytes()),
            Attr::Software(s) => write_raw(out, SOFTWARE, s.as_bytes()),
            Attr::ErrorCode(code, reason) => {
                let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
                v.extend_from_slice(reason.as_bytes());
                write_raw(out, ERROR_CODE, &v);
            }
            Attr::UnknownAttributes(kinds) => {
                let v: Vec<u8> = kinds.iter().flat_map(|k| k.to_be_bytes()).collect();
                write_raw(out, UNKNOWN_ATTRIBUTES, &v);
            }
            Attr::ChannelNumber(n) => {
                let b = n.to_be_bytes();
                write_raw(out, CHANNEL_NUMBER, &[b[0], b[1], 0, 0]);
            }
            Attr::Lifetime(s) => write_raw(out, LIFETIME, &s.to_be_bytes()),
            Attr::Data(d) => write_raw(out, DATA, d),
            Attr::RequestedAddressFamily(f) => {
                write_raw(out, REQUESTED_ADDRESS_FAMILY, &[*f, 0, 0, 0])
            }
            Attr::RequestedTransport(p) => write_raw(out, REQUESTED_TRANSPORT, &[*p, 0, 0, 0]),
            Attr::EvenPort(r) => write_raw(out, EVEN_PORT, &[if *r { 0x80 } else { 0 }]),
            Attr::DontFragment => write_raw(out, DONT_FRAGMENT, &[]),
            Attr::ReservationToken(t) => write_raw(out, RESERVATION_TOKEN, t),
        }
    }
}

/// Appends a raw attribute, padded to 4 bytes.
pub fn write_raw(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    let pad = value.len().div_ceil(4) * 4 - value.len();
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn text(value: &[u8], max: usize) -> Option<&str> {
    if value.len() > max {
        return None;
    }
    std::str::from_utf8(value).ok()
}

fn read_address(value: &[u8], xor: Option<&TransactionId>) -> Option<SocketAddr> {
    let [_, family, p0, p1, rest @ ..] = value else {
        return None;
    };
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([*p0, *p1]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match (*family, rest.len()) {
        (FAMILY_V4, 4) => {
            let mut ip = [rest[0], rest[1], rest[2], rest[3]];
            if xor.is_some() {
                for (b, c) in ip.iter_mut().zip(cookie) {
                    *b ^= c;
                }
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        (FAMILY_V6, 16) => {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(rest);
            if let Some(tid) = xor {
                let key: Vec<u8> = cookie.iter().chain(tid.iter()).copied().collect();
                for (b, k) in ip.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

fn write_address(out: &mut Vec<u8>, kind: u16, addr: SocketAddr, xor: Option<&TransactionId>) {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = addr.port();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let mut v = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.extend_from_slice(&[0, FAMILY_V4]);
            v.extend_from_slice(&port.to_be_bytes());
            let mut b = ip.octets();
            if xor.is_some() {
                for (x, c) in b.iter_mut().zip(cookie) {
                    *x ^= c;
                }
            }
            v.extend_from_slice(&b);
        }
        IpAddr::V6(ip) => {
            v.extend_from_slice(&[0, FAMILY_V6]);
            v.extend_from_slice(&port.to_be_bytes());
            let mut b = ip.octets();
            if let Some(tid) = xor {
                for (x, k) in b.iter_mut().zip(cookie.iter().chain(tid.iter())) {
                    *x ^= k;
                }
            }
            v.extend_from_slice(&b);
        }
    }
    write_raw(out, kind, &v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_plain_and_xored() {
        let tid = [9u8; 12];
        for addr in [
            "192.0.2.1:32853",
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            for attr in [
                Attr::MappedAddress(addr),
                Attr::XorMappedAddress(addr),
                Attr::XorPeerAddress(addr),
                Attr::XorRelayedAddress(addr),
            ] {
                let mut out = Vec::new();
                attr.encode(&mut out, &tid);
                let kind = u16::from_be_bytes([out[0], out[1]]);
                let len = usize::from(u16::from_be_bytes([out[2], out[3]]));
                assert_eq!(Attr::decode(kind, &out[4..4 + len], &tid), Some(attr));
            }
        }
    }

    #[test]
    fn malformed_values_decode_to_nothing() {
        let tid = [0u8; 12];
        assert_eq!(
            Attr::decode(XOR_PEER_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4], &tid),
            None,
            "family 3"
        );
        assert_eq!(
            Attr::decode(XOR_PEER_ADDRESS, &[0, 1, 0, 0, 1, 2, 3], &tid),
            None,
            "short v4"
        );
        assert_eq!(Attr::decode(LIFETIME, &[0, 0, 1], &tid), None);
        assert_eq!(
            Attr::decode(ERROR_CODE, &[0, 0, 9, 1], &tid),
            None,
            "class 9"
        );
        assert_eq!(Attr::decode(CHANNEL_NUMBER, &[0x40], &tid), None);
        assert_eq!(
            Attr::decode(USERNAME, &[0xff, 0xfe], &tid),
            None,
            "not UTF-8"
        );
        assert_eq!(
            Attr::decode(ERROR_CODE, &[0, 0, 4, 38, b'x'], &tid),
            Some(Attr::ErrorCode(438, "x"))
        );
    }
}
