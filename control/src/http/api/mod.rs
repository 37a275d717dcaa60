//! The REST API under `/api`: one file per resource, each with its `routes()` and
//! handlers of a few lines that call the domain's services.

pub mod cdrs;
pub mod client;
pub mod connectors;
pub mod devices;
pub mod files;
pub mod interactions;
pub mod intercom;
pub mod links;
pub mod messages;
pub mod recordings;
pub mod rooms;
pub mod screenshots;
pub mod session;
pub mod tenants;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The JSON routes (the body limit and deadline are the caller's).
pub fn json_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::routes())
        .merge(tenants::routes())
        .merge(users::routes())
        .merge(interactions::routes())
        .merge(messages::routes())
        .merge(client::routes())
        .merge(cdrs::routes())
        .merge(recordings::routes())
        .merge(links::routes())
        .merge(connectors::routes())
        .merge(devices::routes())
        .merge(intercom::routes())
        .merge(rooms::routes())
}

/// The routes that stream bodies (no JSON body limit: they count bytes themselves).
pub fn streaming_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(files::routes())
        .merge(screenshots::routes())
        .merge(recordings::file_routes())
}
