//! WebSockets. [`conn`] is the one socket loop (limits, ping and idle, close codes,
//! counters); each socket kind is a protocol without I/O and a little glue:
//! - [`client`]: the browser's signaling session (`/ws`);
//! - [`connector`]: custom delivery connectors (`/api/connectors/ws`).

pub mod client;
pub mod close;
pub mod conn;
pub mod connector;
pub mod live;

pub use client::messages;
