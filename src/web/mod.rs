//! HTTP: the JSON API (and, later, the UI and WebSocket push), behind the
//! access rules of [`router`]: login, cross-origin guard, webroot.

pub mod api;
pub mod auth;
mod error;
pub mod listener;
pub mod metrics;
pub mod origin;
pub mod push;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{Redirect, Response};
use axum::routing::get;

use crate::events::Events;
use crate::ingest::Ingest;
use crate::stats::Stats;
use crate::store::Store;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingest: Ingest,
    pub events: Events,
    pub stats: Arc<Stats>,
    /// Largest message accepted, also for `POST /api/v1/send`.
    pub max_message_size: u64,
}

/// How the application is exposed: under which path, to whom.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Path prefix starting and ending with `/` (`/` for none).
    pub webroot: String,
    /// Logins required for everything but the health probes.
    pub auth: Option<Arc<auth::UiAuth>>,
    pub origins: Arc<origin::OriginPolicy>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            webroot: "/".into(),
            auth: None,
            origins: Arc::default(),
        }
    }
}

/// Every route of the application, without access rules.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes())
        .route("/api/v1/", get(api::docs::page))
        .nest("/api/v2", api::mailhog::v2_routes())
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(api::info::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { ApiError::not_found("no such page") })
        .with_state(state)
}

/// The application as served: [`app`] behind the login (if any) and the
/// cross-origin guard, under the webroot, with security headers on every
/// response, refusals included.
pub fn router(state: AppState, options: &WebOptions) -> Router {
    let mut inner = app(state);
    if let Some(auth) = &options.auth {
        inner = inner.layer(from_fn_with_state(auth.clone(), auth::require_login));
    }
    // Outside the login, so that CORS preflights (sent without
    // credentials) are answered.
    inner = inner.layer(from_fn_with_state(options.origins.clone(), origin::guard));
    let routed = match options.webroot.trim_end_matches('/') {
        "" => inner,
        prefix => {
            let home = options.webroot.clone();
            let to_home = move || async move { Redirect::permanent(&home) };
            Router::new()
                .nest(prefix, inner)
                .route("/", get(to_home.clone()))
                .route(prefix, get(to_home))
                .fallback(|| async { ApiError::not_found("no such page") })
        }
    };
    routed.layer(map_response(security_headers))
}

/// Only `/metrics`, for `--metrics ADDR`: no login, no webroot.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { ApiError::not_found("only /metrics is served here") })
        .with_state(state)
        .layer(map_response(security_headers))
}

/// Headers every response carries: nothing is sniffed into HTML and no page
/// of ours may be framed by another site.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
