//! vchat's control plane, and the wiring of every part into the one `vchat` process.
//!
//! - [`domain`]: the rules — auth, tenants, users, interactions and their life, links,
//!   chat and files, delivery, recordings, the call store, events — apart from any
//!   transport (no axum in there);
//! - [`http`]: the router, the REST API's five-line handlers, extractors, the one
//!   mapping of domain errors to statuses, the OpenAPI document, the pages;
//! - [`ws`]: the one WebSocket loop and the socket protocols (signaling, connectors);
//! - [`model`], [`store`]: the records and the engines that keep them;
//! - [`config`]: the configuration, its layers and checks;
//! - [`app`]: the composition root; [`server`]: start and graceful stop; [`state`]:
//!   what handlers reach; [`media`], [`turn`]: the SFU and the relay as they run here;
//!   [`tls`]: the certificate (files, self-signed, ACME) and the HTTPS listeners;
//!   [`metrics`]: Prometheus; [`cli`]: the command line.

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod media;
pub mod metrics;
pub mod model;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod turn;
pub mod ws;
