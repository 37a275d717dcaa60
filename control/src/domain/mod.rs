//! The control plane's rules, apart from any transport.
//!
//! Nothing here knows HTTP or WebSockets (a test checks that no file under `domain/`
//! names axum): handlers in `http/` and the socket protocols in `ws/` call these
//! services and map [`DomainError`] to their own answers in one place each.
//!
//! Each service is a cheap handle over the same [`Deps`] — the store, the event bus,
//! the media server behind the [`media::Media`] trait, the settings — so the HTTP
//! layer takes exactly the one it needs (`State<Interactions>`), and a test can build
//! them all on a temporary store with no SFU, TURN or recorder running.

pub mod auth;
pub mod cache;
pub mod callstore;
pub mod cdrs;
pub mod chat;
pub mod client;
pub mod connectors;
pub mod delivery;
pub mod devices;
pub mod error;
pub mod events;
pub mod fields;
pub mod files;
pub mod geo;
pub mod interactions;
pub mod intercom_calls;
pub mod links;
pub mod media;
pub mod paging;
pub mod recordings;
pub mod rooms;
pub mod screenshots;
pub mod speech;
pub mod tenants;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

pub use error::{DomainError, DomainResult};

use crate::config::Config;
use crate::store::Store;
use auth::token::TokenSigner;
use events::EventBus;
use media::Media;

/// What every service reaches; clones share it.
#[derive(Clone)]
pub struct Deps(Arc<Inner>);

/// The parts of [`Deps`].
pub struct Inner {
    /// The loaded configuration.
    pub config: Config,
    /// The base URL of links people open (`public_url`, or this server's address).
    pub public_base: String,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The records.
    pub store: Store,
    /// Lifecycle events.
    pub events: EventBus,
    /// The media server.
    pub media: Arc<dyn Media>,
    /// Signs and checks join tokens.
    pub signer: TokenSigner,
    /// Who is calling: credentials, tenant scopes, login limits.
    pub auth: auth::Auth,
    /// Outgoing HTTP (SMSC, Telegram, Nominatim).
    pub http: reqwest::Client,
    /// Connected delivery connectors.
    pub connectors: delivery::connectors::Registry,
    /// Connected intercoms.
    pub devices: devices::Live,
    /// Spoken prompts' synthesizer and its cache.
    pub speech: speech::Speech,
    /// Reverse geocoding.
    pub geocoder: geo::nominatim::Geocoder,
    /// Where merged recordings are kept.
    pub recordings: vchat_recorder::store::FileStore,
    /// Becomes `true` when the server starts draining.
    pub draining: watch::Receiver<bool>,
}

impl Deps {
    /// Dependencies from their parts.
    pub fn new(inner: Inner) -> Deps {
        Deps(Arc::new(inner))
    }

    /// Whether the server stopped taking new work.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// `Err(Draining)` once the server stopped taking new work.
    pub fn refuse_if_draining(&self) -> DomainResult<()> {
        if self.is_draining() {
            Err(DomainError::Draining)
        } else {
            Ok(())
        }
    }
}

impl std::ops::Deref for Deps {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A service handle: a newtype over [`Deps`], made from it with `From`.
macro_rules! service {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(pub(crate) $crate::domain::Deps);

        impl From<$crate::domain::Deps> for $name {
            fn from(deps: $crate::domain::Deps) -> $name {
                $name(deps)
            }
        }
    };
}
pub(crate) use service;
