//! vchat's built-in STUN/TURN relay (RFC 8489, RFC 8656, RFC 6156).
//!
//! - [`proto`]: the wire format (STUN messages, attributes, integrity, ChannelData);
//! - [`relay`]: the sans-IO relay core: allocations, permissions, channels;
//! - [`auth`]: long-term credentials, TURN REST credentials, nonces;
//! - [`policy`]: which peers may be reached (deny by default);
//! - [`driver`]: the sockets (UDP, TCP, TLS listeners and relay ports) around the core.

// One module may: driver/sendmmsg.rs, with its reasons.
#![deny(unsafe_code)]

pub mod auth;
pub mod driver;
pub mod policy;
pub mod proto;
pub mod relay;
