//! `/api/v1`: Mailpit's paths and JSON shapes.

pub mod info;
pub mod messages;

use axum::Router;
use axum::routing::get;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(messages::list).delete(messages::delete))
        .route("/message/{id}", get(messages::show))
        .route("/message/{id}/headers", get(messages::headers))
        .route("/message/{id}/raw", get(messages::raw))
        .route("/info", get(info::info))
}
