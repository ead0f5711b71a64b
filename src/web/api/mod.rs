//! `/api/v1`: Mailpit's paths and JSON shapes.

pub mod chaos;
pub mod checks;
pub mod docs;
pub mod events;
pub mod extract;
pub mod inboxes;
pub mod info;
pub mod mailhog;
mod mailhog_json;
mod mailhog_release;
pub mod mbox;
pub mod messages;
pub mod relay;
pub mod search;
pub mod send;
pub mod tags;
pub mod wait;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use super::AppState;

/// Mailpit's answer to a change (`PUT`, `DELETE`): `ok`, as plain text.
pub fn ok() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        "ok",
    )
        .into_response()
}

/// [`ok`], or an empty body for a client that sends neither `Accept` nor
/// `User-Agent`: the `mailhog` npm client (Node's bare `http.request`)
/// sends neither and JSON-parses any body it gets. Mailpit's client,
/// browsers, curl, Python and Go all send one or the other.
pub fn ok_unless_mailhog(request: &HeaderMap) -> Response {
    if request.contains_key(header::ACCEPT) || request.contains_key(header::USER_AGENT) {
        ok()
    } else {
        ().into_response()
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/messages",
            get(messages::list)
                .put(messages::set_read)
                .delete(messages::delete),
        )
        .route("/search", get(search::search).delete(search::delete))
        .route("/search/mbox", get(mbox::download))
        .route("/inboxes", get(inboxes::list))
        .route("/send", post(send::send))
        .route("/wait", get(wait::wait))
        .route("/webui", get(info::webui))
        .route("/tags", get(tags::list).put(tags::set))
        .route("/tags/{tag}", put(tags::rename).delete(tags::delete))
        .route("/message/{id}", get(messages::show))
        .route("/message/{id}/headers", get(messages::headers))
        .route("/message/{id}/raw", get(messages::raw))
        .route("/message/{id}/part/{part_id}", get(crate::web::parts::part))
        .route("/message/{id}/part/{part_id}/thumb", get(checks::thumbnail))
        .route("/message/{id}/html-check", get(checks::html_check))
        .route("/message/{id}/link-check", get(checks::link_check))
        .route("/message/{id}/sa-check", get(checks::spam_check))
        .route("/message/{id}/auth-check", get(checks::auth_check))
        .route("/message/{id}/links", get(extract::links))
        .route("/message/{id}/codes", get(extract::codes))
        .route("/message/{id}/release", post(relay::release))
        .route("/message/{id}/relay", get(relay::status))
        .route("/info", get(info::info))
        .route("/chaos", get(chaos::get).put(chaos::put))
        .route("/events", get(events::events))
        .route("/openapi.json", get(docs::openapi))
        // The page lives at `/api/v1/`, so its relative links resolve under
        // any path prefix; `/api/v1` sends browsers there.
        .route(
            "/",
            get(|| async { axum::response::Redirect::permanent("v1/") }),
        )
        .merge(mailhog::v1_routes())
        .layer(axum::middleware::from_fn(options_ok))
}

/// `OPTIONS` on any API path answers 200 with the methods allowed, as
/// Mailpit's does (CORS preflights from allowed origins are answered
/// before this, by `web::origin::guard`).
async fn options_ok(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method() != axum::http::Method::OPTIONS {
        return next.run(request).await;
    }
    (
        [(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
        )],
        "",
    )
        .into_response()
}
