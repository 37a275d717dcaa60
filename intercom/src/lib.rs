//! The intercom bridge's sans-IO core: what a door panel and vchat say to each other
//! over `GET /intercom` (`docs/intercom.md`), with no sockets, timers or clocks inside.
//!
//! - [`frame`]: the binary audio frame (a 12-byte header, then the payload);
//! - [`message`]: the JSON control messages both ways, checked against the limits the
//!   protocol names;
//! - [`session`]: one device connection as a state machine: bytes and time in,
//!   frames to send, close codes and events out;
//! - [`g711`]: µ-law and A-law, bit-exact with ffmpeg;
//! - [`jitter`]: the device-side jitter buffer, driven by one 20 ms tick;
//! - [`plc`]: loss concealment (G.711 Appendix I), both ways.
//!
//! The control plane's driver (`vchat-control`'s `ws::intercom`) owns the WebSocket,
//! the clock, the store and the metrics.

pub mod frame;
pub mod g711;
pub mod jitter;
pub mod message;
pub mod plc;
pub mod session;
