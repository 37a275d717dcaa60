//! The HTTP edge: the router, its layers, and the pages.
//!
//! - `/api/...`: the REST API ([`api`]), JSON bodies up to 64 KiB and a 30 s deadline,
//!   except the streamed file routes; every error in the API's JSON shape;
//! - `/ws` (signaling) and `/api/connectors/ws` (delivery connectors): [`crate::ws`];
//! - `/j/<code>`: client links; `/healthz`, `/metrics`; the embedded pages ([`web`]).

pub mod api;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod pages;
pub mod web;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::domain::Deps;
use crate::domain::fields::Millis;
use crate::model::{Interaction, State as IState};
use crate::state::AppState;
use crate::store::Filter;

/// An id in a path: 1 to 64 characters (ids the server makes are 26).
pub struct IdParam;

impl PartialSchema for IdParam {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .into()
    }
}

impl ToSchema for IdParam {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// The routes with their documentation, unlayered: JSON, streamed, and plain ones.
fn api() -> (
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
) {
    (
        api::json_routes().routes(routes!(openapi_json)),
        api::streaming_routes(),
        api::links::page_routes()
            .routes(routes!(healthz))
            .routes(routes!(metrics)),
    )
}

/// The OpenAPI document of a server with `config`.
pub fn document(config: &Config) -> serde_json::Value {
    let (json, streaming, plain) = api();
    let (_, mut doc) = json.merge(streaming).merge(plain).split_for_parts();
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .insert("Error".into(), error::ErrorSchema::schema());
    // Named in parameters, which utoipa refers to without registering.
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    schemas.insert(IdParam::name().into_owned(), IdParam::schema());
    schemas.insert(Millis::name().into_owned(), Millis::schema());
    openapi::finish(doc, config)
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let (json, streaming, plain) = api();
    // Only plain requests get a deadline: the signaling socket lives as long as a call.
    let json: Router<AppState> = json
        .split_for_parts()
        .0
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(error::json_errors));
    let streaming: Router<AppState> = streaming
        .split_for_parts()
        .0
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(error::json_errors));
    Router::new()
        .merge(json)
        .merge(streaming)
        .merge(plain.split_for_parts().0)
        // WebSockets over HTTP/1.1 (GET) and over HTTP/2 (extended CONNECT, RFC 8441).
        .route("/ws", any(crate::ws::client::upgrade))
        .route("/api/connectors/ws", any(crate::ws::connector::upgrade))
        .route("/intercom", any(crate::ws::intercom::upgrade))
        .route("/api/live", any(crate::ws::live::upgrade))
        .fallback(get(web::serve))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// What every response says about itself, API and errors included: no sniffing, no
/// referrer, never in a frame, a window of its own, and which powerful features the
/// pages may ask for (pages get their content-security policy in [`web::secure`]).
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    const HEADERS: [(&str, &str); 5] = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(self), microphone=(self), geolocation=(self), display-capture=(self), \
             payment=(), usb=(), serial=(), bluetooth=()",
        ),
    ];
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in HEADERS {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", security(()), responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref().clone()).into_response()
}

/// Counts every request by its route template (never the raw path: ids would make
/// a new series each) and times it.
async fn count_request(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("other", |p| p.as_str())
        .to_string();
    let method = request.method().as_str().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.http_requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    if route != "/ws" {
        m.http_duration
            .with_label_values(&[&route, &method])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// `200 ok` while serving, `503 draining` once shutdown began (so load balancers stop
/// sending new people here).
#[utoipa::path(get, path = "/healthz", security(()), responses(
    (status = 200, description = "Serving.", content_type = "text/plain", body = String),
    (status = 503, description = "Draining.", content_type = "text/plain", body = String),
))]
async fn healthz(State(deps): State<Deps>) -> Response {
    if deps.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", security(()), responses((status = 200, description = "Text exposition format.", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    for s in IState::ALL {
        let filter = Filter::<Interaction>::all().eq(Interaction::STATE, s.as_str());
        if let Ok(n) = state.deps.store.count(&filter).await {
            state
                .metrics
                .interactions
                .with_label_values(&[s.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    let mut text = state.metrics.render();
    if let Some(more) = &state.more_metrics {
        text.push_str(&more());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The document, shared by the route that serves it.
pub fn shared_document(config: &Config) -> Arc<serde_json::Value> {
    Arc::new(document(config))
}
