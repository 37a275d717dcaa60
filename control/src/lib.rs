//! vchat's control plane, and the wiring of every part into the one `vchat` process.
//!
//! - [`config`]: the one typed configuration (file, `VCHAT_*` variables, flags);
//! - [`server`]: start and graceful stop of the whole server;
//! - [`app`]: shared state and the composed axum router;
//! - [`api`]: the REST API; [`ws`]: the signaling WebSocket;
//! - [`auth`]: join tokens and secrets; [`metrics`]: Prometheus; [`web`]: embedded pages;
//! - [`turn`]: the built-in TURN relay as the server runs it.

#![forbid(unsafe_code)]
// The OpenAPI document is one large `json!`.
#![recursion_limit = "512"]

pub mod api;
pub mod app;
pub mod auth;
pub mod callstore;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod events;
pub mod geo;
pub mod interactions;
pub mod metrics;
pub mod model;
pub mod recordings;
pub mod server;
pub mod store;
pub mod turn;
pub mod users;
pub mod web;
pub mod ws;
