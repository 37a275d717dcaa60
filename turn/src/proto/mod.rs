//! The wire format: STUN messages and attributes, integrity, ChannelData.

pub mod attr;
pub mod channel_data;
pub mod integrity;
pub mod message;

pub use attr::Attr;
pub use channel_data::ChannelData;
pub use message::{Builder, Class, Integrity, Message, Method, ParseError, TransactionId};

#[cfg(test)]
mod rfc5769 {
    //! The test vectors of RFC 5769, byte for byte.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// §2.1: a request with short-term credentials.
    const REQUEST: &str = "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
        00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36
        00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20 00 08 00 14
        9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
        80 28 00 04 e5 7a 3b cf";
    const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

    #[test]
    fn sample_request_verifies() {
        let bytes = hex(REQUEST);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!((m.class, m.method), (Class::Request, Method::Binding));
        assert_eq!(m.attr(attr::USERNAME), Some(Attr::Username("evtj:h6vY")));
        assert_eq!(
            m.attr(attr::SOFTWARE),
            Some(Attr::Software("STUN test client"))
        );
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Some(true));
        assert_eq!(m.check_integrity(b"wrong"), Some(false));
        assert!(m.fingerprint_ok());
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        let t = Message::parse(&tampered).unwrap();
        assert_eq!(t.check_integrity(PASSWORD.as_bytes()), Some(false));
        assert!(!t.fingerprint_ok());
    }

    /// §2.2: an IPv4 response.
    #[test]
    fn sample_ipv4_response_verifies_and_is_rebuilt_exactly() {
        let bytes = hex("01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
            80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20 00 20 00 08
            00 01 a1 47 e1 12 a6 43 00 08 00 14 2b 91 f5 99 fd 9e 90 c3
            8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7 80 28 00 04 c0 7d 4c 96");
        let m = Message::parse(&bytes).unwrap();
        let addr = "192.0.2.1:32853".parse().unwrap();
        assert_eq!(
            m.attr(attr::XOR_MAPPED_ADDRESS),
            Some(Attr::XorMappedAddress(addr))
        );
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Some(true));
        assert!(m.fingerprint_ok());

        // Our writer gives the same bytes (the software string is padded with a space).
        let mut out = Vec::new();
        Builder::new(&mut out, Class::Success, Method::Binding, m.transaction)
            .attr(Attr::Software("test vector"))
            .attr(Attr::XorMappedAddress(addr))
            .finish(Some((PASSWORD.as_bytes(), Integrity::Sha1)), true);
        // RFC 5769 pads SOFTWARE with 0x20 where we pad with zeros; compare the rest.
        assert_eq!(out.len(), bytes.len());
        let m2 = Message::parse(&out).unwrap();
        assert_eq!(m2.check_integrity(PASSWORD.as_bytes()), Some(true));
        assert!(m2.fingerprint_ok());
        // Header and SOFTWARE up to its padding byte (index 35), then XOR-MAPPED-ADDRESS.
        assert_eq!(&out[..35], &bytes[..35]);
        assert_eq!(&out[36..48], &bytes[36..48]);
    }

    /// §2.3: an IPv6 response.
    #[test]
    fn sample_ipv6_response_verifies() {
        let bytes = hex("01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
            80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20 00 20 00 14
            00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
            00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75
            bf e3 ed 41 80 28 00 04 c8 fb 0b 4c");
        let m = Message::parse(&bytes).unwrap();
        let addr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        assert_eq!(
            m.attr(attr::XOR_MAPPED_ADDRESS),
            Some(Attr::XorMappedAddress(addr))
        );
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Some(true));
        assert!(m.fingerprint_ok());
    }

    /// §2.4: a request with long-term credentials. The password, after SASLprep, is
    /// "TheMatrIX"; the username is "マトリックス".
    #[test]
    fn sample_long_term_request_verifies() {
        let bytes = hex("00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
            00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3
            82 b9 00 00 00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36
            4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41 00 14 00 0b
            65 78 61 6d 70 6c 65 2e 6f 72 67 00 00 08 00 14 f6 70 24 65
            6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66");
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.attr(attr::USERNAME), Some(Attr::Username("マトリックス")));
        assert_eq!(m.attr(attr::REALM), Some(Attr::Realm("example.org")));
        assert_eq!(
            m.attr(attr::NONCE),
            Some(Attr::Nonce("f//499k954d6OL34oL9FSTvy64sA"))
        );
        let key = integrity::long_term_key("マトリックス", "example.org", "TheMatrIX");
        assert_eq!(m.check_integrity(&key), Some(true));
    }

    #[test]
    fn sha256_integrity_round_trips() {
        let mut out = Vec::new();
        Builder::new(&mut out, Class::Request, Method::Allocate, [7; 12])
            .attr(Attr::RequestedTransport(17))
            .finish(Some((b"key", Integrity::Sha256)), true);
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.check_integrity(b"key"), Some(true));
        assert_eq!(m.check_integrity(b"other"), Some(false));
        assert!(m.fingerprint_ok());
    }
}
