//! Which peers a client may reach through the relay.
//!
//! Everything inside the server's own networks is denied unless an operator allows it:
//! a relay that forwards to 127.0.0.1 or 169.254.169.254 hands every browser on the
//! internet a foothold inside the data centre. coturn was bitten twice by addresses
//! that *mean* loopback without *looking* like it (CVE-2020-26262: `0.0.0.0`, `::`;
//! CVE-2026-27624: `::ffff:127.0.0.1`), so every IPv4-in-IPv6 form is unwrapped
//! before any check.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// An address block, `a.b.c.d/n` or `x::/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an address block like 203.0.113.0/24 or 2001:db8::/32")]
pub struct BadCidr(String);

impl Cidr {
    /// A block from an address and a prefix length (clamped to the family's width).
    pub fn new(network: IpAddr, prefix: u8) -> Cidr {
        let width = if network.is_ipv4() { 32 } else { 128 };
        Cidr {
            network,
            prefix: prefix.min(width),
        }
    }

    /// Whether `ip` lies inside (families must match; callers normalise first).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = BadCidr;
    fn from_str(s: &str) -> Result<Cidr, BadCidr> {
        let bad = || BadCidr(s.to_owned());
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(Cidr::new(ip, prefix))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Unwraps every way of writing an IPv4 address as IPv6: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`, deprecated but routable on some stacks), 6to4
/// (`2002:aabb:ccdd::/48`), NAT64 (`64:ff9b::a.b.c.d`) and Teredo (`2001:0::/32`, whose
/// client address is the last 32 bits inverted). The IPv4 result is what a check
/// must see, since that is where the packet can end up.
pub fn normalise(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // `::` and `::1` stay IPv6 (they are their own entries); `::a.b.c.d` otherwise.
    if s[..6] == [0; 6] && u32::from(low32) > 1 {
        return IpAddr::V4(low32);
    }
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(low32);
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return IpAddr::V4(Ipv4Addr::from(!u32::from(low32)));
    }
    IpAddr::V6(v6)
}

/// The blocks denied by default, with why (shown in logs and docs).
pub const DEFAULT_DENIED: &[(&str, &str)] = &[
    (
        "0.0.0.0/8",
        "this network (0.0.0.0 reaches the host itself)",
    ),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("169.254.0.0/16", "link-local, cloud metadata"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "unique local"),
    ("ff00::/8", "multicast"),
];

/// What the policy says about one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Relay to it over the network.
    Allowed,
    /// The SFU's own media address: handed over in-process (index into the list given
    /// to [`PeerPolicy::with_internal`]).
    Internal(usize),
    /// Refused (403 for requests, dropped for indications and data).
    Denied,
}

/// The peer address policy of one relay.
#[derive(Debug, Clone)]
pub struct PeerPolicy {
    denied: Vec<Cidr>,
    allowed: Vec<Cidr>,
    internal: Vec<SocketAddr>,
    loopback: bool,
}

impl Default for PeerPolicy {
    fn default() -> Self {
        PeerPolicy {
            denied: DEFAULT_DENIED
                .iter()
                .map(|(c, _)| c.parse().expect("built-in block"))
                .collect(),
            allowed: Vec::new(),
            internal: Vec::new(),
            loopback: false,
        }
    }
}

impl PeerPolicy {
    /// Blocks an operator allows although the defaults deny them (checked first).
    pub fn with_allowed(mut self, allowed: Vec<Cidr>) -> Self {
        self.allowed = allowed;
        self
    }

    /// More blocks to deny on top of the defaults.
    pub fn with_denied(mut self, more: Vec<Cidr>) -> Self {
        self.denied.extend(more);
        self
    }

    /// The SFU's media addresses: always reachable, and in-process.
    pub fn with_internal(mut self, internal: Vec<SocketAddr>) -> Self {
        self.internal = internal;
        self
    }

    /// Lets clients reach loopback peers: only for tests on one machine. Anyone who can
    /// get credentials can then talk to every service bound to 127.0.0.1.
    pub fn with_loopback_peers_dangerously_allowed(mut self, allow: bool) -> Self {
        self.loopback = allow;
        self
    }

    /// The SFU addresses reached in-process.
    pub fn internal(&self) -> &[SocketAddr] {
        &self.internal
    }

    /// Judges one peer transport address.
    pub fn check(&self, peer: SocketAddr) -> Verdict {
        if let Some(i) = self.internal.iter().position(|a| same_endpoint(*a, peer)) {
            return Verdict::Internal(i);
        }
        if peer.port() == 0 {
            return Verdict::Denied;
        }
        self.judge(normalise(peer.ip()))
    }

    /// Judges an address without a port (CreatePermission installs per IP). The SFU's
    /// address counts as allowed here; sends to its other ports are judged per packet.
    pub fn check_ip(&self, ip: IpAddr) -> Verdict {
        let ip = normalise(ip);
        if self.internal.iter().any(|a| normalise(a.ip()) == ip) {
            return Verdict::Allowed;
        }
        self.judge(ip)
    }

    fn judge(&self, ip: IpAddr) -> Verdict {
        if self.allowed.iter().any(|c| c.contains(ip)) {
            return Verdict::Allowed;
        }
        if self.loopback && ip.is_loopback() {
            return Verdict::Allowed;
        }
        if self.denied.iter().any(|c| c.contains(ip)) {
            return Verdict::Denied;
        }
        // Limited broadcast is inside 240/4; directed broadcast cannot be told apart
        // from a host without the netmask, and is denied by the private blocks above
        // where it matters.
        Verdict::Allowed
    }
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && normalise(a.ip()) == normalise(b.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().expect("an IPv6 literal")
    }

    fn denied(s: &str) -> bool {
        PeerPolicy::default().check_ip(s.parse().unwrap()) == Verdict::Denied
    }

    #[test]
    fn every_disguise_of_loopback_is_seen_through() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::7f00:1",
            "2001:0:0:0:0:0:80ff:fffe",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "172.31.255.255",
            "192.168.1.1",
        ] {
            assert!(denied(s), "{s} should be denied");
        }
        for s in [
            "8.8.8.8",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "2002:0808:0808::",
            "172.32.0.1",
        ] {
            assert!(!denied(s), "{s} should be allowed");
        }
    }

    #[test]
    fn allow_list_and_loopback_allowance_open_only_what_they_name() {
        let p = PeerPolicy::default().with_allowed(vec!["10.1.0.0/16".parse().unwrap()]);
        assert_eq!(p.check_ip("10.1.2.3".parse().unwrap()), Verdict::Allowed);
        assert_eq!(p.check_ip("10.2.0.1".parse().unwrap()), Verdict::Denied);
        let p = PeerPolicy::default().with_loopback_peers_dangerously_allowed(true);
        assert_eq!(
            p.check_ip("::ffff:127.0.0.1".parse().unwrap()),
            Verdict::Allowed
        );
        assert_eq!(p.check_ip("10.0.0.1".parse().unwrap()), Verdict::Denied);
    }

    #[test]
    fn the_sfu_is_internal_by_exact_address_only() {
        let sfu: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let p = PeerPolicy::default().with_internal(vec![sfu]);
        assert_eq!(p.check(sfu), Verdict::Internal(0));
        assert_eq!(
            p.check("[::ffff:127.0.0.1]:40000".parse().unwrap()),
            Verdict::Internal(0)
        );
        assert_eq!(p.check("127.0.0.1:22".parse().unwrap()), Verdict::Denied);
        assert_eq!(p.check_ip(sfu.ip()), Verdict::Allowed);
    }

    #[test]
    fn cidr_parsing_and_matching() {
        assert!(
            "10.0.0.0/8"
                .parse::<Cidr>()
                .unwrap()
                .contains("10.255.0.1".parse().unwrap())
        );
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            "2001:db8::1"
                .parse::<Cidr>()
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("banana/8".parse::<Cidr>().is_err());
        assert_eq!(
            normalise(IpAddr::V6(v6("::ffff:1.2.3.4"))),
            IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))
        );
    }
}
