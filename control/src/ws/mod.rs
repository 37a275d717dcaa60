//! WebSockets. [`conn`] is the one socket loop (limits, ping and idle, close codes,
//! counters); each socket kind is a protocol without I/O and a little glue:
//! - [`client`]: the browser's signaling session (`/ws`);
//! - [`connector`]: custom delivery connectors (`/api/connectors/ws`);
//! - [`intercom`]: door panels (`/intercom`), on the sans-IO session of `vchat-intercom`.

pub mod client;
pub mod close;
pub mod conn;
pub mod connector;
pub mod intercom;
pub mod live;

pub use client::messages;
