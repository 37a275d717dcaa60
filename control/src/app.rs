//! The shared state of the control plane and its one composed router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vchat_sfu::Sfu;

use crate::auth::ratelimit::LoginLimiter;
use crate::auth::token::TokenSigner;
use crate::config::{Config, Secret};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::turn::TurnService;
use crate::{api, web, ws};

/// What every handler can reach.
pub struct App {
    /// The loaded configuration.
    pub config: Config,
    /// The base URL of links people open (`public_url`, or this server's address).
    pub public_base: String,
    /// The media server.
    pub sfu: Sfu,
    /// Signs and checks join tokens.
    pub signer: TokenSigner,
    /// The REST API's bearer token.
    pub api_token: Secret,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The built-in TURN relay, unless `turn.enabled` is off.
    pub turn: Option<TurnService>,
    /// Becomes `true` when the server starts draining.
    pub draining: watch::Receiver<bool>,
    /// The records.
    pub store: Store,
    /// Lifecycle events.
    pub events: EventBus,
    /// Login attempts per address.
    pub login_limiter: LoginLimiter,
    /// The data folder.
    pub data_dir: std::path::PathBuf,
    /// Outgoing HTTP (SMSC, Telegram, Nominatim).
    pub http: reqwest::Client,
    /// Connected delivery connectors.
    pub connectors: crate::delivery::connectors::Registry,
    /// Reverse geocoding.
    pub geocoder: crate::geo::nominatim::Geocoder,
    /// Writes recorded calls' media to capture files.
    pub capture: vchat_recorder::capture::files::CaptureFiles,
    /// Where merged recordings are kept.
    pub recordings: vchat_recorder::store::FileStore,
}

impl App {
    /// Whether the server stopped taking new work.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}

/// Every route of the server.
pub fn router(app: Arc<App>) -> Router {
    // Only plain requests get a deadline: the signaling socket lives as long as a call.
    let api = api::routes()
        .route("/api/rooms", post(api::rooms::create))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::from_fn(api::json_errors));
    Router::new()
        .merge(api)
        .merge(api::files::routes().layer(axum::middleware::from_fn(api::json_errors)))
        .route("/j/{code}", get(api::links::open_page))
        .route("/ws", get(ws::session::upgrade))
        .route(
            "/api/connectors/ws",
            get(crate::delivery::connectors::upgrade),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(get(web::serve))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_request,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Counts every request by its route template (never the raw path: ids would make
/// a new series each) and times it.
async fn count_request(
    State(app): State<Arc<App>>,
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
    let m = &app.metrics;
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
async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    for state in crate::model::State::ALL {
        let filter = crate::store::Filter::all().eq("state", state.as_str());
        if let Ok(n) = app.store.count::<crate::model::Interaction>(&filter).await {
            app.metrics
                .interactions
                .with_label_values(&[state.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = app.metrics.render();
            let c = app.capture.stats();
            text.push_str(&format!(
                "# HELP vchat_recorder_capture_files_total Capture files opened (one per recorded track and join).\n# TYPE vchat_recorder_capture_files_total counter\nvchat_recorder_capture_files_total {}\n\
                 # HELP vchat_recorder_capture_frames_total RTP packets written to capture files.\n# TYPE vchat_recorder_capture_frames_total counter\nvchat_recorder_capture_frames_total {}\n\
                 # HELP vchat_recorder_capture_bytes_total Bytes written to capture files.\n# TYPE vchat_recorder_capture_bytes_total counter\nvchat_recorder_capture_bytes_total {}\n\
                 # HELP vchat_recorder_capture_errors_total Capture batches that could not be written.\n# TYPE vchat_recorder_capture_errors_total counter\nvchat_recorder_capture_errors_total {}\n",
                c.files, c.frames, c.bytes, c.errors
            ));
            if let Some(turn) = &app.turn {
                text.push_str(&turn.render_metrics());
            }
            text
        },
    )
        .into_response()
}
