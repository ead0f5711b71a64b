//! HTTP: the JSON API, the web UI and its WebSocket push.

pub mod api;
mod assets;
mod error;
pub mod push;
mod ui;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
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

/// The whole HTTP application, apart from any listener so tests can drive it.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes())
        .route("/api/v1/", get(api::docs::page))
        .nest("/api/v2", api::mailhog::v2_routes())
        .merge(ui::routes())
        .route("/api/events", get(ws::events))
        .route("/static/{*path}", get(assets::serve))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(api::info::readyz))
        .fallback(|| async { ApiError::not_found("no such page") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every response carries: nothing is sniffed into HTML and no page
/// of ours may be framed by another site (a handler may allow its own site
/// by setting these itself).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
