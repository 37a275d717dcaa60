//! WebSockets: the browser's signaling session.

pub mod messages;
pub mod session;
