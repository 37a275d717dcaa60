//! What the router's handlers reach: the domain's dependencies and the few things of
//! the HTTP edge (metrics, the TURN relay's credentials, the document). Handlers take
//! the one part they need (`State<Tenants>`); [`FromRef`] makes each from the state.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::domain::Deps;
use crate::domain::auth::Auth;
use crate::domain::cdrs::Cdrs;
use crate::domain::chat::Chat;
use crate::domain::client::ClientReports;
use crate::domain::connectors::Connectors;
use crate::domain::devices::Devices;
use crate::domain::files::Files;
use crate::domain::interactions::Interactions;
use crate::domain::intercom_calls::IntercomCalls;
use crate::domain::links::Links;
use crate::domain::recordings::Recordings;
use crate::domain::rooms::Rooms;
use crate::domain::screenshots::Screenshots;
use crate::domain::tenants::Tenants;
use crate::domain::users::Users;
use crate::metrics::Metrics;
use crate::ws::messages::IceServer;

/// Hands out TURN credentials to joining browsers.
pub trait IceServers: Send + Sync {
    /// The ICE servers (with fresh credentials) for `participant`.
    fn for_participant(&self, participant: &str) -> Vec<IceServer>;
}

/// Metrics the process gathers outside [`Metrics`] (the recorder's, the relay's), in
/// the text format.
pub type MoreMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The router's state.
#[derive(Clone)]
pub struct AppState {
    /// The domain's dependencies.
    pub deps: Deps,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The TURN relay, when it runs.
    pub ice: Option<Arc<dyn IceServers>>,
    /// Metrics of the other parts.
    pub more_metrics: Option<MoreMetrics>,
    /// The OpenAPI document.
    pub openapi: Arc<serde_json::Value>,
}

macro_rules! parts {
    ($($service:ty),*) => {$(
        impl FromRef<AppState> for $service {
            fn from_ref(state: &AppState) -> $service {
                <$service>::from(state.deps.clone())
            }
        }
    )*};
}

parts!(
    Tenants,
    Users,
    Interactions,
    Chat,
    ClientReports,
    Files,
    Recordings,
    Cdrs,
    Connectors,
    Devices,
    IntercomCalls,
    Links,
    Rooms,
    Screenshots
);

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.deps.auth.clone()
    }
}

impl FromRef<AppState> for Deps {
    fn from_ref(state: &AppState) -> Deps {
        state.deps.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Arc<Metrics> {
        state.metrics.clone()
    }
}
