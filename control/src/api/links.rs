//! Client links: `/j/<code>` for browsers (a redirect into the call page), and
//! `POST /api/links/<code>` for pages that want the details as JSON.
//!
//! A link opens until it expires, and only on the device that opened it first: that
//! device gets a cookie; the same code on another device is refused, so a forwarded
//! SMS does not let a stranger into the call.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiError;
use crate::app::App;
use crate::auth::caller::cookie;
use crate::auth::token::{JOIN_AUDIENCE, JoinClaims, unix_now};
use crate::events::{NewEvent, prepare};
use crate::interactions::CLIENT_PARTICIPANT;
use crate::model::tenant::Branding;
use crate::model::{Interaction, Link, Tenant};
use crate::store::ids::{is_short_code, now_ms, random_token};

/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "vchat_device";

/// What an opened link gives the client's page.
#[derive(Debug, Serialize, Deserialize)]
pub struct Opened {
    /// The interaction.
    pub interaction: String,
    /// The room.
    pub room: String,
    /// The client's join token.
    pub token: String,
    /// The page to open.
    pub join_url: String,
    /// The tenant's branding (company, logo, consent text, redirect after the call).
    pub branding: Branding,
}

/// `GET /j/<code>`: redirects into the call, or a short page that says why not.
pub async fn open_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    match open(&app, &headers, &code).await {
        Ok((opened, set_cookie)) => {
            let mut r = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, opened.join_url.clone())],
            )
                .into_response();
            if let Some(c) = set_cookie {
                r.headers_mut().insert(header::SET_COOKIE, c);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            let status = e.status();
            let text = match status {
                StatusCode::GONE => "This link has expired or was opened on another device.",
                StatusCode::NOT_FOUND => "This link does not exist.",
                _ => "This link cannot be opened right now. Please try again.",
            };
            (
                status,
                Html(format!(
                    "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>vchat</title><p>{text}</p>"
                )),
            )
                .into_response()
        }
    }
}

/// `POST /api/links/<code>`: the same as JSON.
pub async fn open_json(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    match open(&app, &headers, &code).await {
        Ok((opened, set_cookie)) => {
            let mut r = Json(opened).into_response();
            if let Some(c) = set_cookie {
                r.headers_mut().insert(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "link-gone",
        "the link expired, the call is over, or it was opened on another device",
    )
}

async fn open(
    app: &App,
    headers: &HeaderMap,
    code: &str,
) -> Result<(Opened, Option<HeaderValue>), ApiError> {
    if !is_short_code(code) {
        return Err(ApiError::not_found("link"));
    }
    let now = now_ms();
    let link = app
        .store
        .get::<Link>(code)
        .await?
        .ok_or_else(|| ApiError::not_found("link"))?;
    if link.expires_at <= now {
        return Err(gone());
    }
    let (device, set_cookie) = match cookie(headers, DEVICE_COOKIE).filter(|d| d.len() == 43) {
        Some(d) => (d.to_string(), None),
        None => {
            let d = random_token(32);
            let c = format!(
                "{DEVICE_COOKIE}={d}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax"
            );
            (d, Some(HeaderValue::from_str(&c).expect("cookie is ASCII")))
        }
    };
    let interaction = app
        .store
        .get::<Interaction>(&link.interaction)
        .await?
        .ok_or_else(|| ApiError::not_found("link"))?;
    if interaction.state.is_final() {
        return Err(gone());
    }
    let bound = device.clone();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect::<String>());
    let order = app.events.ordered().await;
    let opened_event = app
        .store
        .update_with::<Link, _, ApiError, _>(code, move |l, batch| match &l.device {
            None => {
                l.device = Some(bound.clone());
                l.opened_at = Some(now);
                let event = prepare(NewEvent {
                    tenant: &l.tenant,
                    kind: "link.opened",
                    interaction: Some(&l.interaction),
                    actor: "client",
                    data: json!({ "user_agent": user_agent }),
                });
                batch.insert(&event);
                Ok(Some(event))
            }
            Some(d) if *d == bound => Ok(None),
            Some(_) => Err(gone()),
        })
        .await?
        .ok_or_else(|| ApiError::not_found("link"))??;
    if let Some(event) = &opened_event {
        app.events.announce(event);
    }
    drop(order);
    let tenant = app.store.get::<Tenant>(&interaction.tenant).await?;
    let now_s = unix_now();
    let exp = u64::try_from(link.expires_at / 1000)
        .unwrap_or(now_s)
        .max(now_s + 60);
    let name = if interaction.client.name.is_empty() {
        "Client".to_string()
    } else {
        interaction.client.name.clone()
    };
    let token = app.signer.sign(&JoinClaims {
        room: interaction.room.clone(),
        sub: CLIENT_PARTICIPANT.into(),
        name,
        aud: JOIN_AUDIENCE.into(),
        iat: now_s,
        exp,
    });
    Ok((
        Opened {
            join_url: format!("{}/room/#token={token}", app.public_base),
            interaction: interaction.id,
            room: interaction.room,
            token,
            branding: tenant.map(|t| t.branding).unwrap_or_default(),
        },
        set_cookie,
    ))
}
