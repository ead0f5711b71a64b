//! HTTP: the JSON API, the web UI and its WebSocket push, behind the
//! access rules of [`router`]: login, cross-origin guard, webroot.

pub mod additions;
pub mod api;
mod assets;
pub mod auth;
mod embed;
mod error;
pub mod host;
pub mod json;
pub mod listener;
pub mod lookup;
pub mod metrics;
pub mod origin;
pub mod params;
pub mod parts;
pub mod push;
mod settings;
mod ui;
mod ws;

pub use settings::WebSettings;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::app::App;

pub use error::ApiError;

tokio::task_local! {
    /// The webroot of the request being served, for the links pages make.
    static WEBROOT: Arc<str>;
}

/// Where the application is served for the current request: `/`, or the
/// `--webroot` such as `/mail/`. Links in pages start with it. Outside a
/// request (unit tests) it is `/`.
pub fn webroot() -> Arc<str> {
    WEBROOT.try_with(Arc::clone).unwrap_or_else(|_| "/".into())
}

async fn with_webroot(State(root): State<Arc<str>>, request: Request, next: Next) -> Response {
    WEBROOT.scope(root, next.run(request)).await
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Every operation on messages goes through it.
    pub app: App,
    /// Largest message accepted, also for `POST /api/v1/send`.
    pub max_message_size: u64,
    /// The SMTP failure injection rules, changed by `/api/v1/chaos`.
    pub chaos: crate::domain::chaos::Chaos,
    /// The relay for releasing messages, if one is configured.
    pub relay: Option<Arc<crate::relay::Relay>>,
    /// The webhook sender, if `--webhook-url` is set.
    pub webhook: Option<Arc<crate::webhook::Webhook>>,
    /// Where Letterbox's own SMTP listeners accept mail: the one place
    /// besides the relay that MailHog's release may deliver to.
    pub smtp_addrs: Vec<std::net::SocketAddr>,
    /// The HTML check, link check and thumbnails' shared state.
    pub checks: Arc<crate::checks::Checks>,
}

/// How the application is exposed: under which path, to whom.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Path prefix starting and ending with `/` (`/` for none).
    pub webroot: String,
    /// Logins required for everything but the health probes.
    pub auth: Option<Arc<auth::UiAuth>>,
    pub origins: Arc<origin::OriginPolicy>,
    /// Which `Host` names are served (DNS-rebinding protection).
    pub hosts: Arc<host::HostPolicy>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            webroot: "/".into(),
            auth: None,
            origins: Arc::default(),
            hosts: Arc::default(),
        }
    }
}

/// Every route of the application, without access rules.
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
    inner = inner
        .layer(from_fn_with_state(options.origins.clone(), origin::guard))
        .layer(from_fn_with_state(options.hosts.clone(), host::guard))
        .layer(from_fn_with_state(
            Arc::<str>::from(options.webroot.as_str()),
            with_webroot,
        ));
    let routed = match options.webroot.trim_end_matches('/') {
        "" => inner,
        prefix => {
            let home = options.webroot.clone();
            let to_home = move || async move { Redirect::permanent(&home) };
            let prefix: Arc<str> = prefix.into();
            let nested = Router::new()
                .nest(&prefix, inner)
                .route("/", get(to_home))
                .fallback(|| async { ApiError::not_found("no such page") });
            // A layer on a router runs after its routing: to rewrite the
            // path before `nested` routes it, wrap it as a fallback.
            Router::new()
                .fallback_service(nested)
                .layer(from_fn_with_state(prefix, webroot_home))
        }
    };
    routed.layer(map_response(security_headers))
}

/// The webroot's home is `/mail/`, with the slash, so that relative links
/// resolve under it: `/mail` is redirected there, and `/mail/` is served
/// by the nested router's `/` (which axum's `nest` matches as `/mail`).
async fn webroot_home(
    State(prefix): State<Arc<str>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if path == &*prefix {
        return Redirect::permanent(&format!("{prefix}/{query}")).into_response();
    }
    if path.strip_prefix(&*prefix) == Some("/") {
        let home = format!("{prefix}{query}");
        *request.uri_mut() = home.parse().expect("a path and query from a valid URI");
    }
    next.run(request).await
}

/// Only `/metrics`, for `--metrics ADDR`: no login, no webroot.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { ApiError::not_found("only /metrics is served here") })
        .with_state(state)
        .layer(map_response(security_headers))
}

/// Headers every response carries: nothing is sniffed into HTML, no page
/// of ours may be framed by another site, no other site may embed what we
/// serve (an `<img>` or `<script>` pointing here would tell it whether a
/// message exists), and a window of ours opened by another site is cut off
/// from it (so it cannot count our frames). A handler may loosen these for
/// its own response by setting them itself.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(header::HeaderName::from_static(
            "cross-origin-resource-policy",
        ))
        .or_insert(HeaderValue::from_static("same-origin"));
    headers
        .entry(header::HeaderName::from_static(
            "cross-origin-opener-policy",
        ))
        .or_insert(HeaderValue::from_static("same-origin"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
